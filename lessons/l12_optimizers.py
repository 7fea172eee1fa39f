"""L12 — Optimizers: SGD, momentum, Nesterov, AdaGrad, Adadelta, RMSProp, Adam, AdamW (decks 001, 002, 003).

Deck 001 ("Faster Optimizers"), deck 002 (momentum, NAG, Adagrad, Adadelta,
RMSprop, Adam formulas) and deck 003's optimizer recap, run with Keras's own
optimizers:

1. **Trajectories on a ravine.** The ill-conditioned quadratic
   f(w) = ½(a·w₁² + b·w₂²), a = 1, b = 25 (condition number 25), from
   (-9, 1.5). Every optimizer steps a ``keras.Variable`` of shape (2,) with
   ``optimizer.apply([∇f(w)], [w])``, the gradient in closed form
   (∇f = (a·w₁, b·w₂)), so the same code runs on every backend. The SGD
   family shares one learning rate (lr·b = 1: plain SGD is at the edge of
   oscillating across the ravine). Claim: **momentum and NAG beat plain SGD
   on the ravine** (distance to the optimum after ``--steps`` steps).
2. **Training curves of the STAT 453 MLP** (784-75-45-10, ReLU) with each
   optimizer at its customary learning rate: SGD 0.1 (STAT 453), momentum /
   NAG 0.01 with β = 0.9 (deck 001's ``optim.SGD(lr=0.01, momentum=0.9)``),
   AdaGrad 0.05, Adadelta 1.0 (Zeiler; torch's default), RMSProp, Adam and
   AdamW 0.005 (the STAT 453 Adam notebook's rate; AdamW with torch's default
   weight_decay 0.01). Claim: **the adaptive per-parameter methods move
   fastest early**: each has a lower mean training loss over epoch 1 than
   plain SGD. (On the ravine Adadelta barely moves: its unit-corrected step
   RMS[Δθ]/RMS[g] starts at √ε and only grows as steps accumulate.)

Under ``--quick`` only SGD, momentum and Adam train the MLP (compiling eight
train steps would dominate a smoke run).

Run:  KERAS_BACKEND=jax python lessons/l12_optimizers.py   (add --quick for a smoke run)
"""

from __future__ import annotations

from kreg.lesson import Lesson, bad_flag

CURVATURE = (1.0, 25.0)  # a, b of f(w) = ½(a w1² + b w2²)
START = (-9.0, 1.5)
ADAPTIVE = ("AdaGrad", "Adadelta", "RMSProp", "Adam", "AdamW")
QUICK_MLP = ("SGD", "momentum", "Adam")  # the MLP runs under --quick


def _args(p):
    p.add_argument("--steps", type=int, default=50, help="optimizer steps on the 2-D ravine")
    p.add_argument("--surface-lr", type=float, default=0.04,
                   help="learning rate of SGD / momentum / NAG on the ravine (stable below 2/b = 0.08 for SGD)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")


LESSON = Lesson(
    "l12_optimizers",
    title="Optimizers: trajectories on a ravine and MLP training curves",
    decks="001, 002, 003",
    dataset="mnist",
    fallback="mnist5k",
    epochs=15,
    quick_epochs=1,
    reference="STAT 453 L12 Adam notebook: Adam lr 0.005, 100 epochs, test 97.37% (AdamW 97.29%)",
    add_arguments=_args,
)


def _surface_optimizers(keras, lr):
    """The optimizers stepped on the 2-D surface (SGD family at ``lr``, adaptive ones at their own)."""
    o = keras.optimizers
    return {
        "SGD": o.SGD(lr),
        "momentum": o.SGD(lr, momentum=0.9),
        "NAG": o.SGD(lr, momentum=0.9, nesterov=True),
        "AdaGrad": o.Adagrad(1.0),
        "Adadelta": o.Adadelta(1.0),
        "RMSProp": o.RMSprop(0.1),
        "Adam": o.Adam(0.5),
        "AdamW": o.AdamW(0.5, weight_decay=0.01),
    }


def _mlp_optimizers(keras):
    o = keras.optimizers
    return {
        "SGD": o.SGD(0.1),
        "momentum": o.SGD(0.01, momentum=0.9),
        "NAG": o.SGD(0.01, momentum=0.9, nesterov=True),
        "AdaGrad": o.Adagrad(0.05),
        "Adadelta": o.Adadelta(1.0),
        "RMSProp": o.RMSprop(0.005),
        "Adam": o.Adam(0.005),
        "AdamW": o.AdamW(0.005, weight_decay=0.01),
    }


