"""Tests for kreg.regularizers: numpy / PyTorch oracles, on every backend."""

import math

import keras
import numpy as np
import pytest
import torch

from kreg import regularizers as R

REGS = {
    "l1": (R.L1, {"l1": 0.03}, lambda w: 0.03 * np.abs(w).sum()),
    "l2": (R.L2, {"l2": 0.05}, lambda w: 0.05 * np.square(w).sum()),
    "elastic_net": (
        R.ElasticNet,
        {"alpha": 0.2, "l1_ratio": 0.3},
        lambda w: 0.2 * (0.3 * np.abs(w).sum() + 0.5 * 0.7 * np.square(w).sum()),
    ),
}


def _value(reg, w):
    return float(keras.ops.convert_to_numpy(reg(keras.ops.convert_to_tensor(w))))


def _mlp(kernel_regularizer=None, bias_regularizer=None, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, activation="tanh", kernel_regularizer=kernel_regularizer,
                               bias_regularizer=bias_regularizer),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(1, kernel_regularizer=kernel_regularizer,
                               bias_regularizer=bias_regularizer),
        ]
    )


def _data(n=16, d=4, seed=0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, d)).astype("float32")
    y = (x @ g.normal(size=(d, 1)) + 0.1 * g.normal(size=(n, 1))).astype("float32")
    return x, y


def _weights(model):
    return [np.asarray(w, dtype=np.float64) for w in model.get_weights()]


def _max_diff(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(_weights(a), _weights(b)))


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("name", sorted(REGS))
def test_penalty_value_matches_numpy(name, rng):
    cls, kwargs, oracle = REGS[name]
    w = rng.normal(size=(7, 3)).astype("float32")
    np.testing.assert_allclose(_value(cls(**kwargs), w), oracle(w.astype(np.float64)), rtol=1e-5)


def test_elastic_net_limits(rng):
    w = rng.normal(size=(6,)).astype("float32")
    np.testing.assert_allclose(_value(R.ElasticNet(0.4, 1.0), w), _value(R.L1(0.4), w), rtol=1e-6)
    np.testing.assert_allclose(_value(R.ElasticNet(0.4, 0.0), w), _value(R.L2(0.2), w), rtol=1e-6)


@pytest.mark.parametrize(
    "cls, kwargs, arg",
    [
        (R.L1, {"l1": -0.1}, "l1"),
        (R.L1, {"l1": float("nan")}, "l1"),
        (R.L2, {"l2": float("inf")}, "l2"),
        (R.L2, {"l2": True}, "l2"),
        (R.L2, {"l2": -1e-9}, "l2"),
        (R.ElasticNet, {"alpha": -1.0, "l1_ratio": 0.5}, "alpha"),
        (R.ElasticNet, {"alpha": 0.1, "l1_ratio": 1.5}, "l1_ratio"),
        (R.ElasticNet, {"alpha": 0.1, "l1_ratio": -0.1}, "l1_ratio"),
        (R.ElasticNet, {"alpha": 0.1, "l1_ratio": float("nan")}, "l1_ratio"),
    ],
)
def test_bad_arguments(cls, kwargs, arg):
    with pytest.raises(ValueError, match=f"argument `{arg}`.*Received: {arg}="):
        cls(**kwargs)


# ---------------------------------------------------------------- lecture mapping


