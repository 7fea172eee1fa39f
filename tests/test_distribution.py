"""kreg under Keras's data parallelism, on 2 devices (issue 17).

- JAX: ``keras.distribution.DataParallel`` over all local devices: one SPMD
  program runs on the global batch, sharded along the batch axis.
- TensorFlow: ``tf.distribute.MirroredStrategy``: one replica per device runs
  the step on its shard; gradients are summed across replicas.
- PyTorch: Keras 3.15's ``keras.distribution`` has no PyTorch data
  parallelism (DDP arrives after 3.15), so the whole module is skipped there.

``make test`` runs this file in its own pytest processes with two fake CPU
devices (``KREG_FAKE_DEVICES=2``, set up in ``conftest.py``); in the ordinary
one-device runs it is skipped.

What is checked:

- a 2-device run of a small deterministic model agrees with the one-device
  run on the same global batches to float tolerance (every step, the same
  weights);
- every public layer, regularizer, schedule, initializer and callback trains
  inside ``model.fit`` on 2 devices;
- per-example random masks (``kreg.layers.Dropout``, DropConnect with
  ``mask="example"``) differ between the devices' shards, while the one
  DropConnect mask of a minibatch is the same on every device, as one device
  would draw it for the global batch;
- batch-norm statistics: *synchronized* under JAX (the program normalizes
  the global batch), *per replica* under TensorFlow (each replica normalizes
  its shard; the moving statistics are the mean over replicas), as Keras's
  own ``BatchNormalization(synchronized=False)``;
- ``estimate_batchnorm_statistics`` under the distribution equals the
  one-device estimate.
"""

import math

import keras
import numpy as np
import pytest

from kreg import callbacks as kc
from kreg import distribution
from kreg import initializers as ki
from kreg import layers as kl
from kreg import regularizers as kr
from kreg import schedules as ks

BACKEND = keras.backend.backend()


pytestmark = [
    pytest.mark.skipif(BACKEND == "torch", reason="Keras 3.15's keras.distribution has no PyTorch data "
                       "parallelism (DDP support arrives after Keras 3.15)"),
    pytest.mark.skipif(BACKEND != "torch" and len(distribution.available_devices()) < 2,
                       reason="needs 2 devices: `make test` runs this file in its own pytest process with 2 fake "
                              "CPU devices (KREG_FAKE_DEVICES=2)"),
]


def data_parallel():
    """Build, compile and fit inside this block to run on every local device."""
    return distribution.data_parallel("all")


def _data(n=64, d=8, k=3, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, d)).astype("float32")
    y = (np.abs(x[:, :k]).argmax(-1)).astype("int64")
    return x, y


def _classifier(hidden, d=8, k=3, optimizer=None, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((d,)), *hidden, keras.layers.Dense(k, activation="softmax")])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# --- agreement with one device ------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_devices_agree_with_one_on_the_same_global_batches(optimizer):
    x, y = _data()

    def build():
        opt = keras.optimizers.SGD(0.1, momentum=0.9) if optimizer == "sgd" else keras.optimizers.Adam(1e-2)
        return _classifier([keras.layers.Dense(16, activation="tanh", kernel_regularizer=kr.L2(1e-3),
                                               kernel_initializer=ki.TorchLinearKernel(seed=1),
                                               bias_initializer=ki.TorchLinearBias(8, seed=2)),
                            kl.GroupNorm(groups=4)], optimizer=opt)

    one = build()
    start = one.get_weights()
    h1 = one.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    with data_parallel():
        two = build()
        two.set_weights(start)
        h2 = two.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(one.get_weights(), two.get_weights()))
    assert diff < 2e-5, diff
    assert h1.history["loss"] == pytest.approx(h2.history["loss"], rel=1e-5, abs=1e-6)


# --- every public object trains on 2 devices ----------------------------------------------------------------

def _every_layer():
    return [
        keras.layers.Dense(16, activation="relu", kernel_regularizer=kr.L1(1e-4),
                           kernel_initializer=ki.TorchLinearKernel(), bias_initializer=ki.TorchLinearBias(8)),
        kl.Dropout(0.2, seed=1),
        kl.Dropout(0.2, mode="vanilla", seed=2),
        kl.DropConnect(16, 0.3, activation="relu", mask="example", inference="gaussian", seed=3,
                       kernel_regularizer=kr.ElasticNet(1e-4)),
        kl.DropConnect(16, 0.3, seed=4),
        kl.WeightNoise(keras.layers.Dense(16, kernel_regularizer=kr.L2(1e-4)), stddev=0.05, seed=5),
        kl.BatchNorm(),
        keras.layers.Activation("relu"),
        keras.layers.Dense(16),
        kl.GroupNorm(groups=4),
        keras.layers.Activation("relu"),
    ]


