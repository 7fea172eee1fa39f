# %% [markdown]
# # L10 §4 — L2 regularization: a penalty on the cost, and weight decay
#
# *STAT 453 Lecture 10 (deck 000 §4), with decks 002 and 004.*
#
# Deck 000, "L2 Regularization for Linear Models" and "for Multilayer Neural
# Networks":
#
# $$\text{L2-Regularized-Cost}_{\mathbf w, \mathbf b} = \frac1n \sum_{i=1}^n
#   \mathcal L(y^{[i]}, \hat y^{[i]}) + \frac{\lambda}{n} \sum_{l=1}^L
#   \|\mathbf w^{(l)}\|_F^2,$$
#
# with $n$ the number of examples in the (mini)batch (the deck's code divides by
# `targets.size(0)`), and the update
# $w_{i,j} := w_{i,j} - \eta\big(\partial\mathcal L/\partial w_{i,j} + \tfrac{2\lambda}{n} w_{i,j}\big)$.
# Keras adds `L2(l2)` $= l_2\sum w^2$ to the batch-mean loss, so the slide's
# $\lambda$ is `kreg.regularizers.from_lecture("000", lam, batch_size=n)` $=$
# `L2(lam / n)`: every $\lambda$ below is the deck's.
#
# **(a) A manual penalty is SGD weight decay** (deck 000, "L2 Regularization
# for Logistic Regression in PyTorch"): `torch.optim.SGD(weight_decay=LAMBDA)`
# adds $\lambda w$ to the gradient of every parameter, bias included, i.e.
# the penalty $\tfrac{\lambda}{2}(\|\mathbf w\|^2 + b^2)$ (deck 002's
# $\tfrac12\lambda\|w\|^2$). Logistic regression on 70 toy 2-D points, zero
# initialization, full-batch SGD with learning rate 0.1 for 30 epochs,
# $\lambda = 2$ as in the STAT 453 notebook: Keras's `SGD(weight_decay=λ)`,
# a manual `L2(λ/2)` on kernel and bias, and a NumPy gradient-descent oracle
# must give the same weights: an exact identity, checked to float tolerance
# (so `--quick` checks it too). The notebook's own `toydata.txt` is not
# shipped: its weights $[1.7546, 1.5997]$ are not reproduced digit for digit,
# the mapping is.
#
# **(b) What $\lambda$ does to the STAT 453 MLP** (784-75-45-10, ReLU, SGD
# 0.1, batch 256, 50 epochs) for $\lambda \in \{0, 0.1, 0.3, 1, 3, 10\}$:
#
# - *the weight norm falls with $\lambda$* — shown, not verdicted. For the
#   penalized optimum it is a theorem: if $w_1, w_2$ minimize
#   $L + \lambda_1 R$ and $L + \lambda_2 R$ with $\lambda_1 < \lambda_2$, adding
#   the two optimality inequalities gives $(\lambda_2-\lambda_1)(R(w_2) - R(w_1)) \le 0$.
#   Fifty epochs of SGD are not the optimum, but each step multiplies every
#   weight by $1 - 2\eta\lambda/n$ before the data gradient acts, and a factor
#   3 in $\lambda$ triples that pull: nothing in the experiment could make the
#   norm rise except seed noise far smaller than the pull. A verdict that
#   cannot come out "does not hold" is a demonstration.
# - *the train-test gap narrows as $\lambda$ grows* (deck 004: "make greater
#   error on training data, to obtain a more acceptable network") — a claim:
#   the penalty also lowers test accuracy, so the gap could stay put. The
#   trend is verdicted over the whole sweep, not its two ends: the effect is
#   the least-squares **slope of the gap against $\log_{10}\lambda$** over the
#   five $\lambda > 0$, computed per seed (paired: seed $i$ starts every
#   $\lambda$ from the same weights and data order) with its 95% interval over
#   seeds and test examples. Once for the accuracy gap (train − test) and
#   once for the cross-entropy gap (test − train data loss, the penalty left
#   out).
#
# **Margins and seeds, fixed before any verdict was seen.**
#
# - `gap` = 0.5 pp per decade of $\lambda$: over the sweep's two decades
#   "narrows" means at least a 1 pp smaller accuracy gap, twice the
#   0.5 pp that `l10_dropout` calls a visible reduction.
# - `ce_gap` = 0.02 nats per decade: 0.04 nats over the sweep, about a tenth
#   of the cross-entropy gap an unpenalized MLP opens on a few thousand
#   digits.
# - 5 seeds. Rough power: on the offline data (3,600 training, 1,000 test
#   digits) one test digit is 0.1 pp; the paired slope's example part has a
#   standard error near 0.3 pp per decade and the seeds add about as much, so
#   with 5 seeds (t₄ = 2.8) the half-width is about 1-1.5 pp per decade: a
#   slope of −2 pp per decade or steeper is told apart from the margin.

