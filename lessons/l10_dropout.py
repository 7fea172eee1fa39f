# %% [markdown]
# # L10 §5 — Dropout
#
# *STAT 453 Lecture 10 (deck 000 §5), with decks 001, 002, 003 and 004.*
#
# **Bernoulli sampling during training** (deck 000): with drop probability
# $p$, draw $v_i \sim U[0, 1]$, set $v_i := 0$ if $v_i < p$ else $1$, and
# replace the activations $\mathbf a := \mathbf a \odot \mathbf v$.
# *Vanilla* dropout then scales at inference, $\mathbf a := \mathbf a \odot (1-p)$;
# *inverted* dropout (PyTorch, Keras) divides by $1-p$ during training and
# is the identity at inference.
#
# This lesson reproduces the STAT 453 dropout notebook — the MLP
# 784-75-45-10 (ReLU), SGD with learning rate 0.1, batch 256, 50 epochs, 10%
# of the training set held out, PyTorch's `nn.Linear` initialization — and
# verdicts the lecture's statements:
#
# 1. dropout narrows the gap between training and validation accuracy;
# 2. vanilla and inverted dropout compute the same function with rescaled
#    weights (an exact identity), **but under SGD they do not train alike**:
#    the layers after a vanilla dropout layer take steps scaled by $(1-p)^2$;
#    scaling those layers' learning rate by $1/(1-p)^2$ removes the difference;
# 3. weight scaling is *exactly* the normalized geometric mean of the
#    $2^h$ thinned networks for a linear model, and only an approximation for
#    an MLP.
#
# **How the verdicts are decided.** Every arm is trained under `--seeds`
# replicate seeds (default 5); seed $i$ of every arm starts from the same
# initial weights and sees the same data order. Each claim's effect comes
# with a 95% interval that covers both the seed-to-seed spread and the
# sampling error of the fixed validation/test examples (`kreg.stats`). A
# claim *holds* when the interval lies beyond its margin on the side the
# lecture asserts, *does not hold* when it lies on the other side, and is
# *inconclusive* otherwise. `--quick` never decides.
#
# **Margins and seeds, fixed before any verdict was seen.**
#
# - `gap` = 0.5 pp: "narrows" means a visible reduction, a quarter of the
#   notebook's own reduction (1.80 → -0.05 pp, i.e. 1.85 pp).
# - `slower` = ×1.10: "trains more slowly" means at least 10% higher
#   training cross-entropy after the same 50 epochs.
# - `same` = ×1.10: "removes the difference" means the vanilla net with the
#   rescaled learning rate ends within ±10% of the inverted net's training
#   cross-entropy.
# - `floor` = 0.25: Monte-Carlo averaging converges to weight scaling like
#   $M^{-1/2}$ (a log-log slope of -0.5). "Levels off at a floor" means the
#   slope between 256 and 1,024 masks is flatter than -0.25.
#
# Rough power: on the offline data (real MNIST, 3,600 training and 400
# validation digits) one validation digit is 0.25 pp and the paired
# validation accuracies of two nets differ on a few percent of the digits,
# so the examples alone give a standard error near 1 pp on the gap
# difference; with 5 seeds the interval's half-width is about 2-3 pp. A
# gap reduction of 3 pp or more can be told apart from 0.5 pp; a smaller
# one will come out inconclusive.

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--rate", type=float, default=0.5, help="drop probability p (STAT 453: 0.5)")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (STAT 453: 256)")
    p.add_argument("--big", type=int, nargs=2, default=(512, 256), metavar=("H1", "H2"),
                   help="hidden widths of the 'bigger net' of the practical tips")
    p.add_argument("--mc-samples", type=int, default=1024, help="largest number of Monte-Carlo masks")


def _check(args):
    if not 0.0 < args.rate < 1.0:
        raise bad_flag("rate", args.rate, "a float in (0, 1)")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")
    if args.mc_samples < 16:
        raise bad_flag("mc_samples", args.mc_samples, "an integer >= 16")
    if min(args.big) < 1:
        raise bad_flag("big", args.big, "two positive integers")


