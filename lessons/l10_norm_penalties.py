"""L10 §4 — Norm penalties: L2, L1, elastic net (decks 000 §4, 001, 002, 003, 004).

Reproduces the lecture's norm-penalty experiments in Keras 3 and checks its
claims with numbers:

(a) **Manual L2 penalty = SGD weight decay** (deck 000, "L2 regularization
    for logistic regression in PyTorch"; STAT 453 L2-log-reg notebook):
    logistic regression on toy 2-D data, zero init, full-batch SGD lr 0.1,
    30 epochs, λ = 2. The notebook's manual penalty 0.5·λ·(‖w‖² + b²) is
    ``kreg.regularizers.L2(λ/2)`` on kernel *and* bias; torch's
    ``SGD(weight_decay=λ)`` is Keras's ``SGD(weight_decay=λ)`` (for plain
    SGD both are ``w ← w − η(∇L + λw)``, deck 002's weight-decay slide). The
    two Keras runs and a numpy gradient-descent oracle must give the same
    weights. (The notebook's own toydata.txt is not shipped, so its weights
    [1.7546, 1.5997] / test 96% are not reproduced digit for digit; the
    mapping is.)
(b) **L2 sweep on the STAT 453 MLP** (decks 000, 001, 004): one
    architecture and one initialization, ``kreg.regularizers.apply(model,
    L2(λ))`` for a grid of λ (Keras convention λ·Σw² on every kernel, added
    to the mean cross-entropy; deck 004's λ‖W‖²). Claims: the weight norm
    falls monotonically with λ, and the train-test gap narrows (accuracy
    gap, and the cross-entropy gap: test minus train data loss, the penalty
    subtracted with ``kreg.regularizers.penalty``).
(c) **L1 and elastic net** (decks 001, 003, 004): the same sweep with
    ``L1(λ)`` and ``ElasticNet(λ, l1_ratio=0.5)``; the fraction of
    near-zero kernel entries (``kreg.regularizers.sparsity``, |w| ≤ 0.01,
    about 5% of the Glorot init scale: plain SGD with L1's subgradient
    λ·sign(w) never lands exactly on 0, it jitters within ±η·λ of it).
    Claim: L1 gives sparser weights than L2 at the same coefficient λ.
(d) **Effect of norm penalties on the decision boundary** (deck 000, "assume
    a nonlinear model"; deck 004 "the output function is smoother"): a wide
    MLP on a small sample of the 2-D half moons, with and without L2.
    Smoothness is measured by the *length of the decision boundary* p = 0.5
    inside the plotted window (a wiggly boundary that wraps single points is
    longer; the measure does not depend on the scale of the logits).
(e) **Bishop's polynomial** (deck 002, PRML §1.1): a polynomial of order
    M = 9 fitted to 10 noisy samples of sin 2πx, by least squares and with
    Bishop's penalty ½λ‖w‖² at ln λ = −18 (closed form
    w = (ΦᵀΦ + λI)⁻¹Φᵀt). Smoothness: the coefficient norm ‖w‖ (Bishop's
    table 1.2) and the mean |second difference| of the fitted curve on a
    fine grid.

Run:  KERAS_BACKEND=jax python lessons/l10_norm_penalties.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag

DEFAULT_LAMBDAS = (3e-4, 1e-3, 3e-3, 1e-2)


def _args(p):
    p.add_argument("--lambdas", type=float, nargs="+", default=list(DEFAULT_LAMBDAS),
                   help="penalty coefficients λ (> 0, Keras convention λ·Σw²) of the MLP sweeps; "
                   "λ = 0 is always added as the baseline")
    p.add_argument("--logreg-lambda", type=float, default=2.0,
                   help="λ of the logistic-regression check (STAT 453: 2)")
    p.add_argument("--boundary-lambda", type=float, default=1e-2,
                   help="L2 coefficient of the decision-boundary model")
    p.add_argument("--ln-lambda", type=float, default=-18.0,
                   help="ln λ of Bishop's penalized polynomial (PRML Fig. 1.7: -18)")
    p.add_argument("--degree", type=int, default=9, help="polynomial order M (Bishop: 9)")
    p.add_argument("--sparsity-tol", type=float, default=1e-2,
                   help="a kernel entry counts as zero when |w| <= tol")
    p.add_argument("--batch-size", type=int, default=None,
                   help="MLP batch size; default 256 (STAT 453) on MNIST, 32 on the small embedded digits")
    p.add_argument("--n-train", type=int, default=10000,
                   help="training examples of the MLP sweep on MNIST-sized data (a subset keeps "
                   "overfitting visible and the sweep short)")


LESSON = Lesson(
    "l10_norm_penalties",
    title="Norm penalties: L2 = weight decay, L2/L1/elastic-net sweeps, smoother boundaries and fits",
    decks="000 §4, 001, 002, 003, 004",
    dataset="mnist",
    fallback="mnist5k",
    epochs=60,
    reference="STAT 453 L2-log-reg notebook: λ=2, SGD lr 0.1, 30 epochs; weight_decay=λ and a manual "
    "0.5·λ·(‖w‖²+b²) penalty give identical weights ([1.7546, 1.5997] on its toydata.txt), test 96%",
    add_arguments=_args,
)



def _check_args(args):
    if not args.lambdas or any(not (math.isfinite(v) and v > 0) for v in args.lambdas):
        raise bad_flag("lambdas", args.lambdas, "one or more finite floats > 0")
    for name in ("logreg_lambda", "boundary_lambda", "sparsity_tol"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise bad_flag(name.replace("_", "-"), v, "a finite float > 0")
    if not math.isfinite(args.ln_lambda):
        raise bad_flag("ln-lambda", args.ln_lambda, "a finite float")
    if not 1 <= args.degree <= 15:
        raise bad_flag("degree", args.degree, "an integer in [1, 15]")
    if args.batch_size is not None and args.batch_size < 1:
        raise bad_flag("batch-size", args.batch_size, "a positive integer")
    if args.n_train < 100:
        raise bad_flag("n-train", args.n_train, "an integer >= 100")
    if args.dataset == "sine":
        raise bad_flag("dataset", args.dataset, "a classification dataset for the MLP sweep "
                   "(the sine data is used by part (e) anyway)")


def _toy_blobs(seed):
    """The notebook's kind of toy data: 100 points, two Gaussian classes in 2-D, 70/30 split, standardized."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 50).astype("float32")
    x = rng.normal(size=(100, 2)) + np.where(y[:, None] == 1, 1.0, -1.0)
    idx = rng.permutation(100)
    x, y = x[idx], y[idx]
    mu, sd = x[:70].mean(0), x[:70].std(0)
    x = ((x - mu) / sd).astype("float32")
    return x[:70], y[:70], x[70:], y[70:]