def main(argv=None):
    run = LESSON.start(argv)
    args = run.args
    if args.steps < 2:
        raise bad_flag("steps", args.steps, "an integer >= 2")
    if not 0.0 < args.surface_lr < 2.0 / CURVATURE[1]:
        raise bad_flag("surface_lr", args.surface_lr,
                       f"a float in (0, {2.0 / CURVATURE[1]}) (plain SGD diverges above 2/b)")
    if args.batch_size is not None and args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import models, plots

    # 1: trajectories on the ravine -------------------------------------------------
    curv = np.array(CURVATURE, "float32")
    steps = run.pick(args.steps, min(args.steps, 20))
    paths, dist = {}, {}
    for name, opt in _surface_optimizers(keras, args.surface_lr).items():
        w = keras.Variable(np.array(START, "float32"), name="point")
        path = [keras.ops.convert_to_numpy(w).copy()]
        for _ in range(steps):
            grad = keras.ops.convert_to_tensor(curv * path[-1])  # ∇f(w) = (a w1, b w2)
            opt.apply([grad], [w])
            path.append(keras.ops.convert_to_numpy(w).copy())
        paths[name] = np.array(path)
        dist[name] = np.linalg.norm(paths[name], axis=1).tolist()
    run.config(surface={"f": "0.5*(a*w1**2 + b*w2**2)", "a_b": CURVATURE, "start": START, "steps": steps,
                        "sgd_family_lr": args.surface_lr, "adagrad_lr": 1.0, "adadelta_lr": 1.0,
                        "rmsprop_lr": 0.1, "adam_lr": 0.5})
    run.metric("surface_distance_to_optimum", {k: v[-1] for k, v in dist.items()})
    d_sgd, d_mom, d_nag = dist["SGD"][-1], dist["momentum"][-1], dist["NAG"][-1]
    run.claim(
        f"momentum and NAG beat plain SGD on the ravine (distance to the optimum after {steps} steps)",
        holds=d_mom < d_sgd and d_nag < d_sgd,
        evidence=f"SGD {d_sgd:.3f}, momentum {d_mom:.3f}, NAG {d_nag:.3f} (start {np.hypot(*START):.2f})",
        sgd=d_sgd, momentum=d_mom, nag=d_nag,
    )

    # 2: MLP training curves ---------------------------------------------------------
    data = run.load_data()
    batch = args.batch_size or (32 if len(data.x_train) < 5000 else 256)
    shape, k = data.info.input_shape, data.info.num_classes
    opts = _mlp_optimizers(keras)
    if run.quick:  # a smoke run: compiling eight train steps costs more than the training itself
        opts = {n: opts[n] for n in QUICK_MLP}
    run.config(batch_size=batch, mlp_learning_rates={n: float(o.learning_rate.numpy() if hasattr(
        o.learning_rate, "numpy") else o.learning_rate) for n, o in opts.items()})
    run.total_runs = len(opts)
    hist, test = {}, {}
    for name, opt in opts.items():
        run.reseed()  # same initial weights and batch order for every optimizer
        model = models.compile_classifier(models.mlp(shape, k), opt)
        hist[name] = run.fit(name, model, data, batch_size=batch).history
        test[name] = run.evaluate(model, *data.test)["accuracy"]
    first = {n: float(h["loss"][0]) for n, h in hist.items()}
    run.metric("train_loss_epoch1", first)
    run.metric("test_accuracy", test)
    adaptive = [n for n in ADAPTIVE if n in first]
    worst_adaptive = max(adaptive, key=lambda n: first[n])
    run.claim(
        "adaptive methods (AdaGrad, Adadelta, RMSProp, Adam, AdamW) move fastest early: lower training "
        "loss after epoch 1 than plain SGD",
        holds=all(first[n] < first["SGD"] for n in adaptive),
        evidence=f"epoch-1 loss SGD {first['SGD']:.3f}; " + ", ".join(f"{n} {first[n]:.3f}" for n in adaptive)
        + f" (slowest adaptive: {worst_adaptive}); momentum {first['momentum']:.3f}"
        + (f", NAG {first['NAG']:.3f}" if "NAG" in first else ""),
        **{n: first[n] for n in opts},
    )

    # figures ---------------------------------------------------------------------------
    fig, ax = plt.subplots(figsize=(10, 4.6))
    xs = np.linspace(-10, 3, 300)
    ys = np.linspace(-2.2, 2.2, 200)
    X, Y = np.meshgrid(xs, ys)
    ax.contour(X, Y, 0.5 * (curv[0] * X**2 + curv[1] * Y**2), levels=np.geomspace(0.05, 90, 14),
               colors="0.75", linewidths=0.8)
    for i, (name, p) in enumerate(paths.items()):
        ls = "-" if i < 3 else "--"
        ax.plot(p[:, 0], p[:, 1], ls, marker=".", ms=3, lw=1.2, color=plots.COLORS[i % len(plots.COLORS)],
                label=f"{name} ({dist[name][-1]:.2f})")
    ax.plot(*START, "ks", ms=6)
    ax.plot(0, 0, "k*", ms=12)
    ax.set_xlim(-10, 3)
    ax.set_ylim(-2.2, 2.2)
    ax.set_xlabel("w1 (flat direction, a = 1)")
    ax.set_ylabel("w2 (steep direction, b = 25)")
    ax.set_title(f"{steps} steps on f = ½(w1² + 25 w2²) from {START}; legend: distance to optimum (*)")
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    run.figure("ravine_trajectories", fig)

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    plots.line_plot(np.arange(steps + 1), dist, xlabel="step", ylabel="distance to the optimum", logy=True,
                    markers=False, ax=ax1, title="ravine: distance to the optimum")
    ep = np.arange(1, run.epochs + 1)
    plots.line_plot(ep, {n: h["loss"] for n, h in hist.items()}, xlabel="epoch", ylabel="training loss",
                    logy=True, ax=ax2, title=f"MLP on {data.info.name}: training loss (batch {batch})")
    plots.line_plot(ep, {n: np.asarray(h["val_accuracy"]) * 100 for n, h in hist.items()}, xlabel="epoch",
                    ylabel="validation accuracy (%)", ax=ax3, title="MLP: validation accuracy")
    for ax in (ax1, ax2, ax3):
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    run.figure("training_curves", fig)
    return run.finish()


if __name__ == "__main__":
    main()
