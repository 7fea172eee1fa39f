# %% [markdown]
# # L11 — Batch normalization
#
# *STAT 453 Lecture 11, with decks 001 ("Batch Normalization"), 002
# (Algorithms 1 and 2 of Ioffe & Szegedy; "BN allows higher learning
# rates"; "the BN transformation is scalar invariant") and 003 ("benefit of
# batch norm disappears at small learning rates", Bjorck et al. 2018).*
#
# **Algorithm 1** (training): over a mini-batch $\mathcal B = \{x_1..x_m\}$,
# $\mu_\mathcal B = \frac1m\sum_i x_i$,
# $\sigma^2_\mathcal B = \frac1m\sum_i (x_i-\mu_\mathcal B)^2$,
# $\hat x_i = (x_i-\mu_\mathcal B)/\sqrt{\sigma^2_\mathcal B+\epsilon}$,
# $y_i = \gamma\hat x_i + \beta$.
# **Algorithm 2** (inference): $E[x] \leftarrow E_\mathcal B[\mu_\mathcal B]$,
# $\mathrm{Var}[x] \leftarrow \frac{m}{m-1}E_\mathcal B[\sigma^2_\mathcal B]$.
# `kreg.layers.BatchNorm` implements both (its running variance accumulates
# the unbiased $\frac{m}{m-1}\sigma^2_\mathcal B$, as PyTorch's does;
# Keras's the biased one), and `kreg.layers.estimate_batchnorm_statistics`
# is Algorithm 2's step 10.
#
# **Scale invariance** (deck 002): $\mathrm{BN}(W\mathbf u) =
# \mathrm{BN}((aW)\mathbf u)$, so backpropagation through a BN layer does
# not depend on the scale of its weights, and BN "allows higher learning
# rates"; deck 003 adds that "the benefit of batch norm disappears at small
# learning rates".
#
# This lesson reproduces the STAT 453 batchnorm notebook — the MLP
# 784-75-45-10 (ReLU) with BN between each hidden `Linear(bias=False)` and
# its ReLU, PyTorch's default initialization, SGD, batch 256, 50 epochs,
# BN momentum 0.1 and ε = 1e-5 (PyTorch's; Keras's momentum is 1 − 0.1) —
# at learning rates 0.01, 0.1 and 1.0, with and without BN.
#
# **How the verdicts are decided.** Every arm is trained under `--seeds`
# replicate seeds (default 5); seed $i$ of every arm starts from the same
# initial weights and sees the same data order. The effects are paired
# differences of test accuracy, with a 95% interval covering the seeds and
# the sampling of the 1,000 test digits (`kreg.stats`). A claim *holds* when
# the interval lies beyond its margin on the side the lecture asserts,
# *does not hold* when it lies on the other side, and is *inconclusive*
# otherwise. `--quick` never decides. The algorithmic statements are exact
# identities, checked against a printed float tolerance.
#
# **Margin, fixed before any verdict was seen.** `benefit` = 2 pp: a
# "benefit" of BN is a test-accuracy gain of at least 2 points (20 of the
# 1,000 test digits). "BN allows higher learning rates" holds when, at the
# largest rate, BN's gain is above 2 pp; "the benefit disappears at small
# learning rates" holds when, at the smallest rate, the difference lies
# within ±2 pp (an equivalence test).
#
# Rough power: two nets trained on the same digits disagree on a few
# percent of the test digits, so the examples alone give a paired standard
# error near 0.5 pp, and the seeds about as much again; with 5 seeds the
# interval's half-width is about 1-1.5 pp. An equivalence within ±2 pp can
# therefore be shown only if the true difference is within about ±0.5 pp;
# a gain of 3.5 pp or more at the large rate can be told apart from 2 pp.

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--learning-rates", type=float, nargs="+", default=(0.01, 0.1, 1.0),
                   help="SGD learning rates compared with and without BN")
    p.add_argument("--scales", type=float, nargs="+", default=(0.1, 0.5, 2.0, 10.0, 100.0),
                   help="factors a multiplying the first hidden kernel in the scale-invariance check")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (STAT 453: 256)")


