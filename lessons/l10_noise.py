"""L10 — Noise as a regularizer: inputs, weights, labels (decks 002, 003, 004).

Reproduces three of the lectures' "apply noise" experiments in Keras 3 and
checks their claims with numbers:

(a) **Input noise = weight decay for a linear model** (deck 002, "Add noise
    to the input: equivalence to weight decay"). For f(x) = wᵀx and
    ε ~ N(0, σ²I) the slide shows

        E_{x,y,ε}[(f(x+ε) − y)²] = E_{x,y}[(f(x) − y)²] + σ²‖w‖²,

    i.e. training on noisy inputs minimizes the mean squared error plus
    σ²‖w‖². Multiplying by n, this is ridge regression Σ_i (wᵀx_i − y_i)² +
    λ‖w‖² with **λ = σ²·n** (the slide's noise variance is called λ; no ½
    on either side), whose closed form is w_ridge = (XᵀX + nσ²I)⁻¹Xᵀy.
    Two numerical demonstrations on ``kreg.data.make_linear_regression``:
    least squares on K noisy copies of the data (converges to w_ridge as
    K grows, at rate 1/√K), and a Keras model ``GaussianNoise(σ) → Dense(1)``
    trained with SGD on the MSE (fresh noise every step; the end-of-epoch
    weights averaged with ``kreg.callbacks.WeightAveraging("swa")`` to
    remove SGD's jitter). Claim: the noise-trained weights agree with ridge
    at λ = σ²n, far closer than to the unregularized least squares.
(b) **Noise on the weights** (deck 002 "Add noise to the weights", deck 004):
    the STAT 453 MLP with every Dense layer wrapped in
    ``kreg.layers.WeightNoise(stddev=σ_w)`` (fresh W' = W + ε, ε ~ N(0, σ_w²),
    at every training step; clean weights at test). Claim: weight noise
    narrows the train-test gap of the plain net.
(c) **Label smoothing and over-confidence** (deck 004: "MLE for multiclass
    classification is pushed to overconfident behavior"): the same MLP
    trained with Keras's ``CategoricalCrossentropy(label_smoothing=0.1)``
    (``kreg.models.compile_classifier(label_smoothing=...)``). Claim: the mean
    confidence (max softmax probability) on the test examples the net gets
    wrong is lower with label smoothing.

Run:  KERAS_BACKEND=jax python lessons/l10_noise.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--input-noise", type=float, default=0.5, help="σ of the Gaussian input noise in (a)")
    p.add_argument("--n-regression", type=int, default=200, help="examples n of the regression in (a)")
    p.add_argument("--weight-noise", type=float, default=0.05, help="σ_w of the weight noise in (b)")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing in (c)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="MLP batch size; default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")


LESSON = Lesson(
    "l10_noise",
    title="Noise: input noise = ridge for a linear model, weight noise, label smoothing",
    decks="002, 003, 004",
    dataset="mnist",
    fallback="mnist5k",
    epochs=50,
    reference="deck 002: E[(w'(x+ε) − y)²] = E[(w'x − y)²] + σ²‖w‖² (ridge with λ = σ²n); "
    "STAT 453 MLP 784-75-45-10, SGD lr 0.1",
    add_arguments=_args,
)



def main(argv=None):
    run = LESSON.start(argv)
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import callbacks, layers, models, plots
    from kreg.data import make_linear_regression

    args = run.args
    for name in ("input_noise", "weight_noise"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise bad_flag(name.replace("_", "-"), v, "a finite float > 0")
    if not 0.0 < args.label_smoothing < 1.0:
        raise bad_flag("label-smoothing", args.label_smoothing, "a float in (0, 1)")
    if args.n_regression < 10:
        raise bad_flag("n-regression", args.n_regression, "an integer >= 10")
    if args.batch_size is not None and args.batch_size < 1:
        raise bad_flag("batch-size", args.batch_size, "a positive integer")

    # ------------------------------------------------------------------ (a)
    sigma, n = args.input_noise, args.n_regression
    X, y, w_true = make_linear_regression(n, 5, noise=0.1, seed=run.seed)
    d = X.shape[1]
    Xd, yd = X.astype(np.float64), y.astype(np.float64)
    w_ols = np.linalg.lstsq(Xd, yd, rcond=None)[0]
    lam = sigma**2 * n  # deck 002: noise variance σ² on the mean loss = ridge λ = σ²·n on the summed loss
    w_ridge = np.linalg.solve(Xd.T @ Xd + lam * np.eye(d), Xd.T @ yd)
    # (i) least squares on K noisy copies of the data set
    rng = np.random.default_rng(run.seed)
    ks = [1, 10, 100, 1000] if not run.quick else [1, 10]
    w_aug = {}
    for k_ in ks:
        Xa = np.tile(Xd, (k_, 1)) + rng.normal(0.0, sigma, (k_ * n, d))
        w_aug[k_] = np.linalg.lstsq(Xa, np.tile(yd, k_), rcond=None)[0]
    # (ii) Keras: GaussianNoise(σ) before a linear unit, SGD on the MSE, SWA over the last epochs
    reps, ep_a = run.pick(50, 2), run.pick(40, 2)
    run.reseed()
    lin = keras.Sequential([keras.Input((d,)), keras.layers.GaussianNoise(sigma),
                            keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="w")],
                           name="noisy_linear_regression")
    lin.compile(optimizer=keras.optimizers.SGD(learning_rate=0.02), loss="mse")
    swa = callbacks.WeightAveraging(mode="swa", start_epoch=run.pick(10, 0))
    run.fit(f"linear regression, input noise σ={sigma:g}", lin, x=np.tile(X, (reps, 1)), y=np.tile(y, reps),
            epochs=ep_a, batch_size=n, callbacks=[swa])
    w_keras = keras.ops.convert_to_numpy(lin.get_layer("w").kernel).ravel().astype(np.float64)

    def dist(w):
        return float(np.linalg.norm(w - w_ridge))

    d_ols, d_keras, d_aug = dist(w_ols), dist(w_keras), [dist(w_aug[k_]) for k_ in ks]
    run.metric("input_noise", {"sigma": sigma, "n": n, "ridge_lambda": lam, "w_true": w_true.tolist(),
                               "w_ols": w_ols.tolist(), "w_ridge": w_ridge.tolist(), "w_keras": w_keras.tolist(),
                               "w_noisy_copies": {k_: w.tolist() for k_, w in w_aug.items()},
                               "dist_to_ridge": {"ols": d_ols, "keras": d_keras,
                                                 "noisy_copies": dict(zip(ks, d_aug))}})
    run.claim(
        f"input noise σ²={sigma**2:g} ≈ ridge with λ = σ²·n = {lam:g} for a linear model",
        holds=d_keras < 0.1 * d_ols and d_aug[-1] < 0.1 * d_ols and d_aug[-1] < d_aug[0],
        evidence=f"‖w − w_ridge‖: Keras GaussianNoise+SGD {d_keras:.4f}, least squares on {ks[-1]} noisy copies "
        f"{d_aug[-1]:.4f} (1 copy: {d_aug[0]:.4f}), vs {d_ols:.4f} for unregularized least squares "
        f"(‖w_ridge‖ {np.linalg.norm(w_ridge):.3f})",
        dist_keras=d_keras, dist_copies=d_aug[-1], dist_ols=d_ols,
    )
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 3.9))
    series = {"least squares (no noise)": w_ols, f"ridge, λ = σ²n = {lam:g}": w_ridge,
              f"Keras: GaussianNoise({sigma:g}) + SGD": w_keras, f"least squares, {ks[-1]} noisy copies": w_aug[ks[-1]]}
    width = 0.8 / len(series)
    for i, (label, w) in enumerate(series.items()):
        ax1.bar(np.arange(d) + (i - 1.5) * width, w, width, label=label, color=plots.COLORS[i])
    ax1.set_xticks(np.arange(d), [f"$w_{j + 1}$" for j in range(d)])
    ax1.set_ylabel("weight")
    ax1.axhline(0, color="k", lw=0.5)
    ax1.set_title("training with input noise shrinks w like ridge")
    ax1.legend(fontsize=7)
    plots.line_plot(ks, {"noisy copies → ridge": d_aug}, xlabel="noisy copies K of the data set",
                    ylabel="‖w − w_ridge‖", logx=True, logy=True, ax=ax2,
                    title="convergence to ridge (slope −½)")
    ax2.axhline(d_ols, color=plots.COLORS[1], ls=":", label="least squares (no noise)")
    ax2.axhline(max(d_keras, 1e-6), color=plots.COLORS[2], ls="--", label="Keras GaussianNoise + SGD (SWA)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    run.figure("input_noise_ridge", fig)

    # ------------------------------------------------------------- (b), (c)
    data = run.load_data()
    if data.info.task != "classification":
        raise bad_flag("dataset", args.dataset, "a classification dataset")
    batch = args.batch_size or (32 if len(data.x_train) < 5000 else 256)
    shape, k = data.info.input_shape, data.info.num_classes
    s_w, ls = args.weight_noise, args.label_smoothing
    run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", input_noise=sigma, weight_noise=s_w,
               label_smoothing=ls)

    def noisy_dense(units, name=None, **kw):
        return layers.WeightNoise(keras.layers.Dense(units, **kw), stddev=s_w, name=name)

    def build(kind):
        run.reseed()  # same initial weights
        if kind == "weight noise":
            m = models.mlp(shape, k, dense_layer=noisy_dense)
            # the output layer too: mlp's dense_layer covers the hidden layers only
            m = keras.Sequential([*m.layers[:-1], noisy_dense(k, name="logits")], name="mlp_weight_noise")
            m.build((None, *shape))
        else:
            m = models.mlp(shape, k)
        return models.compile_classifier(m, learning_rate=0.1, label_smoothing=ls if kind == "label smoothing" else 0.0)

    labels = {"plain": "no noise", "weight noise": f"weight noise σ={s_w:g}", "label smoothing": f"label smoothing {ls:g}"}
    acc, hist, probs = {}, {}, {}
    onehot = {s: keras.utils.to_categorical(getattr(data, f"y_{s}"), k) for s in ("train", "val", "test")}
    for kind, label in labels.items():
        m = build(kind)
        smooth = kind == "label smoothing"
        yy = (lambda s: onehot[s]) if smooth else (lambda s: getattr(data, f"y_{s}"))
        run.reseed(1)
        hist[label] = run.fit(label, m, x=data.x_train, y=yy("train"), validation_data=(data.x_val, yy("val")),
                              batch_size=batch)
        acc[label] = {s: run.evaluate(m, getattr(data, f"x_{s}"), yy(s))["accuracy"] for s in ("train", "test")}
        probs[label] = keras.ops.convert_to_numpy(keras.ops.softmax(m.predict(data.x_test, verbose=0)))
        run.metric(label, acc[label])
    gap = {label: a["train"] - a["test"] for label, a in acc.items()}
    g0, gw = gap[labels["plain"]], gap[labels["weight noise"]]
    run.claim(
        "weight noise narrows the train-test gap",
        holds=gw < g0,
        evidence=f"gap {g0:.2%} without vs {gw:.2%} with weight noise σ={s_w:g}; test "
        f"{acc[labels['plain']]['test']:.2%} vs {acc[labels['weight noise']]['test']:.2%}",
        gap_without=g0, gap_with=gw,
    )

    conf = {}
    for label, pr in probs.items():
        wrong = pr.argmax(1) != data.y_test
        conf[label] = {"mean_confidence": float(pr.max(1).mean()),
                       "mean_confidence_on_errors": float(pr.max(1)[wrong].mean()) if wrong.any() else float("nan"),
                       "mean_confidence_on_correct": float(pr.max(1)[~wrong].mean()),
                       "errors": int(wrong.sum()), "accuracy": float(1 - wrong.mean())}
    run.metric("confidence", conf)
    c0, c1 = conf[labels["plain"]], conf[labels["label smoothing"]]
    run.claim(
        "label smoothing lowers the mean confidence on errors (less over-confidence)",
        holds=c1["mean_confidence_on_errors"] < c0["mean_confidence_on_errors"],
        evidence=f"mean max-probability on misclassified test examples {c0['mean_confidence_on_errors']:.3f} "
        f"({c0['errors']} errors) without vs {c1['mean_confidence_on_errors']:.3f} ({c1['errors']} errors) with "
        f"label smoothing {ls:g}; on correct ones {c0['mean_confidence_on_correct']:.3f} vs "
        f"{c1['mean_confidence_on_correct']:.3f}",
        conf_errors_without=c0["mean_confidence_on_errors"], conf_errors_with=c1["mean_confidence_on_errors"],
    )

    # ------------------------------------------------------------------ figures
    run.figure("weight_noise_curves", plots.learning_curves(
        {labels["plain"]: hist[labels["plain"]], labels["weight noise"]: hist[labels["weight noise"]]},
        title=f"STAT 453 MLP on {data.info.name}: with and without weight noise (train acc with noise on)"))
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.9))
    lo = min(min(a.values()) for a in acc.values()) * 100 - 2
    x = np.arange(len(acc))
    for i, split in enumerate(("train", "test")):
        v = [acc[label][split] * 100 for label in acc]
        bars = axes[0].bar(x + (i - 0.5) * 0.38, v, 0.38, label=split, color=plots.COLORS[i])
        for b_, val in zip(bars, v):
            axes[0].annotate(f"{val:.1f}", (b_.get_x() + b_.get_width() / 2, b_.get_height()), ha="center",
                             va="bottom", fontsize=7)
    axes[0].set_xticks(x, [f"{label}\ngap {gap[label]:.1%}" for label in acc], fontsize=8)
    axes[0].set_ylim(lo, 100.5)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_title("accuracy in inference mode")
    axes[0].legend(fontsize=8)
    bins = np.linspace(1.0 / k, 1.0, 31)
    for i, label in enumerate((labels["plain"], labels["label smoothing"])):
        pr = probs[label]
        wrong = pr.argmax(1) != data.y_test
        axes[1].hist(pr.max(1)[wrong], bins=bins, histtype="step", lw=2, color=plots.COLORS[i],
                     label=f"{label}: errors (mean {conf[label]['mean_confidence_on_errors']:.2f})")
        axes[1].hist(pr.max(1)[~wrong], bins=bins, histtype="stepfilled", alpha=0.15, color=plots.COLORS[i],
                     label=f"{label}: correct (mean {conf[label]['mean_confidence_on_correct']:.2f})")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("confidence = max softmax probability (test)")
    axes[1].set_ylabel("examples")
    axes[1].set_title("label smoothing tempers over-confidence")
    axes[1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    run.figure("gap_and_confidence", fig)
    return run.finish()


if __name__ == "__main__":
    main()
