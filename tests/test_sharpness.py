"""kreg.sharpness: numpy oracle on a linear least-squares model, restore, invariances, bad arguments."""

import keras
import numpy as np
import pytest

from kreg.sharpness import loss_on, sharpness


def _linear(rng, scale=1.0):
    x = rng.normal(size=(64, 3)).astype("float32") * scale
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.1).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=keras.losses.MeanSquaredError())
    model.set_weights([np.array([[0.9], [-1.8], [0.4]], "float32"), np.array([0.2], "float32")])
    return model, x, y


def _oracle(model, x, y, radius, n_directions, seed, normalize="global"):
    ws = [np.asarray(w, np.float64) for w in model.get_weights()]

    def mse(k, b):
        return float(np.mean((x @ k + b - y) ** 2))

    base = mse(*ws)
    rng = np.random.default_rng(seed)
    gn = np.sqrt(sum(np.sum(w * w) for w in ws))
    rises = []
    for _ in range(n_directions):
        d = [rng.standard_normal(w.shape) for w in ws]
        if normalize == "global":
            dn = np.sqrt(sum(np.sum(t * t) for t in d))
            s = [radius * gn / dn * t for t in d]
        else:
            s = [radius * np.linalg.norm(w) / np.linalg.norm(t) * t for w, t in zip(ws, d)]
        rises.append(mse(ws[0] + s[0], ws[1] + s[1]) - base)
    return float(np.mean(rises)), base


@pytest.mark.parametrize("normalize", ["global", "layer"])
def test_matches_numpy_oracle(rng, normalize):
    model, x, y = _linear(rng)
    before = [w.copy() for w in model.get_weights()]
    out = sharpness(model, x, y, radius=0.1, n_directions=7, seed=3, normalize=normalize, return_all=True)
    want, base = _oracle(model, x, y, 0.1, 7, 3, normalize)
    np.testing.assert_allclose(out["base_loss"], base, rtol=1e-5)
    np.testing.assert_allclose(out["sharpness"], want, rtol=1e-3, atol=1e-6)
    assert len(out["rises"]) == 7
    for a, b in zip(before, model.get_weights()):  # weights restored exactly
        np.testing.assert_array_equal(a, b)


def test_seed_reproduces_and_sharper_surface_gives_larger_value(rng):
    model, x, y = _linear(rng)
    a = sharpness(model, x, y, radius=0.05, n_directions=5, seed=1)
    assert a == sharpness(model, x, y, radius=0.05, n_directions=5, seed=1)
    assert a > 0
    # the same weights on inputs scaled by 3: curvature x 9 in the kernel directions
    sharp, xs, ys = _linear(np.random.default_rng(0), scale=3.0)
    flat, xf, yf = _linear(np.random.default_rng(0), scale=1.0)
    assert sharpness(sharp, xs, ys, 0.05, 5, 1) > sharpness(flat, xf, yf, 0.05, 5, 1)


def test_loss_on_matches_evaluate(rng):
    model, x, y = _linear(rng)
    np.testing.assert_allclose(loss_on(model, x, y, batch_size=10), model.evaluate(x, y, verbose=0), rtol=1e-5)


def test_works_after_fit_on_a_classifier(rng):
    from kreg import models

    x = rng.random((32, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 32)
    m = models.compile_classifier(models.mlp((8, 8, 1), 10, hidden=(8,)))
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    s = sharpness(m, x, y, radius=0.05, n_directions=2, seed=0)
    assert np.isfinite(s)


@pytest.mark.parametrize("kwargs, match", [
    ({"radius": 0.0}, r"`radius`.*Received: radius=0.0"),
    ({"n_directions": 0}, r"`n_directions`.*Received: n_directions=0"),
    ({"seed": -1}, r"`seed`.*Received: seed=-1"),
    ({"normalize": "filter"}, r"`normalize`.*Received: normalize='filter'"),
])
def test_bad_arguments(rng, kwargs, match):
    model, x, y = _linear(rng)
    with pytest.raises(ValueError, match=match):
        sharpness(model, x, y, **kwargs)


def test_uncompiled_model_needs_a_loss(rng):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    x = rng.normal(size=(8, 3)).astype("float32")
    with pytest.raises(ValueError, match=r"`loss`"):
        sharpness(model, x, x[:, :1])
    assert sharpness(model, x, x[:, :1], loss=keras.losses.MeanSquaredError(), n_directions=2) >= -1.0
