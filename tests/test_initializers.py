"""kreg.initializers: PyTorch's nn.Linear / nn.Conv2d default initialization (issue 11, item 6)."""

import math

import keras
import numpy as np
import pytest

import kreg
from kreg.initializers import TorchLinearBias, TorchLinearKernel


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float64)


@pytest.mark.parametrize("shape,fan_in", [((400, 300), 400), ((3, 3, 16, 8), 144), ((64, 1), 64)])
def test_kernel_is_uniform_on_one_over_sqrt_fan_in(shape, fan_in):
    w = _np(TorchLinearKernel(seed=1)(shape))
    bound = 1.0 / math.sqrt(fan_in)
    assert w.shape == shape
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > bound * (1 - 20.0 / w.size)  # fills the interval
    # Var U(-a, a) = a^2 / 3 = 1 / (3 fan_in); the sample variance's relative sd is about sqrt(0.8 / n)
    np.testing.assert_allclose(w.var(), bound**2 / 3, rtol=5 * math.sqrt(0.8 / w.size))
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * w.size)


def test_bias_is_uniform_on_one_over_sqrt_fan_in():
    b = _np(TorchLinearBias(fan_in=25, seed=3)((20000,)))
    bound = 0.2
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.999 * bound
    np.testing.assert_allclose(b.var(), bound**2 / 3, rtol=5 * math.sqrt(0.8 / b.size))


def test_bounds_match_torch_reset_parameters():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for fan_in, fan_out in ((784, 75), (75, 45), (45, 10)):
        ref = torch.nn.Linear(fan_in, fan_out)
        ref_w, ref_b = ref.weight.detach().numpy().T, ref.bias.detach().numpy()
        w = _np(TorchLinearKernel(seed=0)((fan_in, fan_out)))
        b = _np(TorchLinearBias(fan_in, seed=0)((fan_out,)))
        bound = 1 / math.sqrt(fan_in)
        # torch's own draw stays within our bound and spreads over it as ours does
        assert np.abs(ref_w).max() <= bound and np.abs(w).max() <= bound
        assert np.abs(ref_b).max() <= bound and np.abs(b).max() <= bound
        np.testing.assert_allclose(w.var(), ref_w.var(), rtol=5 * math.sqrt(2 * 0.8 / w.size))
    conv = torch.nn.Conv2d(16, 8, 3)
    bound = 1 / math.sqrt(16 * 9)
    assert np.abs(conv.weight.detach().numpy()).max() <= bound
    assert np.abs(_np(TorchLinearKernel(seed=0)((3, 3, 16, 8)))).max() <= bound
    # torch's bound, computed as reset_parameters does: kaiming_uniform_(a=sqrt(5)) = gain * sqrt(3 / fan_in)
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    assert gain * math.sqrt(3 / 784) == pytest.approx(1 / math.sqrt(784), rel=1e-12)


def test_seeds_behave_like_keras_initializers():
    a = _np(TorchLinearKernel(seed=5)((4, 3)))
    np.testing.assert_array_equal(a, _np(TorchLinearKernel(seed=5)((4, 3))))
    assert not np.array_equal(a, _np(TorchLinearKernel(seed=6)((4, 3))))
    init = TorchLinearBias(4, seed=5)
    np.testing.assert_array_equal(_np(init((3,))), _np(init((3,))))  # an int seed repeats, as in Keras
    gen = TorchLinearKernel(seed=keras.random.SeedGenerator(1))
    assert not np.array_equal(_np(gen((4, 3))), _np(gen((4, 3))))


@pytest.mark.parametrize("init", [TorchLinearKernel(seed=2), TorchLinearBias(fan_in=7, seed=2), TorchLinearBias(7)])
def test_serialization_round_trip(init):
    config = keras.initializers.serialize(init)
    assert config["registered_name"] == f"kreg>{type(init).__name__}"
    clone = keras.initializers.deserialize(config)
    assert type(clone) is type(init) and clone.get_config() == init.get_config()
    if init.get_config()["seed"] is not None:
        shape = (7, 3) if isinstance(init, TorchLinearKernel) else (3,)
        np.testing.assert_array_equal(_np(clone(shape)), _np(init(shape)))


def test_dense_save_load_and_fit_step(tmp_path):
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(4, kernel_initializer=TorchLinearKernel(), bias_initializer=TorchLinearBias(6)),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer="sgd", loss="mse")
    h = model.fit(np.ones((8, 6), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])
    model.save(tmp_path / "i.keras")
    loaded = keras.saving.load_model(tmp_path / "i.keras")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make,arg,received",
    [
        (lambda: TorchLinearBias(0), "fan_in", "fan_in=0"),
        (lambda: TorchLinearBias(2.5), "fan_in", "fan_in=2.5"),
        (lambda: TorchLinearBias(4, seed="a"), "seed", "seed='a'"),
        (lambda: TorchLinearKernel(seed=1.5), "seed", "seed=1.5"),
    ],
)
def test_bad_arguments(make, arg, received):
    with pytest.raises((ValueError, TypeError)) as err:
        make()
    assert f"argument `{arg}`" in str(err.value) and f"Received: {received}" in str(err.value)


def test_top_level_exports():
    assert kreg.TorchLinearKernel is TorchLinearKernel and kreg.TorchLinearBias is TorchLinearBias
    assert "initializers" in kreg.__all__