def test_every_layer_regularizer_and_initializer_trains_on_two_devices():
    x, y = _data()
    with data_parallel():
        model = _classifier(_every_layer())
        h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x[:32], y[:32]))
        pred = model.predict(x, batch_size=16, verbose=0)
        mc = kl.mc_predict(model, x, 4, batch_size=16)
        n_bn = kl.estimate_batchnorm_statistics(model, x, batch_size=16)
    assert all(math.isfinite(v) for v in h.history["loss"] + h.history["val_loss"])
    assert pred.shape == (64, 3) and np.allclose(pred.sum(-1), 1.0, atol=1e-5)
    assert np.asarray(mc).shape == (64, 3) and n_bn == 1


def test_callbacks_work_on_two_devices(tmp_path):
    x, y = _data()
    ema = kc.WeightAveraging(mode="ema", decay=0.5)
    rec = {"keep": kc.KeepLast(), "snap": kc.Snapshots(ema=ema), "fit": kc.FitTracker(x, y, stop=False),
           "lr": kc.EpochLR(), "losses": kc.BatchLosses()}
    first = [rec["keep"], ema, rec["snap"], kc.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
             kc.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=0, semantics="torch"),
             kc.LearningCurves(directory=str(tmp_path / "curves")), kc.UntilBelow(-1.0), rec["fit"], rec["lr"],
             rec["losses"]]
    second = [kc.WeightAveraging(mode="swa", start_epoch=1), kc.ReduceLROnPlateau(monitor="val_loss", patience=0)]
    y_val = 1 - np.minimum(y[:32], 1)  # unlearnable validation labels: the plateau fires
    with data_parallel():
        model = _classifier([keras.layers.Dense(16, activation="relu")], optimizer=keras.optimizers.SGD(0.5))
        h = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_data=(x[:32], y_val), callbacks=first)
        lr_after_first = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        h2 = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_data=(x[:32], y_val), callbacks=second)
    assert all(math.isfinite(v) for v in h.history["loss"] + h2.history["loss"])
    assert lr_after_first < 0.5  # the new rate reached the optimizer's variable on every device
    assert len(rec["snap"].averaged) == 3 and all(np.all(np.isfinite(a)) for a in rec["snap"].averaged[-1])
    assert len(rec["losses"].losses) == 12 and all(math.isfinite(v) for v in rec["losses"].losses)
    assert len(h.history["fit_accuracy"]) == 3 and rec["lr"].rates[0] == pytest.approx(0.5)
    assert len(rec["keep"].weights) == len(model.get_weights())


@pytest.mark.parametrize("schedule", [
    lambda: ks.StepDecay(0.2, step_size=1, gamma=0.5, steps_per_epoch=4),
    lambda: ks.Scaled(ks.ExponentialDecay(0.2, gamma=2.0, period=2, steps_per_epoch=4), scale=0.5),
])
def test_schedules_count_global_steps_on_two_devices(schedule):
    x, y = _data()
    with data_parallel():
        model = _classifier([keras.layers.Dense(16, activation="relu")], optimizer=keras.optimizers.SGD(schedule()))
        lr = kc.EpochLR()
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[lr])
    one = _classifier([keras.layers.Dense(16, activation="relu")], optimizer=keras.optimizers.SGD(schedule()))
    lr1 = kc.EpochLR()
    one.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[lr1])
    assert lr.rates == pytest.approx(lr1.rates)  # the step counter advances once per global step


# --- random masks -------------------------------------------------------------------------------------------