def _check(args):
    for lr in args.learning_rates:
        if not (math.isfinite(lr) and lr > 0):
            raise bad_flag("learning_rates", list(args.learning_rates), "floats > 0")
    if len(set(args.learning_rates)) < 2:
        raise bad_flag("learning_rates", list(args.learning_rates), "at least two different floats > 0")
    for a in args.scales:
        if not (math.isfinite(a) and a > 0):
            raise bad_flag("scales", list(args.scales), "floats > 0")
    if args.batch_size < 2:
        raise bad_flag("batch_size", args.batch_size, "an integer >= 2 (batch statistics need two examples)")


LESSON = Lesson(
    "l11_batchnorm",
    title="Batch normalization: Alg. 1 and 2, higher learning rates, scale invariance",
    decks="001, 002, 003",
    epochs=50,
    seeds=5,
    margins={"benefit": 0.02},
    reference="STAT 453 L11 batchnorm notebook: MLP 784-75-45-10, BN after each hidden Linear (bias=False), "
    "SGD lr 0.1, batch 256, 50 epochs: test 97.77%; with N(0, 0.001) init + BN: 97.82%",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np

from kreg import layers, models, plots

# estimate_batchnorm_statistics calls the model on one array although `model.inputs` is a list
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
MOMENTUM, EPSILON = 0.9, 1e-5  # torch.nn.BatchNorm1d's momentum 0.1 and eps, in Keras's convention
batch, rates, scales = run.args.batch_size, sorted(set(run.args.learning_rates)), sorted(set(run.args.scales))
data = run.load_data()
shape, k = data.info.input_shape, data.info.num_classes
run.config(batch_size=batch, learning_rates=rates, optimizer="SGD", momentum=MOMENTUM, epsilon=EPSILON,
           scales=scales, init="torch")


def bn(epsilon=EPSILON):
    return layers.BatchNorm(momentum=MOMENTUM, epsilon=epsilon)


# %% [markdown]
# ## 1. Algorithm 1 and Algorithm 2
#
# The same batch through `kreg.layers.BatchNorm` and
# `keras.layers.BatchNormalization` (training mode, one step of the running
# averages), for a dense (64, 45) and a convolutional (8, 5, 5, 16) input,
# where $m$ = 64 and 8·5·5 = 200 values per channel.

# %%
rng = np.random.default_rng(run.seed)
out_diff, var_diff = 0.0, 0.0
for x in (rng.normal(2.0, 3.0, (64, 45)), rng.normal(-1.0, 0.5, (8, 5, 5, 16))):
    x = x.astype("float32")
    ours, ref = bn(), keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON)
    y_ours, y_ref = (keras.ops.convert_to_numpy(layer(x, training=True)) for layer in (ours, ref))
    m = x.size // x.shape[-1]
    # after one step: moving_variance = 0.9 * 1 + 0.1 * v  (v unbiased for kreg, biased for Keras)
    v_ours, v_ref = ((keras.ops.convert_to_numpy(layer.moving_variance) - MOMENTUM) / (1 - MOMENTUM)
                     for layer in (ours, ref))
    out_diff = max(out_diff, float(np.max(np.abs(y_ours - y_ref))))
    var_diff = max(var_diff, float(np.max(np.abs(v_ours - m / (m - 1) * v_ref) / v_ours)))
run.exact("kreg.layers.BatchNorm's training output is Algorithm 1 (keras.layers.BatchNormalization's)",
          out_diff, tolerance=1e-4, evidence="dense (64, 45) and conv (8, 5, 5, 16) batches")
run.exact("kreg.layers.BatchNorm's running variance accumulates Algorithm 2's unbiased m/(m-1) sigma_B^2",
          var_diff, tolerance=1e-4, evidence="relative to Keras's biased sigma_B^2 times m/(m-1)")

# %% [markdown]
# ## 2. BN and the learning rate
#
# Each arm is one compiled net, reset for every seed. A net whose loss
# overflows predicts nothing: its non-finite test logits count as wrong.

# %%
def mlp(lr, norm, init="torch", **kwargs):
    net = models.mlp(shape, k, batchnorm=bn if norm else False, init=init, **kwargs)
    return models.compile_classifier(net, learning_rate=lr)


def scores(net):
    pe = run.per_example(net, *data.test)
    return {"test_correct": pe["correct"] * np.isfinite(pe["loss"])}


def label(norm, lr):
    return f"{'BN' if norm else 'no BN'}, lr {lr:g}"


mid = min(rates, key=lambda r: abs(math.log(r / 0.1)))  # the notebook's 0.1, or the rate nearest it
arms = {label(norm, lr): run.replicates(label(norm, lr), mlp(lr, norm), data, measure=scores, batch_size=batch,
                                        keep_weights=lr == mid)
        for lr in rates for norm in (False, True)}
