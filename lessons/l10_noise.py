# %% [markdown]
# # L10 — Noise as a regularizer: inputs, weights, labels
#
# *Deck 002 ("Robustness to noise": noise to the input, noise to the
# weights), deck 003 (Gaussian noise in training), deck 004 ("Applying
# noise": input data, weights, labels).*
#
# **(a) Noise on the input is weight decay for a linear model** (deck 002).
# For $f(x) = w^\top x$ and $\epsilon \sim \mathcal N(0, \sigma^2 I)$,
#
# $$E_{x,y,\epsilon}[f(x+\epsilon) - y]^2 = E_{x,y}[f(x) - y]^2
#   + 2E[w^\top\epsilon\,(f(x) - y)] + E_\epsilon[w^\top\epsilon]^2
#   = E_{x,y}[f(x) - y]^2 + \sigma^2\|w\|^2 .$$
#
# (The slide calls the noise variance $\lambda$.) On $n$ examples, $n$ times
# this loss is ridge regression $\sum_i (w^\top x_i - y_i)^2 + \lambda\|w\|^2$
# with $\lambda = \sigma^2 n$, whose minimizer is
# $w_\text{ridge} = (X^\top X + n\sigma^2 I)^{-1}X^\top y$. A Keras model
# `GaussianNoise(σ) → Dense(1)` trained by SGD on the mean squared error
# (fresh noise at every step, the end-of-epoch weights averaged by
# `kreg.callbacks.WeightAveraging("swa")` to remove SGD's jitter) should land
# on $w_\text{ridge}$; least squares on $K$ noisy copies of the data tends to
# it as $K$ grows (the law of large numbers: shown, not verdicted).
#
# **(b) Noise on the weights** (decks 002, 004): $w' = w + \epsilon$,
# $\epsilon \sim \mathcal N(0, \sigma_w^2 I)$, at every step; to second order
# the loss gains $\sigma_w^2 E\|\nabla_w f(x)\|^2$, which "encourages sensible
# predictions even for small perturbations of the weights". The STAT 453 MLP
# with every Dense layer wrapped in `kreg.layers.WeightNoise(σ_w)`; claim:
# weight noise narrows the plain net's train-test gap.
#
# **(c) Noise on the labels** (deck 004): "MLE for multiclass classification
# is pushed to overconfident behavior — very large logit for the correct
# class and very small logits for the wrong classes"; the remedy is
# "randomly changing a subset of the labels at each training iteration"
# (DisturbLabel, Xie et al. 2016): each time a digit is drawn its label is
# replaced, with probability $\alpha$, by a class drawn uniformly. In
# expectation its cross-entropy is that of the smoothed target
# $(1-\alpha)\,e_y + \alpha/K$, which is label smoothing with
# $\varepsilon = \alpha$ (Keras's `label_smoothing`): the lesson trains both.
#
# Label smoothing caps the target at $0.9 + 0.1/10 = 0.91$, so "lower
# confidence on the errors" would be nearly mechanical. Over-confidence is
# verdicted instead by the **expected calibration error** on the test set
# (Guo et al. 2017): with 15 equal-width bins of the confidence
# $c_i = \max_j p_j(x_i)$,
# $\text{ECE} = \sum_b \big|\tfrac1n \sum_{i \in b} (c_i - \mathbb 1[\hat y_i = y_i])\big|$.
# A net that is made *under*-confident scores as badly as an over-confident
# one, so the targets' cap cannot force the verdict.
#
# **Margins and seeds, fixed before any verdict was seen.**
#
# - `ridge` = 0.10: "agree" means the noise-trained weights lie within 10% of
#   the distance between least squares and ridge, $\|w - w_\text{ridge}\| <
#   0.1\,\|w_\text{OLS} - w_\text{ridge}\|$ (an equivalence test); the other
#   decks' conventions ($\lambda/2$, or $\lambda$ without the $n$) would put
#   ridge far outside that band.
# - `gap` = 0.5 pp, as in `l10_dropout`: "narrows" means a visible
#   reduction of the train-test gap.
# - `ece` = 1 pp: "reduces over-confidence" means the calibration error
#   falls by at least one percentage point, a fraction of the several
#   points an unregularized net that fits its training set shows on held-out
#   digits.
# - K = 5 seeds, every arm paired (same initial weights, same data order).
#   Rough power: two nets disagree on a few percent of the 1,000 test
#   digits, so a gap difference has an example standard error near 0.6 pp,
#   and an ECE difference (a sum over bins of noisy means) near 0.7 pp; with
#   the seed spread and t(4), half-widths near 2 pp: effects of 2.5-3 pp are
#   decided. The regression's distance varies only through SGD's noise.
#
# The gap and the calibration are measured once on the test set: nothing is
# chosen on it here (no tuning, no early stopping).

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--input-noise", type=float, default=0.5, help="σ of the Gaussian input noise in (a)")
    p.add_argument("--n-regression", type=int, default=200, help="examples n of the regression in (a)")
    p.add_argument("--weight-noise", type=float, default=0.05, help="σ_w of the weight noise in (b)")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing ε in (c)")
    p.add_argument("--disturb", type=float, default=0.1, help="DisturbLabel rate α in (c)")
    p.add_argument("--batch-size", type=int, default=256, help="MLP minibatch size (STAT 453: 256)")


