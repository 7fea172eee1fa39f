"""kreg.callbacks.WeightAveraging: EMA / SWA vs a numpy reference, BN re-estimation."""

import keras
import numpy as np
import pytest

from kreg.callbacks import WeightAveraging


def _data(n=32, d=3, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, d)).astype("float32") * 2.0 + 1.0
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3).astype("float32")
    return x, y


def make_model(bn=False):
    layers = [keras.Input((3,))]
    if bn:
        layers.append(keras.layers.BatchNormalization())
    layers += [keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5), loss="mse")
    return model


class Trajectory(keras.callbacks.Callback):
    """Record the trainable weights after every step and every epoch."""

    def on_train_begin(self, logs=None):
        self.steps, self.epochs, self.epoch = [], [], 0

    def _read(self):
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        return [np.array(v.numpy() if hasattr(v, "numpy") else keras.ops.convert_to_numpy(v), dtype=np.float64)
                for v in self.model.trainable_weights]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append((self.epoch, self._read()))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self._read())


def _assert_model_equals(model, ref):
    for v, r in zip(model.trainable_weights, ref):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), r, rtol=1e-5, atol=1e-6)


def test_ema_equals_numpy_reference():
    x, y = _data()
    model = make_model()
    traj, wa = Trajectory(), WeightAveraging(mode="ema", decay=0.7, start_epoch=1)
    h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=[traj, wa])
    ref = None
    for epoch, w in traj.steps:
        if epoch < 1:
            continue
        ref = w if ref is None else [0.7 * a + 0.3 * b for a, b in zip(ref, w)]
    assert wa.num_averaged == 8 and h.history["num_averaged"] == [0, 4, 8]
    _assert_model_equals(model, ref)
    for a, r in zip(wa.averaged_weights, ref):
        np.testing.assert_allclose(a, r, rtol=1e-6)


def test_swa_equals_numpy_reference():
    x, y = _data()
    model = make_model()
    traj, wa = Trajectory(), WeightAveraging(mode="swa", start_epoch=1)
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False, callbacks=[traj, wa])
    ref = [np.mean([w[i] for w in traj.epochs[1:]], axis=0) for i in range(len(traj.epochs[0]))]
    assert wa.num_averaged == 3
    _assert_model_equals(model, ref)


def test_swap_on_epoch_validates_with_the_average():
    x, y = _data()
    model = make_model()
    wa = WeightAveraging(mode="ema", decay=0.5, swap_on_epoch=True)
    h = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y), callbacks=[wa])
    # after the last validation no step was taken: the final model is the
    # average the last val_loss was computed with
    val = model.evaluate(x, y, verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(val, rel=1e-4)
    # training continued from the raw weights (the average lags behind them)
    assert h.history["num_averaged"] == [4, 8]


def test_batchnorm_statistics_are_recomputed():
    x, y = _data()
    model = make_model(bn=True)
    wa = WeightAveraging(mode="swa", bn_data=x, bn_batch_size=16)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[wa])
    bn = model.layers[0]
    # BN is the first layer: Algorithm 2 on the raw inputs, two batches of 16
    batches = x.reshape(2, 16, 3).astype("float64")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), batches.mean(axis=1).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance),
                               batches.var(axis=1, ddof=1).mean(axis=0), rtol=1e-5)


def test_warns_when_nothing_was_averaged():
    x, y = _data()
    model = make_model()
    before = None
    with pytest.warns(UserWarning, match="collected no weights"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[WeightAveraging(start_epoch=5)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="polyak"), "Invalid value received for argument `mode`. Expected one of 'ema', 'swa'. Received: mode='polyak'"),
        (dict(decay=1.0), "Received: decay=1.0"),
        (dict(start_epoch=-1), "Received: start_epoch=-1"),
        (dict(swap_on_epoch="yes"), "argument `swap_on_epoch`"),
        (dict(bn_batch_size=1), "Received: bn_batch_size=1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError)) as err:
        WeightAveraging(**kwargs)
    assert message in str(err.value)


# --------------------------------------------------------------------------
# issue 14, defect 5: SWA with swap_on_epoch validates with the current average


class EpochEndWeights(keras.callbacks.Callback):
    """The weights the model holds in on_epoch_end, as a later EarlyStopping sees them."""

    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w, dtype=np.float64) for w in self.model.get_weights()])


def _linear_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def _mse(weights, x, y):
    kernel, bias = weights
    return float(np.mean((x.astype(np.float64) @ kernel + bias - y) ** 2))


@pytest.mark.parametrize("mode, start_epoch", [("swa", 0), ("swa", 1), ("ema", 0)])
def test_swap_on_epoch_val_loss_is_computed_with_the_weights_seen_at_epoch_end(mode, start_epoch):
    x, y = _data()
    xv, yv = _data(16, seed=1)
    model = _linear_model()
    seen = EpochEndWeights()
    wa = WeightAveraging(mode=mode, decay=0.5, start_epoch=start_epoch, swap_on_epoch=True)
    h = model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False, validation_data=(xv, yv),
                  callbacks=[wa, seen])
    for epoch, weights in enumerate(seen.weights):
        assert h.history["val_loss"][epoch] == pytest.approx(_mse(weights, xv, yv), rel=1e-4), epoch
    if mode == "swa":  # and those are the averages of the raw end-of-epoch weights
        assert h.history["num_averaged"] == [max(0, e + 1 - start_epoch) for e in range(4)]


