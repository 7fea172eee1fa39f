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