def main(argv=None):
    run = LESSON.start(argv)
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import models, plots
    from kreg import regularizers as R

    args = run.args
    _check_args(args)
    # ------------------------------------------------------------------ (a)
    # deck 000: manual 0.5·λ·(‖w‖²+b²) vs torch SGD(weight_decay=λ), full-batch SGD lr 0.1, 30 epochs
    lam, lr, epochs_lr = args.logreg_lambda, 0.1, 30
    xa, ya, xa_te, ya_te = _toy_blobs(run.seed)

    def logreg(regularizer=None, weight_decay=None):
        # softmax_regression with one output unit = logistic regression (logit); zero init as in the notebook
        m = models.softmax_regression((2,), 1, name="logistic_regression")
        m.set_weights([np.zeros_like(w) for w in m.get_weights()])
        if regularizer is not None:
            m = R.apply(m, regularizer, include="kernels_and_biases")
        m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr, weight_decay=weight_decay),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
        return m

    def gd_oracle(lam_):
        # numpy full-batch gradient descent on the same objective: w ← w − η(∇BCE + λw), bias included
        w_ = np.zeros(3)
        for _ in range(epochs_lr):
            p_ = 1.0 / (1.0 + np.exp(-(xb @ w_)))
            w_ = w_ - lr * (xb.T @ (p_ - ya) / len(xa) + lam_ * w_)
        return w_

    xb = np.c_[xa, np.ones(len(xa))].astype(np.float64)
    lr_w = {"numpy GD, no penalty": gd_oracle(0.0), f"numpy GD, λ={lam:g}": gd_oracle(lam)}
    lr_models = {
        f"manual penalty 0.5·{lam:g}·(‖w‖²+b²)": logreg(regularizer=R.L2(R.l2_for_sgd_weight_decay(lam))),
        f"SGD weight_decay={lam:g}": logreg(weight_decay=lam),
    }
    for label, m in lr_models.items():
        run.fit(f"logreg: {label}", m, x=xa, y=ya, epochs=epochs_lr, batch_size=len(xa), shuffle=False)
        lr_w[label] = np.concatenate([v.ravel() for v in m.get_weights()]).astype(np.float64)
    lr_acc = {k: float(np.mean(((np.c_[xa_te, np.ones(len(xa_te))] @ v) > 0) == ya_te)) for k, v in lr_w.items()}
    plain, w, manual, decay = lr_w.values()
    diff = float(np.max(np.abs(manual - decay)))
    diff_oracle = float(max(np.max(np.abs(manual - w)), np.max(np.abs(decay - w))))
    run.metric("logreg_weights", {k: v.tolist() for k, v in lr_w.items()})
    run.metric("logreg_test_accuracy", lr_acc)
    run.metric("logreg_max_abs_diff_manual_vs_weight_decay", diff)
    # An exact identity (deck 000): checked against a float tolerance, so --quick checks it too.
    run.exact(
        f"a manual 0.5·λ·(‖w‖²+b²) penalty and SGD weight_decay=λ give the same weights (λ={lam:g})",
        max(diff, diff_oracle / 10) if np.linalg.norm(decay[:2]) < np.linalg.norm(plain[:2]) else float("inf"),
        tolerance=1e-5,
        evidence=f"w = [{manual[0]:.4f}, {manual[1]:.4f}] vs [{decay[0]:.4f}, {decay[1]:.4f}], max |diff| "
        f"{diff:.1e} (numpy GD oracle {diff_oracle:.1e}, tolerance 1e-4); unpenalized w = "
        f"[{plain[0]:.4f}, {plain[1]:.4f}]; test acc {lr_acc[list(lr_models)[1]]:.0%}",
        max_abs_diff=diff, max_abs_diff_oracle=diff_oracle,
    )

    # ------------------------------------------------------------- (b), (c)
    data = run.load_data(n_train=None if run.quick else args.n_train)
    small = len(data.x_train) < 5000
    batch = args.batch_size or (32 if small else 256)
    lambdas = [0.0] + sorted(set(args.lambdas))
    if run.quick:
        lambdas = [0.0, lambdas[len(lambdas) // 2]]
    tol = args.sparsity_tol
    run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", lambdas=lambdas, sparsity_tol=tol)
    shape, k = data.info.input_shape, data.info.num_classes
    run.reseed()
    base = models.mlp(shape, k)  # one architecture, one initialization for every λ

    penalties = {"L2": R.L2, "L1": R.L1, "elastic net (l1_ratio 0.5)": lambda v: R.ElasticNet(v, 0.5)}
    keys = ("norm", "sparsity", "train", "test", "gap", "ce_gap")
    res = {name: {key: [] for key in keys} for name in penalties}
    kernels = {}
    for name, make in penalties.items():
        for v in lambdas:
            if v == 0.0 and name != "L2":  # the unpenalized net is shared by the three sweeps
                for key in res[name]:
                    res[name][key].append(res["L2"][key][0])
                continue
            run.reseed(1)  # same batch order for every run
            m = models.compile_classifier(R.apply(base, make(v) if v else None), learning_rate=0.1)
            run.fit(f"{name} λ={v:g}", m, x=data.x_train, y=data.y_train, batch_size=batch)
            pen = R.penalty(m)  # evaluate's loss = cross-entropy + penalty
            (tr, ce_tr), (te, ce_te) = ((e["accuracy"], e["loss"] - pen) for e in
                                        (run.evaluate(m, *split) for split in (data.train, data.test)))
            for key, val in zip(keys, (R.weight_norm(m), R.sparsity(m, tol), tr, te, tr - te, ce_te - ce_tr)):
                res[name][key].append(val)
            if v == lambdas[-1] or v == 0.0:
                kernels[f"{name} λ={v:g}"] = np.concatenate([w.ravel() for w in
                                                              (keras.ops.convert_to_numpy(x) for x in R.kernels(m))])
    run.metric("sweep", {"lambdas": lambdas} | res)
    l2 = res["L2"]
    mono = all(b < a for a, b in zip(l2["norm"], l2["norm"][1:]))
    run.claim(
        "the weight norm falls monotonically with the L2 coefficient λ",
        holds=mono,
        evidence="‖W‖ " + " > ".join(f"{n:.2f}" for n in l2["norm"]) + f" for λ = {', '.join(f'{v:g}' for v in lambdas)}",
        norms=l2["norm"],
    )
    run.claim(
        "L2 narrows the train-test gap (accuracy and cross-entropy)",
        holds=l2["gap"][-1] < l2["gap"][0] and l2["ce_gap"][-1] < l2["ce_gap"][0],
        evidence=f"accuracy gap {l2['gap'][0]:.2%} at λ=0 vs {l2['gap'][-1]:.2%} at λ={lambdas[-1]:g} "
        f"(all: " + ", ".join(f"{g:.1%}" for g in l2["gap"]) + "); cross-entropy gap "
        + ", ".join(f"{g:.3f}" for g in l2["ce_gap"]) + f"; test {l2['test'][0]:.2%} vs {l2['test'][-1]:.2%}",
        gaps=l2["gap"], ce_gaps=l2["ce_gap"],
    )
    l1s, l2s, ens = res["L1"]["sparsity"], l2["sparsity"], res["elastic net (l1_ratio 0.5)"]["sparsity"]
    sparser = all(a > b for a, b in zip(l1s[1:], l2s[1:]))
    run.claim(
        f"L1 gives sparser weights than L2 at equal penalty coefficient (|w| <= {tol:g})",
        holds=sparser,
        evidence="zero fraction L1 vs L2: " + ", ".join(
            f"λ={v:g}: {a:.1%} vs {b:.1%}" for v, a, b in zip(lambdas[1:], l1s[1:], l2s[1:]))
        + f"; elastic net {ens[-1]:.1%} at λ={lambdas[-1]:g}",
        l1=l1s, l2=l2s, elastic_net=ens,
    )

    # ------------------------------------------------------------------ (d)
    toy = run.load_data("toy2d", fallback="toy2d", n_train=100, val_fraction=0.0)
    lam_b = args.boundary_lambda
    ep_b = run.pick(300, 5)
    run.reseed()
    base2 = models.mlp((2,), 2, hidden=(128, 128), name="mlp_2d")
    lo, hi = toy.x_test.min(0) - 0.5, toy.x_test.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 250), np.linspace(lo[1], hi[1], 250))
    grid = np.c_[gx.ravel(), gy.ravel()].astype("float32")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    bnd = {}
    for ax, (label, reg) in zip(axes, (("no penalty", None), (f"L2 λ={lam_b:g}", R.L2(lam_b)))):
        m = models.compile_classifier(R.apply(base2, reg), keras.optimizers.Adam(0.01))
        run.reseed(2)
        run.fit(f"2-D boundary: {label}", m, x=toy.x_train, y=toy.y_train, validation_data=toy.test,
                epochs=ep_b, batch_size=len(toy.x_train))
        z = keras.ops.convert_to_numpy(keras.ops.softmax(m.predict(grid, batch_size=len(grid), verbose=0)))
        p1 = z[:, 1].reshape(gx.shape)
        ax.contourf(gx, gy, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
        cs = ax.contour(gx, gy, p1, levels=[0.5], colors="k", linewidths=2)
        length = float(sum(np.sum(np.linalg.norm(np.diff(s, axis=0), axis=1)) for s in cs.allsegs[0]))
        tr, te = (run.evaluate(m, *s)["accuracy"] for s in (toy.train, toy.test))
        bnd[label] = {"boundary_length": length, "train": tr, "test": te, "weight_norm": R.weight_norm(m)}
        for c, mk in ((0, "o"), (1, "s")):
            sel = toy.y_test == c
            ax.scatter(*toy.x_test[sel].T, s=8, marker=mk, color=plots.COLORS[c * 3], alpha=0.25,
                       label=f"test, class {c}")
            sel = toy.y_train == c
            ax.scatter(*toy.x_train[sel].T, s=30, marker=mk, color=plots.COLORS[c * 3], edgecolors="k",
                       label=f"train, class {c}")
        ax.set_title(f"{label}: train {tr:.0%}, test {te:.1%}\nboundary length {length:.2f}, ‖W‖ {bnd[label]['weight_norm']:.1f}",
                     fontsize=10)
        ax.set_xlabel("$x_1$")
    axes[0].set_ylabel("$x_2$")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.suptitle("MLP 2-128-128-2 on 100 half-moon points: black line p = 0.5, colour p(class 1)")
    fig.tight_layout()
    run.figure("decision_boundary", fig)
    run.metric("decision_boundary", bnd)
    b0, b1 = bnd["no penalty"], bnd[f"L2 λ={lam_b:g}"]
    run.claim(
        "the L2-penalized decision boundary is smoother (shorter p = 0.5 contour)",
        holds=b1["boundary_length"] < b0["boundary_length"],
        evidence=f"boundary length {b0['boundary_length']:.2f} without vs {b1['boundary_length']:.2f} with L2 "
        f"λ={lam_b:g}; test {b0['test']:.1%} vs {b1['test']:.1%}",
        length_without=b0["boundary_length"], length_with=b1["boundary_length"],
    )

    # ------------------------------------------------------------------ (e)
    sine = run.load_data("sine", fallback="sine", val_fraction=0.0)
    x, t = sine.x_train[:, 0].astype(np.float64), sine.y_train.astype(np.float64)
    xt, tt = sine.x_test[:, 0].astype(np.float64), sine.y_test.astype(np.float64)
    M = args.degree

    def phi(v):
        return np.vander(v, M + 1, increasing=True)

    def fit_poly(lam_p):
        # Bishop's E(w) = ½Σ(y(x_n,w) − t_n)² + ½λ‖w‖²  ⇒  w = (ΦᵀΦ + λI)⁻¹Φᵀt
        P = phi(x)
        if lam_p == 0:
            return np.linalg.lstsq(P, t, rcond=None)[0]
        return np.linalg.solve(P.T @ P + lam_p * np.eye(M + 1), P.T @ t)

    def rms(wp, xv, tv):
        return float(np.sqrt(np.mean((phi(xv) @ wp - tv) ** 2)))

    fine = np.linspace(0, 1, 501)
    lam_p = math.exp(args.ln_lambda)
    fits = {"ln λ = −∞ (least squares)": fit_poly(0.0), f"ln λ = {args.ln_lambda:g}": fit_poly(lam_p)}
    poly = {}
    for label, wp in fits.items():
        curve = phi(fine) @ wp
        poly[label] = {"coef_norm": float(np.linalg.norm(wp)), "coefs": wp.tolist(),
                       "mean_abs_second_diff": float(np.mean(np.abs(np.diff(curve, 2)))),
                       "train_rms": rms(wp, x, t), "test_rms": rms(wp, xt, tt)}
    ln_grid = np.linspace(-40, 0, 41)
    e_rms = {"training": [rms(fit_poly(math.exp(v)), x, t) for v in ln_grid],
             "test": [rms(fit_poly(math.exp(v)), xt, tt) for v in ln_grid]}
    run.metric("polynomial", poly)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    for ax, (label, wp) in zip(axes, fits.items()):
        ax.plot(fine, np.sin(2 * np.pi * fine), color="tab:green", label="sin 2πx")
        ax.plot(fine, phi(fine) @ wp, color="tab:red", label=f"M = {M} fit")
        ax.scatter(x, t, s=40, facecolors="none", edgecolors="tab:blue", linewidths=1.5, label="training data")
        ax.set_ylim(-1.5, 1.5)
        ax.set_xlabel("x")
        ax.set_ylabel("t")
        ax.set_title(f"{label}: ‖w‖ = {poly[label]['coef_norm']:.3g}", fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    plots.line_plot(ln_grid, e_rms, xlabel="ln λ", ylabel="$E_{RMS}$", ax=axes[2], markers=False,
                    title=f"Bishop Fig. 1.8: RMS error vs ln λ (M = {M})")
    axes[2].axvline(args.ln_lambda, color="gray", ls=":")
    fig.tight_layout()
    run.figure("polynomial", fig)
    p0, p1 = poly["ln λ = −∞ (least squares)"], poly[f"ln λ = {args.ln_lambda:g}"]
    run.claim(
        f"the penalized M={M} polynomial is smoother (Bishop, ln λ = {args.ln_lambda:g})",
        holds=p1["coef_norm"] < p0["coef_norm"] and p1["mean_abs_second_diff"] < p0["mean_abs_second_diff"],
        evidence=f"‖w‖ {p0['coef_norm']:.3g} vs {p1['coef_norm']:.3g}; mean |Δ²y| {p0['mean_abs_second_diff']:.2e} "
        f"vs {p1['mean_abs_second_diff']:.2e}; test RMS {p0['test_rms']:.2f} vs {p1['test_rms']:.2f}",
        coef_norm_without=p0["coef_norm"], coef_norm_with=p1["coef_norm"],
    )

    # -------------------------------------------------------------- figures
    pos = np.arange(len(lambdas))
    ticks = [f"{v:g}" for v in lambdas]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 3.9))
    plots.line_plot(pos, {"‖W‖ (all kernels)": l2["norm"]}, xlabel="L2 coefficient λ", ylabel="weight norm ‖W‖₂",
                    ax=ax1, title="weight norm")
    plots.line_plot(pos, {"train": [a * 100 for a in l2["train"]], "test": [a * 100 for a in l2["test"]]},
                    xlabel="L2 coefficient λ", ylabel="accuracy (%)", ax=ax2,
                    title=f"accuracy (STAT 453 MLP, {data.info.name})")
    plots.line_plot(pos, {"accuracy gap, train − test": [g * 100 for g in l2["gap"]]},
                    xlabel="L2 coefficient λ", ylabel="accuracy gap (%)", ax=ax3, title="train-test gap")
    ax3b = ax3.twinx()
    ax3b.plot(pos, l2["ce_gap"], marker="s", ls="--", color=plots.COLORS[1],
              label="cross-entropy gap, test − train (right axis)")
    ax3b.set_ylabel("cross-entropy gap")
    ax3b.set_ylim(bottom=0)
    ax3.legend(handles=ax3.get_lines() + ax3b.get_lines(), fontsize=8)
    for ax in (ax1, ax2, ax3):
        ax.set_xticks(pos, ticks)
    fig.suptitle("L2 sweep: kreg.regularizers.apply(model, L2(λ)), same init for every λ")
    fig.tight_layout()
    run.figure("l2_sweep", fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.9))
    plots.line_plot(pos, {n: [s * 100 for s in r["sparsity"]] for n, r in res.items()}, xlabel="penalty coefficient λ",
                    ylabel=f"kernel entries with |w| ≤ {tol:g} (%)", ax=ax1, title="sparsity vs λ")
    ax1.set_xticks(pos, ticks)
    bins = np.logspace(-8, 0.5, 60)
    for i, (label, wv) in enumerate(kernels.items()):
        ax2.hist(np.abs(wv) + 1e-8, bins=bins, histtype="step", lw=1.6, color=plots.COLORS[i], label=label)
    ax2.set_xscale("log")
    ax2.axvline(tol, color="gray", ls=":", label=f"tol {tol:g}")
    ax2.set_xlabel("|w| (kernel entries; +1e-8)")
    ax2.set_ylabel("count")
    ax2.set_title(f"|w| histograms at λ = {lambdas[-1]:g}")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    run.figure("sparsity", fig)
    return run.finish()


if __name__ == "__main__":
    main()
