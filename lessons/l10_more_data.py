# %% [markdown]
# # L10 §2 — More data: learning curves against the training-set size
#
# *STAT 453 Lecture 10 (deck 000 §2) and deck 001 ("Determining fit from
# training/val errors").*
#
# **Deck 000:** "Often, the best way to reduce overfitting is collecting more
# data" — softmax regression trained on growing subsets of MNIST, the test
# set kept constant. **Deck 001:** learning curves against the training-set
# size tell under- from overfitting. For a *simple* model, training accuracy
# gets worse as the training set grows, then plateaus, while validation
# accuracy improves a little: the curves end close together (underfitting).
# For a *more complex* model, "the training curve is better than the
# validation curve, with a noticeable gap between the two": overfitting, and
# "increasing the data set size may help avoid this, until the validation
# error reaches the training error".
#
# **The experiment.** A simple model (softmax regression) and a complex one
# (an MLP 256-128, wider than STAT 453's 75-45 so that it can overfit the
# small subsets) are trained by SGD (learning rate 0.1, batch 256, as in
# STAT 453) on class-stratified subsets of $n$ training digits, for $n$ on a
# log scale from 100 to the whole training split; the validation and test
# digits never change. Every fit takes the *same number of SGD updates*:
# `--epochs` passes' worth of the whole training split. A subset of $n$
# digits is reshuffled and cycled through as often as needed, so a small
# $n$ is trained as long as the full set and only the amount of distinct
# data differs. The batches are gathered from the subset's *indices* one at
# a time (a `keras.utils.PyDataset`): no repeated copy of the images is ever
# built, so memory does not grow with the number of updates.
#
# With $g(n)$ = training accuracy on the $n$ digits minus validation
# accuracy (both in inference mode, after training), the lecture's
# statements become three claims:
#
# 1. **The gap shrinks as the training set grows**, for softmax regression
#    and (2.) for the MLP: the least-squares slope of $g$ against
#    $\log_2 n$ over *all* sizes, $\hat\beta = \sum_j (\ell_j - \bar\ell)\,
#    g(n_j) / \sum_j (\ell_j - \bar\ell)^2$ with $\ell_j = \log_2 n_j$,
#    is negative: the gap changes by $\hat\beta$ per doubling of the data.
# 3. **The complex model overfits more at small n** than the simple one:
#    $g_\text{MLP} - g_\text{softmax}$, averaged over the two smallest
#    sizes, is positive.
#
# **How the verdicts are decided.** Each claim's effect is computed per
# replicate seed (`--seeds`, default 5; seed $i$ draws the subsets, the
# initial weights and the batch order, the same for both models) and its
# 95% interval covers the seed-to-seed spread and the sampling of the fixed
# validation digits (`kreg.stats`). *Holds* when the interval lies beyond
# the margin on the lecture's side, *does not hold* when it lies on the
# other side, *inconclusive* otherwise; `--quick` never decides.
#
# **Margins, fixed before any verdict was seen.**
#
# - `shrink` = 1 pp per doubling: "shrinks" means visibly on deck 000's
#   log-$n$ axis — at least 5 pp over the five doublings from 100 digits to
#   the 3,600 of the offline training split, a fraction of the tens of
#   points that separate training and test accuracy on a few hundred digits.
# - `overfit` = 2 pp: deck 001's "noticeable gap" — the complex model's gap
#   exceeds the simple one's by at least 2 pp (8 of the 400 offline
#   validation digits).
#
# Rough power: one validation digit is 0.25 pp; both gaps of a seed are
# measured on the same 400 digits, so their difference and the slope carry
# an example standard error of ~1 pp and ~0.3 pp per doubling. With 5
# seeds and $t_4$, the slope's interval is about ±1 pp per doubling and
# the small-$n$ difference's about ±3 pp: a slope of -3 pp per doubling or
# a difference of 5 pp is decided.

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="training-set sizes (default: 6 sizes log-spaced from 100 to the whole training split)")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128], help="hidden widths of the complex model")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (STAT 453: 256)")


def _check(args):
    if args.sizes is not None and (len(set(args.sizes)) < 2 or min(args.sizes) < 10):
        raise bad_flag("sizes", args.sizes, "at least 2 distinct integers >= 10")
    if min(args.hidden) < 1:
        raise bad_flag("hidden", args.hidden, "positive integers")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")


