"""Deck 000's data-augmentation pipeline, built from Keras preprocessing layers.

STAT 453 L10 (deck 000 §2, "Data Augmentation in PyTorch via TorchVision")
augments MNIST with::

    train: Resize(32, 32) -> RandomCrop(28, 28) -> RandomRotation(30°, bilinear)
           -> ToTensor ([0, 1]) -> Normalize(0.5, 0.5)       # [-1, 1]
    test:  Resize(32, 32) -> CenterCrop(28, 28) -> Normalize(0.5, 0.5)

:func:`augmentation` returns the same pipeline as a ``keras.Sequential`` of
Keras preprocessing layers, so it runs *inside* ``model.fit`` on TensorFlow,
JAX and PyTorch alike: put it first in a model, and Keras switches it between
its two halves by itself — random crop and rotation while training
(``fit``), resize + centre crop + normalize at inference (``evaluate``,
``predict``, ``model(x)``), which is deterministic.

The sizes are scaled to the input: an image of side ``s`` is resized to
``round(s · 32/28)`` and cropped back to ``s``, so 28x28 MNIST gets the
lecture's 32 -> 28 and the embedded 8x8 digits get 9 -> 8 (a random shift of
up to one pixel, the same fraction of the image as 4 pixels of 28).

This module imports Keras at import time; import it after the backend is
chosen (a lesson does so inside ``main``).
"""

from __future__ import annotations

import keras

from kreg._validation import check_choice, check_float, check_int, invalid

__all__ = ["augmentation", "Augmentation", "TrainTestCrop", "RandomRotation", "augmented_sizes", "upsample",
           "RESIZE_RATIO"]

#: deck 000 resizes MNIST's 28 pixels to 32 before cropping back to 28.
RESIZE_RATIO = 32 / 28


def augmented_sizes(image_size, resize=None):
    """``(resize, crop)`` for an image of side ``image_size``: deck 000's 32/28 ratio, rounded."""
    image_size = check_int("image_size", image_size, low=2)
    if resize is None:
        resize = max(image_size + 1, int(round(image_size * RESIZE_RATIO)))
    resize = check_int("resize", resize, low=image_size)
    return resize, image_size


