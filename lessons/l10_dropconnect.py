"""L10 — DropConnect (Wan et al. 2013; decks 000 "DropConnect", 002 "DropConnect").

Dropout zeroes activations; DropConnect zeroes individual *weights*: with
input v, kernel W and a mask M_ij ~ Bernoulli(p) (p the keep probability,
p = 0.5 usually best), a unit computes z = (M ⊙ W) v (deck 002). This lesson
trains the STAT 453 MLP 784-75-45-10 three ways from the same initial
weights, SGD lr 0.1: plain, dropout 0.5 after both hidden layers, and
``kreg.layers.DropConnect`` (rate 0.5) as both hidden layers, and checks:

1. **DropConnect regularizes like dropout**: both narrow the train-test
   accuracy gap of the plain net (train accuracy measured in inference
   mode).
2. **Gaussian inference is closer to the Monte-Carlo average than
   mean-weight inference** (deck 002): the network's prediction should be
   the average over masks, E_M[softmax(f(x; M))]. Three ways to compute it
   on the trained DropConnect net:

   - *mean weights*: one pass with E[M ⊙ W] (kreg scales by 1/p during
     training, so this is the plain weights), i.e. f(E[z]), which ignores
     the non-linearity;
   - *Gaussian moment matching* (Wan et al.; deck 002 slide): per unit,
     z ~ N(E_M[z], V_M[z]) with E_M[z] = pWv, V_M[z] = p(1-p)(W⊙W)(v⊙v);
     draw samples, pass them through the ReLU, average
     (``DropConnect(inference="gaussian")``);
   - *Monte-Carlo over masks*: S stochastic passes with fresh masks,
     softmax outputs averaged (the reference, S = 2000).

   Distances are total variation between predicted class distributions,
   averaged over test examples; the same comparison is made one layer down,
   for E_M[ReLU(z)] of the first hidden layer (relative L2 error), where
   the Gaussian approximation is made.

Run:  KERAS_BACKEND=jax python lessons/l10_dropconnect.py   (add --quick for a smoke run)
"""

from __future__ import annotations

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--rate", type=float, default=0.5, help="drop probability of weights / units (1 - p)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")
    p.add_argument("--mask", choices=("example", "batch"), default="example",
                   help="DropConnect masks during training: one per example (Wan et al.) or one per batch")
    p.add_argument("--mc-samples", type=int, default=2000, help="masks of the Monte-Carlo reference")
    p.add_argument("--gauss-samples", type=int, default=1000,
                   help="largest number of Gaussian draws per unit at inference")
    p.add_argument("--eval-examples", type=int, default=1000, help="test examples used for the inference comparison")


LESSON = Lesson(
    "l10_dropconnect",
    title="DropConnect vs dropout; mean-weight vs Gaussian vs Monte-Carlo inference",
    decks="000, 002",
    dataset="mnist",
    fallback="mnist5k",
    epochs=50,
    reference="Wan et al. 2013 (DropConnect); STAT 453 MLP 784-75-45-10, SGD lr 0.1, batch 256 "
    "(no-dropout test 97.77%, dropout 0.5 test 96.60% on MNIST)",
    add_arguments=_args,
)



