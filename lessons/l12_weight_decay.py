# %% [markdown]
# # L12 — L2 penalty vs decoupled weight decay: the same for SGD, not for Adam (AdamW)
#
# *Deck 002 ("Weight decay, researchers' view" and "engineers' view"),
# deck 003 ("Connection between weight decay and L2 regularization",
# "AdamW").*
#
# **Researchers' view** (deck 002): add $\tfrac{\lambda_0}{2}\|\theta\|_2^2$
# to the loss; its gradient adds $\lambda_0\theta$, so one gradient step is
# $\theta \leftarrow (1 - \eta\lambda_0)\theta - \eta\nabla\hat L(\theta)$.
# **Engineers' view**: shrink every weight at every step,
# $\theta \leftarrow (1 - \lambda_1)\theta - \eta\nabla\hat L(\theta)$.
# Deck 003: "L2 regularization and weight decay are equivalent with
# $\lambda_1 = \alpha\lambda_0$" — for plain gradient descent.
#
# **In Keras.** `L2(l2)` is $l2\cdot\sum w^2$ (no ½), so the penalty
# $\tfrac{\lambda}{2}\|w\|^2$ is `kreg.regularizers.L2(λ/2)`; Keras's
# `SGD(weight_decay=wd)` shrinks by `lr * wd` per step, so deck 003's
# $\lambda_1 = \alpha\lambda_0$ is `weight_decay = λ`
# (`kreg.regularizers.sgd_weight_decay_for_l2(λ/2) = λ`). Keras decays every
# trainable variable, so the penalty goes on the biases too.
#
# ## 1. Plain SGD: an identity (`run.exact`)
#
# Two copies of the STAT 453 MLP (784-75-45-10, ReLU, PyTorch's
# initialization) from the same initial weights on the same batches, SGD
# lr 0.1, λ = 0.01: one with `L2(λ/2)`, one with `weight_decay=λ`. In exact
# arithmetic their iterates are equal, step by step; in float32 the two
# orders of operations round differently (a relative 1e-7 per step), so the
# check allows a relative difference of 1e-4 in the largest weight after
# `--sgd-steps` (10) updates of batch 256, the same on every dataset. It is
# kept short on purpose: training can amplify round-off. A first run over 5
# epochs (75 updates) ended at 5e-7 on three seeds but at 9e-5 and 7e-3 on
# the other two — float32 round-off tipping a ReLU or a rounding boundary,
# not a difference in the update rule, which the deck states per step. A third copy with `L2(λ)` —
# the mapping without the ½ — shows what the tolerance would catch.
#
# ## 2. Adam: not the same (Loshchilov & Hutter, deck 003's Algorithm 2)
#
# With L2 the penalty's gradient $\lambda\theta$ joins $g_t$ and is divided
# by $\sqrt{\hat v_t}$ with the rest, so weights with large gradients are
# decayed less; AdamW decays every weight by lr·λ directly. Keras's
# `Adam` + `L2(λ/2)` against `AdamW(weight_decay=λ)`, STAT 453's Adam rate
# 0.005, over the grid λ ∈ {0.001, 0.01, 0.1, 1}, each for `--epochs` (20)
# epochs under 5 paired seeds; plain Adam (no decay) beside them. For each
# method, λ is chosen by the mean validation accuracy over seeds; the test
# set is used only to compare the two chosen models, seed by seed.
#
# That the two methods end at different weights is certain once λ > 0 (the
# updates differ from the first step), so it is shown, not verdicted.
# Deck 003's sentence "weight decay is more effective than L2 regularization
# when using Adam" and the weaker "AdamW is at least as good" are claims:
#
# - **more effective**: AdamW's test accuracy minus Adam + L2's, each at
#   its chosen λ, paired by seed, is above `better` = 0.5 pp (the tolerance
#   within which a STAT 453 number counts as reproduced: a smaller gain is
#   not one a student would see);
# - **at least as good** (non-inferiority): the same difference is above
#   −`no_worse` = −1 pp. The harness decides "effect > margin", so the
#   claim's effect is the difference plus 1 pp, decided against 0: it holds
#   when the interval's lower end is above −1 pp, and does not hold when
#   its upper end is below −1 pp (AdamW clearly worse).
#
# Both margins were fixed before any verdict was seen. Rough power: two nets
# disagree on about 3% of the 1,000 offline test digits, so the examples
# alone give a standard error near 0.25 pp on a 5-seed mean difference; with
# the seed spread the interval is about ±0.6–1 pp wide. A true difference
# of 0 is then told apart from −1 pp only narrowly, and a gain of 0.5 pp
# cannot be shown unless the true gain is well above 1 pp.

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--lam", type=float, default=0.01,
                   help="λ of the SGD identity: penalty λ/2‖w‖² = L2(λ/2), or SGD(weight_decay=λ)")
    p.add_argument("--lams", type=float, nargs="+", default=(1e-3, 1e-2, 1e-1, 1.0),
                   help="λ grid of Adam + L2(λ/2) vs AdamW(weight_decay=λ)")
    p.add_argument("--sgd-steps", type=int, default=10,
                   help="SGD updates of the identity check (float round-off is amplified as training goes on)")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (STAT 453: 256)")


