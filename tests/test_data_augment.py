"""kreg.data.augment: deck 000's augmentation pipeline on every backend."""

import keras
import numpy as np
import pytest

from kreg.data.augment import Augmentation, RandomRotation, TrainTestCrop, augmentation, augmented_sizes


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.fixture
def images(rng):
    return rng.uniform(size=(16, 8, 8, 1)).astype("float32")


def test_sizes_follow_deck_000():
    assert augmented_sizes(28) == (32, 28)  # the lecture's Resize(32) + crop 28
    assert augmented_sizes(8) == (9, 8)  # scaled for 8x8 digits
    assert augmented_sizes(8, resize=10) == (10, 8)


@pytest.mark.parametrize("size", [8, 28])
def test_shape_and_range(rng, size):
    x = rng.uniform(size=(4, size, size, 1)).astype("float32")
    aug = augmentation(size, seed=0)
    for training in (False, True):
        out = _np(aug(x, training=training))
        assert out.shape == (4, size, size, 1)
        assert out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5
    # black stays black, white stays white (normalize maps [0, 1] to [-1, 1])
    assert np.allclose(_np(aug(np.zeros((1, size, size, 1), "float32"))), -1.0)
    assert np.allclose(_np(aug(np.ones((1, size, size, 1), "float32")))[:, 1:-1, 1:-1], 1.0, atol=1e-5)


def test_inference_is_resize_center_crop_normalize(images):
    aug = augmentation(8, seed=0)
    resized = _np(keras.layers.Resizing(9, 9, interpolation="bilinear")(images))
    expected = resized[:, :8, :8] * 2 - 1  # centre crop of 9 -> 8 starts at (9 - 8) // 2 = 0
    assert np.allclose(_np(aug(images, training=False)), expected, atol=1e-5)
    assert np.allclose(_np(aug(images)), expected, atol=1e-5)  # no flag means inference


def test_deterministic_at_inference_random_in_training(images):
    aug = augmentation(8, seed=0)
    assert np.array_equal(_np(aug(images)), _np(aug(images, training=False)))
    a, b = _np(aug(images, training=True)), _np(aug(images, training=True))
    assert not np.allclose(a, b)
    assert not np.allclose(a, _np(aug(images)))


def test_no_rotation_and_no_normalize(images):
    aug = augmentation(8, rotation=0, normalize=False, seed=0)
    assert [type(layer).__name__ for layer in aug.layers] == ["Resizing", "TrainTestCrop"]
    out = _np(aug(images, training=True))
    assert out.min() >= 0.0 and out.shape == images.shape


def test_random_false_is_the_test_transform_in_both_modes(images):
    base = augmentation(8, random=False)
    aug = augmentation(8, seed=0)
    assert [type(layer).__name__ for layer in base.layers] == ["Resizing", "CenterCrop", "Rescaling"]
    assert np.allclose(_np(base(images, training=True)), _np(aug(images)), atol=1e-6)


def test_random_crop_is_a_window_of_the_resized_image(rng):
    x = rng.uniform(size=(3, 9, 9, 1)).astype("float32")
    out = _np(TrainTestCrop(8, 8, seed=1)(x, training=True))
    windows = [x[:, i:i + 8, j:j + 8] for i in (0, 1) for j in (0, 1)]
    for k in range(3):
        assert any(np.allclose(out[k], w[k]) for w in windows)


def test_rotation_is_identity_without_training_flag(images):
    rot = RandomRotation(30 / 360, fill_mode="constant", seed=0)
    assert np.allclose(_np(rot(images)), images)
    assert not np.allclose(_np(rot(images, training=True)), images)