def main(argv=None):
    run = LESSON.start(argv)
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import layers, models, plots

    args = run.args
    if not 0.0 < args.rate < 1.0:
        raise bad_flag("rate", args.rate, "a float in (0, 1)")
    for name in ("mc_samples", "gauss_samples", "eval_examples"):
        if getattr(args, name) < 1:
            raise bad_flag(name.replace("_", "-"), getattr(args, name), "a positive integer")
    if args.batch_size is not None and args.batch_size < 1:
        raise bad_flag("batch-size", args.batch_size, "a positive integer")
    p = args.rate
    data = run.load_data()
    if data.info.task != "classification":
        raise bad_flag("dataset", args.dataset, "a classification dataset")
    batch = args.batch_size or (32 if len(data.x_train) < 5000 else 256)
    run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", rate=p, mask=args.mask)
    shape, k = data.info.input_shape, data.info.num_classes
    run.total_runs = 3

    def drop_connect(units, **kw):
        # the ReLU lives inside the layer: Gaussian inference averages f(z) over draws of z
        return layers.DropConnect(units, rate=p, activation="relu", mask=args.mask, **kw)

    def build(kind):
        run.reseed()  # the same initial weights for every net
        if kind == "plain":
            m = models.mlp(shape, k)
        elif kind == "dropout":
            m = models.mlp(shape, k, dropout=p)
        else:  # mlp's separate Activation layers become the identity
            m = models.mlp(shape, k, activation="linear", dense_layer=drop_connect)
        return models.compile_classifier(m, learning_rate=0.1)

    labels = {"plain": "no regularization", "dropout": f"dropout {p:g}", "dropconnect": f"DropConnect {p:g}"}
    nets, hist, acc = {}, {}, {}
    for kind, label in labels.items():
        nets[kind] = build(kind)
        run.reseed(1)  # the same batch order
        hist[label] = run.fit(label, nets[kind], data, batch_size=batch)
        acc[label] = {s: run.evaluate(nets[kind], *getattr(data, s))["accuracy"] for s in ("train", "val", "test")}
        run.metric(label, acc[label])
    gap = {label: a["train"] - a["test"] for label, a in acc.items()}
    g0, gd, gc = (gap[labels[kind]] for kind in ("plain", "dropout", "dropconnect"))
    run.claim(
        "DropConnect regularizes like dropout: both narrow the train-test gap of the plain net",
        holds=gc < g0 and gd < g0,
        evidence=f"gap {g0:.2%} plain, {gd:.2%} dropout, {gc:.2%} DropConnect; test "
        + " / ".join(f"{acc[label]['test']:.2%}" for label in labels.values()),
        gap_plain=g0, gap_dropout=gd, gap_dropconnect=gc,
    )

    # ---------------------------------------------------------- inference rules
    net = nets["dropconnect"]
    dcs = [layer for layer in net.layers if isinstance(layer, layers.DropConnect)]
    n_eval = min(run.pick(args.eval_examples, 100), len(data.x_test))
    x_eval, y_eval = data.x_test[:n_eval], data.y_test[:n_eval]

    def predict(training, chunk=None):
        # direct calls (not model.predict): the inference attributes are switched between calls
        chunk = chunk or n_eval
        out = [keras.ops.convert_to_numpy(keras.ops.softmax(net(x_eval[i:i + chunk], training=training)))
               for i in range(0, n_eval, chunk)]
        return np.concatenate(out).astype(np.float64)

    def set_rule(inference, num_samples=1, mask="batch"):
        for layer in dcs:
            layer.inference, layer.num_samples, layer.mask = inference, num_samples, mask

    def tv(a, b):
        return float(np.mean(0.5 * np.abs(a - b).sum(axis=1)))

    # Monte-Carlo over masks: one fresh mask per pass (shared by the examples of a pass; each
    # example's average is still over independent masks), softmax outputs averaged
    s_ref = run.pick(args.mc_samples, 20)
    set_rule("mean", mask="batch")
    run.reseed(7)
    passes = np.stack([predict(training=True) for _ in range(s_ref)])
    mc_ref = passes.mean(0)
    run.reseed(8)
    mc_steps = [s for s in (1, 10, 100) if s <= s_ref // 2] or [1]
    extra = np.stack([predict(training=True) for _ in range(max(mc_steps))])
    mc_dist = [tv(extra[:s].mean(0), mc_ref) for s in mc_steps]

    mean_pred = predict(training=False)
    g_steps = [s for s in (1, 10, 100, 1000) if s <= run.pick(args.gauss_samples, 10)]
    gauss_pred, gauss_dist = {}, []
    for s in g_steps:
        set_rule("gaussian", num_samples=s)
        run.reseed(9)
        gauss_pred[s] = predict(training=False, chunk=100)  # draws x chunk x units floats at a time
        gauss_dist.append(tv(gauss_pred[s], mc_ref))
    set_rule("mean", mask=args.mask)
    d_mean, d_gauss = tv(mean_pred, mc_ref), gauss_dist[-1]
    inf_acc = {"mean weights": float(np.mean(mean_pred.argmax(1) == y_eval)),
               f"Gaussian ({g_steps[-1]} draws)": float(np.mean(gauss_pred[g_steps[-1]].argmax(1) == y_eval)),
               f"Monte-Carlo ({s_ref} masks)": float(np.mean(mc_ref.argmax(1) == y_eval))}

    # one layer down: E_M[ReLU(z)] of the first DropConnect layer, where the approximation is made
    first = dcs[0]
    v = x_eval.reshape(n_eval, -1)[: min(n_eval, 200)]
    run.reseed(10)
    h_mc = np.mean([keras.ops.convert_to_numpy(first(v, training=True)) for _ in range(s_ref)], axis=0)
    first.inference, first.num_samples = "gaussian", g_steps[-1]
    h_gauss = keras.ops.convert_to_numpy(first(v, training=False))
    first.inference = "mean"
    h_mean = keras.ops.convert_to_numpy(first(v, training=False))
    rel = {name: float(np.linalg.norm(h - h_mc) / np.linalg.norm(h_mc))
           for name, h in (("mean weights", h_mean), ("Gaussian", h_gauss))}
    run.metric("inference", {"eval_examples": n_eval, "mc_reference_masks": s_ref,
                             "tv_to_mc": {"mean weights": d_mean, "gaussian": dict(zip(g_steps, gauss_dist)),
                                          "monte_carlo": dict(zip(mc_steps, mc_dist))},
                             "accuracy": inf_acc, "hidden_1_relative_error_to_mc": rel})
    run.claim(
        "Gaussian (moment-matching) inference is closer to the Monte-Carlo average than mean-weight inference",
        holds=d_gauss < d_mean and rel["Gaussian"] < rel["mean weights"],
        evidence=f"total variation to MC({s_ref}) {d_gauss:.4f} Gaussian({g_steps[-1]}) vs {d_mean:.4f} mean "
        f"weights; hidden-1 E[ReLU(z)] relative error {rel['Gaussian']:.3f} vs {rel['mean weights']:.3f}; "
        "test acc " + ", ".join(f"{n} {a:.2%}" for n, a in inf_acc.items()),
        tv_gaussian=d_gauss, tv_mean=d_mean, rel_gaussian=rel["Gaussian"], rel_mean=rel["mean weights"],
    )

    # ------------------------------------------------------------------ figures
    run.figure("learning_curves", plots.learning_curves(
        hist, title=f"STAT 453 MLP on {data.info.name}: plain vs dropout vs DropConnect (train acc with masks on)"))
    lo = min(min(a.values()) for a in acc.values()) * 100 - 2
    run.figure("accuracy_gap", plots.grouped_bar_plot(
        {f"{label}\ngap {gap[label]:.1%}": {s: acc[label][s] for s in ("train", "val", "test")} for label in acc},
        ylabel="accuracy", percent=True, ylim=(lo, 100.5),
        title="Accuracy in inference mode: DropConnect regularizes like dropout"))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.0), gridspec_kw={"width_ratios": [1.6, 1]})
    plots.line_plot(g_steps, {"Gaussian moment matching": gauss_dist}, xlabel="samples (Gaussian draws / masks)",
                    ylabel=f"total variation to MC average of {s_ref} masks", logx=True, logy=True, ax=ax,
                    title="network output: distance to the Monte-Carlo average")
    ax.plot(mc_steps, mc_dist, marker="s", ls="--", color=plots.COLORS[2], label="Monte-Carlo, fewer masks")
    ax.axhline(d_mean, color=plots.COLORS[1], ls=":", lw=2, label="mean weights (one pass)")
    ax.legend(fontsize=8)
    bars = ax2.bar(list(rel), list(rel.values()), color=[plots.COLORS[1], plots.COLORS[0]])
    for b_, val in zip(bars, rel.values()):
        ax2.annotate(f"{val:.3f}", (b_.get_x() + b_.get_width() / 2, b_.get_height()), ha="center", va="bottom")
    ax2.set_ylabel("relative L2 error to MC E_M[ReLU(z)]")
    ax2.set_title(f"first hidden layer (Gaussian: {g_steps[-1]} draws)")
    ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    run.figure("inference", fig)
    return run.finish()


if __name__ == "__main__":
    main()