def _check(args):
    for name in ("input_noise", "weight_noise"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            raise bad_flag(name, getattr(args, name), "a finite float > 0")
    for name in ("label_smoothing", "disturb"):
        if not 0.0 < getattr(args, name) < 1.0:
            raise bad_flag(name, getattr(args, name), "a float in (0, 1)")
    if args.n_regression < 10:
        raise bad_flag("n_regression", args.n_regression, "an integer >= 10")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")


LESSON = Lesson(
    "l10_noise",
    title="Noise: input noise = ridge for a linear model, weight noise, label noise and smoothing",
    decks="002, 003, 004",
    epochs=50,
    seeds=5,
    margins={"ridge": 0.10, "gap": 0.005, "ece": 0.01},
    reference="deck 002: E[(w'(x+ε) − y)²] = E[(w'x − y)²] + σ²‖w‖² (ridge with λ = σ²n); "
    "STAT 453 MLP 784-75-45-10, SGD lr 0.1, batch 256 (no regularization: test 97.77% on MNIST)",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from kreg import callbacks, layers, models, plots
from kreg.data import make_linear_regression

# %% [markdown]
# ## (a) Input noise and ridge regression

# %%
sigma, n = run.args.input_noise, run.args.n_regression
X, y, _ = make_linear_regression(n, 5, noise=0.1, seed=0)  # fixed data: only the noise follows the seed
Xd, yd = X.astype(np.float64), y.astype(np.float64)
lam = sigma**2 * n
w_ols = np.linalg.lstsq(Xd, yd, rcond=None)[0]
w_ridge = np.linalg.solve(Xd.T @ Xd + lam * np.eye(X.shape[1]), Xd.T @ yd)
d_ols = float(np.linalg.norm(w_ols - w_ridge))

rng = np.random.default_rng(0)
copies = [1, 10, 100, 1000]
w_copies = [np.linalg.lstsq(np.tile(Xd, (c, 1)) + rng.normal(0.0, sigma, (c * n, X.shape[1])), np.tile(yd, c),
                            rcond=None)[0] for c in copies]
d_copies = [float(np.linalg.norm(w - w_ridge)) for w in w_copies]
run.demonstrate("least squares on K noisy copies of the data tends to ridge (law of large numbers)",
                ", ".join(f"K={c}: ‖w − w_ridge‖ {d:.4f}" for c, d in zip(copies, d_copies))
                + f" (least squares without noise: {d_ols:.4f})")

lin = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.GaussianNoise(sigma),
                        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="w")])
lin.compile(optimizer=keras.optimizers.SGD(learning_rate=0.02), loss="mse")
copies_per_epoch, epochs_a = 50, run.pick(40, 2)  # 50 steps of fresh noise per epoch, full batches of n


def noisy_regression(rep):
    swa = callbacks.WeightAveraging(mode="swa", start_epoch=run.pick(10, 0))
    rep.fit(lin, x=np.tile(X, (copies_per_epoch, 1)), y=np.tile(y, copies_per_epoch), epochs=epochs_a,
            batch_size=n, callbacks=[swa])
    w = keras.ops.convert_to_numpy(lin.get_layer("w").kernel).ravel().astype(np.float64)
    return {"w": w, "dist_ridge": float(np.linalg.norm(w - w_ridge))}


fit_a = run.replicates(f"linear regression, input noise σ={sigma:g}", work=noisy_regression,
                       config={"sigma": sigma, "n": n, "epochs": epochs_a, "lr": 0.02})
agree = run.estimate(lambda m: m["dist"] / d_ols, {"dist": fit_a["dist_ridge"]})
run.claim(f"input noise σ²={sigma**2:g} gives the ridge weights with λ = σ²·n = {lam:g}", agree,
          direction="agree", margin="ridge", compare=(d_ols, fit_a.mean("dist_ridge")),
          effect_name="‖w − w_ridge‖ / ‖w_OLS − w_ridge‖")

