"""Learning curves recorded per epoch and written to CSV and JSON (deck 001, "Learning Curves")."""

from __future__ import annotations

import json
import math
import os
import tempfile

import keras
import numpy as np

from kreg._validation import check_bool, invalid

__all__ = ["LearningCurves"]


def _atomic_write(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _to_float(value):
    try:
        return float(np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64))
    except (TypeError, ValueError):
        return None


class LearningCurves(keras.callbacks.Callback):
    r"""Record the learning curves of a ``fit`` and write them to disk.

    After every epoch ``e`` it appends to ``self.history`` (a dict of lists,
    one entry per epoch, ``nan`` where a value is missing that epoch, e.g.
    validation with ``validation_freq > 1``):

    - ``epoch`` (0-based) and every key of the epoch logs: ``loss``, every
      metric, ``val_*``, and what callbacks listed before this one logged;
    - ``penalty`` :math:`= \sum_w R(w)`, the weight penalty at the weights at
      the end of the epoch (``kreg.regularizers.penalty``);
    - ``data_loss = loss - penalty`` and ``val_data_loss = val_loss -
      penalty``. ``val_loss`` is computed at the end-of-epoch weights, so
      ``val_data_loss`` is exact; ``loss`` is the *average over the epoch's
      steps* of the training objective at the weights of each step, while
      ``penalty`` is taken at the final weights, so ``data_loss`` is an
      approximation (exact when the penalty is 0 or the weights stop moving);
    - ``learning_rate``: the optimizer's rate at the end of the epoch (unless
      an earlier callback already logged it);
    - ``weight_norm`` :math:`= \|W\|_2`, all kernels stacked
      (``kreg.regularizers.weight_norm``; biases and normalization left out).

    The derived values are also written into ``logs`` (so they land in
    ``History``) when ``log_to_history=True``. With ``directory`` set,
    ``<directory>/<filename>.csv`` and ``.json`` are rewritten atomically
    (temporary file + ``os.replace``) after every epoch, so a killed run
    leaves complete files. ``history`` is reset in ``on_train_begin``.

    Args:
        directory: folder for the CSV and JSON files (created); ``None``
            keeps the curves in memory only.
        filename: stem of the files. Defaults to ``"learning_curves"``.
        log_to_history: also write the derived values into ``logs``.

    Example:

    >>> curves = LearningCurves()
    >>> # model.fit(..., callbacks=[curves]); plt.plot(curves.history["val_loss"])

    Reference:
        Deck 001, "Evaluating Training and Validation Errors: Learning Curves".
    """

    def __init__(self, directory=None, filename="learning_curves", log_to_history=True):
        super().__init__()
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise invalid("directory", directory, "None or a path", exc=TypeError)
        if not isinstance(filename, str) or not filename or os.sep in filename:
            raise invalid("filename", filename, "a non-empty file name without a directory")
        check_bool("log_to_history", log_to_history)
        self.directory = None if directory is None else os.fspath(directory)
        self.filename = filename
        self.log_to_history = log_to_history
        self.history = {}

    @property
    def csv_path(self):
        return None if self.directory is None else os.path.join(self.directory, self.filename + ".csv")

    @property
    def json_path(self):
        return None if self.directory is None else os.path.join(self.directory, self.filename + ".json")

    def on_train_begin(self, logs=None):
        self.history = {}

    def _derived(self, logs):
        from kreg.regularizers import penalty, weight_norm

        out = {}
        pen = float(penalty(self.model))
        out["penalty"] = pen
        if "loss" in logs:
            out["data_loss"] = _to_float(logs["loss"]) - pen
        if "val_loss" in logs:
            out["val_data_loss"] = _to_float(logs["val_loss"]) - pen
        if "learning_rate" not in logs and getattr(self.model, "optimizer", None) is not None:
            out["learning_rate"] = _to_float(self.model.optimizer.learning_rate)
        out["weight_norm"] = float(weight_norm(self.model))
        return out

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        derived = self._derived(logs)
        row = {"epoch": epoch}
        for key, value in logs.items():
            v = _to_float(value)
            if v is not None:
                row[key] = v
        row.update(derived)
        if self.log_to_history:
            logs.update(derived)
        n = len(self.history.get("epoch", []))
        for key in row:
            if key not in self.history:
                self.history[key] = [math.nan] * n
        for key, values in self.history.items():
            values.append(row.get(key, math.nan))
        if self.directory is not None:
            self.save()

    def save(self):
        """Write the CSV and JSON files now (atomically)."""
        if self.directory is None:
            raise ValueError("LearningCurves.save() needs `directory`.")
        os.makedirs(self.directory, exist_ok=True)
        keys = list(self.history)
        n = len(self.history.get("epoch", []))
        lines = [",".join(keys)]
        for i in range(n):
            lines.append(",".join(repr(self.history[k][i]) if k != "epoch" else str(self.history[k][i]) for k in keys))
        _atomic_write(self.csv_path, "\n".join(lines) + "\n")
        clean = {k: [None if (isinstance(v, float) and not math.isfinite(v)) else v for v in vs] for k, vs in self.history.items()}
        _atomic_write(self.json_path, json.dumps(clean, indent=1) + "\n")