def test_swa_swap_on_epoch_without_validation_every_epoch():
    x, y = _data()
    model = _linear_model()
    seen = EpochEndWeights()
    wa = WeightAveraging(mode="swa", swap_on_epoch=True)
    h = model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False, validation_data=(x, y),
                  validation_freq=2, callbacks=[wa, seen])
    assert h.history["num_averaged"] == [1, 2, 3, 4]
    for epoch, val in zip((1, 3), h.history["val_loss"]):
        assert val == pytest.approx(_mse(seen.weights[epoch], x, y), rel=1e-4)


# --------------------------------------------------------------------------
# issue 14, defect 17: callbacks see the raw weights the optimizer produced


class StepWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps, self.epochs = [], []

    def _read(self):
        return [np.array(w) for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self._read())

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self._read())


@pytest.fixture(scope="module")
def trajectories():
    """fit(kwargs) -> (weights after every step and epoch, history), from the same start each time."""
    x, y = _data()
    model = make_model()
    initial = model.get_weights()

    def fit(callbacks):
        model.set_weights(initial)
        for v in model.optimizer.variables:
            v.assign(np.zeros(v.shape, v.dtype))  # momentum and the iteration count
        rec = StepWeights()
        h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False, validation_data=(x, y),
                      callbacks=[*callbacks, rec])
        return rec, h.history

    return fit, fit([])


@pytest.mark.parametrize("kwargs", [dict(mode="ema", decay=0.5), dict(mode="swa"),
                                    dict(mode="ema", decay=0.5, swap_on_epoch=True),
                                    dict(mode="swa", swap_on_epoch=True)])
def test_raw_weights_are_the_optimizers_on_every_backend(trajectories, kwargs):
    fit, (plain, plain_history) = trajectories
    averaged, history = fit([WeightAveraging(**kwargs)])
    # every step: the weights after WeightAveraging's hook are the optimizer's, bit for bit
    assert len(plain.steps) == len(averaged.steps) == 12
    for a, b in zip(plain.steps, averaged.steps):
        for wa, wb in zip(a, b):
            np.testing.assert_array_equal(wa, wb)
    # training continues from the raw weights after a swapped-in validation
    assert plain_history["loss"] == history["loss"]
    if not kwargs.get("swap_on_epoch"):
        for a, b in zip(plain.epochs, averaged.epochs):
            for wa, wb in zip(a, b):
                np.testing.assert_array_equal(wa, wb)


# --------------------------------------------------------------------------
# issue 14, defect 6: bn_data is checked at construction


def _gen():
    yield np.ones((4, 3), "float32")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(bn_data="x"), "Received: bn_data='x'"),
        (dict(bn_data=3.0), "Received: bn_data=3.0"),
        (dict(bn_data=np.float32(1.0)), "Invalid value received for argument `bn_data`"),
        (dict(bn_data=np.ones((0, 3))), "no rows"),
        (dict(bn_data=np.array(["a", "b"])), "dtype <U1"),  # same check as estimate_batchnorm_statistics
        (dict(bn_data=[]), "Received: bn_data=[]"),
        (dict(bn_data=[None, np.ones((4, 1))]), "holds no input arrays"),
        (dict(bn_data=(None,)), "Received: bn_data=(None,)"),
        (dict(bn_data={"a": "b"}), "a dict needs array values"),
        (dict(bn_data=[("x", "y")]), "a batch holds no input arrays"),
        (dict(bn_data=object()), "Invalid value received for argument `bn_data`"),
        (dict(bn_data=_gen(), swap_on_epoch=True), "exhausted after one pass"),
    ],
)
def test_bad_bn_data(kwargs, message):
    with pytest.raises((ValueError, TypeError)) as err:
        WeightAveraging(**kwargs)
    assert message in str(err.value)
    assert "`bn_data`" in str(err.value)


@pytest.mark.parametrize(
    "bn_data",
    [
        None,
        np.ones((4, 3), "float32"),
        (np.ones((4, 3), "float32"), np.ones((4, 1), "float32")),
        [np.ones((4, 3), "float32"), np.ones((4, 1), "float32")],  # a torch DataLoader's [x, y]
        [(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"))] * 2,  # a list of batches
        {"features": np.ones((4, 3), "float32")},
        ([np.ones((4, 3), "float32"), np.ones((4, 2), "float32")], np.ones((4, 1), "float32")),
        keras.ops.ones((4, 3)),
    ],
)
def test_good_bn_data_is_accepted(bn_data):
    assert WeightAveraging(bn_data=bn_data).bn_data is bn_data
    WeightAveraging(bn_data=_gen())  # read once, at the end: a generator will do