# %% [markdown]
# ## (b) Weight noise and (c) label noise on the STAT 453 MLP
#
# Every arm is trained through one data pipeline, so seed $i$ of every arm
# sees the same batches: a `keras.utils.PyDataset` that reshuffles the
# training set every epoch and, for DisturbLabel, redraws the disturbed
# labels every epoch — each digit's label changes at every iteration that
# uses it, outside the compiled train step, so it works the same under
# `jit_compile` on every backend.

# %%
data = run.load_data()
shape, k, batch = data.info.input_shape, data.info.num_classes, run.args.batch_size
s_w, eps, alpha = run.args.weight_noise, run.args.label_smoothing, run.args.disturb
run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", init="torch", input_noise=sigma,
           weight_noise=s_w, label_smoothing=eps, disturb=alpha)


class Batches(keras.utils.PyDataset):
    """Minibatches of the training set in a new order every epoch; labels disturbed with probability ``disturb``."""

    def __init__(self, seed, disturb=0.0, onehot=False):
        super().__init__()
        self.rng, self.disturb, self.onehot = np.random.default_rng(seed), disturb, onehot
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(data.x_train) / batch)

    def on_epoch_end(self):  # the same draws in every arm: only `disturb` differs
        size = len(data.y_train)
        self.order = self.rng.permutation(size)
        flip, other = self.rng.random(size) < self.disturb, self.rng.integers(0, k, size)
        self.labels = np.where(flip, other, data.y_train)

    def __getitem__(self, i):
        idx = self.order[i * batch:(i + 1) * batch]
        labels = self.labels[idx]
        return data.x_train[idx], (np.eye(k, dtype="float32")[labels] if self.onehot else labels)


def scores(model):
    """Per-example correctness and cross-entropy (train, test) and test confidence, in inference mode."""
    out = {f"{split}_{name}": values for split in ("train", "test")
           for name, values in run.per_example(model, *getattr(data, split)).items()}
    logits = model.predict(data.x_test, batch_size=1024, verbose=0)
    out["test_conf"] = keras.ops.convert_to_numpy(keras.ops.max(keras.ops.softmax(logits), axis=-1))
    return out


def train(model, disturb=0.0, onehot=False):
    def work(rep):
        y_val = np.eye(k, dtype="float32")[data.y_val] if onehot else data.y_val
        rep.fit(model, x=Batches(rep.seed, disturb, onehot), validation_data=(data.x_val, y_val), batch_size=None,
                shuffle=False)
        return scores(model)
    return work


def weight_noise_mlp():
    plain = models.mlp(shape, k, init="torch")  # every Dense, the output layer too, gets noisy weights
    noisy = [layers.WeightNoise(lay, stddev=s_w) if isinstance(lay, keras.layers.Dense) else lay for lay in plain.layers]
    return models.compile_classifier(keras.Sequential([keras.Input(shape), *noisy], name="mlp_weight_noise"))


base, wn, ls, dl = "no noise", f"weight noise σ={s_w:g}", f"label smoothing {eps:g}", f"DisturbLabel α={alpha:g}"
designs = {base: (models.compile_classifier(models.mlp(shape, k, init="torch")), 0.0, False),
           wn: (weight_noise_mlp(), 0.0, False),
           ls: (models.compile_classifier(models.mlp(shape, k, init="torch"), label_smoothing=eps), 0.0, True),
           dl: (models.compile_classifier(models.mlp(shape, k, init="torch")), alpha, False)}
arms = {arm: run.replicates(arm, work=train(net, disturb, onehot), config={"disturb": disturb, "onehot": onehot})
        for arm, (net, disturb, onehot) in designs.items()}
acc = {(arm, split): arms[arm][f"{split}_correct"] for arm in arms for split in ("train", "test")}
gap = {arm: acc[arm, "train"].mean() - acc[arm, "test"].mean() for arm in arms}
narrows = run.estimate(lambda m: (m[base, "train"] - m[base, "test"]) - (m[wn, "train"] - m[wn, "test"]),
                       {key: acc[key] for key in acc if key[0] in (base, wn)})
run.claim(f"weight noise σ_w={s_w:g} narrows the train-test accuracy gap", narrows, direction="greater",
          margin="gap", unit="pp", compare=(gap[base], gap[wn]), effect_name="narrower by")

# %% [markdown]
# **Reading the outcome.** Weight noise can narrow the gap by raising test
# accuracy or by lowering training accuracy (both are in `results.json`).
# Offline the nets see 3,600 digits for 50 epochs, 750 updates against the
# 10,550 of full MNIST, and the plain net has not yet fitted its training
# set: the gap to be narrowed is young. An *inconclusive* verdict means the
# narrowing cannot be told apart from the 0.5 pp margin with these seeds and
# test digits, not that weight noise does nothing.

