"""L10 §2 — More data: learning curves vs training-set size (decks 000 §2, 001).

Deck 000 ("Often, the best way to reduce overfitting is collecting more
data": softmax regression on MNIST subsets, the test set kept constant) and
deck 001 ("Determining fit from training/val errors": learning curves of a
simple and a more complex model against the training-set size).

Experiment: a *simple* model (softmax regression) and a *complex* one (an MLP,
wider than STAT 453's 75-45 so that it can overfit the small subsets) are
trained on class-stratified subsets of growing size n of the training split
(``kreg.data.stratified_subset``); validation and test sets never change.
Every fit gets the same number of SGD updates (lr 0.1, as in STAT 453):
small subsets are repeated, so a small n is trained as long as the full set
and what differs is only the amount of distinct data. Accuracies are measured
in inference mode after training and averaged over ``--repeats`` subset
draws.

Claims:

1. **The train-validation gap shrinks as the training set grows**, for both
   models (deck 000's plot; deck 001: train accuracy falls, validation
   accuracy rises, the curves approach each other).
2. **The complex model overfits more at small n** (deck 001's overfitting
   curves: a larger gap between train and validation than the simple model's),
   measured as the mean gap over the two smallest subsets. On the 8x8 digits
   softmax regression is itself flexible enough to fit 20-40 examples
   perfectly, so the margin there is small; its training accuracy falling
   with n (deck 001's "underfitting" curve) is visible in the figure.

Run:  KERAS_BACKEND=jax python lessons/l10_more_data.py   (add --quick for a smoke run)
"""

from __future__ import annotations

from kreg.lesson import Lesson, bad_flag

SIZES = {"digits": (20, 40, 80, 160, 320, 640), "mnist": (100, 300, 1000, 3000, 10000, 30000)}


def _args(p):
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="training-set sizes (the full training split is always added); "
                   "default 20..640 on digits, 100..30000 on MNIST")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128],
                   help="hidden widths of the complex model (an MLP)")
    p.add_argument("--steps", type=int, default=None,
                   help="SGD updates per fit (default: 40 epochs of the full training split)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")
    p.add_argument("--repeats", type=int, default=3, help="subset draws averaged per size")


LESSON = Lesson(
    "l10_more_data",
    title="More data: learning curves of a simple and a complex model vs training-set size",
    decks="000 §2, 001",
    dataset="mnist",
    fallback="mnist5k",
    epochs=40,
    quick_epochs=1,
    quick_train=512,
    reference="deck 000 §2 (softmax regression on MNIST subsets, test set fixed); deck 001 learning curves",
    add_arguments=_args,
)


