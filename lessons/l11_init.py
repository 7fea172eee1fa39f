# %% [markdown]
# # L11 — Weight initialization
#
# *STAT 453 Lecture 11, with decks 001 ("Network weight initialization")
# and 002 ("Initialization": all-zero, Xavier, He).*
#
# **All-zero initialization** (deck 002): every neuron of a layer computes
# the same output, receives the same gradient and undergoes the same update,
# so there is never a difference between them. With
# $y_l = W y_{l-1} + b$ and $\partial\mathcal L/\partial y_{l-1} = W^\top
# \partial\mathcal L/\partial y_l$, $W = 0$ even makes every backpropagated
# gradient zero.
#
# **Keep the variance across layers** (decks 001, 002): the mean of the
# activations should be zero and their variance the same in every layer,
# so that the backpropagated signal neither explodes nor vanishes.
# Var(W) = 1/fan_avg (Glorot: tanh, logistic), 2/fan_in (He: ReLU,
# because $E[\max(0, y)^2] = \tfrac12 \mathrm{Var}[y]$), 1/fan_in (LeCun).
# Under ReLU a 1/fan_in variance therefore *halves* the variance per layer.
#
# **A tiny initialization stalls training** (STAT 453 L11 notebooks, the
# MLP 784-75-45-10 with ReLU, SGD lr 0.1, batch 256, 50 epochs):
# N(0, 0.001) weights sat near 11% accuracy for about 10 epochs (test
# 96.80% at the end), Kaiming-uniform weights did not (test 97.63%).
#
# **How the verdicts are decided.** Each claim's effect is measured under
# `--seeds` replicate seeds (default 5): seed $i$ draws the initial weights
# of every net (and the data order of every trained net), and the 95%
# interval covers the seed-to-seed spread (`kreg.stats`). At initialization
# the per-layer standard deviations are a deterministic function of the
# seed, so the seeds are what is random: the claim is about the
# initializer, not about one draw of it. A claim *holds* when the interval
# lies beyond its margin on the side the lecture asserts, *does not hold*
# when it lies on the other side, and is *inconclusive* otherwise.
# `--quick` never decides. The zero-initialization statements are
# certainties of arithmetic, so they are exact checks, not claims.
#
# **Margins, fixed before any verdict was seen.**
#
# - `keep` = ×2: "keeps the std" means the std of the last hidden layer's
#   activations (or of the first layer's gradient) is within a factor 2 of
#   the first layer's over the 10 layers. A mismatched initializer that
#   halves the variance per layer gives ×2^-4.5 = ×0.044 over 9 steps.
# - `collapse` = ×100: "collapses / vanishes" means a fall by more than a
#   factor 100 over the depth (theory for N(0, 0.01) under ReLU at width
#   256: (0.01·sqrt(256/2))^9 ≈ 3e-9).
# - `halve` = ×1.2: "halves the variance per layer" means the per-layer
#   variance factor $(\sigma_{10}/\sigma_1)^{2/9}$ lies within 0.5/1.2 ..
#   0.5·1.2 = 0.42 .. 0.60, which excludes keeping (1) and quartering (0.25).
# - `stall` = 5 epochs: "stalls" means the tiny-init net spends at least 5
#   more epochs below 1.5× chance validation accuracy than the Kaiming net,
#   half the notebook's ~10.
#
# Rough power: at width 256 each layer's variance factor fluctuates from
# draw to draw by about sqrt(2/256) ≈ 9%, so the log std ratio over 9
# layers has a seed-to-seed sd near 0.15 and, with 5 seeds, an interval of
# about ±×1.2: far inside the ×2 and ×100 margins unless the mean itself is
# near them; the per-layer factor's interval is about ±2%, inside ×1.2.
# The stall is a count of epochs, decided as soon as its 5 values clear 5.

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--depth", type=int, default=10, help="hidden layers of the deep tanh / ReLU MLPs")
    p.add_argument("--width", type=int, default=256, help="units per hidden layer of the deep MLPs")
    p.add_argument("--probe-size", type=int, default=512, help="training digits the std is measured on")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (STAT 453: 256)")
    p.add_argument("--learning-rate", type=float, default=0.1, help="SGD learning rate (STAT 453: 0.1)")
    p.add_argument("--zero-epochs", type=int, default=10, help="epochs of the zero-initialization nets")