# %%
edges = np.linspace(0.0, 1.0, 16)


def binned(arm):
    """Per-example (confidence - correct) in each of the 15 bins: ECE is the sum of |bin means|."""
    conf, correct = arms[arm]["test_conf"], arms[arm]["test_correct"]
    return {(arm, b): (conf - correct) * ((conf > lo) & (conf <= hi))
            for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))}


def ece(m, arm):
    return sum(np.abs(m[arm, b]) for b in range(len(edges) - 1))


cal = {arm: ece({key: v.mean(axis=1) for key, v in binned(arm).items()}, arm).mean() for arm in arms}
nll = {arm: arms[arm].mean("test_loss") for arm in arms}
for arm in (ls, dl):
    samples = binned(base) | binned(arm)
    est = run.estimate(lambda m, a=arm: ece(m, base) - ece(m, a), samples, splits={key: "test" for key in samples})
    wrong = {a: float(np.sum(arms[a]["test_conf"] * (1 - arms[a]["test_correct"]))
                      / np.sum(1 - arms[a]["test_correct"])) for a in (base, arm)}
    run.claim(f"{arm} reduces over-confidence: lower expected calibration error on the test set", est,
              direction="greater", margin="ece", unit="pp", compare=(cal[base], cal[arm]), effect_name="ECE lower by",
              evidence=f"test NLL {nll[base]:.3f} -> {nll[arm]:.3f}; mean confidence on errors {wrong[base]:.3f} -> "
              f"{wrong[arm]:.3f}, not verdicted: the smoothed targets cap it")

# %% [markdown]
# **Reading the outcome.** The expected calibration error punishes both
# directions. Deck 004's premise is that maximum likelihood *pushes* the net
# to over-confidence: that takes training long enough for the logits to
# grow. A plain net that has not yet fitted its training set (750 updates
# offline) may be only mildly over-confident; a target capped at 0.91, or
# labels disturbed at rate $\alpha$ (the same target in expectation), then
# pull its confidences *below* its accuracy, and the claim does not hold
# although the confidence on errors (printed beside it) fell: that fall is
# what the cap forces. In the reliability diagram below, points above the
# diagonal are under-confident, points below it over-confident. Full MNIST
# (`$KREG_DATA_DIR`, or online) gives the lecture's own setting.

# %% [markdown]
# ## Figures

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 3.9))
series = {"least squares (no noise)": w_ols, f"ridge, λ = σ²n = {lam:g}": w_ridge,
          f"GaussianNoise({sigma:g}) + SGD, seed 1": fit_a["w"][0], f"{copies[-1]} noisy copies": w_copies[-1]}
for i, (label, w) in enumerate(series.items()):
    ax1.bar(np.arange(len(w)) + (i - 1.5) * 0.2, w, 0.2, label=label, color=plots.COLORS[i])
ax1.set(xlabel="weight index", ylabel="weight", title="input noise shrinks w like ridge")
ax1.legend(fontsize=7)
plots.line_plot(copies, {"noisy copies → ridge": d_copies}, xlabel="noisy copies K of the data set",
                ylabel="‖w − w_ridge‖", logx=True, logy=True, ax=ax2, title="convergence to ridge (slope −½)")
ax2.axhline(d_ols, color=plots.COLORS[1], ls=":", label="least squares (no noise)")
ax2.legend(fontsize=8)
fig.tight_layout()
run.figure("input_noise_ridge", fig)
run.figure("weight_noise_curves", plots.learning_curves(
    {arm: {key: np.nanmean(arms[arm].history(key), axis=0) for key in ("loss", "val_loss", "accuracy",
                                                                      "val_accuracy")} for arm in (base, wn)},
    title=f"STAT 453 MLP on {data.info.name}, mean of {run.n_seeds} seeds (train curves with noise on)"))
fig, ax = plt.subplots(figsize=(5.5, 4.2))
for i, arm in enumerate(arms):
    conf, correct = arms[arm]["test_conf"].ravel(), arms[arm]["test_correct"].ravel()
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, len(edges) - 2)
    used = [b for b in range(len(edges) - 1) if np.any(which == b)]
    ax.plot([conf[which == b].mean() for b in used], [correct[which == b].mean() for b in used], marker="o",
            color=plots.COLORS[i], label=f"{arm}: ECE {cal[arm]:.1%}")
ax.plot([0, 1], [0, 1], "k:", lw=1)
ax.set(xlabel="confidence (test, 15 bins)", ylabel="accuracy", title="reliability diagram (all seeds)")
ax.legend(fontsize=7)
run.figure("calibration", fig)
results = run.finish()