class _Training(keras.layers.Layer):
    """Calls the wrapped layer in training mode, so predict() shows its training-time masks."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x):
        return self.inner(x, training=True)


def _masks_per_row(make_layer, d=32, n=16):
    """Output rows of ``make_layer()`` on ``n`` identical inputs; the layer (and its SeedGenerator) is created
    inside the distribution, as every stateful object must be."""
    with data_parallel():
        inp = keras.Input((d,))
        model = keras.Model(inp, _Training(make_layer())(inp))
        out = model.predict(np.ones((n, d), "float32"), batch_size=n, verbose=0)
    return out


def test_dropout_masks_differ_across_devices():
    out = _masks_per_row(lambda: kl.Dropout(0.5, seed=3)) > 0
    half = len(out) // 2
    assert not np.array_equal(out[:half], out[half:]), "both devices drew the same masks for their shards"
    assert len({r.tobytes() for r in out}) == len(out)  # every example its own mask
    assert abs(out.mean() - 0.5) < 0.1


def test_dropconnect_example_masks_differ_and_batch_mask_is_shared():
    out = _masks_per_row(lambda: kl.DropConnect(8, 0.5, mask="example", kernel_initializer="ones", use_bias=False,
                                                seed=3), d=16)
    half = len(out) // 2
    assert not np.array_equal(out[:half], out[half:])
    out = _masks_per_row(lambda: kl.DropConnect(8, 0.5, mask="batch", kernel_initializer="ones", use_bias=False,
                                                seed=3), d=16)
    # one mask for the whole global batch, as on one device: every row (on either device) is the same
    assert np.allclose(out, out[:1])


# --- batch normalization ------------------------------------------------------------------------------------

def _two_halves(n=16, d=4):
    """The first device's shard has mean 0 and the second's mean 10 (global mean 5)."""
    r = np.random.default_rng(0)
    x = r.normal(size=(n, d)).astype("float32")
    x[n // 2:] += 10.0
    return x


def test_batchnorm_statistics_are_global_on_jax_and_per_replica_on_tensorflow():
    x = _two_halves()
    y = np.zeros((len(x), 1), "float32")
    with data_parallel():
        bn = kl.BatchNorm(momentum=0.0)
        model = keras.Sequential([keras.Input((4,)), bn, keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
        model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    moving_mean = keras.ops.convert_to_numpy(bn.moving_mean)
    moving_var = keras.ops.convert_to_numpy(bn.moving_variance)
    half = len(x) // 2
    # the mean of the two shard means is the global mean either way
    assert np.allclose(moving_mean, x.mean(0), atol=1e-4)
    if BACKEND == "jax":  # one program over the global batch: the (unbiased) variance of all 16 rows
        assert np.allclose(moving_var, x.var(0, ddof=1), rtol=1e-3)
    else:  # each replica normalizes its own shard; the moving statistics are the mean over replicas
        per_shard = np.mean([x[:half].var(0, ddof=1), x[half:].var(0, ddof=1)], 0)
        assert np.allclose(moving_var, per_shard, rtol=1e-3)
        assert np.all(moving_var < 0.2 * x.var(0))  # the global variance (~26) includes the shift between shards


def test_estimate_batchnorm_statistics_on_two_devices_equals_one_device():
    x = _two_halves(n=64)

    def build():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(6), kl.BatchNorm(), keras.layers.Dense(2)])

    one = build()
    kl.estimate_batchnorm_statistics(one, x, batch_size=16)
    with data_parallel():
        two = build()
        two.set_weights(one.get_weights())  # then overwritten by the estimate below
        kl.estimate_batchnorm_statistics(two, x, batch_size=16)
    for a, b in zip(one.get_weights(), two.get_weights()):
        assert np.allclose(a, b, atol=1e-5)


# --- the lesson harness: --devices ---------------------------------------------------------------------------

def _harness_weights(tmp_path, devices):
    from kreg import models
    from kreg.lesson import Lesson

    lesson = Lesson("l97_devices", title="devices", decks="000", dataset="digits", fallback="digits", epochs=2,
                    seeds=2, margins={"m": 0.01})
    run = lesson.start(["--out", str(tmp_path / str(devices)), "--verbose", "0", "--no-cache", "--devices",
                        str(devices)])
    d = run.load_data(n_train=128)
    model = models.compile_classifier(models.mlp(d.info.input_shape, 10, hidden=(16,)), "sgd", learning_rate=0.1)
    # shuffle=False: under MirroredStrategy the tf.data pipeline that reshuffles every epoch
    # (kreg.lesson.shuffled_batches) yields other (equally random) orders than on one device
    reps = run.replicates("plain", model, d, batch_size=32, shuffle=False,
                          measure=lambda m: {"w": np.concatenate([w.ravel() for w in m.get_weights()]),
                                             "val_correct": run.per_example(m, *d.val)["correct"]})
    res = run.finish()
    return reps["w"], res


def test_harness_devices_flag_matches_one_device(tmp_path):
    w1, res1 = _harness_weights(tmp_path, 1)
    w2, res2 = _harness_weights(tmp_path, "all")
    assert res1["devices"] == {"requested": 1, "used": 1, "spread": "batch", "engine": None}
    engine = {"jax": "keras.distribution.DataParallel", "tensorflow": "tf.distribute.MirroredStrategy"}[BACKEND]
    assert res2["devices"] == {"requested": "all", "used": 2, "spread": "batch", "engine": engine}
    assert res2["config"]["devices"] == "all"
    # each replicate seed trains the same net on 1 and on 2 devices (same initial weights, data order, updates)
    np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-5)
    assert not np.allclose(w1[0], w1[1])  # and the two seeds differ
    assert keras.distribution.distribution() is None if BACKEND == "jax" else True  # finish() closed the block


def test_harness_rejects_more_devices_than_there_are(tmp_path):
    from kreg.lesson import Lesson

    lesson = Lesson("l97_devices", title="devices", decks="000", dataset="digits", fallback="digits")
    with pytest.raises(ValueError, match=r"`devices`.*at most the 2 device\(s\).*Received: devices=3"):
        lesson.start(["--out", str(tmp_path), "--devices", "3"])
    with pytest.raises(ValueError, match=r"--devices"):
        lesson.parse(["--devices", "0"])


_SPREAD_LESSON = """
import os

