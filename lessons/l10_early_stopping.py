"""L10 §3 — Early stopping, and two ways to reuse the validation data (decks 000 §3, 001, 002, 003, 004).

Deck 000 §3: split the data into training, validation and test sets (the
test set is used once, at the end); watch the validation curve and stop at
the "right" point. Deck 002 ("Early stopping"): every time the validation
error improves store a copy of the weights; stop when it has not improved for
a while; return the stored copy. Its "strategy to get rid of the
disadvantage" (needing validation data; Goodfellow et al. §7.8, Alg. 7.2 and
7.3) reuses the validation data in a second run:

1. start fresh and train on training + validation data for the number of
   epochs the first run found best;
2. start from the early-stopped weights and keep training on training +
   validation data until the loss on the validation set falls below the
   training loss at the early-stopping point.

Data: MNIST (STAT 453: 10% of the training set held out for validation). On
the embedded 8x8 digits (offline) the MLP barely overfits — the validation
loss only flattens, so there is nothing for early stopping to catch — so the
default there keeps 400 training examples, holds out 20% for validation, and
replaces 20% of the training *and* validation labels by random classes
(``kreg.data.corrupt_labels``; the test labels stay clean): the net then
memorizes the noise after a few dozen epochs, the validation loss turns up,
and the U-shaped curve of the slides appears (``--label-noise 0`` turns it
off).

Experiment: the STAT 453 MLP (SGD lr 0.1) trained for up to ``--epochs``
epochs with ``kreg.callbacks.EarlyStopping(monitor="val_loss",
patience=--patience, restore_best_weights=True)``; the weights at the last
epoch are kept too (a small callback listed before EarlyStopping copies them
before the restore). Then both refits.

Claims:

1. **The restored weights have the best validation loss**: the restored
   model's validation loss equals the minimum of the validation curve and is
   below that of the last epoch.
2. **Test accuracy at the restored epoch ≥ at the last epoch** (the point of
   early stopping: the later, more overfitted weights do not generalize
   better).
3. **Reusing the validation data costs nothing**: both refits reach a test
   accuracy at least that of the early-stopped model, within two binomial
   standard errors of the test set (on a few hundred test digits a
   difference below that is noise).

Run:  KERAS_BACKEND=jax python lessons/l10_early_stopping.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--patience", type=int, default=10, help="epochs without a better val loss before stopping")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 256 (STAT 453) on MNIST-sized data, 32 on the small embedded digits")
    p.add_argument("--hidden", type=int, nargs="+", default=[75, 45], help="hidden widths (STAT 453: 75 45)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd: STAT 453's SGD lr 0.1; adam: Adam lr 1e-3, which overfits visibly sooner")
    p.add_argument("--label-noise", type=float, default=None,
                   help="fraction of training labels replaced by random classes (kreg.data.corrupt_labels); "
                   "default 0 on MNIST, 0.2 on the easy 8x8 digits, where the net otherwise barely overfits")
    p.add_argument("--n-train", type=int, default=None,
                   help="training examples kept (stratified); default: all on MNIST, 400 on the small digits, "
                   "so that the net overfits within the epoch budget")
    p.add_argument("--max-extra-epochs", type=int, default=None,
                   help="cap on refit (2)'s epochs (default: the best epoch count of the first run)")


LESSON = Lesson(
    "l10_early_stopping",
    title="Early stopping with weight restore; reusing the validation data",
    decks="000 §3, 001, 002, 003, 004",
    dataset="mnist",
    fallback="mnist5k",
    epochs=150,
    quick_epochs=3,
    reference="STAT 453 MLP 784-75-45-10, SGD lr 0.1, batch 256, 10% of train held out for validation",
    add_arguments=_args,
)


def _check_args(args):
    for name in ("patience", "batch_size", "max_extra_epochs", "n_train"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "patience" else 1):
            raise bad_flag(name, v, f"a {'non-negative' if name == 'patience' else 'positive'} integer")
    if args.label_noise is not None and not 0.0 <= args.label_noise < 1.0:
        raise bad_flag("label_noise", args.label_noise, "a float in [0, 1)")
    if any(h < 1 for h in args.hidden):
        raise bad_flag("hidden", args.hidden, "positive integers")


def main(argv=None):
    run = LESSON.start(argv)
    _check_args(run.args)
    import keras
    import numpy as np

    from kreg import models, plots
    from kreg.callbacks import EarlyStopping

    args = run.args
    data = run.load_data(n_train=args.n_train, val_fraction=0.1)
    if args.n_train is None and not run.quick and data.info.name == "digits":
        # the 8x8 digits are easy: on all of them the STAT 453 MLP barely overfits in 150 epochs, so keep
        # 400 training examples (stratified) and hold out 20% for a less noisy validation curve
        data = run.load_data(n_train=400, val_fraction=0.2)
    noise = args.label_noise if args.label_noise is not None else (0.2 if data.info.name == "digits" else 0.0)
    if noise > 0:
        from kreg.data import corrupt_labels

        # the labelled data we have (train and val) is noisy; the test labels stay clean
        data.y_train, _ = corrupt_labels(data.y_train, noise, data.info.num_classes, seed=run.seed)
        data.y_val, _ = corrupt_labels(data.y_val, noise, data.info.num_classes, seed=run.seed + 1)
    batch = args.batch_size or (32 if len(data.x_train) < 5000 else 256)
    shape, k, hidden = data.info.input_shape, data.info.num_classes, tuple(args.hidden)
    patience = run.pick(args.patience, 1)
    run.config(batch_size=batch, learning_rate=0.1 if args.optimizer == "sgd" else 1e-3, optimizer=args.optimizer, patience=patience, hidden=list(hidden),
               monitor="val_loss", label_noise=noise)
    run.total_runs = 3

    def build():
        run.reseed()  # the same initial weights for the first run and the fresh refit
        opt = "sgd" if args.optimizer == "sgd" else keras.optimizers.Adam(1e-3)
        return models.compile_classifier(models.mlp(shape, k, hidden=hidden), opt, learning_rate=0.1)

    class KeepLast(keras.callbacks.Callback):
        """Copies the weights of the last epoch before EarlyStopping (listed after it) restores the best."""

        def on_train_end(self, logs=None):
            self.weights = self.model.get_weights()

    # 1. the early-stopped run
    model = build()
    stop = EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    last = KeepLast()
    hist = run.fit("early stopping", model, data, batch_size=batch, callbacks=[last, stop])
    best, n_run = stop.best_epoch, len(hist.epoch)
    val_curve = np.asarray(hist.history["val_loss"], float)
    restored = {s: run.evaluate(model, *getattr(data, s)) for s in ("train", "val", "test")}
    best_weights = model.get_weights()
    model.set_weights(last.weights)
    at_last = {s: run.evaluate(model, *getattr(data, s)) for s in ("val", "test")}
    model.set_weights(best_weights)
    run.metric("best_epoch", best + 1)
    run.metric("epochs_run", n_run)
    run.metric("stopped", stop.stopped_epoch >= 0)
    run.metric("restored", restored)
    run.metric("last_epoch", at_last)

    run.claim(
        "the restored weights have the best validation loss",
        holds=abs(restored["val"]["loss"] - val_curve.min()) <= 1e-3 * max(1.0, val_curve.min())
        and restored["val"]["loss"] <= at_last["val"]["loss"] and int(np.argmin(val_curve)) == best,
        evidence=f"restored val loss {restored['val']['loss']:.4f} = min of the curve {val_curve.min():.4f} "
        f"(epoch {best + 1}); last epoch ({n_run}) {at_last['val']['loss']:.4f}",
        restored_val_loss=restored["val"]["loss"], min_val_loss=float(val_curve.min()),
        last_val_loss=at_last["val"]["loss"], best_epoch=best + 1, epochs_run=n_run,
    )
    run.claim(
        "test accuracy at the restored epoch is at least that at the last epoch",
        holds=restored["test"]["accuracy"] >= at_last["test"]["accuracy"],
        evidence=f"test {restored['test']['accuracy']:.2%} at epoch {best + 1} vs "
        f"{at_last['test']['accuracy']:.2%} at epoch {n_run}; test loss {restored['test']['loss']:.4f} vs "
        f"{at_last['test']['loss']:.4f}",
        test_restored=restored["test"]["accuracy"], test_last=at_last["test"]["accuracy"],
    )

    # 2. reuse the validation data
    x_all = np.concatenate([data.x_train, data.x_val])
    y_all = np.concatenate([data.y_train, data.y_val])
    # (1) fresh start on train + val for the best number of epochs
    fresh = build()
    h1 = run.fit("refit (1): fresh on train+val, best #epochs", fresh, x=x_all, y=y_all,
                 validation_data=data.val, epochs=best + 1, batch_size=batch)
    refit1 = run.evaluate(fresh, *data.test)

    # (2) continue from the early-stopped weights until val loss < training loss at the stopping point
    eps = restored["train"]["loss"]

    class UntilBelow(keras.callbacks.Callback):
        """Goodfellow et al. Alg. 7.3: stop once the loss on the validation set falls below ``eps``."""

        def on_train_begin(self, logs=None):
            self.reached = None

        def on_epoch_end(self, epoch, logs=None):
            if logs["val_loss"] < eps:
                self.reached = epoch
                self.model.stop_training = True

    cap = args.max_extra_epochs or best + 1
    until = UntilBelow()
    h2 = run.fit("refit (2): continue on train+val until val loss < train loss at stop", model, x=x_all,
                 y=y_all, validation_data=data.val, epochs=cap, batch_size=batch, callbacks=[until])
    refit2 = run.evaluate(model, *data.test)
    run.metric("refit1_fresh", {"epochs": best + 1, "test": refit1})
    run.metric("refit2_continue", {"target_val_loss": eps, "epochs": len(h2.epoch), "reached": until.reached is not None,
                                   "test": refit2})
    t0 = restored["test"]["accuracy"]
    se = math.sqrt(max(t0 * (1 - t0), 1e-4) / len(data.x_test))
    run.claim(
        "reusing the validation data (both refits) is at least as good on test as the early-stopped model",
        holds=refit1["accuracy"] >= t0 - 2 * se and refit2["accuracy"] >= t0 - 2 * se,
        evidence=f"test {t0:.2%} early-stopped; (1) fresh, {best + 1} epochs on train+val: {refit1['accuracy']:.2%}; "
        f"(2) continued {len(h2.epoch)} epochs until val loss < {eps:.4f}"
        f"{'' if until.reached is not None else ' (cap reached first)'}: {refit2['accuracy']:.2%} "
        f"(2 s.e. = {2 * se:.2%})",
        test_early_stopped=t0, test_refit1=refit1["accuracy"], test_refit2=refit2["accuracy"], two_se=2 * se,
    )

    # figures
    run.figure("early_stopping_curves", plots.learning_curves(
        {"MLP": hist}, best_epoch={"MLP": best},
        title=f"Early stopping on {data.info.name} (val loss, patience {patience}): best epoch {best + 1}, "
        f"stopped at {n_run}"))
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    e0 = np.arange(1, n_run + 1)
    ax.plot(e0, hist.history["loss"], color=plots.COLORS[0], label="first run: train loss")
    ax.plot(e0, val_curve, color=plots.COLORS[0], ls="--", label="first run: val loss")
    ax.axvline(best + 1, color="grey", ls=":", label=f"best epoch {best + 1}")
    ax.axhline(eps, color="black", lw=0.8, label=f"train loss at the stopping point ({eps:.3f})")
    ax.plot(np.arange(1, len(h1.epoch) + 1), h1.history["val_loss"], color=plots.COLORS[1], ls="--",
            label="refit (1) fresh on train+val: val loss")
    e2 = np.arange(best + 2, best + 2 + len(h2.epoch))
    ax.plot(e2, h2.history["val_loss"], color=plots.COLORS[2], ls="--", marker=".",
            label="refit (2) continued on train+val: val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title("Reusing the validation data (deck 002)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    run.figure("reuse_validation_data", fig)
    run.figure("test_accuracy", plots.bar_plot(
        {f"last epoch ({n_run})": at_last["test"]["accuracy"], f"restored (epoch {best + 1})": t0,
         "refit (1) fresh": refit1["accuracy"], "refit (2) continued": refit2["accuracy"]},
        ylabel="test accuracy", percent=True, title="Test accuracy (test set used only here)"))
    return run.finish()


if __name__ == "__main__":
    main()