def _check(args):
    for name in ("depth", "width", "probe_size", "batch_size", "zero_epochs"):
        if getattr(args, name) < 1:
            raise bad_flag(name, getattr(args, name), "a positive integer")
    if args.depth < 2:
        raise bad_flag("depth", args.depth, "an integer >= 2 (a first and a last hidden layer)")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        raise bad_flag("learning_rate", args.learning_rate, "a float > 0")


LESSON = Lesson(
    "l11_init",
    title="Weight initialization: zero-init symmetry, activation/gradient std per layer, tiny init stalls",
    decks="001, 002",
    epochs=50,
    seeds=5,
    margins={"keep": math.log(2.0), "collapse": math.log(100.0), "halve": math.log(1.2), "stall": 5.0},
    reference="STAT 453 L11 notebooks, MLP 784-75-45-10 ReLU, SGD lr 0.1, batch 256: N(0, 0.001) init "
    "stuck ~11% for ~10 epochs, test 96.80%; Kaiming-uniform init test 97.63%",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from kreg import models, plots

args = run.args
data = run.load_data()
shape, k = data.info.input_shape, data.info.num_classes
batch, lr = args.batch_size, args.learning_rate
depth, width = run.pick(args.depth, min(args.depth, 4)), run.pick(args.width, min(args.width, 32))
n_probe = min(run.pick(args.probe_size, 64), len(data.x_train))
zero_epochs = run.pick(args.zero_epochs, run.epochs)
run.config(batch_size=batch, learning_rate=lr, optimizer="SGD", depth=depth, width=width, probe_size=n_probe,
           zero_epochs=zero_epochs)

# %% [markdown]
# ## 1. All-zero initialization never breaks the symmetry
#
# The STAT 453 MLP trained from $W = 0$ (biases 0 too). With ReLU the
# deck's derivation applies literally: $W = 0$ makes every backpropagated
# gradient 0, so the hidden weights never move. With a sigmoid the hidden
# units *do* move (σ(0) = 1/2 ≠ 0 feeds the next layer), but in lock-step:
# every unit of a layer keeps the same incoming weights. A Glorot net is
# the contrast. Both are arithmetic identities, checked exactly.

# %%
def hidden_weights(net):
    return [w for layer in net.layers if layer.name.startswith("hidden_") for w in layer.get_weights()]


def symmetry(net):
    """Fit from the replicate's start; measure how far hidden weights moved and how different units are."""
    def work(rep):
        rep.reset(net)
        w0 = hidden_weights(net)
        rep.fit(net, data, reset=False, epochs=zero_epochs, batch_size=batch)
        w1 = hidden_weights(net)
        spread = max(float(np.max(np.ptp(w.reshape(-1, w.shape[-1]), axis=1))) for w in w1)  # units on last axis
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(w0, w1))
        return {"unit_spread": spread, "hidden_weight_change": moved, "hidden_1": w1[0]}
    return work


def classifier(activation="relu", **kwargs):
    return models.compile_classifier(models.mlp(shape, k, activation=activation, **kwargs), learning_rate=lr)


zero = {label: run.replicates(label, work=symmetry(classifier(act, kernel_initializer=init)),
                              config={"epochs": zero_epochs})
        for label, act, init in (("zeros, ReLU", "relu", "zeros"), ("zeros, sigmoid", "sigmoid", "zeros"),
                                 ("Glorot, sigmoid", "sigmoid", "glorot_uniform"))}
zr, zs, gs = zero["zeros, ReLU"], zero["zeros, sigmoid"], zero["Glorot, sigmoid"]
run.exact("zero init + ReLU: dL/dW = 0 for every hidden layer, so the hidden weights never move",
          zr["hidden_weight_change"].max(), tolerance=0.0, evidence=f"every seed, {zero_epochs} epochs")