tiny = f"BN, N(0, 0.001) init, lr {mid:g}"
arms[tiny] = run.replicates(tiny, mlp(mid, True, init="keras",
                                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.001)),
                            data, measure=scores, batch_size=batch)
acc = {(name, "test"): reps["test_correct"] for name, reps in arms.items()}


def gain(lr):
    return run.estimate(lambda s: s[label(True, lr), "test"] - s[label(False, lr), "test"],
                        {key: acc[key] for key in acc if key[0] in (label(True, lr), label(False, lr))})


def diverged(name):
    return sum(not np.all(np.isfinite(h.get("loss", [np.nan]))) for h in arms[name].histories)


hi, lo = rates[-1], rates[0]
compare = {lr: (acc[label(False, lr), "test"].mean(), acc[label(True, lr), "test"].mean()) for lr in rates}
run.claim("BN allows higher learning rates: at the largest rate BN trains where the plain net diverges or "
          "stalls", gain(hi), direction="greater", margin="benefit", unit="pp", compare=compare[hi],
          effect_name="BN - no BN", evidence=f"lr {hi:g}; plain runs with a non-finite loss: "
          f"{diverged(label(False, hi))} of {run.n_seeds}")
run.claim("the benefit of BN disappears at small learning rates", gain(lo), direction="agree", margin="benefit",
          unit="pp", compare=compare[lo], effect_name="BN - no BN", evidence=f"lr {lo:g}")
run.demonstrate("test accuracy without -> with BN at every rate", "; ".join(
    f"lr {lr:g}: {compare[lr][0]:.2%} -> {compare[lr][1]:.2%}" for lr in rates))

full_mnist = data.info.name == "mnist" and not run.quick and run.epochs == 50 and batch == 256 and mid == 0.1
updates = run.epochs * math.ceil(len(data.x_train) / batch)
for name, ref in ((label(True, mid), 0.9777), (tiny, 0.9782)):
    run.reference(f"test accuracy, {name}", run.estimate(lambda s, a=name: s[a, "test"], {(name, "test"):
                  acc[name, "test"]}), ref, applies=full_mnist, updates=updates,
                  reference_updates=50 * math.ceil(54000 / 256),
                  why_not=f"{data.info.name} with {len(data.x_train):,} training images, not the notebook's "
                  "54,000 MNIST images")

# %% [markdown]
# **Reading the outcome.** Bjorck et al. compare nets trained to
# convergence. Offline the nets see 3,600 digits for 50 epochs, 750 SGD
# updates: at lr 0.01 the plain net may still be climbing when training
# stops, while BN, which rescales every layer's pre-activations, climbs
# faster. A gain at the small rate then says "BN trains faster here", not
# that its benefit persists at convergence; the verdict is about these 750
# updates.

# %% [markdown]
# ## 3. Algorithm 2 and BN(Wu) = BN(aWu) on the trained net
#
# Seed 1's trained nets at lr 0.1. Algorithm 2 replaces the running averages by
# the population statistics of the layer's input over the training batches.
# Then the first hidden kernel is multiplied by $a$. The identity holds
# for ε = 0; with ε it reads $\mathrm{BN}_\epsilon(W\mathbf u) =
# \mathrm{BN}_{a^2\epsilon}(aW\mathbf u)$, which is what is checked exactly
# (training mode, and inference after Algorithm 2 on the scaled net). What
# the layer's own fixed ε = 1e-5 does at each $a$, and what the scale does
# to the plain net, is shown beside it.