def test_from_lecture_matches_slide_formulas(rng):
    w = rng.normal(size=(5, 4)).astype("float32")
    w64 = w.astype(np.float64)
    sq, ab = np.square(w64).sum(), np.abs(w64).sum()
    lam, n, r, beta = 0.3, 32, 0.25, 0.7
    cases = [
        (R.from_lecture("000", lam, batch_size=n), lam / n * sq),
        (R.from_lecture("001", lam), lam * sq),
        (R.from_lecture("001", lam, penalty="l1"), lam * ab),
        (R.from_lecture("001", lam, penalty="elastic_net", r=r), lam * (r * sq + (1 - r) / 2 * ab)),
        (R.from_lecture("001", lam, penalty="elastic_net", r=0.0), lam * ab / 2),  # r=0: lasso
        (R.from_lecture("001", lam, penalty="elastic_net", r=1.0), lam * sq),
        (R.from_lecture("002", lam), lam / 2 * sq),
        (R.from_lecture("003", lam), lam / 2 * sq),
        (R.from_lecture("003", lam, penalty="l1"), lam * ab),
        (R.from_lecture("004", lam), lam * sq),
        (R.from_lecture("004", lam, penalty="l1"), lam * ab),
        (R.from_lecture("004", lam, penalty="elastic_net", beta=beta), lam * (beta * sq + ab)),
    ]
    for reg, expected in cases:
        np.testing.assert_allclose(_value(reg, w), expected, rtol=1e-5, err_msg=repr(reg.get_config()))


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"deck": "005", "lam": 0.1}, "deck"),
        ({"deck": "000", "lam": 0.1}, "batch_size"),
        ({"deck": "000", "lam": 0.1, "batch_size": 0}, "batch_size"),
        ({"deck": "002", "lam": 0.1, "penalty": "l1"}, "penalty"),
        ({"deck": "001", "lam": 0.1, "penalty": "elastic_net"}, "r"),
        ({"deck": "004", "lam": 0.1, "penalty": "elastic_net", "beta": -1.0}, "beta"),
        ({"deck": "004", "lam": -0.1}, "lam"),
    ],
)
def test_from_lecture_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=f"argument `{arg}`"):
        R.from_lecture(**kwargs)


def test_weight_decay_helpers():
    assert R.sgd_weight_decay_for_l2(0.05) == pytest.approx(0.1)
    assert R.l2_for_sgd_weight_decay(0.1) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="argument `l2`"):
        R.sgd_weight_decay_for_l2(-1.0)


# ---------------------------------------------------------------- serialization


@pytest.mark.parametrize("name", sorted(REGS))
def test_serialization_round_trip(name):
    cls, kwargs, _ = REGS[name]
    reg = cls(**kwargs)
    assert cls.from_config(reg.get_config()).get_config() == reg.get_config()
    again = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert type(again) is cls and again.get_config() == reg.get_config()
    assert keras.regularizers.get(keras.saving.serialize_keras_object(reg)).get_config() == kwargs


@pytest.mark.parametrize("name", sorted(REGS))
def test_keras_file_save_load(name, tmp_path):
    cls, kwargs, _ = REGS[name]
    model = _mlp(kernel_regularizer=cls(**kwargs))
    x, _ = _data()
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    reg = loaded.layers[0].kernel_regularizer
    assert type(reg) is cls and reg.get_config() == kwargs
    assert R.penalty(loaded) == pytest.approx(R.penalty(model), rel=1e-6)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("name", sorted(REGS))
def test_fit_step_default_jit(name):
    cls, kwargs, _ = REGS[name]
    model = _mlp(kernel_regularizer=cls(**kwargs))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x, y = _data()
    before = R.penalty(model)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])
    assert math.isfinite(R.penalty(model)) and R.penalty(model) != before


# ---------------------------------------------------------------- measuring


def test_penalty_is_evaluate_difference():
    x, y = _data()
    plain = _mlp()
    reg = R.apply(plain, R.ElasticNet(0.1, 0.4))
    for m in (plain, reg):
        m.compile(optimizer="sgd", loss="mse")
    data_loss = plain.evaluate(x, y, batch_size=16, verbose=0)
    total = reg.evaluate(x, y, batch_size=16, verbose=0)
    assert R.penalty(plain) == 0.0
    assert R.penalty(reg) > 0.1
    np.testing.assert_allclose(total - data_loss, R.penalty(reg), rtol=1e-5)


def test_penalty_sums_all_regularized_weights():
    model = _mlp(kernel_regularizer=R.L2(0.1), bias_regularizer=R.L1(0.2))
    for layer in model.layers[2:]:
        layer.bias.assign(np.full(layer.bias.shape, 0.5, "float32"))
    w = _weights(model)
    # layer order: dense kernel, bias, bn gamma, beta, mean, var, dense_1 kernel, bias
    expected = 0.1 * (np.square(w[0]).sum() + np.square(w[6]).sum()) + 0.2 * (
        np.abs(w[1]).sum() + np.abs(w[7]).sum()
    )
    got = R.penalty(model)
    assert type(got) is float
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    model.compile(loss="mse")
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.stack(model.losses)))), got, rtol=1e-5
    )


