"""L10 — Model ensembles (deck 004, "Model ensembles").

Deck 004: "Train multiple models, and at test time average their
predictions" -- for classification "the most frequent predicted class or
mean of the pre-softmax activations". Candidates on the slide:

* **same model, different initializations**: ``--members`` copies of the
  STAT 453 MLP (784-75-45-10 ReLU; 64-75-45-10 on the embedded 8x8 digits),
  SGD lr 0.1, trained from different seeds;
* **different checkpoints of a single model** ("if training is very
  expensive -- maybe limited success"): the weights of the first run at
  ``--members`` epochs spread over the second half of training;
* **running average of parameters during training** ("maintains an
  exponentially decaying sum of previous weights"):
  ``kreg.callbacks.WeightAveraging(mode="ema")`` on the first run,
  θ̄ ← β θ̄ + (1 - β) θ after every step, β = 1 - 1/(2 · steps per epoch)
  by default (an averaging horizon of about two epochs).

Each ensemble is scored three ways -- averaged probabilities, averaged
logits (the slide's "pre-softmax activations") and majority vote -- and
compared with its members on the test set.

Claims, from the measured numbers:

1. **The ensemble beats its average member** (seeds): higher test accuracy
   and lower test NLL of the averaged probabilities than the mean over
   members. The NLL half is guaranteed by Jensen's inequality
   (-log is convex: -log mean p <= mean -log p for every test point); its
   size measures how much the members disagree. The accuracy half is not
   guaranteed and is the real test.
2. **Checkpoints of one run are a weaker ensemble** ("limited success"):
   they beat their own average member by less than independent seeds do,
   because consecutive checkpoints of one run are similar (measured by the
   NLL gain and the members' disagreement rate).
3. **The weight average smooths the validation curve**: the mean absolute
   epoch-to-epoch change of the validation loss over the second half of
   training is smaller for the averaged weights than for the raw weights.

Run:  KERAS_BACKEND=jax python lessons/l10_ensembles.py   (add --quick for a smoke run)
"""

from __future__ import annotations

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--members", type=int, default=5, help="models per ensemble (seeds, and checkpoints)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")
    p.add_argument("--learning-rate", type=float, default=0.1, help="SGD learning rate (STAT 453: 0.1)")
    p.add_argument("--ema-decay", type=float, default=None,
                   help="EMA decay beta per step (default 1 - 1/(2 * steps per epoch))")


LESSON = Lesson(
    "l10_ensembles",
    title="Model ensembles: seeds, checkpoints of one run, running average of weights",
    decks="004",
    dataset="mnist",
    fallback="mnist5k",
    epochs=40,
    reference="deck 004 'Model ensembles' (no reference numbers); STAT 453 MLP 784-75-45-10, SGD lr 0.1 "
    "(single-model test 97.77% after 50 epochs)",
    add_arguments=_args,
)


def _check(args):
    if args.members < 2:
        raise bad_flag("members", args.members, "an integer >= 2")
    if args.batch_size is not None and args.batch_size < 1:
        raise bad_flag("batch-size", args.batch_size, "a positive integer")
    if not args.learning_rate > 0:
        raise bad_flag("learning-rate", args.learning_rate, "a positive float")
    if args.ema_decay is not None and not 0.0 <= args.ema_decay < 1.0:
        raise bad_flag("ema-decay", args.ema_decay, "a float in [0, 1)")