def test_works_inside_fit(images):
    """In fit the pipeline is random (loss varies at lr 0); evaluate/predict are deterministic."""
    y = np.arange(len(images)) % 10
    model = keras.Sequential([augmentation(8, seed=0), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(images, y, epochs=3, batch_size=len(images), verbose=0)
    losses = hist.history["loss"]
    assert len(set(np.round(losses, 6))) > 1, losses
    e1 = model.evaluate(images, y, verbose=0)
    e2 = model.evaluate(images, y, verbose=0)
    assert e1 == pytest.approx(e2)
    assert np.allclose(model.predict(images, verbose=0), _np(model(images)), atol=1e-5)
    # and it learns with a real learning rate
    from kreg import models

    net = keras.Sequential([augmentation(8, seed=0), *models.cnn((8, 8, 1), filters=(8,)).layers])
    models.compile_classifier(net, learning_rate=0.1)
    h = net.fit(images, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))


def test_save_load_round_trip(tmp_path, images):
    model = keras.Sequential([augmentation(8, seed=0), keras.layers.Flatten(), keras.layers.Dense(3)])
    path = tmp_path / "aug.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[0], Augmentation)
    assert np.allclose(_np(loaded(images)), _np(model(images)), atol=1e-6)
    crop = TrainTestCrop(8, 8, seed=3)
    assert TrainTestCrop.from_config(crop.get_config()).get_config() == crop.get_config()


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": 1}, "image_size"),
    ({"image_size": 8, "resize": 4}, "resize"),
    ({"image_size": 8, "rotation": -5}, "rotation"),
    ({"image_size": 8, "normalize": "yes"}, "normalize"),
    ({"image_size": 8, "random": 1}, "random"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        augmentation(**kwargs)


def test_upsample_once_to_mnist_size(images):
    from kreg.data.augment import upsample

    up = upsample(images, 28)
    assert up.shape == (16, 28, 28, 1) and isinstance(up, np.ndarray)
    assert up.min() >= 0.0 and up.max() <= 1.0
    assert np.allclose(upsample(np.full((1, 8, 8, 1), 0.5, "float32")), 0.5)
    with pytest.raises(ValueError, match="size"):
        upsample(images, 0)


# --------------------------------------------------------------------------
# issue 14: mixed precision, shape errors in build, bad input


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_fit_step_under_mixed_precision(rng, policy):
    """The whole pipeline (resize, crop, rotation, normalize) runs a fit step in float16 / bfloat16."""
    x = rng.uniform(size=(8, 28, 28, 1)).astype("float32")
    y = np.arange(8) % 10
    keras.config.set_dtype_policy(policy)
    try:
        aug = augmentation(28, seed=0)
        model = keras.Sequential([aug, keras.layers.Flatten(), keras.layers.Dense(10),
                                  keras.layers.Activation("linear", dtype="float32")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        hist = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        compute = policy.split("_")[1]
        crop = aug.get_layer("crop")
        assert crop.compute_dtype == compute and crop._random.compute_dtype == compute
        assert keras.backend.standardize_dtype(aug(x, training=True).dtype) == compute
        out = _np(model(x))
        assert np.isfinite(hist.history["loss"][0]) and np.all(np.isfinite(out))
        assert all(w.dtype == "float32" for w in model.trainable_weights)  # variables stay float32
    finally:
        keras.config.set_dtype_policy("float32")


def test_crop_larger_than_its_input_is_rejected_in_build():
    with pytest.raises(ValueError, match=r"argument `height`.*input's height, 32.*Received: height=40"):
        TrainTestCrop(40, 28)(np.zeros((1, 32, 32, 1), "float32"))
    with pytest.raises(ValueError, match=r"argument `width`.*input's width, 32.*Received: width=33"):
        TrainTestCrop(32, 33)(np.zeros((1, 32, 32, 1), "float32"))
    with pytest.raises(ValueError, match=r"rank-4 input.*Received: input_shape=\(32, 32\)"):
        TrainTestCrop(8, 8).build((32, 32))
    crop = TrainTestCrop(32, 32)  # a crop as large as the input is fine (the identity)
    assert _np(crop(np.ones((1, 32, 32, 1), "float32"))).shape == (1, 32, 32, 1)


@pytest.mark.parametrize("call, exc, arg, value", [
    (lambda: TrainTestCrop(0, 8), ValueError, "height", "0"),
    (lambda: TrainTestCrop(8, "8"), ValueError, "width", "'8'"),
    (lambda: TrainTestCrop(8, 8, seed=-1), ValueError, "seed", "-1"),
    (lambda: TrainTestCrop(8, 8, seed=1.5), ValueError, "seed", "1.5"),
    (lambda: augmentation(8, seed="s"), ValueError, "seed", "'s'"),
    (lambda: augmentation(8, channels=0), ValueError, "channels", "0"),
    (lambda: augmentation(8, name=3), TypeError, "name", "3"),
    (lambda: augmented_sizes(8.0), ValueError, "image_size", "8.0"),
    (lambda: RandomRotation(0.1, fill_mode="mirror"), ValueError, "fill_mode", "'mirror'"),
    (lambda: RandomRotation(0.1, interpolation="cubic"), ValueError, "interpolation", "'cubic'"),
    (lambda: RandomRotation(0.1, seed=-2), ValueError, "seed", "-2"),
    (lambda: __import__("kreg.data.augment", fromlist=["upsample"]).upsample(np.zeros((8, 8)), 28),
     ValueError, "images", "(8, 8)"),
    (lambda: __import__("kreg.data.augment", fromlist=["upsample"]).upsample("abc", 28),
     TypeError, "images", "str"),
])
def test_bad_input_names_argument_and_value(call, exc, arg, value):
    with pytest.raises(exc, match=rf"argument `{arg}`") as e:
        call()
    assert f"Received: {arg}=" in str(e.value) and value in str(e.value)