def test_weight_norm_and_sparsity():
    model = _mlp()
    k0 = np.zeros((4, 5), "float32")
    k0[0, :] = [3.0, -4.0, 1e-4, -1e-3, 0.5]
    k1 = np.array([[2.0], [0.0], [0.0], [0.0], [-1.0]], "float32")
    model.layers[0].kernel.assign(k0)
    model.layers[2].kernel.assign(k1)
    model.layers[0].bias.assign(np.full((5,), 100.0, "float32"))  # biases are not kernels
    assert [v.shape for v in R.kernels(model)] == [(4, 5), (5, 1)]
    all_w = np.concatenate([k0.ravel(), k1.ravel()]).astype(np.float64)
    n2, n1, sp = R.weight_norm(model), R.weight_norm(model, ord=1), R.sparsity(model)
    assert type(n2) is float and type(n1) is float and type(sp) is float
    np.testing.assert_allclose(n2, np.sqrt(np.square(all_w).sum()), rtol=1e-6)
    np.testing.assert_allclose(n1, np.abs(all_w).sum(), rtol=1e-6)
    np.testing.assert_allclose(sp, (np.abs(all_w) <= 1e-3).mean(), rtol=1e-12)
    assert R.sparsity(model, tol=0.0) == pytest.approx((all_w == 0).mean())
    with pytest.raises(ValueError, match="argument `ord`"):
        R.weight_norm(model, ord=3)
    with pytest.raises(ValueError, match="argument `tol`"):
        R.sparsity(model, tol=-1.0)


# ---------------------------------------------------------------- apply


