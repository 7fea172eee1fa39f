"""L12 — Gradient clipping (decks 001 "Gradient Clipping", 003 "Gradient Clipping").

Deck 001: exploding gradients hurt convergence; clip them during back
propagation so they do not exceed a threshold
(``torch.nn.utils.clip_grad_value_``). Deck 003: clipping by norm,
``if ‖g‖ > τ: g ← τ g / ‖g‖``. Keras has both as optimizer arguments:

- ``clipvalue=c``: every gradient entry clipped to [-c, c] (deck 001's code);
- ``clipnorm=τ``: each variable's gradient rescaled to norm ≤ τ;
- ``global_clipnorm=τ``: all gradients together rescaled to global norm ≤ τ
  (deck 003's algorithm, ``torch.nn.utils.clip_grad_norm_``).

The experiment: a deep, narrow ReLU MLP (8 hidden layers of 64 units) with a
large initialization (N(0, σ²), σ = 0.3, about 1.7x He's √(2/64)) and plain
SGD at STAT 453's lr 0.1. Forward activations grow layer by layer, the first gradients
are huge, and the unclipped net's loss goes non-finite (NaN/inf) within the
first epoch; Keras's ``TerminateOnNaN`` then stops it. The same initial
weights with clipping train normally. Per-step losses are recorded (the
running mean Keras logs per batch is unrolled into per-batch values) so the
step where the loss leaves the floats is shown.

Claims: **without clipping the loss diverges (non-finite); clipping by value
and by norm keeps it finite.**

Run:  KERAS_BACKEND=jax python lessons/l12_grad_clipping.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--init-std", type=float, default=0.3, help="std of the N(0, σ²) kernel initializer")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (STAT 453: 0.1)")
    p.add_argument("--depth", type=int, default=8, help="hidden layers (64 units each)")
    p.add_argument("--clip", type=float, default=1.0, help="threshold for clipvalue, clipnorm and global_clipnorm")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size")


LESSON = Lesson(
    "l12_grad_clipping",
    title="Gradient clipping: a deep net that diverges, kept finite by clipping by value and by norm",
    decks="001, 003",
    dataset="mnist",
    fallback="mnist5k",
    epochs=10,
    quick_epochs=1,
    quick_steps=8,
    reference="deck 001: torch.nn.utils.clip_grad_value_(model.parameters(), 100); deck 003: clip by norm τ",
    add_arguments=_args,
)


def _check(name, value, ok, expected):
    if not ok:
        raise bad_flag(name, value, expected)


def _batch_recorder(keras):
    class BatchLosses(keras.callbacks.Callback):
        """Per-step training losses: Keras logs the running mean m_k of the epoch; l_k = k m_k - (k-1) m_(k-1)."""

        def on_train_begin(self, logs=None):
            self.losses, self.epoch_of = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch, self._prev = epoch, 0.0

        def on_train_batch_end(self, batch, logs=None):
            m = float((logs or {}).get("loss", float("nan")))
            k = batch + 1
            raw = k * m - (k - 1) * self._prev if math.isfinite(m) and math.isfinite(self._prev) else m
            self._prev = m
            self.losses.append(raw)
            self.epoch_of.append(self._epoch)

    return BatchLosses()


def main(argv=None):
    run = LESSON.start(argv)
    args = run.args
    _check("init_std", args.init_std, args.init_std > 0, "a float > 0")
    _check("lr", args.lr, args.lr > 0, "a float > 0")
    _check("depth", args.depth, args.depth >= 1, "an integer >= 1")
    _check("clip", args.clip, args.clip > 0, "a float > 0")
    _check("batch_size", args.batch_size, args.batch_size >= 1, "a positive integer")
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import models, plots

    data = run.load_data()
    shape, k = data.info.input_shape, data.info.num_classes
    hidden = (64,) * args.depth
    c = args.clip
    settings = {
        "no clipping": {},
        f"clipvalue={c:g}": {"clipvalue": c},
        f"clipnorm={c:g}": {"clipnorm": c},
        f"global_clipnorm={c:g}": {"global_clipnorm": c},
    }
    run.config(hidden=list(hidden), init_std=args.init_std, learning_rate=args.lr, batch_size=args.batch_size,
               clip=c, he_std=math.sqrt(2.0 / 64))
    run.total_runs = len(settings)
    steps, hist, test, first_bad = {}, {}, {}, {}
    for label, clip_kwargs in settings.items():
        run.reseed()  # the same large initial weights and batch order for every run
        model = models.mlp(shape, k, hidden=hidden,
                           kernel_initializer=keras.initializers.RandomNormal(stddev=args.init_std))
        models.compile_classifier(model, keras.optimizers.SGD(args.lr, **clip_kwargs))
        rec = _batch_recorder(keras)
        hist[label] = run.fit(label, model, data, batch_size=args.batch_size,
                              callbacks=[rec, keras.callbacks.TerminateOnNaN()]).history
        losses = np.asarray(rec.losses, float)
        steps[label] = losses
        bad = np.flatnonzero(~np.isfinite(losses))
        first_bad[label] = None if not len(bad) else {"step": int(bad[0]) + 1, "epoch": rec.epoch_of[bad[0]] + 1}
        test[label] = run.evaluate(model, *data.test)["accuracy"] if not len(bad) else float("nan")
    run.metric("first_non_finite", first_bad)
    run.metric("test_accuracy", test)
    run.metric("final_train_loss", {lab: float(h["loss"][-1]) for lab, h in hist.items()})

    base = first_bad["no clipping"]
    run.claim(
        "without clipping the loss diverges (NaN/inf)",
        holds=base is not None,
        evidence=(f"loss non-finite at epoch {base['epoch']}, step {base['step']}" if base else
                  f"loss stayed finite (last {hist['no clipping']['loss'][-1]:.3g})"),
        first_non_finite=base,
    )
    clipped = [lab for lab in settings if lab != "no clipping"]
    finite = {lab: first_bad[lab] is None and len(hist[lab]["loss"]) == run.epochs for lab in clipped}
    run.claim(
        "clipping by value and by norm keeps the loss finite",
        holds=all(finite.values()),
        evidence="; ".join(f"{lab}: " + (f"final loss {hist[lab]['loss'][-1]:.3f}, test {test[lab]:.1%}"
                                        if finite[lab] else f"non-finite at {first_bad[lab]}") for lab in clipped),
        **{lab: bool(v) for lab, v in finite.items()},
    )

    # figure: per-step loss (log scale), the divergence marked
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    for i, (label, losses) in enumerate(steps.items()):
        color = plots.COLORS[i % len(plots.COLORS)]
        x = np.arange(1, len(losses) + 1)
        ok = np.isfinite(losses)
        ax1.plot(x[ok], losses[ok], lw=0.9, color=color, label=label)
        if first_bad[label]:
            s = first_bad[label]["step"]
            y = losses[s - 2] if s >= 2 and np.isfinite(losses[s - 2]) else 1.0
            ax1.plot([s], [y], "X", ms=12, color=color,
                     label=f"{label}: non-finite at step {s} (epoch {first_bad[label]['epoch']})")
    ax1.set_yscale("log")
    ax1.set_xlabel("optimizer step")
    ax1.set_ylabel("minibatch training loss")
    ax1.set_title(f"{args.depth}x64 ReLU MLP, N(0, {args.init_std:g}²) init, SGD lr {args.lr:g}")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ep = np.arange(1, run.epochs + 1)
    plots.line_plot(ep, {lab: np.asarray(hist[lab]["val_accuracy"]) * 100 for lab in clipped}, xlabel="epoch",
                    ylabel="validation accuracy (%)", ax=ax2, title=f"clipped runs on {data.info.name}",
                    styles={lab: {"color": plots.COLORS[i + 1]} for i, lab in enumerate(clipped)})
    fig.tight_layout()
    run.figure("clipping", fig)
    return run.finish()


if __name__ == "__main__":
    main()
