"""L12 — Batch size, learning rate and flat minima: SGD's implicit regularization (decks 003, 004).

Deck 004 ("Implicit regularization"): SGD generalizes better than gradient
descent, smaller batches may do better than larger ones, SGD favours places
where all batches agree on the slope. Deck 003 ("Why does a large learning
rate help?"): the noise of the minibatch gradient scales as α²/|B|, noisy
updates escape sharp minima, and flatter minima generalize better (Keskar et
al., 2017).

1. **Batch 64 vs 1024** with SGD lr 0.1, as in the STAT 453 notebooks
   (100 epochs on MNIST: test 97.18% vs 97.08%). Same number of epochs, so
   the large batch also takes 16x fewer steps, as in the notebook; a control
   run gives batch 1024 as many steps as batch 64 (each epoch passes over
   the training set repeated 16 times) and the lesson reports whether the
   flatness gap survives when the large batch is not simply trained less
   (on the small embedded digits it does not: there the gap comes from the
   number of updates, not from the gradient noise).
2. **A learning-rate sweep** at batch 64 (0.01, 0.03, 0.1, 0.3): the
   gradient noise α²/|B| grows with α (with equal epochs the small rates
   are also less converged: compare the train losses in results.json).

Sharpness of each final solution is measured with
:func:`kreg.sharpness.sharpness`: the mean rise of the training loss when all
weights move by 5% of their norm in a random direction (10 directions, the
same on every backend). Claim: **small batches / large learning rates find
flatter minima and generalize at least as well** (test accuracy within 2
standard errors or better).

Run:  KERAS_BACKEND=jax python lessons/l12_batch_size.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--batch-sizes", type=int, nargs=2, default=(64, 1024), metavar=("SMALL", "LARGE"),
                   help="the two batch sizes compared at lr 0.1 (STAT 453: 64 and 1024)")
    p.add_argument("--lrs", type=float, nargs="+", default=(0.01, 0.03, 0.1, 0.3),
                   help="learning-rate sweep at the small batch size")
    p.add_argument("--radius", type=float, default=0.05, help="perturbation size relative to the weight norm")
    p.add_argument("--directions", type=int, default=10, help="random directions for the sharpness")


LESSON = Lesson(
    "l12_batch_size",
    title="Batch size and learning rate: implicit regularization and flat minima",
    decks="003, 004",
    dataset="mnist",
    fallback="mnist5k",
    epochs=60,
    quick_epochs=1,
    reference="STAT 453 L12 batchsize notebooks: batch 64 test 97.18%, batch 1024 test 97.08% (SGD lr 0.1, "
    "100 epochs)",
    add_arguments=_args,
)



def main(argv=None):
    run = LESSON.start(argv)
    args = run.args
    small, large = args.batch_sizes
    if not 1 <= small < large:
        raise bad_flag("batch_sizes", list(args.batch_sizes), "two integers with 1 <= SMALL < LARGE")
    if len(args.lrs) < 2 or not all(math.isfinite(v) and v > 0 for v in args.lrs):
        raise bad_flag("lrs", list(args.lrs), "at least two floats > 0")
    if not 0 < args.radius < 1:
        raise bad_flag("radius", args.radius, "a float in (0, 1)")
    if args.directions < 1:
        raise bad_flag("directions", args.directions, "a positive integer")
    import keras  # noqa: F401  (imported after the flags, as every lesson)
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import models, plots
    from kreg.sharpness import loss_on, sharpness

    data = run.load_data()
    shape, k = data.info.input_shape, data.info.num_classes
    lrs = sorted(args.lrs)
    ref_lr = 0.1 if 0.1 in lrs else lrs[len(lrs) // 2]
    if run.quick:  # a smoke run: three fits (the reference lr and the largest one at the small batch)
        lrs = sorted({ref_lr, lrs[-1]}) if lrs[-1] != ref_lr else [lrs[0], ref_lr]
    configs = [(small, lr) for lr in lrs] + [(large, ref_lr)]  # (batch, lr[, label of the equal-steps control])
    directions = run.pick(args.directions, 2)
    run.config(batch_sizes=[small, large], lrs=lrs, reference_lr=ref_lr, radius=args.radius,
               directions=directions, optimizer="SGD")
    run.total_runs = len(configs)
    x_sh, y_sh = data.x_train[: run.pick(len(data.x_train), 128)], data.y_train[: run.pick(len(data.y_train), 128)]
    out, hist = {}, {}
    reps = large // small
    equal = f"batch {large}, lr {ref_lr:g}, same steps"
    if not run.quick:
        configs.append((large, ref_lr, equal))
        run.total_runs += 1
    for b, lr, *name in configs:
        label = name[0] if name else f"batch {b}, lr {lr:g}"
        run.reseed()  # the same initial weights for every run
        model = models.compile_classifier(models.mlp(shape, k), learning_rate=lr)
        if name:  # the control: every epoch sees the training set `reps` times
            hist[label] = run.fit(label, model, x=np.tile(data.x_train, (reps, 1, 1, 1)[: data.x_train.ndim]),
                                  y=np.tile(data.y_train, reps), validation_data=data.val, batch_size=b).history
        else:
            hist[label] = run.fit(label, model, data, batch_size=b).history
        sharp = sharpness(model, x_sh, y_sh, radius=args.radius, n_directions=directions, seed=run.seed)
        out[label] = {"batch_size": b, "lr": lr, "sharpness": sharp,
                      "train_loss": loss_on(model, data.x_train, data.y_train),
                      "test_accuracy": run.evaluate(model, *data.test)["accuracy"],
                      "steps": int(math.ceil(len(data.x_train) * (reps if name else 1) / b))
                      * len(hist[label]["loss"])}
    run.metric("runs", out)
    n_test = len(data.x_test)

    def two_se(a, b):
        p = (a + b) / 2
        return 2 * math.sqrt(2 * max(p * (1 - p), 1e-4) / n_test)

    s_lab, l_lab = f"batch {small}, lr {ref_lr:g}", f"batch {large}, lr {ref_lr:g}"
    s, l_ = out[s_lab], out[l_lab]
    tol = two_se(s["test_accuracy"], l_["test_accuracy"])
    run.claim(
        f"small batches find flatter minima and generalize at least as well (batch {small} vs {large}, "
        "same epochs as STAT 453)",
        holds=s["sharpness"] < l_["sharpness"] and s["test_accuracy"] >= l_["test_accuracy"] - tol,
        evidence=f"sharpness {s['sharpness']:.4f} vs {l_['sharpness']:.4f}; test {s['test_accuracy']:.2%} vs "
        f"{l_['test_accuracy']:.2%} (2 s.e. {tol:.2%}); train loss {s['train_loss']:.4f} vs {l_['train_loss']:.4f}"
        + (f"; control, batch {large} with as many steps ({out[equal]['steps']}): sharpness "
           f"{out[equal]['sharpness']:.4f} ("
           + ("flatter than" if out[equal]["sharpness"] < s["sharpness"] else "still sharper than")
           + f" batch {small}: at equal steps the gap " + ("does not survive" if out[equal]["sharpness"] < s["sharpness"]
                                                             else "survives")
           + f"), test {out[equal]['test_accuracy']:.2%}, train loss {out[equal]['train_loss']:.4f}"
           if equal in out else ""),
        sharpness_small=s["sharpness"], sharpness_large=l_["sharpness"],
        test_small=s["test_accuracy"], test_large=l_["test_accuracy"], two_se=tol,
    )
    hi, lo = out[f"batch {small}, lr {lrs[-1]:g}"], out[f"batch {small}, lr {lrs[0]:g}"]
    tol = two_se(hi["test_accuracy"], lo["test_accuracy"])
    run.claim(
        f"large learning rates find flatter minima and generalize at least as well (lr {lrs[-1]:g} vs "
        f"{lrs[0]:g}, batch {small})",
        holds=hi["sharpness"] < lo["sharpness"] and hi["test_accuracy"] >= lo["test_accuracy"] - tol,
        evidence=f"sharpness {hi['sharpness']:.4f} vs {lo['sharpness']:.4f}; test {hi['test_accuracy']:.2%} vs "
        f"{lo['test_accuracy']:.2%} (2 s.e. {tol:.2%}); sweep sharpness "
        + ", ".join(f"{lr:g}: {out[f'batch {small}, lr {lr:g}']['sharpness']:.4f}" for lr in lrs),
        sharpness_high_lr=hi["sharpness"], sharpness_low_lr=lo["sharpness"],
        test_high_lr=hi["test_accuracy"], test_low_lr=lo["test_accuracy"], two_se=tol,
    )

    # figures
    run.figure("batch_size_curves", plots.learning_curves(
        {s_lab: hist[s_lab], l_lab: hist[l_lab]},
        title=f"SGD lr {ref_lr:g} on {data.info.name}: batch {small} vs {large} (same epochs)"))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    sweep = [f"batch {small}, lr {lr:g}" for lr in lrs]
    plots.line_plot(lrs, {f"batch {small}": [out[lab]["sharpness"] for lab in sweep]}, xlabel="learning rate",
                    ylabel=f"sharpness (mean loss rise, r = {args.radius:g}·‖w‖)", logx=True,
                    logy=all(r["sharpness"] > 0 for r in out.values()), ax=ax1,
                    title="sharpness of the final weights")
    ax1.plot([ref_lr], [l_["sharpness"]], "s", ms=9, color=plots.COLORS[1], label=f"batch {large}")
    plots.line_plot(lrs, {f"batch {small}": [out[lab]["test_accuracy"] * 100 for lab in sweep]},
                    xlabel="learning rate", ylabel="test accuracy (%)", logx=True, ax=ax2,
                    title=f"test accuracy after {run.epochs} epochs")
    ax2.plot([ref_lr], [l_["test_accuracy"] * 100], "s", ms=9, color=plots.COLORS[1], label=f"batch {large}")
    if equal in out:
        ax1.plot([ref_lr], [out[equal]["sharpness"]], "D", ms=8, color=plots.COLORS[2],
                 label=f"batch {large}, as many steps")
        ax2.plot([ref_lr], [out[equal]["test_accuracy"] * 100], "D", ms=8, color=plots.COLORS[2],
                 label=f"batch {large}, as many steps")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    run.figure("sharpness_vs_lr", fig)
    return run.finish()


if __name__ == "__main__":
    main()