def _check_args(args):
    if args.sizes is not None and any(s < 10 for s in args.sizes):
        raise bad_flag("sizes", args.sizes, "integers >= 10")
    if any(h < 1 for h in args.hidden):
        raise bad_flag("hidden", args.hidden, "positive integers")
    for name in ("steps", "batch_size", "repeats"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise bad_flag(name, v, "a positive integer")


def main(argv=None):
    run = LESSON.start(argv)
    _check_args(run.args)
    import numpy as np

    from kreg import models, plots
    from kreg.data import stratified_subset

    args = run.args
    data = run.load_data()
    n_full = len(data.x_train)
    small_data = n_full < 5000
    batch = args.batch_size or (32 if small_data else 256)
    sizes = args.sizes or SIZES["digits" if small_data else "mnist"]
    if run.quick:
        sizes = (40,)
    sizes = sorted({s for s in sizes if s < n_full} | {n_full})
    steps = args.steps or run.epochs * int(np.ceil(n_full / batch))
    repeats = run.pick(args.repeats, 1)
    shape, k = data.info.input_shape, data.info.num_classes
    hidden = tuple(args.hidden)
    builders = {
        "softmax regression": lambda: models.softmax_regression(shape, k),
        f"MLP {'-'.join(map(str, hidden))}": lambda: models.mlp(shape, k, hidden=hidden),
    }
    run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", sizes=sizes, steps=steps,
               repeats=repeats, hidden=list(hidden))
    run.total_runs = len(builders) * len(sizes) * repeats
    run.say(f"   {len(sizes)} sizes x {len(builders)} models x {repeats} draws, {steps} SGD updates each")

    acc = {m: {s: [] for s in ("train", "val", "test")} for m in builders}
    for name, build in builders.items():
        # one compiled model per architecture, reset to the same initial weights before every fit
        # (SGD without momentum has no state but its step counter): no re-tracing per fit
        run.reseed()
        model = models.compile_classifier(build(), learning_rate=0.1)
        init = model.get_weights()
        for n in sizes:
            per = {s: [] for s in ("train", "val", "test")}
            for r in range(repeats):
                idx = stratified_subset(data.y_train, n, seed=run.seed + 1000 * r) if n < n_full \
                    else np.arange(n_full)
                x, y = data.x_train[idx], data.y_train[idx]
                reps = int(np.ceil(steps * batch / n))  # repeat a small subset: same number of updates
                xr, yr = np.concatenate([x] * reps)[: steps * batch], np.concatenate([y] * reps)[: steps * batch]
                run.reseed(r)
                model.set_weights(init)
                model.optimizer.iterations.assign(0)
                run.fit(f"{name}, n={n}, draw {r + 1}", model, x=xr, y=yr, epochs=1, batch_size=batch,
                        shuffle=True)
                per["train"].append(run.evaluate(model, x, y)["accuracy"])
                per["val"].append(run.evaluate(model, *data.val)["accuracy"])
                per["test"].append(run.evaluate(model, *data.test)["accuracy"])
            for s in per:
                acc[name][s].append(float(np.mean(per[s])))
            run.say(f"   {name:>22}, n={n:>6}: train {acc[name]['train'][-1]:.2%}  "
                     f"val {acc[name]['val'][-1]:.2%}  test {acc[name]['test'][-1]:.2%}")
    gap = {m: [t - v for t, v in zip(a["train"], a["val"])] for m, a in acc.items()}
    run.metric("sizes", sizes)
    run.metric("accuracy", acc)
    run.metric("gap_train_minus_val", gap)

    simple, complex_ = list(builders)
    shrinks = {m: gap[m][-1] < gap[m][0] and acc[m]["val"][-1] > acc[m]["val"][0] for m in builders}
    run.claim(
        "the train-validation gap shrinks as the training set grows (both models)",
        holds=all(shrinks.values()),
        evidence="; ".join(f"{m}: gap {gap[m][0]:.1%} at n={sizes[0]} -> {gap[m][-1]:.1%} at n={sizes[-1]}, "
                           f"val {acc[m]['val'][0]:.1%} -> {acc[m]['val'][-1]:.1%}" for m in builders),
        gap_small_n={m: gap[m][0] for m in builders}, gap_full={m: gap[m][-1] for m in builders},
    )
    small = sizes[:2] if len(sizes) > 2 else sizes[:1]  # "small n": the two smallest subsets
    g_c, g_s = (float(np.mean(gap[m][: len(small)])) for m in (complex_, simple))
    run.claim(
        "the complex model overfits more than the simple one at small n",
        holds=g_c > g_s,
        evidence=f"mean gap at n={small}: {g_c:.1%} ({complex_}) vs {g_s:.1%} ({simple}); "
        f"train {acc[complex_]['train'][0]:.1%} vs {acc[simple]['train'][0]:.1%} at n={sizes[0]}",
        small_sizes=small, gap_complex=g_c, gap_simple=g_s,
    )

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for ax, name in zip(axes[:2], builders):
        plots.line_plot(sizes, {"train": np.array(acc[name]["train"]) * 100,
                                "validation": np.array(acc[name]["val"]) * 100,
                                "test (fixed set)": np.array(acc[name]["test"]) * 100},
                        xlabel="training-set size n", ylabel="accuracy (%)", logx=True, ax=ax,
                        title=f"{name}", styles={"validation": {"ls": "--"}, "test (fixed set)": {"ls": ":"}})
    plots.line_plot(sizes, {m: np.array(g) * 100 for m, g in gap.items()}, xlabel="training-set size n",
                    ylabel="train - validation accuracy (pp)", logx=True, ax=axes[2],
                    title="generalization gap")
    axes[2].axhline(0, color="grey", lw=0.8)
    fig.suptitle(f"Learning curves vs training-set size on {data.info.name} ({steps} SGD updates per fit)")
    fig.tight_layout()
    run.figure("learning_curves_vs_n", fig)
    return run.finish()


if __name__ == "__main__":
    main()