# %%
import math

from kreg.lesson import Lesson, bad_flag

LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0)


def _flags(p):
    p.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS),
                   help="deck 000's λ of the MLP sweep (cost + λ/n Σw², n = batch size); λ = 0 is added as "
                   "the baseline")
    p.add_argument("--logreg-lambda", type=float, default=2.0,
                   help="λ of the logistic-regression check (STAT 453: weight_decay=2)")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size n (STAT 453: 256)")


def _check(args):
    if len(set(args.lambdas)) < 2 or any(not (math.isfinite(v) and v > 0) for v in args.lambdas):
        raise bad_flag("lambdas", args.lambdas, "at least two distinct finite floats > 0")
    if not (math.isfinite(args.logreg_lambda) and args.logreg_lambda > 0):
        raise bad_flag("logreg_lambda", args.logreg_lambda, "a finite float > 0")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")


LESSON = Lesson(
    "l10_norm_penalties",
    title="L2 regularization: deck 000's penalty = SGD weight decay; what λ does to the weights and the gap",
    decks="000 §4, 002, 004",
    epochs=50,
    seeds=5,
    margins={"gap": 0.005, "ce_gap": 0.02},
    reference="STAT 453 L2-log-reg notebook: λ=2, SGD lr 0.1, 30 epochs; weight_decay=λ and a manual "
    "0.5·λ·(‖w‖²+b²) penalty give identical weights ([1.7546, 1.5997] on its toydata.txt), test 96%",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from kreg import models, plots
from kreg import regularizers as R

# %% [markdown]
# ## (a) Manual penalty vs `SGD(weight_decay=λ)`
#
# The notebook's kind of toy data: 100 points, two Gaussian classes in 2-D,
# 70 for training, standardized. Zero initialization and full-batch steps
# make both runs deterministic.

# %%
lam, lr, epochs_lr = run.args.logreg_lambda, 0.1, 30
rng = np.random.default_rng(run.seed)
ya_all = np.repeat([0, 1], 50).astype("float32")
xa_all = rng.normal(size=(100, 2)) + np.where(ya_all[:, None] == 1, 1.0, -1.0)
order = rng.permutation(100)
xa_all, ya_all = xa_all[order], ya_all[order]
xa_all = ((xa_all - xa_all[:70].mean(0)) / xa_all[:70].std(0)).astype("float32")
xa, ya, xa_te, ya_te = xa_all[:70], ya_all[:70], xa_all[70:], ya_all[70:]


def logreg(regularizer=None, weight_decay=None):
    """softmax_regression with one output unit = logistic regression; zero init as in the notebook."""
    m = models.softmax_regression((2,), 1, name="logistic_regression")
    m.set_weights([np.zeros_like(w) for w in m.get_weights()])
    if regularizer is not None:
        m = R.apply(m, regularizer, include="kernels_and_biases")
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr, weight_decay=weight_decay),
              loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return m


def gd_oracle(lam_):
    """NumPy full-batch gradient descent: w ← w − η(∇BCE + λw), bias included."""
    xb, w = np.c_[xa, np.ones(len(xa))].astype(np.float64), np.zeros(3)
    for _ in range(epochs_lr):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        w = w - lr * (xb.T @ (p - ya) / len(xa) + lam_ * w)
    return w


