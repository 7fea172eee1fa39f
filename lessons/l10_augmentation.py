"""L10 §2 — Data augmentation (decks 000 §2, 002, 003).

Deck 000 ("Data augmentation in PyTorch via TorchVision", STAT 453 L10
data-augmentation notebook) augments MNIST with::

    train: Resize(32) -> RandomCrop(28) -> RandomRotation(±30°) -> Normalize to [-1, 1]
    test:  Resize(32) -> CenterCrop(28) -> Normalize to [-1, 1]

``kreg.data.augment.augmentation`` is that pipeline as Keras preprocessing
layers, the first layer of the model, so it runs inside ``model.fit`` on
every backend (random while training, the test transform at inference). On
the embedded 8x8 digits it is scaled to the image: resize 9, crop 8. Decks
002 and 003: augmentation adds (label-preserving) transformed copies of the
training data, "worth millions of additional training images", and helps
most when data are scarce.

Experiment: a figure of augmented samples; then a small CNN
(``kreg.models.cnn``) trained on a small stratified subset, once on the
plain images (the deterministic test transform in training too,
``augmentation(random=False)``: both nets see exactly the same test inputs)
and once with augmentation. Accuracies in inference mode.

Claim: **augmentation narrows the train-test gap and raises test accuracy
when data are scarce.**

Run:  KERAS_BACKEND=jax python lessons/l10_augmentation.py   (add --quick for a smoke run)
"""

from __future__ import annotations

from kreg.lesson import Lesson


def _args(p):
    p.add_argument("--n-train", type=int, default=None,
                   help="training examples kept (stratified); default 1000 on MNIST, 200 on the digits")
    p.add_argument("--rotation", type=float, default=None,
                   help="maximum rotation in degrees; default 30 (deck 000) on MNIST, 15 on the 8x8 digits, "
                   "where ±30° plus the 9->8 crop wipe out too much of an 8-pixel digit")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size")
    p.add_argument("--filters", type=int, nargs="+", default=[32, 64], help="filters of the CNN's conv layers")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")


LESSON = Lesson(
    "l10_augmentation",
    title="Data augmentation: deck 000's pipeline as Keras preprocessing layers, with scarce data",
    decks="000 §2, 002, 003",
    dataset="mnist",
    fallback="digits",
    epochs=80,
    quick_epochs=1,
    quick_train=64,
    quick_steps=2,
    reference="STAT 453 L10 data-augmentation notebook (Resize 32, RandomCrop 28, RandomRotation 30, Normalize)",
    add_arguments=_args,
)


def _check_args(args):
    if args.n_train is not None and args.n_train < 20:
        raise ValueError(f"Invalid value received for argument `--n-train`. Expected an integer >= 20. "
                         f"Received: n_train={args.n_train}")
    if args.rotation is not None and not 0.0 <= args.rotation <= 180.0:
        raise ValueError(f"Invalid value received for argument `--rotation`. Expected a float in [0, 180]. "
                         f"Received: rotation={args.rotation}")
    if args.batch_size < 1:
        raise ValueError(f"Invalid value received for argument `--batch-size`. Expected a positive integer. "
                         f"Received: batch_size={args.batch_size}")


def main(argv=None):
    run = LESSON.start(argv)
    _check_args(run.args)
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from kreg import models, plots
    from kreg.data.augment import augmentation, augmented_sizes

    args = run.args
    data = run.load_data()
    if args.n_train is not None or not run.quick:
        n = args.n_train or (200 if len(data.x_train) < 5000 else 1000)
        data = run.load_data(n_train=min(n, len(data.x_train)))
    shape, k = data.info.input_shape, data.info.num_classes
    size = shape[0]
    if args.rotation is None:
        args.rotation = 15.0 if size < 16 else 30.0
    resize, crop = augmented_sizes(size)
    run.config(batch_size=args.batch_size, optimizer="Adam", learning_rate=args.lr, filters=list(args.filters), rotation=args.rotation,
               resize=resize, crop=crop, n_train=len(data.x_train))

    # 1. a grid of augmented samples
    n_show, n_aug = 6, 7
    idx = [int(np.flatnonzero(data.y_train == c)[0]) for c in range(min(n_show, k))]
    x_show = data.x_train[idx]
    aug = augmentation(size, rotation=args.rotation, seed=run.seed)
    fig, axes = plt.subplots(len(idx), n_aug + 2, figsize=(1.2 * (n_aug + 2), 1.25 * len(idx)))
    test_view = keras.ops.convert_to_numpy(aug(x_show, training=False))
    views = [keras.ops.convert_to_numpy(aug(x_show, training=True)) for _ in range(n_aug)]
    for i in range(len(idx)):
        cols = [x_show[i, ..., 0], (test_view[i, ..., 0] + 1) / 2] + [(v[i, ..., 0] + 1) / 2 for v in views]
        for j, img in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(["original", "test transform"][j] if j < 2 else f"augmented {j - 1}", fontsize=7)
    fig.suptitle(f"Deck 000's pipeline on {data.info.name}: resize {resize}, random crop {crop}, "
                 f"rotation ±{args.rotation:g}°, [-1, 1] (shown rescaled)", fontsize=9)
    fig.tight_layout()
    run.figure("augmented_samples", fig)

    # 2. small CNN on a small subset, with and without augmentation
    run.total_runs = 2
    res, hist = {}, {}
    for label, random in (("no augmentation", False), ("augmentation", True)):
        run.reseed()
        body = models.cnn(shape, k, filters=tuple(args.filters))
        model = keras.Sequential([augmentation(size, rotation=args.rotation, random=random, seed=run.seed),
                                  *body.layers], name=label.replace(" ", "_"))
        models.compile_classifier(model, keras.optimizers.Adam(args.lr))
        hist[label] = run.fit(label, model, x=data.x_train, y=data.y_train, validation_data=data.test,
                              batch_size=args.batch_size)
        res[label] = {s: run.evaluate(model, *getattr(data, s))["accuracy"] for s in ("train", "val", "test")}
        res[label]["gap"] = res[label]["train"] - res[label]["test"]
        run.metric(label, res[label])
    b, a = res["no augmentation"], res["augmentation"]
    run.claim(
        "augmentation narrows the train-test gap and raises test accuracy when data are scarce",
        holds=a["gap"] < b["gap"] and a["test"] > b["test"],
        evidence=f"{len(data.x_train)} training images: gap {b['gap']:.2%} -> {a['gap']:.2%}, "
        f"test {b['test']:.2%} -> {a['test']:.2%} (train {b['train']:.2%} -> {a['train']:.2%})",
        gap_plain=b["gap"], gap_augmented=a["gap"], test_plain=b["test"], test_augmented=a["test"],
    )
    curves = {label: {"loss": h.history["loss"], "accuracy": h.history["accuracy"],
                      "val_loss": h.history["val_loss"], "val_accuracy": h.history["val_accuracy"]}
              for label, h in hist.items()}
    fig = plots.learning_curves(curves, title=f"Small CNN on {len(data.x_train)} {data.info.name} images "
                                f"(dashed: test set; train curves measured on augmented batches)")
    run.figure("learning_curves", fig)
    run.figure("accuracy", plots.grouped_bar_plot(
        {label: {"train": r["train"], "test": r["test"]} for label, r in res.items()}, ylabel="accuracy",
        percent=True, title="Accuracy in inference mode", ylim=(min(min(r["test"], r["train"]) for r in res.values())
                                                                  * 100 - 5, 101)))
    return run.finish()


if __name__ == "__main__":
    main()