LESSON = Lesson(
    "l10_more_data",
    title="More data: learning curves of a simple and a complex model vs training-set size",
    decks="000 §2, 001",
    epochs=40,
    seeds=5,
    quick_epochs=1,
    quick_train=512,
    margins={"shrink": 0.01, "overfit": 0.02},
    reference="deck 000 §2 (softmax regression on MNIST subsets, test set fixed); deck 001 learning curves",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import numpy as np

from kreg import models, plots
from kreg.data import stratified_subset

data = run.load_data()
batch, n_full = run.args.batch_size, len(data.x_train)
shape, k = data.info.input_shape, data.info.num_classes
sizes = run.args.sizes or np.geomspace(min(100, n_full // 4), n_full, run.pick(6, 3)).round().astype(int).tolist()
sizes = sorted({min(s, n_full) for s in sizes})
if len(sizes) < 2:
    raise bad_flag("sizes", run.args.sizes, f"at least 2 distinct sizes up to the {n_full} training examples")
steps = math.ceil(n_full / batch)  # updates per epoch, the same for every n
run.config(batch_size=batch, learning_rate=0.1, optimizer="SGD", sizes=sizes, hidden=list(run.args.hidden),
           updates=run.epochs * steps)
run.say(f"   sizes {sizes}; {run.epochs} x {steps} = {run.epochs * steps} SGD updates per fit")


class SubsetBatches(keras.utils.PyDataset):
    """``steps`` batches per epoch from the examples ``idx`` of (x, y), reshuffled and cycled as needed.

    Only indices are repeated: each batch is gathered when Keras asks for it.
    Every batch is full, so no train step is traced again for a smaller one.
    """

    def __init__(self, x, y, idx, seed):
        super().__init__()
        self.x, self.y, self.idx = x, y, idx
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return steps

    def on_epoch_end(self):
        cycles = math.ceil(steps * batch / len(self.idx))
        self.order = np.concatenate([self.rng.permutation(self.idx) for _ in range(cycles)])

    def __getitem__(self, i):
        j = self.order[i * batch:(i + 1) * batch]
        return self.x[j], self.y[j]


# %% [markdown]
# ## Train both models on every subset size
#
# One compiled model per architecture, reset to seed $i$'s initial weights
# before each fit (`Run.replicates`); the subset of seed $i$ at size $n$ and
# its batch order are the same for both models.

# %%
builders = {"softmax regression": models.softmax_regression(shape, k),
            f"MLP {'-'.join(map(str, run.args.hidden))}": models.mlp(shape, k, hidden=tuple(run.args.hidden))}
simple, complex_ = builders
arms = {}
for name, net in builders.items():
    model = models.compile_classifier(net, learning_rate=0.1)
    model.test_on_batch(data.x_train[:2], data.y_train[:2])  # build the loss and metrics once

    for n in sizes:
        def work(rep, model=model, n=n):
            idx = stratified_subset(data.y_train, n, seed=rep.seed) if n < n_full else np.arange(n_full)
            rep.reset(model)
            rep.fit(model, x=SubsetBatches(data.x_train, data.y_train, idx, rep.seed), reset=False, shuffle=False)
            return {"train_accuracy": run.per_example(model, data.x_train[idx], data.y_train[idx])["correct"].mean(),
                    "val_correct": run.per_example(model, *data.val)["correct"],
                    "test_correct": run.per_example(model, *data.test)["correct"]}

        arms[name, n] = run.replicates(f"{name}, n={n}", work=work, config={"n": n})

# %% [markdown]
# ## The verdicts

# %%
samples = {}
for (name, n), reps in arms.items():
    samples[name, n, "train"] = reps["train_accuracy"]
    samples[name, n, "val"] = reps["val_correct"]
splits = {key: "val" for key in samples if key[2] == "val"}


def gap(m, name, n):
    return m[name, n, "train"] - m[name, n, "val"]


ell = np.log2(sizes)
weights = (ell - ell.mean()) / ((ell - ell.mean()) ** 2).sum()
mean_gap = {name: [float(np.mean(arms[name, n]["train_accuracy"]) - arms[name, n].mean("val_correct"))
                   for n in sizes] for name in builders}
for name in builders:
    slope = run.estimate(lambda m, name=name: sum(w * gap(m, name, n) for w, n in zip(weights, sizes)),
                         samples, splits=splits)
    run.claim(f"{name}: the train-validation gap shrinks as the training set grows (slope per doubling of n)",
              slope, direction="less", margin="shrink", unit="pp", effect_name="gap change per doubling",
              compare=(mean_gap[name][0], mean_gap[name][-1]),
              evidence=f"gap at n={sizes[0]} -> n={sizes[-1]}")

small = sizes[:2]
more = run.estimate(lambda m: sum(gap(m, complex_, n) - gap(m, simple, n) for n in small) / len(small),
                    samples, splits=splits)
run.claim(f"the complex model overfits more than the simple one at small n (mean over n = {small})", more,
          direction="greater", margin="overfit", unit="pp", effect_name="gap MLP - gap softmax",
          compare=(np.mean(mean_gap[simple][:2]), np.mean(mean_gap[complex_][:2])))

# %% [markdown]
# **Reading the outcome.** Softmax regression has 7,850 weights: on 100 or
# 200 digits it can separate the training set as well as the MLP can, so
# at the smallest sizes both models "overfit" and deck 001's contrast
# between a simple and a complex model shows at larger $n$, where the
# simple model's training accuracy falls to meet its validation accuracy
# (the left panels). If the third claim comes out inconclusive or does not
# hold, that is what it says: at these sizes softmax regression on 784
# pixels is not a *simple* model in deck 001's sense.

# %% [markdown]
# ## Figure: learning curves against $n$

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
for ax, name in zip(axes[:2], builders):
    curves = {split: np.array([np.mean(arms[name, n][f"{split}_{'accuracy' if split == 'train' else 'correct'}"])
                               for n in sizes]) * 100 for split in ("train", "val", "test")}
    plots.line_plot(sizes, {"train": curves["train"], "validation": curves["val"], "test (fixed set)": curves["test"]},
                    xlabel="training-set size n", ylabel="accuracy (%)", logx=True, ax=ax, title=name,
                    styles={"validation": {"ls": "--"}, "test (fixed set)": {"ls": ":"}})
plots.line_plot(sizes, {name: np.array(g) * 100 for name, g in mean_gap.items()}, xlabel="training-set size n",
                ylabel="train - validation accuracy (pp)", logx=True, ax=axes[2], title="generalization gap")
axes[2].axhline(0, color="grey", lw=0.8)
fig.suptitle(f"Learning curves vs training-set size on {data.info.name} ({run.epochs * steps} SGD updates per fit, "
             f"mean of {run.n_seeds} seeds)")
fig.tight_layout()
run.figure("learning_curves_vs_n", fig)
run.metric("sizes", sizes)
run.metric("gap_train_minus_val", mean_gap)
results = run.finish()
