"""L10 — Fitting random labels (deck 003, Zhang et al. 2017).

Deck 003 ("Zhang et al. (2017) memorization experiment"): "deep neural
networks easily fit random labels" — an Inception net reaches 100% training
accuracy on CIFAR-10 with every label replaced by a random class, at chance
(9.78%) test accuracy; and "explicit regularization may improve
generalization performance, but is neither necessary nor by itself
sufficient for controlling generalization error".

Experiment, on a training subset small enough for a CPU (Zhang et al. use
all of CIFAR-10): the same MLP, trained with SGD + momentum 0.9 as in the
paper, on

1. the true labels,
2. random labels (``kreg.data.corrupt_labels(y, 1.0, ...)``: every label
   redrawn uniformly, fixed seed),
3. random labels with explicit regularization: an L2 penalty
   (``kreg.regularizers.L2``) on every kernel.

Each run trains until the training accuracy (measured in inference mode
after each epoch) reaches ``--fit-threshold`` or the epoch budget runs out;
"epochs to fit" is the first epoch at the threshold.

Claims:

1. **The network reaches ~100% training accuracy on random labels, with
   chance test accuracy** (within 3 binomial standard errors of 1/classes).
2. **Random labels take longer to fit** than the true labels (Zhang et al.
   Fig. 1a: a small constant factor).
3. **Explicit regularization slows memorization but does not stop it**: with
   the L2 penalty the random labels are still fitted, in more epochs. (On
   500 digits, λ = 1e-4 barely changes anything, 1e-3 slows it (53 -> 71
   epochs), 3e-3 keeps it below 80% within 300 epochs: a strong enough
   penalty does stop it, at the price of underfitting true labels too.)

Run:  KERAS_BACKEND=jax python lessons/l10_random_labels.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--n-train", type=int, default=None,
                   help="training examples kept (stratified); default 1000 on MNIST, 500 on the digits")
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 512], help="hidden widths of the MLP")
    p.add_argument("--l2", type=float, default=1e-3,
                   help="L2 coefficient of the regularized run (Keras convention l2·Σw²)")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (momentum 0.9)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size")
    p.add_argument("--fit-threshold", type=float, default=0.99,
                   help="training accuracy that counts as 'fitted' (~100%%)")


LESSON = Lesson(
    "l10_random_labels",
    title="Fitting random labels (Zhang et al. 2017): memorization, and what regularization does to it",
    decks="003",
    dataset="mnist",
    fallback="mnist5k",
    epochs=300,
    quick_train=128,
    reference="Zhang et al. 2017, Table 1 (deck 003): random labels 100% train, 9.78% test",
    add_arguments=_args,
)


def _check_args(args):
    if args.n_train is not None and args.n_train < 20:
        raise bad_flag("n_train", args.n_train, "an integer >= 20")
    if any(h < 1 for h in args.hidden):
        raise bad_flag("hidden", args.hidden, "positive integers")
    if not args.l2 > 0:
        raise bad_flag("l2", args.l2, "a float > 0")
    if not args.lr > 0:
        raise bad_flag("lr", args.lr, "a float > 0")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")
    if not 0.0 < args.fit_threshold <= 1.0:
        raise bad_flag("fit_threshold", args.fit_threshold, "a float in (0, 1]")


def main(argv=None):
    run = LESSON.start(argv)
    _check_args(run.args)
    import keras
    import numpy as np

    from kreg import models, plots, regularizers
    from kreg.data import corrupt_labels

    args = run.args
    # default subset: 1000 of the lecture's 54k training images, 500 of the small embedded fallbacks;
    # under --quick (and no --n-train) the harness's quick_train applies
    default_n = {"mnist": 1000, "fashion_mnist": 1000, "mnist5k": 1000, "digits": 500, "mnist1d": 500, "toy2d": 500, "sine": 500}
    data = run.load_data(n_train=args.n_train if args.n_train is not None else (None if run.quick else default_n))
    shape, k, hidden = data.info.input_shape, data.info.num_classes, tuple(args.hidden)
    y_random, _ = corrupt_labels(data.y_train, 1.0, k, seed=run.seed)
    run.config(batch_size=args.batch_size, learning_rate=args.lr, momentum=0.9, optimizer="SGD",
               hidden=list(hidden), l2=args.l2, fit_threshold=args.fit_threshold, n_train=len(data.x_train))
    x_tr = data.x_train

    class FitTracker(keras.callbacks.Callback):
        """Training accuracy in inference mode after each epoch; stops once it reaches the threshold."""

        def __init__(self, y):
            super().__init__()
            self.y = y

        def on_train_begin(self, logs=None):
            self.fitted_at = None

        def on_epoch_end(self, epoch, logs=None):
            acc = run.evaluate(self.model, x_tr, self.y)["accuracy"]
            logs["train_accuracy_eval"] = acc
            if acc >= args.fit_threshold and self.fitted_at is None:
                self.fitted_at = epoch + 1
                self.model.stop_training = True

    settings = {
        "true labels": (data.y_train, None),
        "random labels": (y_random, None),
        f"random labels + L2 {args.l2:g}": (y_random, regularizers.L2(args.l2)),
    }
    run.total_runs = len(settings)
    res, hist = {}, {}
    for label, (y, reg) in settings.items():
        run.reseed()  # the same initial weights for every run
        model = models.mlp(shape, k, hidden=hidden, kernel_regularizer=reg)
        models.compile_classifier(model, keras.optimizers.SGD(args.lr, momentum=0.9))
        tracker = FitTracker(y)
        hist[label] = run.fit(label, model, x=x_tr, y=y, validation_data=(data.x_test, data.y_test),
                              batch_size=args.batch_size, callbacks=[tracker])
        res[label] = {"epochs_to_fit": tracker.fitted_at, "epochs_run": len(hist[label].epoch),
                      "train": run.evaluate(model, x_tr, y)["accuracy"],
                      "test": run.evaluate(model, *data.test)["accuracy"]}
        run.metric(label, res[label])
    budget = run.epochs

    def ep(label):  # epochs to fit; a run that never fits counts as "more than the budget"
        return res[label]["epochs_to_fit"] or math.inf

    true, rnd, reg = list(settings)
    chance = 1.0 / k
    se = math.sqrt(chance * (1 - chance) / len(data.x_test))
    r = res[rnd]
    run.claim(
        "the network reaches ~100% training accuracy on random labels, with chance test accuracy",
        holds=r["train"] >= args.fit_threshold and abs(r["test"] - chance) <= 3 * se,
        evidence=f"random labels: train {r['train']:.2%} (after {r['epochs_run']} epochs), test {r['test']:.2%} "
        f"vs chance {chance:.0%} ± {3 * se:.1%} (3 s.e.); true labels: train {res[true]['train']:.2%}, "
        f"test {res[true]['test']:.2%}",
        train_random=r["train"], test_random=r["test"], chance=chance, three_se=3 * se,
    )
    run.claim(
        "random labels take longer to fit than the true labels",
        holds=ep(rnd) > ep(true) and ep(rnd) < math.inf,
        evidence=f"epochs to {args.fit_threshold:.0%} train accuracy: {res[true]['epochs_to_fit']} (true) vs "
        f"{res[rnd]['epochs_to_fit']} (random), budget {budget}",
        epochs_true=res[true]["epochs_to_fit"], epochs_random=res[rnd]["epochs_to_fit"],
    )
    run.claim(
        "explicit regularization (L2) slows memorization of random labels but does not stop it",
        holds=ep(reg) > ep(rnd) and ep(reg) < math.inf,
        evidence=f"epochs to {args.fit_threshold:.0%} on random labels: {res[rnd]['epochs_to_fit']} without, "
        f"{res[reg]['epochs_to_fit']} with L2 {args.l2:g} (budget {budget}); final train {res[reg]['train']:.2%}, "
        f"test {res[reg]['test']:.2%}",
        epochs_random=res[rnd]["epochs_to_fit"], epochs_random_l2=res[reg]["epochs_to_fit"],
        train_random_l2=res[reg]["train"],
    )

    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4))
    for i, (label, h) in enumerate(hist.items()):
        e = np.arange(1, len(h.epoch) + 1)
        ax1.plot(e, np.asarray(h.history["train_accuracy_eval"]) * 100, color=plots.COLORS[i], label=label)
        ax1.plot(e, np.asarray(h.history["val_accuracy"]) * 100, color=plots.COLORS[i], ls="--",
                 label=f"{label} (test, true labels)")
        ax2.plot(e, h.history["loss"], color=plots.COLORS[i], label=label)
    ax1.axhline(chance * 100, color="grey", ls=":", label="chance")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("accuracy (%)")
    ax1.set_title("training accuracy (solid) and test accuracy (dashed)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training loss (cross-entropy + penalty)")
    ax2.set_title("training loss")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"MLP {'-'.join(map(str, hidden))} on {len(x_tr)} {data.info.name} images: "
                 f"true vs random labels (Zhang et al. 2017)")
    fig.tight_layout()
    run.figure("random_labels_curves", fig)
    return run.finish()


if __name__ == "__main__":
    main()