@keras.saving.register_keras_serializable(package="kreg")
class TrainTestCrop(keras.layers.Layer):
    """Random crop while training, centre crop at inference (torchvision's RandomCrop / CenterCrop pair).

    Keras's own ``RandomCrop`` *resizes* at inference instead of
    centre-cropping; deck 000's test transform centre-crops, which this layer
    does.

    Args:
        height: output height.
        width: output width.
        seed: seed of the random crop.

    Call arguments:
        inputs: images ``(batch, H, W, C)`` with ``H >= height``, ``W >= width``.
        training: random crop if true, else the centred window.

    Input shape: ``(batch, H, W, C)``. Output shape: ``(batch, height, width, C)``.

    >>> crop = TrainTestCrop(28, 28)
    >>> tuple(crop(keras.ops.zeros((2, 32, 32, 1))).shape)
    (2, 28, 28, 1)
    """

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.height = check_int("height", height, low=1)
        self.width = check_int("width", width, low=1)
        self.seed = check_int("seed", seed, low=0, allow_none=True)
        self._random = keras.layers.RandomCrop(self.height, self.width, seed=seed, name="random_crop",
                                               dtype=self.dtype_policy)
        self._center = keras.layers.CenterCrop(self.height, self.width, name="center_crop",
                                               dtype=self.dtype_policy)

    def _spatial_axes(self):
        return (2, 3) if keras.config.image_data_format() == "channels_first" else (1, 2)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"TrainTestCrop expects images of shape (batch, H, W, C), a rank-4 input. "
                             f"Received: input_shape={tuple(input_shape)}")
        for arg, value, axis, side in zip(("height", "width"), (self.height, self.width),
                                          self._spatial_axes(), ("height", "width")):
            size = input_shape[axis]
            if size is not None and value > size:
                raise invalid(arg, value, f"an integer <= the input's {side}, {size} (a crop cannot be "
                              f"larger than its input; input_shape={tuple(input_shape)})")
        self._random.build(input_shape)
        self._center.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        if training:
            return self._random(inputs, training=True)
        return self._center(inputs)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h, w = self._spatial_axes()
        shape[h], shape[w] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        return super().get_config() | {"height": self.height, "width": self.width, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kreg")
class RandomRotation(keras.layers.RandomRotation):
    """``keras.layers.RandomRotation`` that is the identity unless told it is training.

    Keras's preprocessing layers default to ``training=True`` when called
    without a training flag, so ``model(x)`` would rotate test images; this
    subclass defaults to inference, like ``Dropout``, so ``model(x)``,
    ``predict`` and ``evaluate`` agree and only ``fit`` (or an explicit
    ``training=True``) rotates. Arguments as ``keras.layers.RandomRotation``.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 **kwargs):
        # Keras raises NotImplementedError without the Keras-style "Received:" for these two
        check_choice("fill_mode", fill_mode, ("reflect", "wrap", "constant", "nearest"))
        check_choice("interpolation", interpolation, ("nearest", "bilinear"))
        check_int("seed", seed, low=0, allow_none=True)
        check_float("fill_value", fill_value)
        super().__init__(factor, fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, **kwargs)

    def call(self, data, training=False):
        return super().call(data, training=training)


@keras.saving.register_keras_serializable(package="kreg")
class Augmentation(keras.Sequential):
    """A ``keras.Sequential`` of preprocessing layers that is in inference mode unless told otherwise.

    Keras's preprocessing layers default to ``training=True`` when called
    without a training flag, and the first of them then puts the whole call
    in training mode, so a plain ``keras.Sequential`` of them would augment
    ``model(x)``. This one defaults to ``training=False`` (like ``Dropout``):
    ``model(x)``, ``predict`` and ``evaluate`` apply the deterministic
    inference half, ``fit`` (which calls with ``training=True``) and an
    explicit ``training=True`` the random one. Use it as *one* layer (the
    first) of a model, not unpacked into its layers.
    """

    def call(self, inputs, training=False, mask=None, **kwargs):
        return super().call(inputs, training=training, mask=mask, **kwargs)


def augmentation(image_size=28, *, resize=None, rotation=30.0, channels=1, normalize=True, random=True,
                 seed=None, name="augmentation"):
    """Deck 000's MNIST augmentation as Keras preprocessing layers (a ``keras.Sequential``).

    Training (``training=True``, i.e. inside ``fit``)::

        Resizing(resize) -> random crop(image_size) -> RandomRotation(±rotation°, bilinear,
        zero fill) -> x * 2 - 1

    Inference: ``Resizing(resize) -> centre crop(image_size) -> x * 2 - 1`` (deterministic).

    Inputs are images in [0, 1] (``kreg.data.load`` gives that); outputs are
    in [-1, 1] (``Normalize(mean=0.5, std=0.5)``). Rotated-in corners are
    filled with 0 (black background), as torchvision's ``RandomRotation`` does.

    Args:
        image_size: side of the input (and output) images: 28 for MNIST, 8 for
            the embedded digits.
        resize: side after resizing; default ``round(image_size · 32/28)``
            (32 for MNIST, 9 for 8x8 digits).
        rotation: maximum rotation in degrees (deck 000: 30); 0 disables it.
        channels: channels of the images.
        normalize: map [0, 1] to [-1, 1] at the end.
        random: ``False`` gives deck 000's *test* transform (resize, centre
            crop, normalize) in training too: the no-augmentation baseline
            that sees exactly the same test-time inputs.
        seed: seed of the random layers.
        name: name of the returned model.

    Returns:
        An uncompiled :class:`Augmentation` (a ``keras.Sequential``) with an ``Input((image_size,
        image_size, channels))``: use it as the first layer of a model
        (``keras.Sequential([augmentation(8), *body.layers])``; keep it one
        layer, do not unpack its layers), or call it on a
        batch with ``training=True`` to see augmented samples.

    >>> aug = augmentation(28)
    >>> tuple(aug(keras.ops.ones((2, 28, 28, 1)), training=True).shape)
    (2, 28, 28, 1)
    """
    resize, crop = augmented_sizes(image_size, resize)
    rotation = check_float("rotation", rotation, low=0.0, high=180.0)
    channels = check_int("channels", channels, low=1)
    seed = check_int("seed", seed, low=0, allow_none=True)
    if not isinstance(name, str) or not name:
        raise invalid("name", name, "a non-empty string", exc=TypeError)
    for flag, value in (("normalize", normalize), ("random", random)):
        if not isinstance(value, bool):
            raise invalid(flag, value, "a bool")
    layers = [keras.Input((image_size, image_size, channels)),
              keras.layers.Resizing(resize, resize, interpolation="bilinear", name="resize"),
              TrainTestCrop(crop, crop, seed=seed, name="crop") if random
              else keras.layers.CenterCrop(crop, crop, name="crop")]
    if rotation > 0 and random:
        layers.append(RandomRotation(rotation / 360.0, fill_mode="constant", fill_value=0.0,
                                                  interpolation="bilinear",
                                                  seed=None if seed is None else seed + 1, name="rotate"))
    if normalize:
        layers.append(keras.layers.Rescaling(2.0, offset=-1.0, name="normalize"))
    return Augmentation(layers, name=name)


def upsample(images, size=28):
    """Bilinearly resize a batch of images ``(n, H, W, C)`` to ``size x size`` once, as a numpy array.

    For the embedded 8x8 digits: upsampling them to MNIST's 28x28 *before*
    the experiment (train and test alike) lets deck 000's pipeline (resize
    32, random crop 28, rotation ±30°) run unchanged. Run directly on 8x8
    images, the pipeline's bilinear resize and rotation blur a digit to a few
    grey pixels, so augmented training images no longer look like test images.
    """
    import numpy as np

    size = check_int("size", size, low=1)
    try:
        images = np.asarray(images, "float32")
    except (TypeError, ValueError) as e:
        raise invalid("images", type(images).__name__, "a numeric array of images (n, H, W, C)",
                      exc=TypeError) from e
    if images.ndim != 4:
        raise invalid("images", f"<array of shape {images.shape}>", "a batch of images of shape (n, H, W, C)")
    out = keras.ops.image.resize(keras.ops.convert_to_tensor(images), (size, size),
                                 interpolation="bilinear")
    return np.clip(keras.ops.convert_to_numpy(out), 0.0, 1.0)
