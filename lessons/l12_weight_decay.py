"""L12 — L2 penalty vs decoupled weight decay; Adam + L2 vs AdamW (decks 002, 003).

Deck 002 ("Weight decay, researchers' vs engineers' view") and deck 003
("Connection between weight decay and L2 regularization", "AdamW"):

1. **For plain SGD they are the same.** A penalty λ/2‖w‖² adds λw to the
   gradient, so one SGD step is w ← (1 - ηλ)w - η∇L: weight decay. In Keras
   the penalty is ``kreg.regularizers.L2(λ/2)`` (Keras's ``l2·Σw²`` has no ½)
   and the decay is ``SGD(weight_decay=λ)`` (Keras multiplies it by the
   learning rate), i.e. ``weight_decay = sgd_weight_decay_for_l2(l2) = 2·l2``.
   Keras decays every trainable variable, so the penalty goes on kernels *and*
   biases here. Two copies of the STAT 453 MLP from the same initial weights,
   trained on the same batches (SGD lr 0.1, λ = 0.01, 5 epochs), end with the
   same weights to float round-off (the two orders of operations round
   differently, and training slowly amplifies the round-off: ~1e-3 relative
   after 30 epochs, so the comparison is kept short). Claim: **equal for SGD to float tolerance**.
2. **For Adam they are not** (Loshchilov & Hutter, deck 003's Algorithm 2):
   with L2 the penalty's gradient λw is divided by √v̂ with the rest, so
   weights with large gradients are decayed less; AdamW decays every weight
   by lr·λ directly. The same pair (``Adam`` + ``L2(λ/2)`` vs
   ``AdamW(weight_decay=λ)``, STAT 453's Adam lr 0.005) over a grid of λ; λ is
   chosen on the validation set for each method, and the chosen models are
   compared on the test set. Claim: **different for Adam (weights differ far
   beyond float tolerance), with AdamW at least as good** (test accuracy within
   2 standard errors or better). STAT 453 reference: Adam 97.37%, AdamW
   97.29% (lr 0.005, 100 epochs, torch's default weight_decay 0.01).

Run:  KERAS_BACKEND=jax python lessons/l12_weight_decay.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--lam", type=float, default=0.01,
                   help="λ of the SGD part: penalty λ/2‖w‖² = L2(λ/2), or SGD(weight_decay=λ)")
    p.add_argument("--lams", type=float, nargs="+", default=(1e-3, 1e-2, 1e-1, 1.0),
                   help="λ grid of the Adam + L2(λ/2) vs AdamW(weight_decay=λ) comparison")
    p.add_argument("--sgd-epochs", type=int, default=5,
                   help="epochs of the SGD comparison (float round-off is amplified as training goes on)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")


LESSON = Lesson(
    "l12_weight_decay",
    title="Weight decay vs L2: exact for SGD, different for Adam (AdamW)",
    decks="002, 003",
    dataset="mnist",
    fallback="mnist5k",
    epochs=20,
    quick_epochs=1,
    reference="STAT 453 L12 notebooks: Adam 97.37% vs AdamW 97.29% test (lr 0.005, 100 epochs)",
    add_arguments=_args,
)


def main(argv=None):
    run = LESSON.start(argv)
    args = run.args
    for name, values in (("lam", [args.lam]), ("lams", list(args.lams))):
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise bad_flag(name, values if name == "lams" else values[0], "floats > 0")
    if args.sgd_epochs < 1:
        raise bad_flag("sgd_epochs", args.sgd_epochs, "a positive integer")
    if args.batch_size is not None and args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import models, plots, regularizers

    data = run.load_data()
    batch = args.batch_size or (32 if len(data.x_train) < 5000 else 256)
    shape, k = data.info.input_shape, data.info.num_classes
    lams = run.pick(sorted(args.lams), sorted(args.lams)[-2:])
    run.total_runs = 3 + 2 * len(lams)
    run.reseed()
    init = models.mlp(shape, k)  # one set of initial weights for every run

    def copy(regularizer):
        return regularizers.apply(init, regularizer, include="kernels_and_biases")

    def flat(model):
        return np.concatenate([np.ravel(w) for w in model.get_weights()]).astype(np.float64)

    def train(label, model, optimizer, epochs=None):
        models.compile_classifier(model, optimizer)
        run.reseed(1)  # identical batch order in every run
        h = run.fit(label, model, data, batch_size=batch, epochs=epochs).history
        return h

    # 1: plain SGD, L2(λ/2) vs weight_decay=λ ------------------------------------------------
    lr, lam = 0.1, args.lam
    l2 = lam / 2.0
    wd = regularizers.sgd_weight_decay_for_l2(l2)
    run.config(batch_size=batch, sgd={"learning_rate": lr, "lam": lam, "L2": l2, "weight_decay": wd},
               adam={"learning_rate": 0.005, "lams": lams})
    m_l2, m_wd, m_none = copy(regularizers.L2(l2)), copy(None), copy(None)
    sgd_epochs = min(args.sgd_epochs, run.epochs)
    train(f"SGD + L2({l2:g})", m_l2, keras.optimizers.SGD(lr), sgd_epochs)
    train(f"SGD weight_decay={wd:g}", m_wd, keras.optimizers.SGD(lr, weight_decay=wd), sgd_epochs)
    train("SGD, no penalty", m_none, keras.optimizers.SGD(lr), sgd_epochs)
    w_l2, w_wd, w_none = flat(m_l2), flat(m_wd), flat(m_none)
    scale = float(np.max(np.abs(w_l2)))
    diff_sgd = float(np.max(np.abs(w_l2 - w_wd))) / scale
    diff_none = float(np.max(np.abs(w_l2 - w_none))) / scale
    run.metric("sgd_max_rel_weight_diff_l2_vs_decay", diff_sgd)
    run.metric("sgd_max_rel_weight_diff_l2_vs_none", diff_none)
    tol = 1e-4
    run.claim(
        f"plain SGD: L2(λ/2) and weight_decay=λ give the same weights (λ={lam:g}, {sgd_epochs} epochs), "
        "to float tolerance",
        holds=diff_sgd < tol and diff_none > 100 * diff_sgd,
        evidence=f"max |Δw| / max|w| = {diff_sgd:.1e} (tolerance {tol:g}); the penalty itself moves the weights "
        f"by {diff_none:.1e} vs no penalty",
        rel_diff=diff_sgd, rel_diff_to_unpenalized=diff_none, tolerance=tol,
    )

    # 2: Adam + L2(λ/2) vs AdamW(weight_decay=λ) ----------------------------------------------
    res = {"Adam + L2": {}, "AdamW": {}}
    weights, diff_adam = {}, {}
    for lam_i in lams:
        for method in res:
            if method == "AdamW":
                model, opt = copy(None), keras.optimizers.AdamW(0.005, weight_decay=lam_i)
            else:
                model, opt = copy(regularizers.L2(lam_i / 2.0)), keras.optimizers.Adam(0.005)
            h = train(f"{method} λ={lam_i:g}", model, opt)
            res[method][lam_i] = {"val": float(h["val_accuracy"][-1]),
                                  "test": run.evaluate(model, *data.test)["accuracy"],
                                  "weight_norm": regularizers.weight_norm(model)}
            weights[(method, lam_i)] = flat(model)
        a, b = weights[("Adam + L2", lam_i)], weights[("AdamW", lam_i)]
        diff_adam[lam_i] = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
    run.metric("adam_results", {m: {f"{lam_i:g}": v for lam_i, v in r.items()} for m, r in res.items()})
    run.metric("adam_max_rel_weight_diff_l2_vs_adamw", {f"{lam_i:g}": v for lam_i, v in diff_adam.items()})
    best = {m: max(r, key=lambda lam_i: (r[lam_i]["val"], -lam_i)) for m, r in res.items()}
    acc = {m: res[m][best[m]]["test"] for m in res}
    n_test = len(data.x_test)
    p = (acc["AdamW"] + acc["Adam + L2"]) / 2
    se = math.sqrt(2 * max(p * (1 - p), 1e-4) / n_test)
    min_diff = min(diff_adam.values())
    run.metric("chosen_lam", best)
    run.claim(
        "Adam: L2(λ/2) and AdamW(weight_decay=λ) are different, and AdamW (λ chosen on validation) is at "
        "least as good",
        holds=min_diff > 1e3 * max(diff_sgd, 1e-7) and acc["AdamW"] >= acc["Adam + L2"] - 2 * se,
        evidence=f"relative weight difference ≥ {min_diff:.2g} at every λ (SGD: {diff_sgd:.1e}); test "
        f"AdamW {acc['AdamW']:.2%} (λ={best['AdamW']:g}) vs Adam + L2 {acc['Adam + L2']:.2%} "
        f"(λ={best['Adam + L2']:g}), 2 s.e. = {2 * se:.2%}",
        test_adamw=acc["AdamW"], test_adam_l2=acc["Adam + L2"], two_se=2 * se, min_rel_diff=min_diff,
    )

    # figures ---------------------------------------------------------------------------------
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.4))
    lam_show = lams[len(lams) // 2]
    for ax, (xw, yw, xl, yl, title) in zip((ax1, ax2), (
            (w_l2, w_wd, f"SGD + L2({l2:g})", f"SGD weight_decay={wd:g}",
             f"plain SGD, {sgd_epochs} epochs: max rel. |Δw| = {diff_sgd:.1e}"),
            (weights[("Adam + L2", lam_show)], weights[("AdamW", lam_show)], f"Adam + L2({lam_show / 2:g})",
             f"AdamW weight_decay={lam_show:g}",
             f"Adam, {run.epochs} epochs: max rel. |Δw| = {diff_adam[lam_show]:.2f}"))):
        ax.plot(xw, yw, ".", ms=2, alpha=0.5, color=plots.COLORS[0], label="every weight and bias")
        lim = float(max(np.abs(xw).max(), np.abs(yw).max())) * 1.05
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="y = x")
        ax.set_xlabel(f"weight after training with {xl}")
        ax.set_ylabel(f"... with {yl}")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Same initial weights and batches on {data.info.name}")
    fig.tight_layout()
    run.figure("sgd_vs_adam_equivalence", fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    plots.line_plot(lams, {f"{m} ({s})": [res[m][v][s] * 100 for v in lams] for m in res for s in ("val", "test")},
                    xlabel="λ (Adam + L2(λ/2) vs AdamW(weight_decay=λ))", ylabel="accuracy (%)", logx=True,
                    ax=ax1, title="accuracy vs λ (chosen λ: best val)",
                    styles={"Adam + L2 (val)": {"color": plots.COLORS[0], "ls": "--"},
                            "Adam + L2 (test)": {"color": plots.COLORS[0]},
                            "AdamW (val)": {"color": plots.COLORS[1], "ls": "--"},
                            "AdamW (test)": {"color": plots.COLORS[1]}})
    plots.line_plot(lams, {m: [res[m][v]["weight_norm"] for v in lams] for m in res}, xlabel="λ",
                    ylabel="‖kernels‖₂ after training", logx=True, logy=True, ax=ax2,
                    title="how hard each one shrinks the weights")
    fig.tight_layout()
    run.figure("adam_l2_vs_adamw", fig)
    return run.finish()


if __name__ == "__main__":
    main()