LESSON = Lesson(
    "l10_dropout",
    title="Dropout: the gap, vanilla vs inverted, weight scaling vs the ensemble of masks",
    decks="000 §5, 001, 002, 003, 004",
    epochs=50,
    seeds=5,
    margins={"gap": 0.005, "slower": math.log(1.1), "same": math.log(1.1), "floor": 0.25},
    reference="STAT 453 L10 dropout notebook: no dropout test 97.77% (train 99.73, val 97.93); "
    "dropout 0.5 test 96.60% (train 97.48, val 97.53)",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import numpy as np

from kreg import layers, models, plots, stats

p, batch = run.args.rate, run.args.batch_size
data = run.load_data()
shape, k = data.info.input_shape, data.info.num_classes
run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", rate=p, init="torch", big=list(run.args.big))


def mlp(hidden=models.STAT453_HIDDEN, rate=0.0, mode="inverted", optimizer="sgd"):
    """The notebook's MLP with kreg's Dropout (so Monte-Carlo masks can be switched on)."""
    drop = (lambda r: layers.Dropout(r, mode=mode)) if rate else None
    net = models.mlp(shape, k, hidden=hidden, dropout=rate, dropout_layer=drop, init="torch")
    return models.compile_classifier(net, optimizer, learning_rate=0.1)


def scores(model):
    """Per-example correctness and cross-entropy on each split, in inference mode (``model.eval()``)."""
    out = {}
    for split in ("train", "val", "test"):
        for name, values in run.per_example(model, *getattr(data, split)).items():
            out[f"{split}_{name}"] = values
    return out


# %% [markdown]
# ## 1. Dropout narrows the train-validation gap
#
# The notebook's two nets, and deck 000's practical tip: "increase the
# capacity to make it overfit, and then use dropout to be able to use a
# larger capacity model". The tip is advice rather than a claim, so its
# numbers are shown without a verdict.

# %%
base, drop = "no dropout", f"dropout {p:g}"
big, bigd = f"bigger {run.args.big[0]}-{run.args.big[1]}", f"bigger + dropout {p:g}"
arms = {
    base: run.replicates(base, mlp(), data, measure=scores, batch_size=batch),
    drop: run.replicates(drop, mlp(rate=p), data, measure=scores, batch_size=batch, keep_weights=True),
    big: run.replicates(big, mlp(hidden=tuple(run.args.big)), data, measure=scores, batch_size=batch),
    bigd: run.replicates(bigd, mlp(hidden=tuple(run.args.big), rate=p), data, measure=scores, batch_size=batch),
}


def split_samples(metric, *names):
    return {(arm, split): arms[arm][f"{split}_{metric}"] for arm in names for split in ("train", "val", "test")}


acc = split_samples("correct", base, drop, big, bigd)
gap = {arm: acc[arm, "train"].mean() - acc[arm, "val"].mean() for arm in arms}
narrows = run.estimate(lambda m: (m[base, "train"] - m[base, "val"]) - (m[drop, "train"] - m[drop, "val"]),
                       split_samples("correct", base, drop))
run.claim("dropout narrows the train-validation accuracy gap", narrows, direction="greater", margin="gap",
          unit="pp", compare=(gap[base], gap[drop]), effect_name="narrower by")

loss = split_samples("loss", base, big, bigd)
run.demonstrate(
    "bigger net + dropout (deck 000 tip)",
    " / ".join(f"{arm}: gap {gap[arm]:.2%}, val-train cross-entropy "
               f"{loss[arm, 'val'].mean() - loss[arm, 'train'].mean():.3f}, test {acc[arm, 'test'].mean():.2%}"
               for arm in (base, big, bigd)))

updates = run.epochs * math.ceil(len(data.x_train) / batch)
full_mnist = data.info.name == "mnist" and not run.quick
for arm, ref in ((base, 0.9777), (drop, 0.9660)):
    est = run.estimate(lambda m, a=arm: m[a, "test"], {(arm, "test"): acc[arm, "test"]})
    run.reference(f"test accuracy, {arm}", est, ref, applies=full_mnist and run.epochs == 50 and batch == 256,
                  why_not=f"{data.info.name} with {len(data.x_train):,} training images, not the notebook's "
                  "54,000 MNIST images", updates=updates, reference_updates=50 * math.ceil(54000 / 256))

# %% [markdown]
# **Reading the outcome.** The notebook's nets see 54,000 images for 50
# epochs: 10,550 SGD updates. Offline, the same batch size and epochs over
# 3,600 images give 750 updates (printed beside the reference above), so
# neither net is near its final accuracy and the unregularized net has had
# less time to overfit: the gap to be narrowed is young. With a 400-digit
# validation set each digit moves the gap by 0.25 pp. If the interval
# straddles the 0.5 pp margin the verdict is *inconclusive*: dropout may
# narrow the gap here, but these data cannot say that it does by as much as
# the lecture's sentence means. Run on full MNIST (`$KREG_DATA_DIR`, or
# online) for the lecture's own setting.

# %% [markdown]
# ## 2. Vanilla and inverted dropout: same function, different training
#
# A vanilla net with weights $W$ equals an inverted net with weights
# $(1-p)W$ in both phases — an identity, checked exactly below. Training
# is another matter. For a layer that reads a dropped-out activation,
# $W_\text{van} = W_\text{inv}/(1-p)$, so $\partial L/\partial W_\text{van} =
# (1-p)\,\partial L/\partial W_\text{inv}$, and one SGD step of size $\eta$
# on $W_\text{van}$ moves $W_\text{inv} = (1-p)W_\text{van}$ by
# $\eta(1-p)^2\,\partial L/\partial W_\text{inv}$: at $p = 0.5$ those layers
# learn 4x more slowly. Multiplying their learning rate by $1/(1-p)^2$
# (biases excepted: their input is never dropped) should remove the
# difference.

# %%
class LayerwiseSGD(keras.optimizers.SGD):
    """Plain SGD whose step is multiplied by ``multiplier`` for the listed variables.

    Variables are matched by identity; under TensorFlow the optimizer hands
    ``update_step`` the backend variable (``.value``), so both are listed.
    """

    def __init__(self, variables, multiplier, **kwargs):
        super().__init__(**kwargs)
        self.scaled = {id(v) for v in variables} | {id(v.value) for v in variables}
        self.multiplier = multiplier

    def update_step(self, gradient, variable, learning_rate):
        scale = self.multiplier if id(variable) in self.scaled else 1.0
        super().update_step(gradient, variable, learning_rate * scale)


def vanilla_identity(model):
    """Scores, plus max |logit difference| between vanilla(W) and inverted((1-p)W) on the test set."""
    inv = models.mlp(shape, k, dropout=p, dropout_layer=lambda r: layers.Dropout(r))
    inv.set_weights(model.get_weights())
    for dense in [lay for lay in inv.layers if isinstance(lay, keras.layers.Dense)][1:]:
        dense.kernel.assign(dense.kernel * (1.0 - p))  # every Dense after the first reads a dropped activation
    diff = np.abs(model.predict(data.x_test, verbose=0) - inv.predict(data.x_test, verbose=0)).max()
    return scores(model) | {"identity_max_abs": float(diff)}


van, van_lr = f"vanilla dropout {p:g}", f"vanilla dropout {p:g}, lr x1/(1-p)^2 after dropout"
arms[van] = run.replicates(van, mlp(rate=p, mode="vanilla"), data, measure=vanilla_identity, batch_size=batch)
scaled = mlp(rate=p, mode="vanilla")
after_dropout = [lay.kernel for lay in scaled.layers if isinstance(lay, keras.layers.Dense)][1:]
models.compile_classifier(scaled, LayerwiseSGD(after_dropout, 1 / (1 - p) ** 2, learning_rate=0.1))
arms[van_lr] = run.replicates(van_lr, scaled, data, measure=scores, batch_size=batch)

run.exact("vanilla dropout with weights W computes inverted dropout with weights (1-p)W",
          arms[van]["identity_max_abs"].max(), tolerance=1e-4, evidence="test-set logits, every seed")
train_loss = {(arm, "train"): arms[arm]["train_loss"] for arm in (drop, van, van_lr)}
ce = {arm: train_loss[arm, "train"].mean() for arm in (drop, van, van_lr)}
slower = run.estimate(lambda m: np.log(m[van, "train"]) - np.log(m[drop, "train"]), train_loss)
run.claim("at the same learning rate, vanilla dropout trains more slowly under SGD (higher training "
          "cross-entropy after the same epochs)", slower, direction="greater", margin="slower", unit="ratio",
          compare=(ce[drop], ce[van]), effect_name="vanilla / inverted")
same = run.estimate(lambda m: np.log(m[van_lr, "train"]) - np.log(m[drop, "train"]), train_loss)
run.claim("scaling the learning rate of the layers after vanilla dropout by 1/(1-p)^2 removes the difference",
          same, direction="agree", margin="same", unit="ratio", compare=(ce[drop], ce[van_lr]),
          effect_name="rescaled vanilla / inverted")

# %% [markdown]
# **Reading the outcome.** The learning-rate fix removes the $(1-p)^2$ in the
# step size but not a second difference: seed $i$ of both nets starts from
# the same weights $W_0$, which the vanilla net reads as an inverted net
# with weights $(1-p)W_0$, half the initial scale at $p = 0.5$. If the
# rescaled vanilla net still ends above the ±10% band, that starting point
# is what remains; only initializing it at $W_0/(1-p)$ as well would make
# the two trajectories identical, which would turn the claim into the exact
# identity above.

# %% [markdown]
# ## 3. Weight scaling and the ensemble of masks
#
# Deck 000's ensemble view: averaging the $M$ thinned networks' predictions
# by their normalized geometric mean,
# $p_{\text{ens},j} \propto \big[\prod_{i=1}^{M} p_j^{(i)}\big]^{1/M}$, is
# approximated by one pass with scaled weights — "actually, it's exactly the
# geometric mean if we have a linear model". So as the number of sampled
# masks $M$ grows, the Monte-Carlo average's total-variation distance to
# weight scaling keeps shrinking like $M^{-1/2}$ for softmax regression with
# input dropout (a certainty, shown below), while for the MLP it levels off
# at a floor: the distance left between weight scaling and the true
# geometric mean.

# %%
masks = [4**j for j in range(6) if 4**j <= run.pick(run.args.mc_samples, 16)]
x_mc = data.x_test[: run.pick(500, 100)]


def mc_curve(model):
    """Total variation between the geometric mean of M masks and weight scaling, per test example."""
    ws = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x_mc, verbose=0)))
    return {f"tv_{m}": stats.total_variation(layers.mc_predict(model, x_mc, m, average="geometric",
                                                               from_logits=True), ws) for m in masks}