@keras.saving.register_keras_serializable(package="kreg_tests")
class _KernelLayer(keras.layers.Layer):
    """Stand-in for kreg's DropConnect: kernel_regularizer only as an attribute."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_regularizer = None

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="kernel", regularizer=self.kernel_regularizer
        )
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")

    def call(self, x):
        return x @ self.kernel + self.bias

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _functional():
    keras.utils.set_random_seed(1)
    inp = keras.Input((6,))
    x = keras.layers.Reshape((6, 1))(inp)
    x = keras.layers.Conv1D(2, 3, bias_regularizer=R.L2(9.0))(x)
    x = keras.layers.LayerNormalization(gamma_regularizer=R.L2(9.0))(x)
    x = keras.layers.Flatten()(x)
    x = _KernelLayer(3)(x)
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    out = keras.layers.Dense(1)(inner(x))
    return keras.Model(inp, out)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_apply_regularizes_kernels_only(kind):
    model = _mlp() if kind == "sequential" else _functional()
    reg = R.L2(0.01)
    copy = R.apply(model, reg)
    assert copy is not model and len(copy.weights) == len(model.weights)
    for v in copy.trainable_weights:
        is_kernel = v.path.endswith("kernel")
        assert (getattr(v, "regularizer", None) is not None) == is_kernel, v.path
        if is_kernel:
            assert v.regularizer.get_config() == reg.get_config()
    n_kernels = 2 if kind == "sequential" else 4
    assert len(R.kernels(copy)) == n_kernels
    expected = sum(0.01 * np.square(np.asarray(k, np.float64)).sum() for k in
                   (keras.ops.convert_to_numpy(v.value) for v in R.kernels(model)))
    np.testing.assert_allclose(R.penalty(copy), expected, rtol=1e-5)
    x = np.random.default_rng(0).normal(size=(8, model.inputs[0].shape[-1])).astype("float32")
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    for a, b in zip(_weights(copy), _weights(model)):
        np.testing.assert_array_equal(a, b)


def test_apply_variants():
    model = _functional()
    both = R.apply(model, R.L1(0.1), include="kernels_and_biases")
    conv_bias = [v for v in both.trainable_weights if v.path.endswith("bias")][0]
    assert isinstance(conv_bias.regularizer, R.L1)
    stripped = R.apply(model, None)
    assert R.penalty(stripped) == 0.0 and R.penalty(model) > 0.0  # bias/gamma L2(9) removed
    with pytest.raises(ValueError, match="argument `include`"):
        R.apply(model, R.L2(0.1), include="biases")
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="argument `model`"):
        R.apply(unbuilt, R.L2(0.1))


def test_apply_then_fit_and_save(tmp_path):
    copy = R.apply(_mlp(), R.ElasticNet(0.01, 0.5))
    copy.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    copy.fit(x, y, epochs=1, batch_size=16, verbose=0)
    copy.save(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras")
    assert R.penalty(loaded) == pytest.approx(R.penalty(copy), rel=1e-6)


# ---------------------------------------------------------------- coupled vs decoupled


def _train(model, optimizer, x, y, steps, loss="mse"):
    model.compile(optimizer=optimizer, loss=loss)
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model


def _linear(seed=3):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])


@pytest.mark.parametrize("include", ["kernels_and_biases", "kernels"])
def test_sgd_l2_equals_weight_decay(include):
    l2, lr, steps = 0.05, 0.1, 8
    x, y = _data()
    base = _linear()
    coupled = _train(R.apply(base, R.L2(l2), include=include), keras.optimizers.SGD(lr), x, y, steps)
    opt = keras.optimizers.SGD(lr, weight_decay=R.sgd_weight_decay_for_l2(l2))
    if include == "kernels":
        opt.exclude_from_weight_decay(var_names=["bias"])
    decoupled = _train(R.apply(base, None), opt, x, y, steps)
    plain = _train(R.apply(base, None), keras.optimizers.SGD(lr), x, y, steps)
    assert _max_diff(coupled, plain) > 1e-3  # the penalty did something
    np.testing.assert_allclose(
        np.concatenate([w.ravel() for w in _weights(coupled)]),
        np.concatenate([w.ravel() for w in _weights(decoupled)]),
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("opt", ["adam", "sgd_momentum"])
def test_no_equivalence_with_adam_or_momentum(opt):
    l2, lr, steps = 0.05, 0.05, 8
    x, y = _data()
    base = _linear()

    def make(wd=None):
        if opt == "adam":
            return keras.optimizers.Adam(lr, weight_decay=wd)
        return keras.optimizers.SGD(lr, momentum=0.9, weight_decay=wd)

    coupled = _train(R.apply(base, R.L2(l2), include="kernels_and_biases"), make(), x, y, steps)
    decoupled = _train(R.apply(base, None), make(R.sgd_weight_decay_for_l2(l2)), x, y, steps)
    plain = _train(R.apply(base, None), make(), x, y, steps)
    gap = _max_diff(coupled, decoupled)
    effect = _max_diff(coupled, plain)
    # Measured (8 steps, JAX): max |coupled - decoupled| = 0.36 with Adam and
    # 0.11 with momentum 0.9 (the penalty itself moves weights by 0.42 / 0.15),
    # against 2.4e-7 for plain SGD.
    assert gap > 1e-2, gap
    assert gap > 0.1 * effect, (gap, effect)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_deck000_logistic_regression_matches_torch(momentum):
    """Deck 000: torch SGD(weight_decay=λ) == manual 0.5·λ·(‖w‖²+b²) == Keras.

    torch's weight_decay is coupled (added to the gradient), so it equals
    ``L2(λ/2)`` on weights and bias with or without momentum; Keras's
    decoupled ``weight_decay=λ`` equals it only without momentum.
    """
    lam, lr, steps = 0.1, 0.1, 10
    g = np.random.default_rng(7)
    x = g.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 * g.normal(size=32) > 0).astype("float32")[:, None]
    w0 = (0.5 * g.normal(size=(3, 1))).astype("float32")
    b0 = np.array([0.2], "float32")

    def torch_run(manual):
        lin = torch.nn.Linear(3, 1)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w0.T))
            lin.bias.copy_(torch.from_numpy(b0))
        opt = torch.optim.SGD(
            lin.parameters(), lr=lr, momentum=momentum, weight_decay=0.0 if manual else lam
        )
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for _ in range(steps):
            cost = torch.nn.functional.binary_cross_entropy(torch.sigmoid(lin(xt)), yt)
            if manual:
                cost = cost + 0.5 * lam * ((lin.weight**2).sum() + (lin.bias**2).sum())
            opt.zero_grad()
            cost.backward()
            opt.step()
        return np.concatenate([lin.weight.detach().numpy().T.ravel(), lin.bias.detach().numpy()])

    def keras_run(penalized):
        reg = R.L2(R.l2_for_sgd_weight_decay(lam)) if penalized else None
        model = keras.Sequential(
            [keras.Input((3,)),
             keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=reg, bias_regularizer=reg)]
        )
        model.set_weights([w0, b0])
        opt = keras.optimizers.SGD(lr, momentum=momentum, weight_decay=None if penalized else lam)
        _train(model, opt, x, y, steps, loss="binary_crossentropy")
        return np.concatenate([w.ravel() for w in model.get_weights()]).astype(np.float64)

    oracle = torch_run(manual=False)
    np.testing.assert_allclose(torch_run(manual=True), oracle, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras_run(penalized=True), oracle, rtol=1e-4, atol=1e-5)
    decoupled = keras_run(penalized=False)
    if momentum == 0.0:
        np.testing.assert_allclose(decoupled, oracle, rtol=1e-4, atol=1e-5)
    else:
        assert np.abs(decoupled - oracle).max() > 1e-3
    assert np.abs(oracle - np.concatenate([w0.ravel(), b0])).max() > 1e-2



# ---------------------------------------------------------------- apply through wrappers (issue 14, defect 3)


def _wrapped():
    from kreg.layers import WeightNoise

    keras.utils.set_random_seed(2)
    l1 = dict(kernel_regularizer=R.L1(1.0), bias_regularizer=R.L1(1.0))
    return keras.Sequential([
        keras.Input((3, 4)),
        keras.layers.TimeDistributed(keras.layers.Dense(4, **l1)),
        keras.layers.Bidirectional(keras.layers.SimpleRNN(2, recurrent_regularizer=R.L1(1.0), **l1)),
        WeightNoise(keras.layers.Dense(3, **l1), stddev=0.1, seed=0),
        keras.layers.Dense(1),
    ])


def _np_kernels_and_biases(model):
    out = {"kernel": [], "bias": []}
    for v in model.trainable_weights:
        kind = "kernel" if v.path.endswith("kernel") else "bias"
        out[kind].append(np.asarray(keras.ops.convert_to_numpy(v.value), np.float64))
    return out


def test_apply_reaches_wrapped_layers(tmp_path):
    model = _wrapped()
    assert R.penalty(model) > 0
    stripped = R.apply(model, None)
    assert R.penalty(stripped) == 0.0  # was 10.93 in the probe
    assert float(sum(keras.ops.convert_to_numpy(l) for l in stripped.losses)) == 0.0
    assert all(getattr(v, "regularizer", None) is None for v in stripped.trainable_weights)
    copy = R.apply(model, R.L2(0.5))
    w = _np_kernels_and_biases(model)
    assert len(w["kernel"]) == 7  # TimeDistributed 1, Bidirectional 2 x 2, WeightNoise 1, Dense 1
    expected = sum(0.5 * np.square(k).sum() for k in w["kernel"])
    np.testing.assert_allclose(R.penalty(copy), expected, rtol=1e-5)
    np.testing.assert_allclose(float(sum(keras.ops.convert_to_numpy(l) for l in copy.losses)), expected, rtol=1e-5)
    for v in copy.trainable_weights:  # exactly one kind of penalty, none on biases
        reg = getattr(v, "regularizer", None)
        assert (reg is not None) == v.path.endswith("kernel"), v.path
        if reg is not None:
            assert isinstance(reg, R.L2) and reg.l2 == 0.5, v.path
    both = R.apply(model, R.L2(0.5), include="kernels_and_biases")
    expected_both = expected + sum(0.5 * np.square(b).sum() for b in w["bias"])
    np.testing.assert_allclose(R.penalty(both), expected_both, rtol=1e-5)
    x = np.random.default_rng(0).normal(size=(4, 3, 4)).astype("float32")
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # the wrapped layers' configs carry the new regularizers: a saved copy keeps exactly them
    for m, value in ((copy, expected), (stripped, 0.0)):
        m.save(tmp_path / "w.keras")
        np.testing.assert_allclose(R.penalty(keras.saving.load_model(tmp_path / "w.keras")), value, rtol=1e-5)
