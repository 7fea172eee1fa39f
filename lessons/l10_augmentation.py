"""L10 §2 — Data augmentation (decks 000 §2, 002, 003).

Deck 000 ("Data augmentation in PyTorch via TorchVision", STAT 453 L10
data-augmentation notebook) augments MNIST with::

    train: Resize(32) -> RandomCrop(28) -> RandomRotation(±30°, bilinear) -> Normalize to [-1, 1]
    test:  Resize(32) -> CenterCrop(28) -> Normalize to [-1, 1]

``kreg.data.augment.augmentation`` is that pipeline as Keras preprocessing
layers, the first layer of the model, so it runs inside ``model.fit`` on
every backend (random while training, the test transform at inference).
Decks 002 and 003: augmentation adds (label-preserving) transformed copies
of the training data, "worth millions of additional training images", and
helps most when data are scarce.

Experiment: a figure of augmented samples; then a small CNN (LeNet-like:
conv5x5(16)-pool-conv5x5(32)-pool-dense, ReLU, Adam 3e-3 with cosine
decay to 0 so both nets end converged rather than mid-oscillation, batch 32) trained
on a small stratified subset for the same number of epochs, once on the plain
images (the deterministic test transform in training too,
``augmentation(random=False)``: both nets see exactly the same test inputs)
and once with augmentation. Accuracies in inference mode; the train-test gap
is train accuracy (on the un-augmented training images) minus test accuracy.

Claims, with verdicts from the measured numbers:

1. **augmentation narrows the train-test gap**;
2. **augmentation raises test accuracy when data are scarce**: the gain must
   exceed 2 standard errors of the *paired* difference of the two nets'
   accuracies on the same test images (McNemar: SE = sqrt(b + c - (b - c)²/n) / n,
   b and c the images only one of the two nets gets right).

What differs from the deck, and why (offline, on the embedded 8x8
scikit-learn digits):

* The digits are **upsampled once to 28x28** (bilinear, ``kreg.data.augment.upsample``),
  train, validation and test alike, *outside* the augmentation; then deck
  000's pipeline runs unchanged (resize 32, random crop 28, ±30°). Applied
  directly to 8x8 images (resize 9, crop 8), every bilinear interpolation is
  a strong blur and ±30° of an 8-pixel digit loses much of it: augmented
  training images then look unlike test images, and augmentation *lowered*
  test accuracy (200 images: 93.6% -> 84.2% in an earlier version). Pass
  ``--upsample 0`` to see that.
* The training set is 100 images (10 per class; ``--n-train``), 60 epochs
  for both nets (augmented training needs more epochs to converge; the
  plain net has reached 100% training accuracy long before). On MNIST the
  defaults are 1000 images and the same 60 epochs.
* The model is a small LeNet-like CNN with a dense head rather than
  ``kreg.models.cnn`` (global average pooling), which on 100-200 images
  converges too slowly for a CPU budget of a few minutes.

Run:  KERAS_BACKEND=jax python lessons/l10_augmentation.py   (add --quick for a smoke run)
"""

from __future__ import annotations

import math

from kreg.lesson import Lesson, bad_flag


def _args(p):
    p.add_argument("--n-train", type=int, default=None,
                   help="training examples kept (stratified); default 1000 on MNIST, 100 on the digits")
    p.add_argument("--rotation", type=float, default=30.0, help="maximum rotation in degrees (deck 000: 30)")
    p.add_argument("--upsample", type=int, default=None,
                   help="upsample smaller images once to this side before the experiment (default 28 on the "
                   "8x8 digits, so deck 000's 32/28 pipeline applies unchanged); 0 keeps the native size")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")


LESSON = Lesson(
    "l10_augmentation",
    title="Data augmentation: deck 000's pipeline as Keras preprocessing layers, with scarce data",
    decks="000 §2, 002, 003",
    dataset="mnist",
    fallback="mnist5k",
    epochs=60,
    quick_epochs=1,
    quick_train=64,
    quick_steps=2,
    reference="STAT 453 L10 data-augmentation notebook (Resize 32, RandomCrop 28, RandomRotation 30, Normalize)",
    add_arguments=_args,
)