# %%
bn_net = models.mlp(shape, k, batchnorm=bn, init="torch")
plain_net = models.mlp(shape, k, init="torch")
arms[label(True, mid)].load_weights(bn_net, 0)
arms[label(False, mid)].load_weights(plain_net, 0)
n_pop = (len(data.x_train) // batch) * batch or len(data.x_train)
first_bn = next(layer for layer in bn_net.layers if isinstance(layer, layers.BatchNorm))
acc_running = float(np.mean(scores(bn_net)["test_correct"]))
layers.estimate_batchnorm_statistics(bn_net, data.x_train, batch_size=batch)
acc_pop = float(np.mean(scores(bn_net)["test_correct"]))
feats = keras.ops.convert_to_numpy(bn_net.get_layer("hidden_1")(keras.ops.reshape(data.x_train[:n_pop], (n_pop, -1))))
data_mean = feats.mean(axis=0)
run.exact("Algorithm 2 sets E[x] to the mean of the layer's input over the training mini-batches",
          np.max(np.abs(keras.ops.convert_to_numpy(first_bn.moving_mean) - data_mean)) / np.max(np.abs(data_mean)),
          tolerance=1e-4, evidence="first BN layer, relative to its largest mean")
run.demonstrate("test accuracy with the running averages vs Algorithm 2's population statistics",
                f"{acc_running:.2%} vs {acc_pop:.2%} (seed 1, lr {mid:g})")

xs = data.x_test[: run.pick(256, 64)]


def logits(net, training):
    return keras.ops.convert_to_numpy(net(xs, training=training)).astype("float64")


def scaled(net, a, norm, first_eps=EPSILON):
    eps = iter([first_eps])
    copy = models.mlp(shape, k, batchnorm=(lambda: bn(next(eps, EPSILON))) if norm else False, init="torch")
    copy.set_weights(net.get_weights())
    copy.get_layer("hidden_1").kernel.assign(copy.get_layer("hidden_1").kernel * a)
    if norm:
        layers.estimate_batchnorm_statistics(copy, data.x_train, batch_size=batch)
    return copy


def rel_change(out, base):
    return float(np.max(np.abs(out - base)) / np.max(np.abs(base)))


base = {mode: logits(bn_net, mode) for mode in (True, False)}
base_plain = logits(plain_net, False)
change = {"BN, ε scaled by a² (identity)": [], "BN, fixed ε = 1e-5": [], "no BN": []}
for a in scales:
    exact_copy, fixed_copy = scaled(bn_net, a, True, EPSILON * a * a), scaled(bn_net, a, True)
    change["BN, ε scaled by a² (identity)"].append(max(rel_change(logits(exact_copy, m), base[m]) for m in base))
    change["BN, fixed ε = 1e-5"].append(max(rel_change(logits(fixed_copy, m), base[m]) for m in base))
    change["no BN"].append(rel_change(logits(scaled(plain_net, a, False), False), base_plain))
run.exact("BN is scale invariant: BN(Wu) = BN((aW)u) (with eps: BN_eps(Wu) = BN_{a^2 eps}((aW)u))",
          max(change["BN, ε scaled by a² (identity)"]), tolerance=1e-4,
          evidence=f"relative change of the logits for a in {scales}, training and inference mode")
run.demonstrate("the layer's fixed eps and the plain net", "relative change of the logits per a in "
                f"{scales}: BN with eps = {EPSILON:g} " + ", ".join(f"{c:.1e}" for c in change["BN, fixed ε = 1e-5"])
                + "; no BN " + ", ".join(f"{c:.2f}" for c in change["no BN"]))

# %%
fig, axes = plt.subplots(1, len(rates) + 1, figsize=(4.2 * (len(rates) + 1), 3.7))
for ax, lr in zip(axes, rates):
    ys = {f"{name.split(',')[0]} (val)": np.nanmean(arms[name].history("val_accuracy"), axis=0) * 100
          for name in (label(False, lr), label(True, lr))}
    plots.line_plot(np.arange(1, len(next(iter(ys.values()))) + 1), ys, xlabel="epoch", markers=False, ax=ax,
                    ylabel="validation accuracy (%)", title=f"SGD lr {lr:g} (mean of {run.n_seeds} seeds)")
    ax.set_ylim(0, 100)
plots.line_plot(rates, {"no BN": [compare[lr][0] * 100 for lr in rates], "BN": [compare[lr][1] * 100 for lr in rates]},
                xlabel="learning rate", ylabel="test accuracy (%) (diverged = 0)", logx=True, ax=axes[-1],
                title=f"after {run.epochs} epochs")
fig.suptitle(f"STAT 453 MLP on {data.info.name}, with and without BatchNorm (batch {batch})")
fig.tight_layout()
run.figure("learning_rates", fig)
run.figure("scale_invariance", plots.line_plot(
    scales, {name: np.maximum(v, 1e-9) for name, v in change.items()}, xlabel="scale a of the first hidden kernel",
    ylabel="max |change of logits| / max |logit|", logx=True, logy=True,
    title="BN(Wu) = BN(aWu); exact 0 drawn at 1e-9"))
results = run.finish()
