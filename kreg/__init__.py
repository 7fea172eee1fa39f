"""kreg: regularization of neural networks, taught with Keras 3.

One source runs on TensorFlow, JAX or PyTorch (``KERAS_BACKEND``).

Sub-packages (imported lazily, so that ``import kreg`` does not import Keras
and a lesson can still choose its backend from the command line):

- ``kreg.layers``: DropConnect, weight noise, GroupNorm, teaching Dropout and
  BatchNorm, Monte-Carlo prediction, batch-norm population statistics;
- ``kreg.regularizers``: L1, L2, ElasticNet, attaching and measuring penalties;
- ``kreg.callbacks``: EarlyStopping, ReduceLROnPlateau (also on a schedule),
  LearningCurves, WeightAveraging, and the recorders the lessons share (KeepLast,
  UntilBelow, FitTracker, EpochLR, BatchLosses, Snapshots);
- ``kreg.schedules``: the lectures' exponential and step decays;
- ``kreg.initializers``: PyTorch's default ``nn.Linear`` initialization;
- ``kreg.data``: datasets with offline fallbacks, augmentation, label noise;
- ``kreg.models``: the lectures' architectures;
- ``kreg.plots``: the lessons' figures;
- ``kreg.distribution``: data parallelism through Keras's engines (JAX DataParallel,
  TensorFlow MirroredStrategy);
- ``kreg.ensembles``: combining members (vote, mean of logits or probabilities)
  and scoring them;
- ``kreg.lesson``: the harness the lesson scripts are built on.

The most used objects are also available at the top level (``kreg.DropConnect``,
``kreg.L2``, ``kreg.EarlyStopping``, ...).

Loading a ``.keras`` file that holds kreg objects needs no ``custom_objects``,
but the classes register themselves when their module is imported: import
the sub-package (``import kreg.layers``) or touch the name (``kreg.DropConnect``)
before ``keras.saving.load_model``. ``kreg.register_all()`` imports every
sub-package that registers serializable objects.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_SUBMODULES = ("callbacks", "data", "distribution", "ensembles", "initializers", "layers", "lesson", "models", "plots", "regularizers",
               "schedules")

# top-level name -> sub-module that defines it
_EXPORTS = {
    # layers
    "BatchNorm": "layers",
    "DropConnect": "layers",
    "Dropout": "layers",
    "GroupNorm": "layers",
    "WeightNoise": "layers",
    "mc_predict": "layers",
    "estimate_batchnorm_statistics": "layers",
    # regularizers
    "L1": "regularizers",
    "L2": "regularizers",
    "ElasticNet": "regularizers",
    # callbacks
    "EarlyStopping": "callbacks",
    "LearningCurves": "callbacks",
    "ReduceLROnPlateau": "callbacks",
    "WeightAveraging": "callbacks",
    # schedules
    "ExponentialDecay": "schedules",
    "PiecewiseConstant": "schedules",
    "StepDecay": "schedules",
    # initializers
    "TorchLinearKernel": "initializers",
    "TorchLinearBias": "initializers",
    # data and models
    "load": "data",
    "mlp": "models",
    "cnn": "models",
}

__all__ = ["__version__", "register_all", *_SUBMODULES, *_EXPORTS]


def register_all():
    """Import every kreg sub-package with serializable objects (layers, regularizers, schedules, initializers)."""
    for name in ("layers", "regularizers", "schedules", "callbacks", "initializers", "models"):
        importlib.import_module(f"kreg.{name}")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"kreg.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"kreg.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'kreg' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