def _check_args(args):
    if args.n_train is not None and args.n_train < 20:
        raise bad_flag("n_train", args.n_train, "an integer >= 20")
    if not 0.0 <= args.rotation <= 180.0:
        raise bad_flag("rotation", args.rotation, "a float in [0, 180]")
    if args.upsample is not None and args.upsample != 0 and args.upsample < 8:
        raise bad_flag("upsample", args.upsample, "0 or an integer >= 8")
    if args.batch_size < 1:
        raise bad_flag("batch_size", args.batch_size, "a positive integer")
    if not args.lr > 0:
        raise bad_flag("lr", args.lr, "a positive float")


def _small_cnn(keras, k):
    return [keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv_1"),
            keras.layers.MaxPooling2D(2, name="pool_1"),
            keras.layers.Conv2D(32, 5, padding="same", activation="relu", name="conv_2"),
            keras.layers.MaxPooling2D(2, name="pool_2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(k, name="logits")]


def _paired_se(a_right, b_right):
    """SE of the difference of two accuracies measured on the same test images (McNemar)."""
    n = len(a_right)
    only_a = float((a_right & ~b_right).sum())
    only_b = float((b_right & ~a_right).sum())
    return math.sqrt(max(only_a + only_b - (only_a - only_b) ** 2 / n, 0.0)) / n


def main(argv=None):
    run = LESSON.start(argv)
    _check_args(run.args)
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import plots
    from kreg.data.augment import augmentation, augmented_sizes, upsample

    args = run.args
    # default subset: 1000 of the lecture's 54k training images, 100 of the small embedded fallbacks;
    # under --quick (and no --n-train) the harness's quick_train applies
    default_n = {"mnist": 1000, "fashion_mnist": 1000, "mnist5k": 1000, "digits": 100, "mnist1d": 100, "toy2d": 100, "sine": 100}
    data = run.load_data(n_train=args.n_train if args.n_train is not None else (None if run.quick else default_n))
    if run.quick:  # smoke run: val/test cut to the training-set size, so JAX compiles one evaluation shape
        m = len(data.x_train)
        data.x_val, data.y_val, data.x_test, data.y_test = (data.x_val[:m], data.y_val[:m], data.x_test[:m],
                                                            data.y_test[:m])
    native = data.info.input_shape
    k = data.info.num_classes
    up = args.upsample if args.upsample is not None else (28 if native[0] < 28 else 0)
    if up and up != native[0]:
        for split in ("train", "val", "test"):
            setattr(data, f"x_{split}", upsample(getattr(data, f"x_{split}"), up))
    size = data.x_train.shape[1]
    resize, crop = augmented_sizes(size)
    run.config(batch_size=args.batch_size, optimizer="Adam", learning_rate=args.lr, schedule="cosine decay to 0", rotation=args.rotation,
               native_size=int(native[0]), upsampled_to=int(size), resize=resize, crop=crop,
               n_train=len(data.x_train), model="conv5x5(16)-pool-conv5x5(32)-pool-dense")

    # 1. a grid of augmented samples
    n_show, n_aug = 6, 7
    idx = [int(np.flatnonzero(data.y_train == c)[0]) for c in range(min(n_show, k))]
    x_show = data.x_train[idx]
    aug = augmentation(size, rotation=args.rotation, seed=run.seed)
    fig, axes = plt.subplots(len(idx), n_aug + 2, figsize=(1.2 * (n_aug + 2), 1.25 * len(idx)))
    test_view = keras.ops.convert_to_numpy(aug(x_show, training=False))
    views = [keras.ops.convert_to_numpy(aug(x_show, training=True)) for _ in range(n_aug)]
    first = "original" if size == native[0] else f"upsampled {size}x{size}"
    for i in range(len(idx)):
        cols = [x_show[i, ..., 0], (test_view[i, ..., 0] + 1) / 2] + [(v[i, ..., 0] + 1) / 2 for v in views]
        for j, img in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title([first, "test transform"][j] if j < 2 else f"augmented {j - 1}", fontsize=7)
    src = data.info.name + ("" if size == native[0] else f" ({native[0]}x{native[1]} upsampled to {size}x{size})")
    fig.suptitle(f"Deck 000's pipeline on {src}:\nresize {resize}, random crop {crop}, "
                 f"rotation ±{args.rotation:g}°, [-1, 1] (shown rescaled to [0, 1])", fontsize=9)
    fig.tight_layout()
    run.figure("augmented_samples", fig)

    # 2. small CNN on a small subset, with and without augmentation
    run.total_runs = 2
    res, hist, right = {}, {}, {}
    for label, random in (("no augmentation", False), ("augmentation", True)):
        run.reseed()
        model = keras.Sequential([keras.Input((size, size, data.x_train.shape[-1])),
                                  augmentation(size, rotation=args.rotation, random=random, seed=run.seed),
                                  *_small_cnn(keras, k)], name=label.replace(" ", "_"))
        steps = max(1, math.ceil(len(data.x_train) / args.batch_size)) * run.epochs
        lr = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps)
        model.compile(optimizer=keras.optimizers.Adam(lr),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        hist[label] = run.fit(label, model, x=data.x_train, y=data.y_train, validation_data=data.test,
                              batch_size=args.batch_size)
        res[label] = {s: run.evaluate(model, *getattr(data, s))["accuracy"] for s in ("train", "val", "test")}
        res[label]["gap"] = res[label]["train"] - res[label]["test"]
        right[label] = np.argmax(model.predict(data.x_test, batch_size=1024, verbose=0), -1) == data.y_test
        run.metric(label, res[label])
    b, a = res["no augmentation"], res["augmentation"]
    n_test = len(data.y_test)
    se = _paired_se(right["augmentation"], right["no augmentation"])
    gain = a["test"] - b["test"]
    run.metric("test_gain", gain)
    run.metric("test_gain_paired_se", se)
    setting = f"{len(data.x_train)} training images, {n_test} test images"
    run.claim(
        "augmentation narrows the train-test gap",
        holds=a["gap"] < b["gap"],
        evidence=f"{setting}: gap {b['gap']:.1%} -> {a['gap']:.1%} "
        f"(train {b['train']:.1%} -> {a['train']:.1%}, test {b['test']:.1%} -> {a['test']:.1%})",
        gap_plain=b["gap"], gap_augmented=a["gap"],
    )
    run.claim(
        "augmentation raises test accuracy when data are scarce (gain > 2 paired standard errors)",
        holds=gain > 2 * se,
        evidence=f"{setting}: test {b['test']:.1%} -> {a['test']:.1%}, gain {gain:+.1%} vs 2 SE = {2 * se:.1%} "
        f"(paired, McNemar)",
        test_plain=b["test"], test_augmented=a["test"], gain=gain, paired_se=se,
    )
    curves = {label: {"loss": h.history["loss"], "accuracy": h.history["accuracy"],
                      "val_loss": h.history["val_loss"], "val_accuracy": h.history["val_accuracy"]}
              for label, h in hist.items()}
    fig = plots.learning_curves(curves, title=f"Small CNN on {len(data.x_train)} {data.info.name} images "
                                f"(dashed 'val': the test set; train curves on augmented batches)")
    run.figure("learning_curves", fig)
    low = min(min(r["test"], r["train"]) for r in res.values()) * 100
    run.figure("accuracy", plots.grouped_bar_plot(
        {label: {"train": r["train"], "test": r["test"]} for label, r in res.items()}, ylabel="accuracy",
        percent=True, title=f"Accuracy in inference mode ({len(data.x_train)} training images)",
        ylim=(max(0.0, low - 5), 101)))
    return run.finish()


if __name__ == "__main__":
    main()
