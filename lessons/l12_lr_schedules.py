# %% [markdown]
# # L12 — Learning-rate schedules
#
# *STAT 453 Lecture 12, deck 001 ("Learning Rate Tuning", "Learning Rate
# Scheduling").*
#
# "The learning rate does not have to be constant, it can change over
# iterations": start high, then lower it "to ensure convergence". Deck 001
# names three ways to lower it:
#
# - a **predetermined piecewise constant** rate, PyTorch's
#   `StepLR(step_size=30, gamma=0.1)`: ×0.1 every 30 of 100 epochs
#   (`kreg.schedules.StepDecay`);
# - **exponential scheduling** $\eta(n) = \eta_0 / \gamma^{n/N}$ with
#   $\gamma = 10$: the rate drops tenfold every $N$ epochs
#   (`kreg.schedules.ExponentialDecay`);
# - **performance scheduling**: "use the validation error to determine when
#   to adjust the learning rate", torch's `ReduceLROnPlateau`
#   (`kreg.callbacks.ReduceLROnPlateau(semantics="torch")`). kreg also puts
#   it on top of a schedule, which it scales down instead of replacing.
#
# **The setting is the lecture's own**, the STAT 453 scheduler notebook: the
# MLP 784-75-45-10 with PyTorch's initialization, plain SGD with
# $\eta_0 = 0.1$, batch 64, no dropout, `ReduceLROnPlateau` on the
# validation accuracy (`mode="max"`, torch's defaults: factor 0.1, patience
# 10, relative threshold $10^{-4}$). The notebook reaches 97.17% test
# accuracy on MNIST. The schedules are the slide's, scaled to the run's
# length: StepLR drops every third of the run, the exponential schedule
# divides by 10 every half run (100x over the run). Offline the run uses the
# 3,600 real MNIST training digits of `mnist5k`, for 30 epochs.
#
# **Claim, for each decaying rate: it ends at a lower held-out
# cross-entropy than the constant rate.** The effect is the ratio of the
# final test cross-entropies (constant / decaying), paired over seeds (same
# initial weights and data order in every arm) and over the 1,000 test
# digits. The test set, not the validation set, because the plateau arm
# reads the validation accuracy to decide its reductions.
#
# **Margin and seeds, fixed before any verdict was seen.**
#
# - `lower` = ×1.10: "ends lower" means at least 10% lower test
#   cross-entropy: a decay that only shaves a few percent off the loss does
#   not make the lecture's point that the constant rate "never converges".
#
# Rough power: a constant rate bounces from epoch to epoch, so the final
# cross-entropy of one seed is noisy; if it varies by ±10% from seed to seed
# and the decays by less, 5 seeds give the log ratio a half-width of about
# $2.8 \cdot 0.1/\sqrt5 \approx 0.12$. A decay that lowers the loss by 30% or
# more is then told apart from the 10% margin; a smaller gain comes out
# inconclusive.

# %%
import math

from kreg.lesson import Lesson, bad_flag


def _flags(p):
    p.add_argument("--lr", type=float, default=0.1, help="initial (and constant) learning rate η0 (STAT 453: 0.1)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size (STAT 453 scheduler notebook: 64)")
    p.add_argument("--patience", type=int, default=10, help="ReduceLROnPlateau patience (torch meaning; torch: 10)")
    p.add_argument("--factor", type=float, default=0.1, help="ReduceLROnPlateau factor (torch: 0.1)")


def _check(args):
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise bad_flag("lr", args.lr, "a float > 0")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")
    if args.patience < 0:
        raise bad_flag("patience", args.patience, "an integer >= 0")
    if not 0 < args.factor < 1:
        raise bad_flag("factor", args.factor, "a float in (0, 1)")


