"""kreg.callbacks.LearningCurves: per-epoch curves, penalty split, files on disk."""

import csv
import json
import math
import os

import keras
import numpy as np
import pytest

from kreg.callbacks import LearningCurves
from kreg.regularizers import L2


def _data(n=32, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 3)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    return x, y


def make_model(l2=0.01):
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="relu", kernel_regularizer=L2(l2)),
        keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=L2(l2)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_records_curves_penalty_split_and_files(tmp_path):
    x, y = _data()
    model = make_model()
    curves = LearningCurves(directory=os.path.join(tmp_path, "run"))
    h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x[:16], y[:16]), callbacks=[curves])
    c = curves.history
    for key in ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "penalty", "data_loss",
                "val_data_loss", "learning_rate", "weight_norm"]:
        assert len(c[key]) == 3, key
    assert c["epoch"] == [0, 1, 2]
    kernels = [model.layers[0].kernel, model.layers[1].kernel]
    k = [np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64) for v in kernels]
    penalty = 0.01 * sum((a ** 2).sum() for a in k)
    assert c["penalty"][-1] == pytest.approx(penalty, rel=1e-5)
    assert c["weight_norm"][-1] == pytest.approx(math.sqrt(sum((a ** 2).sum() for a in k)), rel=1e-5)
    assert c["data_loss"][-1] == pytest.approx(c["loss"][-1] - penalty, rel=1e-5)
    # val_loss is computed at the end-of-epoch weights: the split is exact
    val_total = model.evaluate(x[:16], y[:16], verbose=0)[0]
    assert c["val_data_loss"][-1] == pytest.approx(val_total - penalty, rel=1e-4)
    assert c["learning_rate"] == pytest.approx([0.1] * 3)
    # the derived values also land in History
    assert h.history["val_data_loss"] == pytest.approx(c["val_data_loss"])
    # files
    with open(curves.json_path) as f:
        saved = json.load(f)
    assert saved["val_loss"] == pytest.approx(c["val_loss"]) and saved.keys() == c.keys()
    with open(curves.csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and float(rows[2]["val_loss"]) == pytest.approx(c["val_loss"][2])
    assert not [n for n in os.listdir(os.path.dirname(curves.csv_path)) if n.startswith(".tmp_")]


def test_missing_values_are_nan_and_json_null(tmp_path):
    x, y = _data()
    model = make_model(l2=0.0)
    curves = LearningCurves(directory=tmp_path, filename="lc")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_data=(x, y), validation_freq=2, callbacks=[curves])
    v = curves.history["val_loss"]
    assert math.isnan(v[0]) and not math.isnan(v[1]) and math.isnan(v[2])
    assert curves.history["penalty"] == [0.0, 0.0, 0.0]
    with open(os.path.join(tmp_path, "lc.json")) as f:
        assert json.load(f)["val_loss"][0] is None


def test_in_memory_and_reset_between_fits():
    x, y = _data()
    model = make_model()
    curves = LearningCurves(log_to_history=False)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[curves])
    h = model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[curves])
    assert curves.history["epoch"] == [0]
    assert "penalty" not in h.history
    with pytest.raises(ValueError, match="needs `directory`"):
        curves.save()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(directory=3), "Invalid value received for argument `directory`"),
        (dict(filename=""), "argument `filename`"),
        (dict(log_to_history="no"), "argument `log_to_history`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError)) as err:
        LearningCurves(**kwargs)
    assert message in str(err.value)