def _check(args):
    if not (math.isfinite(args.lam) and args.lam > 0):
        raise bad_flag("lam", args.lam, "a float > 0")
    if not all(math.isfinite(v) and v > 0 for v in args.lams):
        raise bad_flag("lams", list(args.lams), "floats > 0")
    if args.sgd_steps < 1:
        raise bad_flag("sgd_steps", args.sgd_steps, "a positive integer")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")


LESSON = Lesson(
    "l12_weight_decay",
    title="Weight decay vs L2: exact for SGD, different for Adam (AdamW)",
    decks="002, 003",
    epochs=20,
    seeds=5,
    quick_epochs=1,
    margins={"better": 0.005, "no_worse": 0.01},
    reference="STAT 453 L12 notebooks: Adam 97.37% vs AdamW 97.29% test (lr 0.005, 100 epochs)",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from kreg import models, plots, regularizers

data = run.load_data()
batch = run.pick(run.args.batch_size, 64)  # --quick: 4 steps of 64
shape, k = data.info.input_shape, data.info.num_classes
lam, lr_sgd, lr_adam = run.args.lam, 0.1, 0.005
lams = run.pick(sorted(run.args.lams), sorted(run.args.lams)[-2:])
sgd_steps = run.args.sgd_steps
x_sgd, y_sgd = data.x_train[: sgd_steps * batch], data.y_train[: sgd_steps * batch]  # one epoch = sgd_steps updates
run.config(batch_size=batch, init="torch", sgd={"learning_rate": lr_sgd, "lam": lam, "steps": sgd_steps},
           adam={"learning_rate": lr_adam, "lams": lams})


def net(penalty, optimizer):
    """The STAT 453 MLP with ``penalty`` on every kernel and bias, compiled once."""
    model = regularizers.apply(models.mlp(shape, k, init="torch"), penalty, include="kernels_and_biases")
    return models.compile_classifier(model, optimizer)


def flat(model):
    return np.concatenate([np.ravel(w) for w in model.get_weights()]).astype(np.float64)


# %% [markdown]
# ## 1. Plain SGD: L2(λ/2) and weight_decay=λ

# %%
sgd_nets = {"L2(λ/2)": net(regularizers.L2(lam / 2), keras.optimizers.SGD(lr_sgd)),
            "weight_decay=λ": net(None, keras.optimizers.SGD(lr_sgd, weight_decay=lam)),
            "L2(λ)": net(regularizers.L2(lam), keras.optimizers.SGD(lr_sgd))}


def sgd_identity(rep):
    w = {}
    for key, model in sgd_nets.items():  # every copy reset to this seed: same weights, same batches
        rep.fit(model, x=x_sgd, y=y_sgd, epochs=1, batch_size=batch, label=f"SGD {key}, seed {rep.index + 1}")
        w[key] = flat(model)
    scale = np.abs(w["L2(λ/2)"]).max()
    return {"rel_diff": np.abs(w["L2(λ/2)"] - w["weight_decay=λ"]).max() / scale,
            "rel_diff_without_half": np.abs(w["L2(λ)"] - w["weight_decay=λ"]).max() / scale,
            "w_penalty": w["L2(λ/2)"], "w_decay": w["weight_decay=λ"]}


sgd = run.replicates(f"SGD: L2(λ/2), weight_decay=λ, L2(λ) at λ={lam:g}", work=sgd_identity,
                     config={"lam": lam, "steps": sgd_steps})
tol = 1e-4
run.exact(f"plain SGD: the penalty L2(λ/2) and weight_decay=λ give the same weights (λ={lam:g}, "
          f"{len(x_sgd) // batch} updates, every seed)", sgd["rel_diff"].max(), tolerance=tol,
          evidence="largest |Δw| relative to the largest |w|")
run.demonstrate("the mapping matters: L2(λ) (no ½) against weight_decay=λ",
                f"relative difference {sgd['rel_diff_without_half'].mean():.1e}, against "
                f"{sgd['rel_diff'].max():.1e} for L2(λ/2) (tolerance {tol:g})")

# %% [markdown]
# ## 2. Adam + L2(λ/2) vs AdamW(weight_decay=λ)

# %%
def scores(model):
    out = {f"{s}_correct": run.per_example(model, *getattr(data, s))["correct"] for s in ("val", "test")}
    return out | {"weights": flat(model), "weight_norm": regularizers.weight_norm(model)}


methods = {"Adam + L2": lambda lam_i: net(regularizers.L2(lam_i / 2), keras.optimizers.Adam(lr_adam)),
           "AdamW": lambda lam_i: net(None, keras.optimizers.AdamW(lr_adam, weight_decay=lam_i))}
arms = {(m, lam_i): run.replicates(f"{m} λ={lam_i:g}", build(lam_i), data, measure=scores, batch_size=batch)
        for lam_i in lams for m, build in methods.items()}
plain = run.replicates("Adam, no decay", net(None, keras.optimizers.Adam(lr_adam)), data, measure=scores,
                       batch_size=batch)
diff = {lam_i: float(np.mean(np.abs(arms["Adam + L2", lam_i]["weights"] - arms["AdamW", lam_i]["weights"]).max(axis=1)
                             / np.abs(arms["Adam + L2", lam_i]["weights"]).max(axis=1))) for lam_i in lams}
run.metric("adam_rel_weight_diff_l2_vs_adamw", {f"{v:g}": d for v, d in diff.items()})
run.demonstrate("Adam: L2(λ/2) and AdamW(weight_decay=λ) end at different weights",
                ", ".join(f"λ={v:g}: {d:.2g}" for v, d in diff.items())
                + f" (largest |Δw| / largest |w|, mean of seeds; SGD's identity: {sgd['rel_diff'].max():.1e})")

val = {key: reps.mean("val_correct") for key, reps in arms.items()}
chosen = {m: max(lams, key=lambda v: (val[m, v], -v)) for m in methods}
run.metric("chosen_lam", chosen)
test = {m: arms[m, chosen[m]]["test_correct"] for m in methods}
acc = {m: test[m].mean() for m in methods}
samples = {(m, "test"): test[m] for m in methods}
# the chosen λ goes into the evidence, not the claim's text: the text keys the cross-backend verdict table
label = f"chosen on validation: AdamW λ={chosen['AdamW']:g}, Adam + L2 λ={chosen['Adam + L2']:g}"
better = run.estimate(lambda s: s["AdamW", "test"] - s["Adam + L2", "test"], samples)
run.claim("with Adam, weight decay is more effective than L2 regularization: higher test accuracy, each at its "
          "validation-chosen λ", better, direction="greater", margin="better", unit="pp",
          compare=(acc["Adam + L2"], acc["AdamW"]), effect_name="AdamW − Adam + L2", evidence=label)
ni = run.margin("no_worse")
no_worse = run.estimate(lambda s: s["AdamW", "test"] - s["Adam + L2", "test"] + ni, samples)
run.claim(f"AdamW is at least as good as Adam + L2: test accuracy not lower by {ni * 100:g} pp or more, each at "
          "its validation-chosen λ",
          no_worse, direction="greater", margin=0.0, unit="pp", compare=(acc["Adam + L2"], acc["AdamW"]),
          effect_name=f"AdamW − Adam + L2 + {ni * 100:g} pp",
          evidence=f"{label}; non-inferiority: the difference itself is {better.value * 100:+.2f} pp "
          f"[{better.low * 100:+.2f}, {better.high * 100:+.2f}], asserted > −{ni * 100:g} pp")

# %% [markdown]
# **Reading the outcome.** Offline the nets see 3,600 digits for 20 epochs
# (300 Adam steps), far from the 100 epochs on 54,000 images of the STAT
# 453 notebooks and from the CIFAR-10 runs behind deck 003's figure; with
# so little training, decay of either kind changes the test accuracy by a
# few tenths of a point at most, and 1,000 test digits resolve about that
# much. *Inconclusive* on "more effective" is then the honest reading: the
# data cannot show AdamW's advantage at this scale, which is not the same
# as showing there is none. "At least as good" can hold even so.

# %%
full_mnist = data.info.name == "mnist" and not run.quick
updates = run.epochs * math.ceil(len(data.x_train) / batch)
for name, reps, ref in (("Adam, no decay", plain, 0.9737), ("AdamW, weight_decay=0.01 (PyTorch's default)",
                                                            arms.get(("AdamW", 0.01)), 0.9729)):
    if reps is None:
        continue
    est = run.estimate(lambda s: s["x", "test"], {("x", "test"): reps["test_correct"]})
    run.reference(f"test accuracy, {name}", est, ref, applies=full_mnist and run.epochs == 100 and batch == 256,
                  why_not=f"{run.epochs} epochs on {data.info.name} with {len(data.x_train):,} training images, "
                  "not the notebooks' 100 epochs on 54,000", updates=updates,
                  reference_updates=100 * math.ceil(54000 / 256))

# %% [markdown]
# ## Figures

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.4))
shown = lams[len(lams) // 2]
w_adam = (arms["Adam + L2", shown]["weights"][0], arms["AdamW", shown]["weights"][0])
w_sgd = (sgd["w_penalty"][0], sgd["w_decay"][0])
for ax, (xw, yw), title in ((ax1, w_sgd, f"plain SGD, {len(x_sgd) // batch} updates: L2(λ/2) vs weight_decay=λ"),
                            (ax2, w_adam, f"Adam, {run.epochs} epochs: L2(λ/2) vs AdamW, λ={shown:g}")):
    ax.plot(xw, yw, ".", ms=2, alpha=0.5, color=plots.COLORS[0], label="every weight and bias")
    lim = float(max(np.abs(xw).max(), np.abs(yw).max())) * 1.05
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="y = x")
    ax.set(xlabel="weight with the L2 penalty", ylabel="weight with decoupled decay", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
fig.suptitle(f"Same initial weights and batches on {data.info.name}")
fig.tight_layout()
run.figure("sgd_vs_adam_equivalence", fig)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
plots.line_plot(lams, {f"{m} ({s})": [arms[m, v].mean(f"{s}_correct") * 100 for v in lams] for m in methods
                       for s in ("val", "test")}, xlabel="λ", ylabel="accuracy (%)", logx=True, ax=ax1,
                title=f"mean of {run.n_seeds} seeds (chosen λ: best val)",
                styles={"Adam + L2 (val)": {"color": plots.COLORS[0], "ls": "--"},
                        "Adam + L2 (test)": {"color": plots.COLORS[0]},
                        "AdamW (val)": {"color": plots.COLORS[1], "ls": "--"},
                        "AdamW (test)": {"color": plots.COLORS[1]}})
ax1.axhline(plain.mean("test_correct") * 100, color="gray", ls=":", label="Adam, no decay (test)")
ax1.legend(fontsize=7)
plots.line_plot(lams, {m: [arms[m, v].mean("weight_norm") for v in lams] for m in methods}, xlabel="λ",
                ylabel="‖kernels‖₂ after training", logx=True, logy=True, ax=ax2,
                title="how hard each one shrinks the weights")
fig.tight_layout()
run.figure("adam_l2_vs_adamw", fig)
results = run.finish()
