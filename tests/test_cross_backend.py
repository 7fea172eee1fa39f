"""A model holding kreg's layers and regularizers, saved as .keras under this
backend, loads and predicts the same under the other two (subprocesses)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np

from kreg import callbacks, layers, regularizers, schedules  # noqa: F401  (registers kreg objects)

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax", "torch")

LOADER = textwrap.dedent(
    """
    import sys, numpy as np, keras
    import kreg.layers, kreg.regularizers, kreg.schedules  # registers kreg's classes
    model = keras.saving.load_model(sys.argv[1])
    x = np.load(sys.argv[2])
    np.save(sys.argv[3], keras.ops.convert_to_numpy(model(x, training=False)))
    lr = model.optimizer.get_config()["learning_rate"]
    print(keras.backend.backend(), lr["class_name"] if isinstance(lr, dict) else type(lr).__name__)
    """
)


def build_model():
    inputs = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", kernel_regularizer=regularizers.L2(1e-3))(inputs)
    h = layers.GroupNorm(2)(h)
    h = keras.layers.Flatten()(h)
    h = layers.DropConnect(16, rate=0.3, activation="relu", kernel_regularizer=regularizers.L1(1e-4), seed=1)(h)
    h = layers.BatchNorm()(h)
    h = layers.Dropout(0.2, mode="vanilla", seed=2)(h)
    h = layers.WeightNoise(keras.layers.Dense(8, activation="tanh"), stddev=0.05, seed=3)(h)
    outputs = keras.layers.Dense(3, kernel_regularizer=regularizers.ElasticNet(1e-3, 0.5))(h)
    model = keras.Model(inputs, outputs)
    lr = schedules.StepDecay(0.05, step_size=2, gamma=0.5, steps_per_epoch=2)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_saved_model_predicts_the_same_on_every_backend(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8, 8, 2)).astype("float32")
    y = rng.integers(0, 3, 16)
    model = build_model()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)  # non-trivial BN statistics and weights
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    here = keras.backend.backend()
    for other in BACKENDS:
        if other == here:
            reloaded = keras.saving.load_model(path)
            got = keras.ops.convert_to_numpy(reloaded(x, training=False))
        else:
            env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3")
            out = tmp_path / f"pred_{other}.npy"
            proc = subprocess.run([sys.executable, "-c", LOADER, str(path), str(tmp_path / "x.npy"), str(out)],
                                  env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert proc.stdout.split()[-2] == other, proc.stdout
            assert "StepDecay" in proc.stdout.split()[-1], proc.stdout  # the schedule survives too
            got = np.load(out)
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-4, err_msg=f"saved on {here}, loaded on {other}")