def linear():
    net = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), layers.Dropout(p),
                            keras.layers.Dense(k, name="logits")], name="softmax_regression_dropout")
    return models.compile_classifier(net, learning_rate=0.1)


trained = mlp(rate=p)


def mlp_curve(rep):
    """The trained dropout nets of part 1, seed by seed (masks drawn from the replicate's seed)."""
    rep.reset(trained)
    arms[drop].load_weights(trained, rep.index)
    return mc_curve(trained)


curves = {"softmax regression (linear)": run.replicates("softmax regression + input dropout", linear(), data,
                                                          measure=mc_curve, batch_size=batch),
          "MLP": run.replicates(f"{drop}: Monte-Carlo masks", work=mlp_curve, config={"masks": masks})}
tv = {name: [reps.mean(f"tv_{m}") for m in masks] for name, reps in curves.items()}
lo, hi = masks[-2], masks[-1]
slopes = {name: math.log(tv[name][-1] / tv[name][-2]) / math.log(hi / lo) for name in tv}
run.demonstrate("Monte-Carlo geometric mean vs weight scaling, softmax regression (exact in expectation)",
                f"distance {tv['softmax regression (linear)'][0]:.4f} at 1 mask -> "
                f"{tv['softmax regression (linear)'][-1]:.5f} at {hi}; slope {slopes['softmax regression (linear)']:.2f}"
                " per log M (Monte-Carlo noise alone: -0.5)")