lr_w = {"numpy GD, λ=0": gd_oracle(0.0), f"numpy GD, λ={lam:g}": gd_oracle(lam)}
for label, m in {f"manual L2(λ/2) on w and b": logreg(regularizer=R.L2(R.l2_for_sgd_weight_decay(lam))),
                 f"SGD(weight_decay={lam:g})": logreg(weight_decay=lam)}.items():
    run.fit(f"logreg: {label}", m, x=xa, y=ya, epochs=epochs_lr, batch_size=len(xa), shuffle=False)
    lr_w[label] = np.concatenate([v.ravel() for v in m.get_weights()]).astype(np.float64)
plain, oracle, manual, decay = lr_w.values()
test_acc = float(np.mean(((np.c_[xa_te, np.ones(len(xa_te))] @ decay) > 0) == ya_te))
run.metric("logreg_weights", {k: v.tolist() for k, v in lr_w.items()})
run.exact(f"a manual 0.5·λ·(‖w‖²+b²) penalty and SGD weight_decay=λ give the same weights (λ={lam:g})",
          float(np.max(np.abs(manual - decay))), tolerance=1e-5,
          evidence=f"w = [{manual[0]:.4f}, {manual[1]:.4f}] vs [{decay[0]:.4f}, {decay[1]:.4f}]; "
          f"test accuracy {test_acc:.0%}")
run.exact("both are gradient descent on the penalized cost (NumPy oracle, float64)",
          float(max(np.max(np.abs(manual - oracle)), np.max(np.abs(decay - oracle)))), tolerance=1e-4,
          evidence=f"oracle w = [{oracle[0]:.4f}, {oracle[1]:.4f}], unpenalized [{plain[0]:.4f}, {plain[1]:.4f}]")

# %% [markdown]
# ## (b) The λ sweep on the STAT 453 MLP
#
# One architecture; `kreg.regularizers.apply(model, from_lecture("000", λ,
# batch_size=256))` puts the slide's penalty on every kernel (not the biases:
# deck 004, "usually applied to the weights but not the biases"). One compiled
# model per λ, reset for each seed, so seed $i$ of every λ starts from the
# same weights.

# %%
data = run.load_data()
batch = run.args.batch_size
lambdas = sorted(set(run.args.lambdas))
if run.quick:
    lambdas = [lambdas[0], lambdas[-1]]
shape, k = data.info.input_shape, data.info.num_classes
keras_l2 = {v: R.from_lecture("000", v, batch_size=batch).l2 for v in lambdas}
run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", lambdas=lambdas, keras_l2=keras_l2)
run.say("   deck 000's λ -> Keras L2(λ/n): " + ", ".join(f"{v:g} -> {keras_l2[v]:.3g}" for v in lambdas))


def scores(model):
    """Weight norm, and per-example correctness and data cross-entropy on train and test (inference mode)."""
    out = {"weight_norm": R.weight_norm(model)}
    for split in ("train", "test"):
        for name, values in run.per_example(model, *getattr(data, split)).items():
            out[f"{split}_{name}"] = values
    return out


base = models.mlp(shape, k)
arm = {v: f"λ={v:g}" for v in [0.0, *lambdas]}
arms = {}
for v, name in arm.items():
    net = R.apply(base, R.from_lecture("000", v, batch_size=batch) if v else None)
    arms[v] = run.replicates(name, models.compile_classifier(net, learning_rate=0.1), data, measure=scores,
                             batch_size=batch)

# %% [markdown]
# ### The weight norm (shown)

# %%
norms = np.stack([arms[v]["weight_norm"] for v in arm])  # (λ, seed)
falls = int(np.sum(np.diff(norms, axis=0) < 0))
run.demonstrate("the weight norm falls as λ grows (a theorem for the penalized optimum)",
                "mean ‖W‖ " + " > ".join(f"{n:.2f}" for n in norms.mean(1)) + f" for λ = "
                + ", ".join(f"{v:g}" for v in arm) + f"; {falls} of {norms[1:].size} adjacent pairs fall, "
                "seed by seed", norms=norms.tolist())

# %% [markdown]
# ### The train-test gap (verdicted as a trend)

