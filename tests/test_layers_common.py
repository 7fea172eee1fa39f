"""Shared checks for every public layer of kreg.layers (DESIGN.md, Tests)."""

import keras
import numpy as np
import pytest

import kreg.layers as kl

# name -> (factory(seed), input shape without batch)
CASES = {
    "DropConnect": (lambda seed=1: kl.DropConnect(4, rate=0.5, activation="relu", seed=seed), (5,)),
    "DropConnect_example_gaussian": (
        lambda seed=1: kl.DropConnect(3, rate=0.3, mask="example", inference="gaussian", num_samples=4, seed=seed),
        (5,),
    ),
    "WeightNoise_Dense": (lambda seed=1: kl.WeightNoise(keras.layers.Dense(4), stddev=0.5, noise_bias=True, seed=seed), (5,)),
    "WeightNoise_Conv1D": (
        lambda seed=1: kl.WeightNoise(keras.layers.Conv1D(3, 2, padding="causal", activation="relu"), stddev=0.5, seed=seed),
        (6, 2),
    ),
    "WeightNoise_Conv2D": (
        lambda seed=1: kl.WeightNoise(keras.layers.Conv2D(3, 3, strides=2, padding="same"), stddev=0.5, seed=seed),
        (6, 6, 2),
    ),
    "GroupNorm": (lambda seed=1: kl.GroupNorm(-1, center=True), (4, 4, 4)),
    "GroupNorm_cf": (lambda seed=1: kl.GroupNorm(2, axis=1), (4, 3)),
    "Dropout_inverted": (lambda seed=1: kl.Dropout(0.5, seed=seed), (5,)),
    "Dropout_vanilla": (lambda seed=1: kl.Dropout(0.5, mode="vanilla", noise_shape=(None, 1, 3), seed=seed), (4, 3)),
    "BatchNorm": (lambda seed=1: kl.BatchNorm(momentum=0.9), (5,)),
}
RANDOM = {"DropConnect", "DropConnect_example_gaussian", "WeightNoise_Dense", "WeightNoise_Conv1D",
          "WeightNoise_Conv2D", "Dropout_inverted", "Dropout_vanilla"}
IDS = sorted(CASES)


def _x(shape, n=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype("float32") + 0.5


def _model(layer, shape):
    return keras.Sequential([keras.Input(shape), layer])


def test_every_public_layer_is_covered():
    layers = {n for n in kl.__all__ if isinstance(getattr(kl, n), type)}
    covered = {n.split("_")[0] for n in CASES}
    assert layers == covered


@pytest.mark.parametrize("name", IDS)
def test_config_round_trip(name):
    make, shape = CASES[name]
    layer = make()
    before = layer.get_config()
    layer(_x(shape))
    after = layer.get_config()
    assert before == after
    clone = type(layer).from_config(after)
    assert clone.get_config() == after


@pytest.mark.parametrize("name", IDS)
def test_keras_save_load(name, tmp_path):
    make, shape = CASES[name]
    model = _model(make(), shape)
    x = _x(shape)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    assert type(loaded.layers[-1]) is type(model.layers[-1])
    if name == "DropConnect_example_gaussian":  # random inference: check weights
        for a, b in zip(model.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", IDS)
def test_fit_step(name):
    make, shape = CASES[name]
    layer = make()
    model = keras.Sequential([keras.Input(shape), layer, keras.layers.Flatten(), keras.layers.Dense(1)])
    x = _x(shape, n=8)
    y = np.ones((8, 1), "float32")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")  # default jit_compile
    before = [keras.ops.convert_to_numpy(w).copy() for w in layer.trainable_weights]
    hist = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    after = [keras.ops.convert_to_numpy(w) for w in layer.trainable_weights]
    # the layer's own parameters (if any) receive gradients
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("name", [n for n in IDS if n != "DropConnect_example_gaussian"])
def test_inference_is_deterministic(name):
    make, shape = CASES[name]
    layer = make()
    x = _x(shape)
    a = keras.ops.convert_to_numpy(layer(x, training=False))
    b = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", IDS)
def test_seed_reproducible(name):
    make, shape = CASES[name]
    x = _x(shape)
    a, b, c = make(seed=7), make(seed=7), make(seed=8)
    for layer in (a, b, c):
        layer.build(x.shape)
    b.set_weights(a.get_weights())
    c.set_weights(a.get_weights())
    ya = keras.ops.convert_to_numpy(a(x, training=True))
    yb = keras.ops.convert_to_numpy(b(x, training=True))
    np.testing.assert_array_equal(ya, yb)
    if name in RANDOM:
        yc = keras.ops.convert_to_numpy(c(x, training=True))
        assert not np.array_equal(ya, yc)
        # a second call draws a new mask / noise
        assert not np.array_equal(ya, keras.ops.convert_to_numpy(a(x, training=True)))


BAD = [
    (lambda: kl.DropConnect(0), r"`units`.*Received: units=0"),
    (lambda: kl.DropConnect(3, rate=1.0), r"`rate`.*\[0.0, 1.0\).*Received: rate=1.0"),
    (lambda: kl.DropConnect(3, mask="row"), r"`mask`.*'batch', 'example'.*Received: mask='row'"),
    (lambda: kl.DropConnect(3, inference="mc"), r"`inference`.*Received: inference='mc'"),
    (lambda: kl.DropConnect(3, num_samples=0), r"`num_samples`.*Received: num_samples=0"),
    (lambda: kl.WeightNoise(keras.layers.Dense(2), stddev=-0.1), r"`stddev`.*Received: stddev=-0.1"),
    (lambda: kl.WeightNoise(keras.layers.LSTM(2), stddev=0.1), r"`layer`.*Dense, Conv1D or Conv2D"),
    (lambda: kl.GroupNorm(0), r"`groups`.*-1.*Received: groups=0"),
    (lambda: kl.GroupNorm(2, epsilon=0.0), r"`epsilon`.*Received: epsilon=0.0"),
    (lambda: kl.Dropout(1.5), r"`rate`.*Expected a float in \[0.0, 1.0\)\. Received: rate=1.5"),
    (lambda: kl.Dropout(0.5, mode="scaled"), r"`mode`.*'inverted', 'vanilla'.*Received: mode='scaled'"),
    (lambda: kl.Dropout(0.5, noise_shape=(None, 0)), r"`noise_shape`"),
    (lambda: kl.BatchNorm(momentum=1.5), r"`momentum`.*Received: momentum=1.5"),
    (lambda: kl.BatchNorm(epsilon=-1.0), r"`epsilon`.*Received: epsilon=-1.0"),
]


@pytest.mark.parametrize("make,match", BAD)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_groupnorm_indivisible_raises_in_build():
    layer = kl.GroupNorm(4)
    with pytest.raises(ValueError, match=r"channels \(6\).*groups \(4\)"):
        layer.build((None, 3, 6))