def main(argv=None):
    run = LESSON.start(argv)
    args = run.args
    _check(args)
    import math

    import keras
    import numpy as np

    from kreg import callbacks, models, plots

    data = run.load_data()
    batch = args.batch_size or (32 if len(data.x_train) < 5000 else 256)
    members = run.pick(args.members, 2)
    epochs = run.epochs
    steps = math.ceil(len(data.x_train) / batch)
    if run.quick:
        steps = min(steps, LESSON.quick_steps)
    decay = args.ema_decay if args.ema_decay is not None else 1.0 - 1.0 / (2 * steps)
    shape, k = data.info.input_shape, data.info.num_classes
    # checkpoints: `members` epochs evenly spread over the second half of training, the last one included
    ckpt_epochs = sorted({int(round(epochs - i * (epochs / 2) / members)) for i in range(members)} - {0})
    run.config(batch_size=batch, learning_rate=args.learning_rate, optimizer="SGD", members=members,
               ema_decay=decay, steps_per_epoch=steps, checkpoint_epochs=ckpt_epochs)
    run.total_runs = members

    def build():
        return models.compile_classifier(models.mlp(shape, k), learning_rate=args.learning_rate)

    class Snapshots(keras.callbacks.Callback):
        """Keep the raw weights, and the EMA's, at the end of every epoch."""

        def __init__(self, ema=None):
            super().__init__()
            self.ema, self.raw, self.avg = ema, [], []

        def on_epoch_end(self, epoch, logs=None):
            self.raw.append([np.array(w) for w in self.model.get_weights()])
            if self.ema is not None:
                self.avg.append([a.astype("float32") for a in self.ema.averaged_weights])

    evaluator = build()

    def logits(weights, x):
        evaluator.set_weights(weights)
        return evaluator.predict(x, batch_size=2048, verbose=0)

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    def score(z, y):
        """Accuracy and NLL of one model's logits."""
        lp = log_softmax(z)
        return {"accuracy": float(np.mean(z.argmax(-1) == y)), "nll": float(-lp[np.arange(len(y)), y].mean())}

    def ensemble(zs, y):
        """Score an ensemble of logits ``zs`` (M, n, k) three ways, plus its members."""
        zs = np.asarray(zs)
        probs = np.exp(log_softmax(zs))
        p = probs.mean(0)
        votes = np.apply_along_axis(np.bincount, 0, zs.argmax(-1), minlength=k)  # (k, n)
        # ties in the vote go to the class with the larger averaged probability
        vote = np.argmax(votes + 1e-3 * p.T, axis=0)
        mem = [score(z, y) for z in zs]
        preds = zs.argmax(-1)
        pairs = [np.mean(preds[i] != preds[j]) for i in range(len(zs)) for j in range(i + 1, len(zs))]
        disagreement = float(np.mean(pairs)) if pairs else 0.0
        return {
            "prob_average": {"accuracy": float(np.mean(p.argmax(-1) == y)),
                             "nll": float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())},
            "logit_average": score(zs.mean(0), y),
            "majority_vote": {"accuracy": float(np.mean(vote == y))},
            "members": mem,
            "mean_member": {"accuracy": float(np.mean([m["accuracy"] for m in mem])),
                            "nll": float(np.mean([m["nll"] for m in mem]))},
            "best_member_accuracy": float(max(m["accuracy"] for m in mem)),
            "disagreement": disagreement,
        }

    # 1: seeds. The first run also carries the running average and the per-epoch snapshots.
    final, hist = [], {}
    ema = callbacks.WeightAveraging(mode="ema", decay=decay)
    snaps = Snapshots(ema)
    for s in range(members):
        run.reseed(s)
        model = build()
        cbs = [ema, snaps] if s == 0 else []
        hist[s] = run.fit(f"seed {s}" + (" (+ EMA, checkpoints)" if s == 0 else ""), model, data,
                          batch_size=batch, callbacks=cbs)
        final.append(snaps.raw[-1] if s == 0 else model.get_weights())  # seed 0's model now holds the EMA
    xt, yt, xv, yv = data.x_test, data.y_test, data.x_val, data.y_val
    seeds = ensemble([logits(w, xt) for w in final], yt)
    ckpts = ensemble([logits(snaps.raw[e - 1], xt) for e in ckpt_epochs], yt)
    ema_test = score(logits(snaps.avg[-1], xt), yt)
    raw_test = seeds["members"][0]
    for name, value in (("seed_ensemble", seeds), ("checkpoint_ensemble", ckpts), ("ema_final", ema_test),
                        ("raw_final_seed0", raw_test)):
        run.metric(name, value)

    gain_acc = seeds["prob_average"]["accuracy"] - seeds["mean_member"]["accuracy"]
    gain_nll = seeds["mean_member"]["nll"] - seeds["prob_average"]["nll"]
    run.claim(
        f"an ensemble of {members} seeds beats its average member",
        holds=gain_acc > 0 and gain_nll > 0,
        evidence=f"test acc {seeds['prob_average']['accuracy']:.2%} (avg probs) / "
        f"{seeds['logit_average']['accuracy']:.2%} (avg logits) / "
        f"{seeds['majority_vote']['accuracy']:.2%} (vote) "
        f"vs {seeds['mean_member']['accuracy']:.2%} mean member (best {seeds['best_member_accuracy']:.2%}); "
        f"NLL {seeds['prob_average']['nll']:.4f} vs {seeds['mean_member']['nll']:.4f}",
        accuracy_gain=gain_acc, nll_gain=gain_nll,
    )
    c_acc = ckpts["prob_average"]["accuracy"] - ckpts["mean_member"]["accuracy"]
    c_nll = ckpts["mean_member"]["nll"] - ckpts["prob_average"]["nll"]
    run.claim(
        "checkpoints of one run make a weaker ensemble than independent seeds (limited success)",
        holds=c_nll < gain_nll and c_acc <= gain_acc and ckpts["disagreement"] < seeds["disagreement"],
        evidence=f"gain over the mean member: checkpoints (epochs {ckpt_epochs}) {c_acc:+.2%} acc, "
        f"{c_nll:.4f} NLL vs seeds {gain_acc:+.2%} acc, {gain_nll:.4f} NLL; members disagree on "
        f"{ckpts['disagreement']:.2%} vs {seeds['disagreement']:.2%} of test points",
        checkpoint_accuracy_gain=c_acc, checkpoint_nll_gain=c_nll, seed_accuracy_gain=gain_acc,
        seed_nll_gain=gain_nll,
    )

    # 3: validation curve of the raw and the averaged weights, epoch by epoch
    if len(xv) == 0:  # --dataset without a validation split: use the test set for the curve
        xv, yv = xt, yt
    raw_curve = [score(logits(w, xv), yv) for w in snaps.raw]
    ema_curve = [score(logits(w, xv), yv) for w in snaps.avg]
    raw_loss = np.array([c["nll"] for c in raw_curve])
    ema_loss = np.array([c["nll"] for c in ema_curve])
    # second half of training, where the trend has flattened and the epoch-to-epoch wiggle dominates
    # (the whole run when it is too short for that, e.g. --quick)
    half = len(raw_loss) // 2 if len(raw_loss) >= 6 else 0
    rough_raw = float(np.mean(np.abs(np.diff(raw_loss[half:])))) if len(raw_loss) > 1 else 0.0
    rough_ema = float(np.mean(np.abs(np.diff(ema_loss[half:])))) if len(ema_loss) > 1 else 0.0
    run.metric("val_curve", {"raw": raw_curve, "ema": ema_curve})
    run.claim(
        "the running average of the weights smooths the validation curve",
        holds=rough_ema < rough_raw,
        evidence=f"mean |epoch-to-epoch change| of val loss over epochs {half + 1}-{len(raw_loss)}: "
        f"{rough_ema:.4f} EMA vs {rough_raw:.4f} raw (decay {decay:.4f}); final test acc "
        f"{ema_test['accuracy']:.2%} EMA vs {raw_test['accuracy']:.2%} raw",
        roughness_ema=rough_ema, roughness_raw=rough_raw, val_loss_ema=ema_loss.tolist(),
        val_loss_raw=raw_loss.tolist(),
    )

    # figures
    import matplotlib.pyplot as plt

    ep = np.arange(1, len(raw_loss) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    ema_label = f"EMA of weights (β={decay:.3f})"
    plots.line_plot(ep, {"raw weights": raw_loss, ema_label: ema_loss}, xlabel="epoch",
                    ylabel="validation loss (NLL)", ax=ax1, markers=False,
                    title="running average of parameters (seed 0)")
    plots.line_plot(ep, {"raw weights": [100 * c["accuracy"] for c in raw_curve],
                         ema_label: [100 * c["accuracy"] for c in ema_curve]},
                    xlabel="epoch", ylabel="validation accuracy (%)", ax=ax2, markers=False,
                    title="same run, validation accuracy")
    for ax in (ax1, ax2):
        ax.axvspan(half + 0.5, len(ep) + 0.5, color="grey", alpha=0.1, lw=0)
    ax1.set_ylim(top=float(np.percentile(np.concatenate([raw_loss, ema_loss]), 95)) * 1.3)
    fig.tight_layout()
    run.figure("ema_val_curve", fig)

    # test accuracy / NLL vs number of members, seeds vs checkpoints: the mean over every subset of
    # m members (so m = 1 is the mean member and the curve does not depend on the members' order)
    from itertools import combinations

    def growing(zs, y):
        probs = np.exp(log_softmax(np.asarray(zs)))
        out = []
        for m in range(1, len(zs) + 1):
            accs, nlls = [], []
            for subset in combinations(range(len(zs)), m):
                p = probs[list(subset)].mean(0)
                accs.append(np.mean(p.argmax(-1) == y))
                nlls.append(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())
            out.append({"accuracy": float(np.mean(accs)), "nll": float(np.mean(nlls))})
        return out

    g_seed = growing([logits(w, xt) for w in final], yt)
    g_ckpt = growing([logits(snaps.raw[e - 1], xt) for e in ckpt_epochs], yt)
    g_ckpt += [{"accuracy": float("nan"), "nll": float("nan")}] * (members - len(g_ckpt))  # short runs
    run.metric("ensemble_size_curve", {"seeds": g_seed, "checkpoints": g_ckpt})
    sizes = list(range(1, members + 1))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    plots.line_plot(sizes, {"seeds": [100 * g["accuracy"] for g in g_seed],
                            "checkpoints of seed 0": [100 * g["accuracy"] for g in g_ckpt]},
                    xlabel="members averaged", ylabel="test accuracy (%)", ax=ax1,
                    title="ensemble of averaged probabilities (mean over subsets)")
    ax1.axhline(100 * ema_test["accuracy"], color=plots.COLORS[2], ls="--", label="EMA weights (one model)")
    ax1.legend(fontsize=8)
    plots.line_plot(sizes, {"seeds": [g["nll"] for g in g_seed],
                            "checkpoints of seed 0": [g["nll"] for g in g_ckpt]},
                    xlabel="members averaged", ylabel="test NLL (lower is better)", ax=ax2,
                    title="test NLL of the averaged probabilities")
    ax2.axhline(ema_test["nll"], color=plots.COLORS[2], ls="--", label="EMA weights (one model)")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.set_xticks(sizes)
    fig.tight_layout()
    run.figure("ensemble_size", fig)

    bars = {"mean member": seeds["mean_member"]["accuracy"], "best member": seeds["best_member_accuracy"],
            "seeds: avg probs": seeds["prob_average"]["accuracy"],
            "seeds: avg logits": seeds["logit_average"]["accuracy"],
            "seeds: vote": seeds["majority_vote"]["accuracy"],
            "checkpoints: avg probs": ckpts["prob_average"]["accuracy"],
            "EMA weights": ema_test["accuracy"]}
    fig = plots.bar_plot(bars, ylabel="test accuracy", percent=True,
                         title=f"{members} members on {data.info.name}: test accuracy")
    lo = min(bars.values()) * 100
    fig.axes[0].set_ylim(max(0.0, lo - 3), min(100.0, max(bars.values()) * 100 + 1.5))
    run.figure("test_accuracy", fig)
    return run.finish()


if __name__ == "__main__":
    main()