import numpy as np

from kreg import models
from kreg.lesson import Lesson

LESSON = Lesson("l96_spread", title="spread", decks="000", dataset="digits", fallback="digits", epochs=2,
                seeds=4, margins={"m": 0.01})
run = LESSON.start()
d = run.load_data(n_train=128)
model = models.compile_classifier(models.mlp(d.info.input_shape, 10, hidden=(16,), dropout=0.5), "sgd",
                                  learning_rate=0.1)
fail = os.environ.get("L96_FAIL_IN_WORKER")


def work(rep):
    if fail and os.environ.get("KREG_SEED_SHARD"):
        raise RuntimeError("boom in the worker")
    rep.fit(model, d, epochs=2, batch_size=32, shuffle=False)
    return {"w": np.concatenate([w.ravel() for w in model.get_weights()]), "pid": os.getpid()}


reps = run.replicates("dropout 0.5", work=work)
results = run.finish()
"""


def _run_spread_lesson(script, out, *flags):
    import runpy
    import sys

    saved = sys.argv
    sys.argv = [str(script), "--out", str(out), "--verbose", "0", *flags]
    try:
        return runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved


def test_spread_seeds_one_process_a_device_equals_one_device(tmp_path, monkeypatch):
    """--spread seeds: seeds 1 and 3 are trained by a second process, and every replicate is the same net."""
    import os

    monkeypatch.delenv("KREG_ARGS", raising=False)
    script = tmp_path / "l96_spread.py"
    script.write_text(_SPREAD_LESSON)
    one = _run_spread_lesson(script, tmp_path / "one", "--devices", "1")
    two = _run_spread_lesson(script, tmp_path / "two", "--devices", "all", "--spread", "seeds")
    assert two["results"]["devices"] == {"requested": "all", "used": 2, "spread": "seeds",
                                         "engine": "one process a device, replicate seeds side by side "
                                                   "(kreg._spread)"}
    pids = [int(p) for p in two["reps"]["pid"]]
    assert pids[0] == pids[2] == os.getpid() and pids[1] == pids[3] != os.getpid()
    np.testing.assert_allclose(np.stack(two["reps"]["w"]), np.stack(one["reps"]["w"]), rtol=1e-6, atol=1e-7)
    assert not np.allclose(one["reps"]["w"][0], one["reps"]["w"][1])
    assert not (tmp_path / "two" / ".workers").exists()  # the copies are stopped and their folders removed
    assert not list((tmp_path / "two" / "cache").rglob("*.tmp"))


def test_spread_seeds_reports_a_failed_worker(tmp_path, monkeypatch):
    monkeypatch.delenv("KREG_ARGS", raising=False)
    monkeypatch.setenv("L96_FAIL_IN_WORKER", "1")
    script = tmp_path / "l96_spread.py"
    script.write_text(_SPREAD_LESSON)
    with pytest.raises(RuntimeError, match=r"(?s)device 1 \(of 2\) failed with exit code.*boom in the worker"):
        _run_spread_lesson(script, tmp_path / "out", "--devices", "2", "--spread", "seeds")
    assert not (tmp_path / "out" / ".workers").exists()


def test_spread_seeds_rejects_more_devices_than_there_are(tmp_path):
    from kreg.lesson import Lesson

    lesson = Lesson("l97_devices", title="devices", decks="000", dataset="digits", fallback="digits")
    with pytest.raises(ValueError, match=r"`--devices`.*at most the 2 device\(s\).*Received: devices=3"):
        lesson.start(["--out", str(tmp_path), "--devices", "3", "--spread", "seeds"])