mlp_tv = {(m, "mc"): curves["MLP"][f"tv_{m}"] for m in (lo, hi)}
floor = run.estimate(lambda s: np.log(s[hi, "mc"] / s[lo, "mc"]) / math.log(hi / lo) + 0.5, mlp_tv)
run.claim(f"for the MLP, the distance levels off: from {lo} to {hi} masks it falls more slowly than "
          "Monte-Carlo noise (M^-1/2) would", floor, direction="greater", margin="floor",
          compare=(tv["MLP"][-2], tv["MLP"][-1]), effect_name="slope + 0.5")

# %% [markdown]
# ## Figures

# %%
mean_history = {arm: {key: np.nanmean(arms[arm].history(key), axis=0) for key in ("loss", "val_loss",
                                                                                  "accuracy", "val_accuracy")}
                for arm in (base, drop)}
run.figure("learning_curves", plots.learning_curves(
    mean_history, title=f"STAT 453 MLP on {data.info.name}, mean of {run.n_seeds} seeds "
    "(train curves with masks on)"))
run.figure("capacity", plots.grouped_bar_plot(
    {arm: {s: acc[arm, s].mean() for s in ("train", "val", "test")} for arm in (base, drop, big, bigd)},
    ylabel="accuracy", percent=True, title="Bigger net + dropout (inference mode, mean of seeds)",
    ylim=(min(acc[a, s].mean() for a in (base, drop, big, bigd) for s in ("train", "val", "test")) * 100 - 2,
          100.5)))
run.figure("train_loss_vanilla", plots.learning_curves(
    {arm: {"loss": np.nanmean(arms[arm].history("loss"), axis=0)} for arm in (drop, van, van_lr)},
    metrics=("loss",), title="training loss (masks on): inverted vs vanilla dropout under SGD"))
fig = plots.line_plot(masks, tv, xlabel="Monte-Carlo masks M", ylabel="total variation to weight scaling",
                      logx=True, logy=True, title="normalized geometric mean over M masks vs weight scaling")
fig.axes[0].plot(masks, [tv["softmax regression (linear)"][0] / math.sqrt(m) for m in masks], ":", color="gray",
                 label="Monte-Carlo noise alone, ∝ M^-1/2")
fig.axes[0].legend(fontsize=8)
run.figure("mc_vs_weight_scaling", fig)
results = run.finish()