LESSON = Lesson(
    "l12_lr_schedules",
    title="Learning-rate schedules: constant, step, exponential, plateau (alone and on a schedule)",
    decks="001",
    epochs=30,
    seeds=5,
    margins={"lower": math.log(1.1)},
    reference="STAT 453 L12 scheduler notebook: batch 64, SGD lr 0.1, ReduceLROnPlateau on valid acc, test 97.17%",
    add_arguments=_flags,
    check_args=_check,
)
run = LESSON.start()

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from kreg import callbacks, models, plots, schedules

eta0, batch, epochs = run.args.lr, run.args.batch_size, run.epochs
data = run.load_data()
shape, k = data.info.input_shape, data.info.num_classes
steps = math.ceil(len(data.x_train) / batch)
if run.quick:
    steps = min(steps, LESSON.quick_steps)  # --quick caps the steps per epoch
step_size, period = max(1, epochs // 3), max(1, epochs // 2)
plateau_kw = dict(monitor="val_accuracy", mode="max", factor=run.args.factor, patience=run.args.patience,
                  min_delta=1e-4, threshold_mode="rel", semantics="torch")  # torch's defaults, on valid acc
run.config(eta0=eta0, batch_size=batch, steps_per_epoch=steps, step_size=step_size, exp_gamma=10.0,
           exp_period=period, plateau=plateau_kw, init="torch", optimizer="SGD")


def scores(model):
    """Per-example test correctness and cross-entropy (inference mode), and the training loss."""
    test = run.per_example(model, *data.test)
    return {"test_correct": test["correct"], "test_loss": test["loss"],
            "train_loss": run.evaluate(model, data.x_train, data.y_train)["loss"]}


def classifier(lr):
    return models.compile_classifier(models.mlp(shape, k, init="torch"), keras.optimizers.SGD(lr))


# %% [markdown]
# ## Five runs from the same initial weights
#
# One compiled model per arm, reset for every seed. On a schedule,
# `ReduceLROnPlateau` multiplies it by a scale
# (`kreg.schedules.Scaled`); the lesson builds that wrapper itself so it can
# put the scale back to 1 before each seed (the scale is not an optimizer
# variable, so resetting the model does not touch it). `EpochLR` logs the
# rate in force during each epoch.

# %%
const = "constant"
step = f"StepDecay (x0.1 every {step_size} epochs)"
expo = f"ExponentialDecay (η0/10^(n/{period}))"
plat = "ReduceLROnPlateau (valid acc)"
both = "ExponentialDecay + ReduceLROnPlateau"
exp_schedule = lambda: schedules.ExponentialDecay(eta0, gamma=10.0, period=period, steps_per_epoch=steps)  # noqa: E731
scaled = schedules.Scaled(exp_schedule(), 1.0)
both_model = classifier(scaled)


def on_a_schedule(rep):
    """The plateau on a schedule: the scale back to 1 for this seed, then one fit."""
    scaled.scale.assign(1.0)
    both_model.make_train_function(force=True)  # JAX reads the scale as a constant of the compiled step
    rep.fit(both_model, data, batch_size=batch,
            callbacks=[callbacks.EpochLR(), callbacks.ReduceLROnPlateau(**plateau_kw)])
    return scores(both_model)


arms = {
    const: run.replicates(const, classifier(eta0), data, measure=scores, batch_size=batch,
                          callbacks=[callbacks.EpochLR()]),
    step: run.replicates(step, classifier(schedules.StepDecay(eta0, step_size=step_size, gamma=0.1,
                                                              steps_per_epoch=steps)),
                         data, measure=scores, batch_size=batch, callbacks=[callbacks.EpochLR()]),
    expo: run.replicates(expo, classifier(exp_schedule()), data, measure=scores, batch_size=batch,
                         callbacks=[callbacks.EpochLR()]),
    plat: run.replicates(plat, classifier(eta0), data, measure=scores, batch_size=batch,
                         callbacks=[callbacks.EpochLR(), callbacks.ReduceLROnPlateau(**plateau_kw)]),
    both: run.replicates(both, work=on_a_schedule, config={"batch_size": batch}),
}

# %% [markdown]
# ## Does a decaying rate end lower?

# %%
loss = {(arm, "test"): reps["test_loss"] for arm, reps in arms.items()}
ce = {arm: reps.mean("test_loss") for arm, reps in arms.items()}
for arm in (step, expo, plat, both):
    lower = run.estimate(lambda m, a=arm: np.log(m[const, "test"]) - np.log(m[a, "test"]),
                         {key: loss[key] for key in ((const, "test"), (arm, "test"))})
    run.claim(f"{arm} ends at a lower test cross-entropy than the constant rate", lower, direction="greater",
              margin="lower", unit="ratio", compare=(ce[const], ce[arm]), effect_name="constant / decaying",
              evidence="train loss " + ", ".join(f"{a} {arms[a].mean('train_loss'):.4f}" for a in (const, arm)))
run.metric("test_cross_entropy", ce)
run.metric("train_loss", {arm: reps.mean("train_loss") for arm, reps in arms.items()})
run.metric("test_accuracy", {arm: reps.mean("test_correct") for arm, reps in arms.items()})

updates = epochs * steps
est = run.estimate(lambda m: m[plat, "test"], {(plat, "test"): arms[plat]["test_correct"]})
run.reference("test accuracy, ReduceLROnPlateau on valid acc", est, 0.9717,
              applies=data.info.name == "mnist" and not run.quick and batch == 64 and eta0 == 0.1,
              why_not=f"{data.info.name} with {len(data.x_train):,} training images and {epochs} epochs, "
              "not the notebook's MNIST", updates=updates)

# %% [markdown]
# **Reading the outcome.** On 3,600 digits the unregularized MLP at
# $\eta_0 = 0.1$ fits its training set within a few epochs. Once it does,
# the minibatch gradients are tiny, the constant rate stops bouncing, and
# what the held-out loss measures is how far each net has gone on to
# overfit: a decay that freezes the weights early then ends *lower* for
# that reason, not because it converged where the constant rate could not.
# Compare the training losses printed with each claim: the lecture's story
# ("too high never converges") needs the constant run's training loss to
# stay above the decays'. Performance scheduling needs a plateau: torch's
# patience 10 waits for 11 epochs in a row without a new best validation
# accuracy. At a constant $\eta_0 = 0.1$ the accuracy on 400 validation
# digits bounces by several points from epoch to epoch, so it keeps setting
# new records by chance; if the left panel shows no drop for the plateau
# run, it *is* the constant run, and its verdict says that the lecture's
# scheduler did nothing here. If the intervals straddle the 10% margin, or the
# constant rate ends as low, the data at the lecture's setting do not show
# the lecture's claim: on full MNIST (54,000 digits, ~840 updates an epoch)
# the constant rate keeps meeting new digits and the question is open again.

# %% [markdown]
# ## Figure: the rate in force and the validation loss, epoch by epoch

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
ep = np.arange(1, epochs + 1)
styles = {arm: {"ls": "--"} for arm in arms if "Plateau" in arm}
lrs = {arm: np.nanmean(reps.history("epoch_lr"), axis=0) for arm, reps in arms.items()}
plots.line_plot(ep, lrs, xlabel="epoch", ylabel="learning rate used in the epoch (mean of seeds)", logy=True,
                markers=False, ax=ax1, title=f"SGD learning rate, η0 = {eta0:g}",
                styles={a: dict(s) for a, s in styles.items()})
plots.line_plot(ep, {arm: np.nanmean(reps.history("val_loss"), axis=0) for arm, reps in arms.items()},
                xlabel="epoch", ylabel="validation loss (mean of seeds)", logy=True, markers=False, ax=ax2,
                title=f"MLP on {data.info.name}, batch {batch}", styles={a: dict(s) for a, s in styles.items()})
ax1.legend(fontsize=7)
ax2.legend(fontsize=7)
fig.tight_layout()
run.figure("lr_and_val_loss", fig)
results = run.finish()
