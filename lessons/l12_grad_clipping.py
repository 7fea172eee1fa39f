# %% [markdown]
# # L12 — Gradient clipping
#
# *Deck 001 "Gradient Clipping", deck 003 "Gradient Clipping".*
#
# Deck 001: "the gradient may become too large during training, which
# negatively impacts convergence"; **gradient clipping** "clips the gradient
# during back propagation so that they do not exceed a defined threshold"
# ("a tunable hyper parameter"), with the code
# `torch.nn.utils.clip_grad_value_(model.parameters(), 100)`. Deck 003
# clips by norm, with $\tau$ the maximum gradient norm:
#
# $$\text{if } \|\mathbf g\| > \tau:\quad \mathbf g' = \frac{\tau}{\|\mathbf g\|}\,\mathbf g
#   \qquad\text{else } \mathbf g' = \mathbf g .$$
#
# Keras has both as optimizer arguments: `clipvalue=c` clips every gradient
# entry to $[-c, c]$ (deck 001's code); `clipnorm=τ` rescales each
# variable's gradient to norm $\le\tau$; `global_clipnorm=τ` rescales all
# gradients together (deck 003's algorithm, `torch.nn.utils.clip_grad_norm_`).
#
# **The experiment.** A deep, narrow ReLU MLP (8 hidden layers of 64 units)
# with a large initialization, $\mathcal N(0, \sigma^2)$ with $\sigma = 0.3$
# (He's is $\sqrt{2/64} = 0.18$), trained with plain SGD at STAT 453's
# learning rate 0.1, batch 32, for 10 epochs. Each layer multiplies the
# activations' second moment by about $64\sigma^2/2 = 2.9$, so after 8
# layers the logits are ~70x larger than the inputs: the first losses and
# gradients are huge. Arms, all from the same initial weights per seed:
# no clipping; `clipvalue=100` (deck 001's value); and `clipvalue`,
# `clipnorm`, `global_clipnorm` at $\tau = 1$.
#
# **Why τ = 1 beside the deck's 100.** A threshold is on the scale of the
# gradients of the network it protects; deck 001's 100 belongs to its own
# model and deck 003 gives no value. The lesson runs the deck's value as it
# is and verdicts it like the others; $\tau = 1$ is the conventional
# setting of `clip_grad_norm_` (`--clip` changes it), chosen before any run of
# this lesson was read and not tuned. With lr 0.1, a step clipped at 100
# can still move one weight by 10.
#
# **Claims and margins, fixed before any verdict was seen.** Per-step
# losses come from `kreg.callbacks.BatchLosses`; a run whose loss leaves the
# floats (NaN/inf) is stopped by `TerminateOnNaN` and counted as diverged.
#
# 1. *Without clipping the loss diverges*: the fraction of seeds whose loss
#    goes non-finite exceeds `diverge` = 0.5. Divergence is not certain by
#    construction: it depends on the draw of weights and the first
#    batches, so "diverges" means "in most runs".
# 2. *Clipping keeps the loss finite **and the net learns***, one claim per
#    clipped arm: test accuracy minus chance (10%) exceeds `learns` = 0.5,
#    i.e. above 60%. A diverged run predicts nothing and is scored as a
#    uniform guess (chance). 60% is six times chance and well below what an
#    MLP reaches on these digits when it trains normally, so a net stuck on
#    a plateau near chance, or one that diverged in a later epoch, fails it.
#
# Rough power: a learning net's test accuracy varies by a few points between
# seeds, far from the 50 pp margin, so 10 seeds decide claim 2 easily;
# for claim 1, 10 seeds of which 9 or 10 diverge give an interval above 0.5,
# 6-8 of 10 come out inconclusive.

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--init-std", type=float, default=0.3, help="std σ of the N(0, σ²) kernel initializer")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (STAT 453: 0.1)")
    p.add_argument("--depth", type=int, default=8, help="hidden layers (64 units each)")
    p.add_argument("--clip", type=float, default=1.0, help="τ of clipvalue, clipnorm and global_clipnorm")
    p.add_argument("--deck-clip", type=float, default=100.0, help="deck 001's clip_grad_value_ threshold")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size")