# %%
logs = np.log10(lambdas)
slope_w = (logs - logs.mean()) / np.sum((logs - logs.mean()) ** 2)  # least-squares slope = Σ c_j y_j


def samples(metric):
    return {(arm[v], split): arms[v][f"{split}_{metric}"] for v in lambdas for split in ("train", "test")}


acc, ce = samples("correct"), samples("loss")
acc_gap = {v: acc[arm[v], "train"].mean() - acc[arm[v], "test"].mean() for v in lambdas}
ce_gap = {v: ce[arm[v], "test"].mean() - ce[arm[v], "train"].mean() for v in lambdas}
slope = run.estimate(lambda m: sum(c * (m[arm[v], "train"] - m[arm[v], "test"]) for c, v in zip(slope_w, lambdas)),
                     acc)
run.claim("the train-test accuracy gap narrows as λ grows (slope per decade of λ)", slope, direction="less",
          margin="gap", unit="pp", compare=(acc_gap[lambdas[0]], acc_gap[lambdas[-1]]), effect_name="slope",
          evidence="gap " + ", ".join(f"{acc_gap[v]:.2%}" for v in lambdas) + " for λ = "
          + ", ".join(f"{v:g}" for v in lambdas))
ce_slope = run.estimate(lambda m: sum(c * (m[arm[v], "test"] - m[arm[v], "train"]) for c, v in zip(slope_w, lambdas)),
                        ce)
run.claim("the cross-entropy gap (test − train data loss) narrows as λ grows (slope per decade of λ)", ce_slope,
          direction="less", margin="ce_gap", compare=(ce_gap[lambdas[0]], ce_gap[lambdas[-1]]),
          effect_name="slope (nats)", evidence="gap " + ", ".join(f"{ce_gap[v]:.3f}" for v in lambdas))
test_acc_all = {v: arms[v].mean("test_correct") for v in arm}
run.demonstrate("test accuracy across the sweep", ", ".join(f"λ={v:g}: {a:.2%}" for v, a in test_acc_all.items()))

# %% [markdown]
# **Reading the outcome.** Offline, 3,600 training digits and 50 epochs of
# batch 256 are 700 SGD updates; the unpenalized net fits the training set
# almost perfectly and its gap is the thing λ can close. The gap narrows by
# two routes — training accuracy falls toward test accuracy (deck 004's
# "greater error on training data"), and test accuracy rises — and the slope
# does not care which; the accuracy panel of the figure shows which one it
# was. At the strongest λ the net underfits and both accuracies fall.

# %% [markdown]
# ## Figure

# %%
pos = np.arange(len(arm))
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 3.9))
plots.line_plot(pos, {"‖W‖ (all kernels)": norms.mean(1)}, xlabel="deck 000's λ", ylabel="weight norm ‖W‖₂",
                ax=ax1, title="weight norm")
plots.line_plot(pos, {s: [arms[v].mean(f"{s}_correct") * 100 for v in arm] for s in ("train", "test")},
                xlabel="deck 000's λ", ylabel="accuracy (%)", ax=ax2, title=f"accuracy ({data.info.name})")
plots.line_plot(pos[1:], {"accuracy gap, train − test (pp)": [acc_gap[v] * 100 for v in lambdas]},
                xlabel="deck 000's λ", ylabel="accuracy gap (pp)", ax=ax3, title="train-test gap")
ax3b = ax3.twinx()
ax3b.plot(pos[1:], [ce_gap[v] for v in lambdas], marker="s", ls="--", color=plots.COLORS[1],
          label="cross-entropy gap, test − train (right axis)")
ax3b.set_ylabel("cross-entropy gap (nats)")
ax3.legend(handles=ax3.get_lines() + ax3b.get_lines(), fontsize=8)
for ax in (ax1, ax2, ax3):
    ax.set_xticks(pos, [f"{v:g}" for v in arm])
fig.suptitle(f"STAT 453 MLP + deck 000's λ/n Σw² (n = {batch}), mean of {run.n_seeds} seeds")
fig.tight_layout()
run.figure("l2_sweep", fig)
results = run.finish()