run.exact("zero init + sigmoid: the hidden weights move, but every unit of a layer keeps the same incoming "
          "weights (relative to how far they moved)",
          (zs["unit_spread"] / zs["hidden_weight_change"]).max(), tolerance=1e-4,
          evidence=f"hidden weights moved by up to {zs['hidden_weight_change'].max():.2e}")
run.demonstrate("Glorot + sigmoid: random weights break the symmetry",
                f"largest difference between two units' incoming weights {gs.mean('unit_spread'):.2f} "
                f"(zeros + sigmoid: {zs.mean('unit_spread'):.1e}; mean of {run.n_seeds} seeds)")

# %% [markdown]
# ## 2. Activation and gradient std per layer at initialization
#
# A 10-layer MLP (width 256, biases 0) under N(0, 0.01), Glorot, He and
# LeCun (normal) kernels, forward and backward on 512 training digits: the
# std of each hidden layer's activations $h_l$ and of the backpropagated
# gradient $\partial\mathcal L/\partial z_l$ ($z_l$ the pre-activation).
# Keras has no backend-agnostic gradient with respect to an intermediate
# tensor, so `_grad` uses the backend's own autodiff; the forward pass is
# the model's own layers.

# %%
def _grad(fn, tensors):
    """Gradients of the scalar ``fn(tensors)`` w.r.t. each tensor, with the backend's own autodiff."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        grads = jax.grad(fn)([keras.ops.convert_to_tensor(t) for t in tensors])
    elif backend == "tensorflow":
        import tensorflow as tf

        ts = [tf.convert_to_tensor(t) for t in tensors]
        with tf.GradientTape() as tape:
            tape.watch(ts)
            out = fn(ts)
        grads = tape.gradient(out, ts)
    else:
        import torch

        ts = [keras.ops.convert_to_tensor(t).detach().requires_grad_(True) for t in tensors]
        grads = torch.autograd.grad(fn(ts), ts)
    return [keras.ops.convert_to_numpy(g) for g in grads]


xp, yp = data.x_train[:n_probe], data.y_train[:n_probe]


def layer_stats(net):
    """Std of h_l and of dL/dz_l per hidden layer: a zero e_l added to z_l has dL/de_l = dL/dz_l."""
    def work(rep):
        rep.reset(net)
        acts = []

        def loss(eps):
            h, i = keras.ops.convert_to_tensor(xp), 0
            acts.clear()
            for layer in net.layers:
                h = layer(h)
                if layer.name.startswith("hidden_"):
                    h, i = h + eps[i], i + 1
                elif isinstance(layer, keras.layers.Activation):
                    acts.append(h)
            return keras.ops.sum(keras.losses.sparse_categorical_crossentropy(yp, h, from_logits=True))

        grads = _grad(loss, [np.zeros((n_probe, width), "float32") for _ in range(depth)])
        loss([keras.ops.zeros((n_probe, width)) for _ in range(depth)])  # eager pass: jax.grad left tracers
        return {"act_std": [float(np.std(keras.ops.convert_to_numpy(a))) for a in acts],
                "grad_std": [float(np.std(g)) for g in grads]}
    return work


inits = {"N(0, 0.01)": lambda: keras.initializers.RandomNormal(stddev=0.01),
         "Glorot": keras.initializers.GlorotNormal, "He": keras.initializers.HeNormal,
         "LeCun": keras.initializers.LecunNormal}
std = {(act, name): run.replicates(f"{depth}-layer {act}, {name}", work=layer_stats(models.mlp(
           shape, k, hidden=(width,) * depth, activation=act, kernel_initializer=init(), name=f"deep_{act}",
           activation_layers=True)),  # layer_stats adds e_l to z_l, the hidden_l layer's pre-activation output
           config={"probe": n_probe})
       for act in ("tanh", "relu") for name, init in inits.items()}


def log_ratio(act, name, key="act_std"):
    """Per seed: log(std at the last hidden layer / first) for activations, log(first / last) for gradients."""
    s = std[act, name][key]
    return np.log(s[:, -1] / s[:, 0]) if key == "act_std" else np.log(s[:, 0] / s[:, -1])


def claim_ratio(text, act, name, direction, margin, key="act_std"):
    samples = {(name, act, key): log_ratio(act, name, key)}
    est = run.estimate(lambda m: m[name, act, key], samples)
    run.claim(text, est, direction=direction, margin=margin, unit="ratio",
              effect_name=f"std {'last / first' if key == 'act_std' else 'first / last'} hidden layer",
              evidence=f"geometric mean {math.exp(est.value):.2e}, seeds {math.exp(est.low):.2e}.."
              f"{math.exp(est.high):.2e}")


claim_ratio("Glorot keeps the activation std of a deep tanh net", "tanh", "Glorot", "agree", "keep")
claim_ratio("N(0, 0.01) collapses the activation std of a deep tanh net", "tanh", "N(0, 0.01)", "less", "collapse")
claim_ratio("He keeps the activation std of a deep ReLU net", "relu", "He", "agree", "keep")
claim_ratio("He keeps the backpropagated gradient std of a deep ReLU net", "relu", "He", "agree", "keep",
            key="grad_std")
claim_ratio("N(0, 0.01) makes the backpropagated gradient of a deep ReLU net vanish", "relu", "N(0, 0.01)",
            "less", "collapse", key="grad_std")
per_layer = {(name, "relu"): 2 * log_ratio("relu", name) / (depth - 1) for name in ("Glorot", "LeCun")}
halve = run.estimate(lambda m: (m["Glorot", "relu"] + m["LeCun", "relu"]) / 2 - math.log(0.5), per_layer)
run.claim("Glorot and LeCun halve the activation variance per layer of a deep ReLU net", halve,
          direction="agree", margin="halve", unit="ratio", effect_name="per-layer variance factor / 0.5",
          evidence=f"per-layer factor Glorot {np.exp(per_layer['Glorot', 'relu'].mean()):.3f}, LeCun "
          f"{np.exp(per_layer['LeCun', 'relu'].mean()):.3f}; on the square {width}x{width} layers both are "
          f"N(0, 1/{width})")

# %% [markdown]
# **Reading the outcome.** Glorot's derivation linearizes tanh around 0.
# tanh is contractive away from 0 ($\tanh(z)^2 < z^2$), so at
# Var(W)·fan = 1 the variance still decays slowly from layer to layer (the
# slow decay of Glorot & Bengio's own figure); whether 10 layers lose more
# than a factor 2 is what the first verdict says. Under ReLU the He
# derivation is exact in expectation, so only the finite width (256) and
# the first layer's uncentred pixel inputs move the ratio.

# %%
layer_idx = list(range(1, depth + 1))
for act in ("tanh", "relu"):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.9))
    for ax, key, what in ((ax1, "act_std", "activations h"), (ax2, "grad_std", "gradient dL/dz")):
        plots.line_plot(layer_idx, {name: std[act, name][key].mean(axis=0) for name in inits}, xlabel="hidden layer",
                        ylabel=f"std of {what}", logy=True, ax=ax, title=f"{what} (mean of {run.n_seeds} seeds)")
    fig.suptitle(f"{depth}-layer {act} MLP (width {width}) at initialization, {n_probe} {data.info.name} digits")
    fig.tight_layout()
    run.figure(f"std_per_layer_{act}", fig)

# %% [markdown]
# ## 3. A tiny initialization stalls early training
#
# The notebooks' MLP from N(0, 0.001) and from Kaiming-uniform (He uniform)
# kernels, zero biases, SGD lr 0.1, batch 256, 50 epochs. With tiny
# weights every layer's output and every backpropagated gradient is scaled
# by about 0.001·sqrt(fan), so the net first predicts one class (10% on the
# balanced offline digits, 11% on MNIST, whose commonest digit is 1) and
# escapes only once the weights have grown.

# %%
def scores(net):
    return {f"{split}_correct": run.per_example(net, *getattr(data, split))["correct"] for split in ("test",)}


tiny, kaiming = "N(0, 0.001)", "Kaiming uniform"
train = {tiny: run.replicates(tiny, classifier(kernel_initializer=keras.initializers.RandomNormal(stddev=0.001)),
                              data, measure=scores, batch_size=batch),
         kaiming: run.replicates(kaiming, classifier(kernel_initializer=keras.initializers.HeUniform()), data,
                                 measure=scores, batch_size=batch)}
chance = 1.5 / k  # "stuck": validation accuracy below 1.5x chance
val = {arm: reps.history("val_accuracy") for arm, reps in train.items()}
stuck = {(arm, "epochs"): np.sum(val[arm] < chance, axis=1).astype(float) for arm in train}
updates_per_epoch = math.ceil(len(data.x_train) / batch)
run.claim("a tiny initialization N(0, 0.001) stalls early training; Kaiming does not",
          run.estimate(lambda m: m[tiny, "epochs"] - m[kaiming, "epochs"], stuck), direction="greater",
          margin="stall", compare=(stuck[kaiming, "epochs"].mean(), stuck[tiny, "epochs"].mean()),
          effect_name="more epochs below 1.5x chance",
          evidence=f"STAT 453 on MNIST: ~10 epochs near 11%, about 2,100 updates; here an epoch is "
          f"{updates_per_epoch} updates")

full_mnist = data.info.name == "mnist" and not run.quick and run.epochs == 50 and batch == 256
updates = run.epochs * updates_per_epoch
why_not = f"{data.info.name} with {len(data.x_train):,} training images, not the notebook's 54,000 MNIST images"
early = min(10, run.epochs)
run.reference(f"validation accuracy of {tiny} over its first {early} epochs (the stall)",
              run.estimate(lambda m: m["v"], {"v": np.nanmean(val[tiny][:, :early], axis=1)}), 0.11,
              applies=full_mnist, why_not=why_not + "; the offline digits are balanced: one class is 10%",
              tolerance=0.01)
for arm, ref in ((tiny, 0.9680), (kaiming, 0.9763)):
    run.reference(f"test accuracy, {arm}", run.estimate(lambda m, a=arm: m[a, "test"],
                                                        {(arm, "test"): train[arm]["test_correct"]}),
                  ref, applies=full_mnist, why_not=why_not, updates=updates,
                  reference_updates=50 * math.ceil(54000 / 256))

# %% [markdown]
# **Reading the outcome.** The stall is counted in epochs, but what ends it
# is the number of SGD updates the tiny weights need to grow: the
# notebook's ~10 epochs are about 2,100 updates on 54,000 digits, while an
# offline epoch over 3,600 digits is 15 updates, so offline the stall can
# last for most (or all) of the 50 epochs and the tiny-init net may end far
# below the Kaiming net. The references are `not comparable` offline for
# that reason; run on full MNIST (`$KREG_DATA_DIR`, or online) for the
# notebook's own setting.

# %%
mean_history = {arm: {key: np.nanmean(reps.history(key), axis=0) for key in ("loss", "val_loss", "accuracy",
                                                                             "val_accuracy")}
                for arm, reps in train.items()}
run.figure("tiny_vs_kaiming", plots.learning_curves(
    mean_history, title=f"STAT 453 MLP on {data.info.name}: N(0, 0.001) vs Kaiming-uniform init (SGD lr {lr:g}, "
    f"batch {batch}, mean of {run.n_seeds} seeds)"))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, label in zip(axes, ("zeros, sigmoid", "Glorot, sigmoid")):
    im = ax.imshow(zero[label]["hidden_1"][0].T, aspect="auto", cmap="coolwarm")
    ax.set(xlabel="input pixel", ylabel="hidden unit")
    ax.set_title(f"{label} init: hidden_1 weights after {zero_epochs} epochs (seed 1)", fontsize=10)
    fig.colorbar(im, ax=ax)
fig.tight_layout()
run.figure("zero_init_weights", fig)
results = run.finish()