def _check(args):
    for name in ("init_std", "lr", "clip", "deck_clip"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise bad_flag(name, value, "a float > 0")
    if args.depth < 1:
        raise bad_flag("depth", args.depth, "an integer >= 1")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")


LESSON = Lesson(
    "l12_grad_clipping",
    title="Gradient clipping: a deep net that diverges, and clipping by value and by norm",
    decks="001, 003",
    epochs=10,
    seeds=10,
    margins={"diverge": 0.5, "learns": 0.5},
    quick_epochs=1,
    quick_steps=8,
    reference="deck 001: torch.nn.utils.clip_grad_value_(model.parameters(), 100); deck 003: clip by norm τ",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import numpy as np

from kreg import models, plots
from kreg.callbacks import BatchLosses

args = run.args
data = run.load_data()
shape, k = data.info.input_shape, data.info.num_classes
hidden = (64,) * args.depth
c, deck = args.clip, args.deck_clip
ARMS = {
    "no clipping": {},
    f"clipvalue={deck:g} (deck 001)": {"clipvalue": deck},
    f"clipvalue={c:g}": {"clipvalue": c},
    f"clipnorm={c:g}": {"clipnorm": c},
    f"global_clipnorm={c:g}": {"global_clipnorm": c},
}
run.config(hidden=list(hidden), init_std=args.init_std, learning_rate=args.lr, batch_size=args.batch_size,
           clip=c, deck_clip=deck, he_std=math.sqrt(2.0 / 64))


def net(clip_kwargs):
    model = models.mlp(shape, k, hidden=hidden,
                       kernel_initializer=keras.initializers.RandomNormal(stddev=args.init_std))
    return models.compile_classifier(model, keras.optimizers.SGD(args.lr, **clip_kwargs))


def train(model):
    """Reset, measure the initial logits' scale, fit with per-step losses; a diverged net scores chance."""
    def work(rep):
        rep.reset(model)
        init_std = float(np.std(model.predict(data.x_train[:256], verbose=0)))
        losses = BatchLosses()
        rep.fit(model, data, batch_size=args.batch_size, callbacks=[losses, keras.callbacks.TerminateOnNaN()])
        steps = np.asarray(losses.losses, float)
        bad = np.flatnonzero(~np.isfinite(steps))
        correct = (run.per_example(model, *data.test)["correct"] if not len(bad)
                   else np.full(len(data.y_test), 1.0 / k))  # no prediction: a uniform guess
        return {"diverged": float(len(bad) > 0), "first_non_finite_step": int(bad[0]) + 1 if len(bad) else 0,
                "step_losses": steps, "init_logit_std": init_std, "test_correct": correct}
    return work


# %% [markdown]
# ## Train every arm under the same seeds

# %%
run.total_runs = len(ARMS) * run.n_seeds
arms = {label: run.replicates(label, work=train(net(kw)), config=kw) for label, kw in ARMS.items()}
diverged = {label: arms[label]["diverged"] for label in ARMS}
accuracy = {label: arms[label].mean("test_correct") for label in ARMS}
run.metric("fraction_diverged", {label: float(d.mean()) for label, d in diverged.items()})
run.metric("test_accuracy", accuracy)
run.metric("first_non_finite_step", {label: [int(s) for s in arms[label]["first_non_finite_step"]]
                                     for label in ARMS})

# %% [markdown]
# ## Why the unclipped net is in trouble (a demonstration)
#
# The scale of the initial logits follows from the initialization alone.

# %%
init = arms["no clipping"]["init_logit_std"]
run.demonstrate("the large initialization blows up the forward pass",
                f"logit std at initialization {init.mean():.3g} (min {init.min():.3g} over {len(init)} seeds) for "
                f"inputs in [0, 1]; per-layer gain of the second moment 64σ²/2 = {64 * args.init_std**2 / 2:.2f}, "
                f"{(64 * args.init_std**2 / 2) ** args.depth:,.0f}x after {args.depth} layers")

# %% [markdown]
# ## The claims

# %%
base = diverged["no clipping"]
first = [s for s in arms["no clipping"]["first_non_finite_step"] if s > 0]
run.claim("without clipping the loss diverges (NaN/inf)",
          run.estimate(lambda m: m["d"], {"d": base}), direction="greater", margin="diverge",
          effect_name="fraction of seeds diverged",
          evidence=f"{int(base.sum())}/{len(base)} seeds; first non-finite step "
          + (f"{int(min(first))}-{int(max(first))}" if first else "none"))
for label in list(ARMS)[1:]:
    samples = {(label, "test"): arms[label]["test_correct"]}
    run.claim(f"{label} keeps the loss finite and the net learns (test accuracy clearly above chance)",
              run.estimate(lambda m, a=label: m[a, "test"] - 1.0 / k, samples), direction="greater",
              margin="learns", unit="pp", compare=(1.0 / k, accuracy[label]), effect_name="above chance by",
              evidence=f"{int(diverged[label].sum())}/{run.n_seeds} seeds diverged")

# %% [markdown]
# **Reading the outcome.** Clipping caps each step, not the gradient's
# cause: with $\tau = 1$ the first steps are small enough for the network
# to shrink its huge logits, and training then proceeds as with a sane
# initialization (clipping the *global* norm at 1 takes the smallest steps,
# so it learns the slowest in 10 epochs). Deck 001's 100 is a threshold for
# *its* network; here a step clipped at 100 with lr 0.1 still moves a
# weight by up to 10. Such steps can keep the loss finite and still wreck
# the net — e.g. push every ReLU of a layer below zero, after which the
# output no longer depends on the input and the loss sits at
# $\log 10 = 2.30$, chance. That is why the claim asks for learning, not
# only a finite loss; the evidence line says how many seeds diverged. It is
# deck 001's "tunable hyper parameter" in numbers. Batch normalization, which deck 001 prefers, is
# the other cure (lesson `l11_batchnorm`).

# %% [markdown]
# ## Figure: per-step loss of the first seed, and validation accuracy

# %%
import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
for i, label in enumerate(ARMS):
    color = plots.COLORS[i % len(plots.COLORS)]
    steps = np.asarray(arms[label].records[0]["step_losses"], float)
    ok = np.isfinite(steps)
    ax1.plot(np.flatnonzero(ok) + 1, steps[ok], lw=0.8, color=color, label=label)
    if not ok.all():
        s = int(np.flatnonzero(~ok)[0])
        ax1.plot([s + 1], [steps[s - 1] if s and ok[s - 1] else 1.0], "X", ms=11, color=color,
                 label=f"{label}: non-finite at step {s + 1}")
ax1.set(yscale="log", xlabel="optimizer step", ylabel="minibatch training loss",
        title=f"{args.depth}x64 ReLU MLP, N(0, {args.init_std:g}²) init, SGD lr {args.lr:g} (seed 1)")
ax1.grid(alpha=0.3)
ax1.legend(fontsize=7)
epochs = np.arange(1, run.epochs + 1)
for i, label in enumerate(ARMS):
    val = arms[label].history("val_accuracy")  # (seeds, epochs), NaN after a run stopped
    if val.size and np.isfinite(val).any():
        val = np.pad(val, ((0, 0), (0, run.epochs - val.shape[1])), constant_values=np.nan)
        ran = np.isfinite(val).sum(axis=0)
        mean = np.where(ran > 0, np.nansum(val, axis=0) / np.maximum(ran, 1), np.nan)
        ax2.plot(epochs, mean * 100, marker="o", color=plots.COLORS[i % len(plots.COLORS)], label=label)
ax2.set(xlabel="epoch", ylabel="validation accuracy (%)", title=f"mean of the seeds still running ({data.info.name})")
ax2.grid(alpha=0.3)
ax2.legend(fontsize=7)
fig.tight_layout()
run.figure("clipping", fig)
results = run.finish()
