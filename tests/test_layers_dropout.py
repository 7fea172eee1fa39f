"""kreg.layers.Dropout (inverted and vanilla) and mc_predict."""

import keras
import numpy as np
import pytest

from kreg.layers import Dropout, mc_predict

N = 20000  # mask entries per statistical check


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_inverted_and_vanilla_agree_in_expectation(rate):
    x = np.ones((4, N // 4), "float32")
    se = np.sqrt(rate / (1 - rate) / N)  # std of the mean of m/(1-p)
    for mode in ("inverted", "vanilla"):
        layer = Dropout(rate, mode=mode, seed=3)
        train = _np(layer(x, training=True))
        test = _np(layer(x, training=False))
        # E[y_train] = y_test, elementwise constant here
        assert abs(train.mean() - test.mean()) < 5 * se * test.mean()
    np.testing.assert_allclose(_np(Dropout(rate, mode="vanilla")(x)), (1 - rate) * x, rtol=1e-6)
    np.testing.assert_array_equal(_np(Dropout(rate)(x)), x)


def test_inverted_matches_keras_dropout_statistics():
    rate = 0.3
    x = np.ones((8, N // 8), "float32")
    ours = _np(Dropout(rate, seed=1)(x, training=True))
    ref = _np(keras.layers.Dropout(rate, seed=1)(x, training=True))
    se = np.sqrt(rate * (1 - rate) / N)
    for y in (ours, ref):
        assert abs((y == 0).mean() - rate) < 5 * se
        np.testing.assert_allclose(np.unique(y[y != 0]), [1 / (1 - rate)], rtol=1e-6)
    assert abs((ours == 0).mean() - (ref == 0).mean()) < 5 * np.sqrt(2) * se


def test_vanilla_training_is_unscaled():
    y = _np(Dropout(0.5, mode="vanilla", seed=0)(np.full((2, 50), 3.0, "float32"), training=True))
    assert set(np.unique(y)) == {0.0, 3.0}


def test_noise_shape_broadcasts_mask():
    y = _np(Dropout(0.5, noise_shape=(None, 1, 6), seed=0)(np.ones((3, 5, 6), "float32"), training=True))
    assert np.all(y == y[:, :1, :])  # same mask along the broadcast axis


def test_mc_flag_keeps_masks_at_inference():
    layer = Dropout(0.5, mc=True, seed=0)
    y = _np(layer(np.ones((2, 100), "float32")))
    assert (y == 0).any()


def _linear_model(d=6, rate=0.5):
    model = keras.Sequential([keras.Input((d,)), Dropout(rate, seed=5), keras.layers.Dense(1)])
    return model


def test_mc_averaging_converges_to_weight_scaling_for_linear_model():
    rate, d, samples = 0.5, 6, 200
    model = _linear_model(d, rate)
    x = np.random.default_rng(0).normal(size=(5, d)).astype("float32")
    w = model.layers[-1].get_weights()[0][:, 0]
    scaled = model.predict(x, verbose=0)  # inverted: identity at test = weight scaling
    mc = mc_predict(model, x, samples)
    # per-pass std of the output: sqrt(p/(1-p) sum_i (w_i x_i)^2)
    sd = np.sqrt(rate / (1 - rate) * ((x * w) ** 2).sum(axis=1, keepdims=True))
    assert mc.shape == scaled.shape
    assert np.all(np.abs(mc - scaled) < 5 * sd / np.sqrt(samples) + 1e-5)
    assert model.layers[0].mc is False  # restored


def test_mc_predict_geometric_and_arguments():
    model = keras.Sequential([keras.Input((4,)), Dropout(0.5, seed=2), keras.layers.Dense(3)])
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    geo = mc_predict(model, x, 20, average="geometric", from_logits=True)
    ari = mc_predict(model, x, 20, average="arithmetic", from_logits=True)
    for p in (geo, ari):
        assert p.shape == (6, 3)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # one sample: both averages are the same distribution
    keras.utils.set_random_seed(0)
    model.layers[0].seed_generator = keras.random.SeedGenerator(9)
    a = mc_predict(model, x, 1, average="geometric", from_logits=True)
    model.layers[0].seed_generator = keras.random.SeedGenerator(9)
    b = mc_predict(model, x, 1, from_logits=True)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"`average`.*Received: average='median'"):
        mc_predict(model, x, 2, average="median")
    with pytest.raises(ValueError, match=r"`samples`.*Received: samples=0"):
        mc_predict(model, x, 0)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="kreg.layers.Dropout"):
        mc_predict(plain, x, 2)


@pytest.mark.parametrize("noise_shape, batch_size, rows, d", [
    (None, None, 2, 400),  # all 36 samples in one call
    (None, 7, 2, 400),  # 3 samples a call
    ((1, None), None, 2, 400),  # one mask for the batch: one sample a call
    ((None, 1), None, 800, 2),  # one mask per row, shared by its features: 10 samples a call
])
def test_mc_predict_samples_are_independent_when_stacked(noise_shape, batch_size, rows, d):
    """Several samples share one call (x stacked); each copy must still be a sample of its own.

    The model outputs the scaled mask itself (inverted Dropout on ones: 0 or 2), so the arithmetic mean of
    S samples is 2 Binomial(S, 1/2) / S, with variance 1/S per output. Copies that shared a mask (stacked
    samples under a ``noise_shape`` with 1 on the batch axis) would leave every mean at 0 or 2.
    """
    samples = 36
    model = keras.Sequential([keras.Input((d,)), Dropout(0.5, noise_shape=noise_shape, seed=3)])
    mean = mc_predict(model, np.ones((rows, d), "float32"), samples, batch_size=batch_size)
    assert mean.shape == (rows, d) and model.layers[0].mc is False
    spread = mean.std()
    se = 1.0 / np.sqrt(samples)  # 1/6
    assert 0.8 * se < spread < 1.2 * se, spread  # >= 400 independent outputs: the std is within +-20% (5 sd)
    np.testing.assert_allclose(mean.mean(), 1.0, atol=0.1)
    if noise_shape == (1, None):  # one mask for the whole batch in every pass: the rows agree
        np.testing.assert_array_equal(mean[0], mean[1])
    else:  # rows draw their own masks
        assert not np.all(mean == mean[0])


def test_mc_predict_stacks_inputs_of_every_structure():
    inp = {"a": keras.Input((3,), name="a"), "b": keras.Input((2,), name="b")}
    h = keras.layers.Concatenate()([inp["a"], inp["b"]])
    model = keras.Model(inp, keras.layers.Dense(2)(Dropout(0.5, seed=1)(h)))
    x = {"a": np.ones((4, 3), "float32"), "b": np.ones((4, 2), "float32")}
    out = mc_predict(model, x, 10, batch_size=12, from_logits=True)  # 3 samples a call: 3 + 3 + 3 + 1
    assert out.shape == (4, 2) and np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- issue 14


@pytest.mark.parametrize(
    "noise_shape,shape,match",
    [
        ((None, 1), (2, 3, 3, 4), r"`noise_shape`.*rank 4.*Received: noise_shape=\(None, 1\)"),
        ((None, 1, 1), (2, 5), r"`noise_shape`.*rank 2.*Received: noise_shape=\(None, 1, 1\)"),
        ((None, 2), (2, 5), r"`noise_shape`.*1 or the input's size.*Received: noise_shape=\(None, 2\)"),
    ],
)
def test_noise_shape_must_match_the_input_rank(noise_shape, shape, match):
    # (None, 1) on a 4-D input gave one mask for every example; (None, 1, 1) on a rank-2 input a rank-3 output
    layer = Dropout(0.5, noise_shape=noise_shape, seed=0)
    with pytest.raises(ValueError, match=match):
        layer(np.ones(shape, "float32"), training=True)
    with pytest.raises(ValueError, match=match):
        keras.Sequential([keras.Input(shape[1:]), Dropout(0.5, noise_shape=noise_shape)])


def test_mask_under_bfloat16_is_drawn_and_compared_in_float32():
    # a bf16 draw compared with rate in bf16 kept 0.6945 to 0.6975 of the units for rate 0.3
    n = 2_000_000
    x = np.ones((n,), "float32")
    y = _np(keras.ops.cast(Dropout(0.3, seed=11, dtype="mixed_bfloat16")(x, training=True), "float32"))
    kept = (y != 0).mean()
    assert abs(kept - 0.7) < 4 * np.sqrt(0.21 / n), kept  # 4 standard errors: 0.0013
    # the same float32 draw as a float32 input: the same mask
    ref = _np(Dropout(0.3, seed=11)(np.ones((n,), "float32"), training=True))
    np.testing.assert_array_equal(y != 0, ref != 0)
    # inverted scaling computed in float32, rounded once: mean of the kept values is 1/0.7 to bf16 precision
    np.testing.assert_allclose(y[y != 0].mean(), 1 / 0.7, rtol=4e-3)


def test_mc_predict_dict_inputs_with_batch_size_keeps_every_row():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = keras.layers.Concatenate()([a, b])
    model = keras.Model({"a": a, "b": b}, keras.layers.Dense(4)(Dropout(0.5, seed=1)(h)))
    rng = np.random.default_rng(2)
    x = {"a": rng.normal(size=(100, 3)).astype("float32"), "b": rng.normal(size=(100, 2)).astype("float32")}
    out = mc_predict(model, x, 2, batch_size=10)  # len(x) was 2 (keys): 10 rows came back
    assert out.shape == (100, 4)
    out = mc_predict(model, x, 2)
    assert out.shape == (100, 4)
    with pytest.raises(ValueError, match=r"argument `x`.*same number of rows"):
        mc_predict(model, {"a": x["a"], "b": x["b"][:50]}, 2, batch_size=10)
