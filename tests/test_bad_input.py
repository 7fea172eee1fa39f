"""Bad input, systematically (issue 14, "beyond the list").

One parametrized test over kreg's public constructors and functions (layers, regularizers,
models, schedules, initializers, callbacks, data): out-of-range, wrong-type and wrong-shape
values. Each must raise ``ValueError`` or ``TypeError`` whose message names the argument (in
backquotes, Keras style) and the value received (``name=value``), e.g.::

    Invalid value received for argument `rate`. Expected a float in [0.0, 1.0).
    Received: rate=1.5

``test_every_public_object_has_a_case`` keeps the table complete: a new public name needs a
case here (or a reason in ``EXEMPT``).
"""

import importlib

import keras
import numpy as np
import pytest

import kreg.callbacks as kc
import kreg.data as kd
import kreg.data.augment as ka
import kreg.initializers as ki
import kreg.layers as kl
import kreg.models as km
import kreg.regularizers as kr
import kreg.schedules as ks

MODULES = ("kreg.layers", "kreg.regularizers", "kreg.models", "kreg.schedules", "kreg.initializers",
           "kreg.callbacks", "kreg.data", "kreg.data.augment")

# public names that take no user input to validate
EXEMPT = {
    "kreg.models.STAT453_HIDDEN": "a constant",
    "kreg.models.INITS": "a constant",
    "kreg.data.DATASETS": "a constant",
    "kreg.data.EMBEDDED": "a constant",
    "kreg.data.augment.RESIZE_RATIO": "a constant",
    "kreg.data.Dataset": "a result container that load() builds",
    "kreg.data.DatasetInfo": "a result container that load() builds",
    "kreg.data.augment.Augmentation": "the Sequential that augmentation() builds (checked there)",
    "kreg.callbacks.KeepLast": "takes no arguments",
    "kreg.callbacks.EpochLR": "takes no arguments",
    "kreg.callbacks.BatchLosses": "takes no arguments",
}


def _dense_model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def _dropout_model():
    return keras.Sequential([keras.Input((3,)), kl.Dropout(0.5), keras.layers.Dense(2)])


def _bn_model():
    return keras.Sequential([keras.Input((3,)), kl.BatchNorm()])


def _schedule():
    return ks.StepDecay(0.1, step_size=2, steps_per_epoch=1)


X = np.ones((4, 3), "float32")

# (public object, argument, received text "arg=<this>" (or a tuple of accepted texts), kind, call)
CASES = [
    # ------------------------------------------------------------ layers
    ("kreg.layers.Dropout", "rate", "1.5", "range", lambda: kl.Dropout(1.5)),
    ("kreg.layers.Dropout", "rate", "'0.5'", "type", lambda: kl.Dropout("0.5")),
    ("kreg.layers.Dropout", "mode", "'scaled'", "range", lambda: kl.Dropout(0.5, mode="scaled")),
    ("kreg.layers.Dropout", "noise_shape", "5", "type", lambda: kl.Dropout(0.5, noise_shape=5)),
    ("kreg.layers.Dropout", "noise_shape", "(None, 0)", "range", lambda: kl.Dropout(0.5, noise_shape=(None, 0))),
    ("kreg.layers.Dropout", "noise_shape", "(None, 1)", "shape",
     lambda: kl.Dropout(0.5, noise_shape=(None, 1))(np.ones((2, 3, 3, 4), "float32"), training=True)),
    ("kreg.layers.Dropout", "seed", "'a'", "type", lambda: kl.Dropout(0.5, seed="a")),
    ("kreg.layers.Dropout", "mc", "1", "type", lambda: kl.Dropout(0.5, mc=1)),
    ("kreg.layers.DropConnect", "units", "0", "range", lambda: kl.DropConnect(0)),
    ("kreg.layers.DropConnect", "units", "2.5", "type", lambda: kl.DropConnect(2.5)),
    ("kreg.layers.DropConnect", "rate", "-0.1", "range", lambda: kl.DropConnect(3, rate=-0.1)),
    ("kreg.layers.DropConnect", "mask", "'row'", "range", lambda: kl.DropConnect(3, mask="row")),
    ("kreg.layers.DropConnect", "num_samples", "0", "range", lambda: kl.DropConnect(3, num_samples=0)),
    ("kreg.layers.DropConnect", "use_bias", "'yes'", "type", lambda: kl.DropConnect(3, use_bias="yes")),
    ("kreg.layers.WeightNoise", "layer", "<LSTM", "type", lambda: kl.WeightNoise(keras.layers.LSTM(2))),
    ("kreg.layers.WeightNoise", "stddev", "-1.0", "range", lambda: kl.WeightNoise(keras.layers.Dense(2), stddev=-1.0)),
    ("kreg.layers.WeightNoise", "noise_bias", "'no'", "type",
     lambda: kl.WeightNoise(keras.layers.Dense(2), noise_bias="no")),
    ("kreg.layers.GroupNorm", "groups", "0", "range", lambda: kl.GroupNorm(0)),
    ("kreg.layers.GroupNorm", "groups", "2.5", "type", lambda: kl.GroupNorm(2.5)),
    ("kreg.layers.GroupNorm", "epsilon", "0.0", "range", lambda: kl.GroupNorm(2, epsilon=0.0)),
    ("kreg.layers.GroupNorm", "groups", "4", "shape", lambda: kl.GroupNorm(4).build((None, 6))),
    ("kreg.layers.GroupNorm", "axis", "3", "shape", lambda: kl.GroupNorm(1, axis=3).build((None, 6))),
    ("kreg.layers.BatchNorm", "momentum", "1.5", "range", lambda: kl.BatchNorm(momentum=1.5)),
    ("kreg.layers.BatchNorm", "momentum", "'a'", "type", lambda: kl.BatchNorm(momentum="a")),
    ("kreg.layers.BatchNorm", "center", "None", "type", lambda: kl.BatchNorm(center=None)),
    ("kreg.layers.BatchNorm", "axis", "5", "shape", lambda: kl.BatchNorm(axis=5).build((None, 3))),
    ("kreg.layers.estimate_batchnorm_statistics", "batch_size", "1", "range",
     lambda: kl.estimate_batchnorm_statistics(_bn_model(), X, batch_size=1)),
    ("kreg.layers.estimate_batchnorm_statistics", "x", "'x'", "type",
     lambda: kl.estimate_batchnorm_statistics(_bn_model(), "x")),
    ("kreg.layers.estimate_batchnorm_statistics", "model", "'m'", "type",
     lambda: kl.estimate_batchnorm_statistics("m", X)),
    ("kreg.layers.estimate_batchnorm_statistics", "x", "{'a': array(", "shape",
     lambda: kl.estimate_batchnorm_statistics(_bn_model(), {"a": X, "b": X[:2]}, batch_size=2)),
    ("kreg.layers.estimate_batchnorm_statistics", "x", "array([[1., 1., 1., 1., 1.]", "shape",
     lambda: kl.estimate_batchnorm_statistics(_bn_model(), np.ones((4, 5), "float32"), batch_size=2)),
    ("kreg.layers.mc_predict", "samples", "0", "range", lambda: kl.mc_predict(_dropout_model(), X, 0)),
    ("kreg.layers.mc_predict", "average", "'median'", "range",
     lambda: kl.mc_predict(_dropout_model(), X, 2, average="median")),
    ("kreg.layers.mc_predict", "from_logits", "'y'", "type", lambda: kl.mc_predict(_dropout_model(), X, 2, from_logits="y")),
    ("kreg.layers.mc_predict", "x", "{'a'", "shape",
     lambda: kl.mc_predict(_dropout_model(), {"a": X, "b": X[:2]}, 2, batch_size=2)),
    ("kreg.layers.validate_bn_data", "bn_data", "'x'", "type", lambda: kl.validate_bn_data("x")),
    ("kreg.layers.validate_bn_data", "bn_data", "array([], shape=(0, 3)", "shape",
     lambda: kl.validate_bn_data(np.zeros((0, 3), "float32"))),
    # ------------------------------------------------------------ regularizers
    ("kreg.regularizers.L1", "l1", "-1.0", "range", lambda: kr.L1(-1.0)),
    ("kreg.regularizers.L1", "l1", "'a'", "type", lambda: kr.L1("a")),
    ("kreg.regularizers.L2", "l2", "-1.0", "range", lambda: kr.L2(-1.0)),
    ("kreg.regularizers.L2", "l2", "None", "type", lambda: kr.L2(None)),
    ("kreg.regularizers.ElasticNet", "alpha", "-1.0", "range", lambda: kr.ElasticNet(-1.0)),
    ("kreg.regularizers.ElasticNet", "l1_ratio", "1.5", "range", lambda: kr.ElasticNet(0.1, 1.5)),
    ("kreg.regularizers.from_lecture", "deck", "'005'", "range", lambda: kr.from_lecture("005", 1.0)),
    ("kreg.regularizers.from_lecture", "lam", "-1.0", "range", lambda: kr.from_lecture("001", -1.0)),
    ("kreg.regularizers.from_lecture", "batch_size", "None", "type", lambda: kr.from_lecture("000", 1.0)),
    ("kreg.regularizers.from_lecture", "r", "2.0", "range",
     lambda: kr.from_lecture("001", 1.0, penalty="elastic_net", r=2.0)),
    ("kreg.regularizers.apply", "regularizer", "'l2'", "type", lambda: kr.apply(_dense_model(), "l2")),
    ("kreg.regularizers.apply", "include", "'biases'", "range",
     lambda: kr.apply(_dense_model(), kr.L2(0.1), include="biases")),
    ("kreg.regularizers.apply", "model", "'m'", "type", lambda: kr.apply("m", kr.L2(0.1))),
    ("kreg.regularizers.kernels", "model", "'m'", "type", lambda: kr.kernels("m")),
    ("kreg.regularizers.penalty", "model", "None", "type", lambda: kr.penalty(None)),
    ("kreg.regularizers.weight_norm", "ord", "3", "range", lambda: kr.weight_norm(_dense_model(), ord=3)),
    ("kreg.regularizers.sparsity", "tol", "-1.0", "range", lambda: kr.sparsity(_dense_model(), tol=-1.0)),
    ("kreg.regularizers.sgd_weight_decay_for_l2", "l2", "-1.0", "range", lambda: kr.sgd_weight_decay_for_l2(-1.0)),
    ("kreg.regularizers.l2_for_sgd_weight_decay", "weight_decay", "'x'", "type",
     lambda: kr.l2_for_sgd_weight_decay("x")),
    # ------------------------------------------------------------ models
    ("kreg.models.mlp", "input_shape", "28", "type", lambda: km.mlp(28)),
    ("kreg.models.mlp", "input_shape", "(4, 0)", "range", lambda: km.mlp((4, 0))),
    ("kreg.models.mlp", "hidden", "(0,)", "range", lambda: km.mlp((4,), hidden=(0,))),
    ("kreg.models.mlp", "hidden", "5", "type", lambda: km.mlp((4,), hidden=5)),
    ("kreg.models.mlp", "dropout", "1.0", "range", lambda: km.mlp((4,), dropout=1.0)),
    ("kreg.models.mlp", "num_classes", "0", "range", lambda: km.mlp((4,), 0)),
    ("kreg.models.mlp", "init", "'pytorch'", "range", lambda: km.mlp((4,), init="pytorch")),
    ("kreg.models.mlp", "batchnorm", "'yes'", "type", lambda: km.mlp((4,), batchnorm="yes")),
    ("kreg.models.cnn", "filters", "16", "type", lambda: km.cnn((8, 8, 1), filters=16)),
    ("kreg.models.cnn", "input_shape", "(40,)", "shape", lambda: km.cnn((40,))),
    ("kreg.models.cnn", "norm", "'batch'", "type", lambda: km.cnn((8, 8, 1), norm="batch")),
    ("kreg.models.softmax_regression", "input_shape", "()", "shape", lambda: km.softmax_regression(())),
    ("kreg.models.softmax_regression", "num_classes", "1.5", "type", lambda: km.softmax_regression((4,), 1.5)),
    ("kreg.models.compile_classifier", "label_smoothing", "-1.0", "range",
     lambda: km.compile_classifier(_dense_model(), label_smoothing=-1.0)),
    ("kreg.models.compile_classifier", "optimizer", "'adam'", "range",
     lambda: km.compile_classifier(_dense_model(), optimizer="adam")),
    ("kreg.models.compile_classifier", "model", "'m'", "type", lambda: km.compile_classifier("m")),
    ("kreg.models.ParallelMLPs", "widths", "[]", "range", lambda: km.ParallelMLPs([])),
    ("kreg.models.ParallelMLPs", "widths", "5", "type", lambda: km.ParallelMLPs(5)),
    ("kreg.models.ParallelMLPs", "num_classes", "0", "range", lambda: km.ParallelMLPs([2], num_classes=0)),
    ("kreg.models.width_sweep_mlp", "input_shape", "28", "type", lambda: km.width_sweep_mlp(28, widths=[2])),
    ("kreg.models.width_sweep_mlp", "widths", "[0]", "range", lambda: km.width_sweep_mlp((4,), widths=[0])),
    # ------------------------------------------------------------ schedules
    ("kreg.schedules.ExponentialDecay", "initial_learning_rate", "-1.0", "range",
     lambda: ks.ExponentialDecay(-1.0, gamma=2.0, unit="step")),
    ("kreg.schedules.ExponentialDecay", "gamma", "0.5", "range", lambda: ks.ExponentialDecay(0.1, gamma=0.5, unit="step")),
    ("kreg.schedules.ExponentialDecay", "period", "0", "range",
     lambda: ks.ExponentialDecay(0.1, gamma=2.0, period=0, unit="step")),
    ("kreg.schedules.ExponentialDecay", "unit", "'batch'", "range", lambda: ks.ExponentialDecay(0.1, gamma=2.0, unit="batch")),
    ("kreg.schedules.ExponentialDecay", "steps_per_epoch", "None", "type", lambda: ks.ExponentialDecay(0.1, gamma=2.0)),
    ("kreg.schedules.ExponentialDecay", "staircase", "'yes'", "type",
     lambda: ks.ExponentialDecay(0.1, gamma=2.0, unit="step", staircase="yes")),
    ("kreg.schedules.StepDecay", "step_size", "0", "range", lambda: ks.StepDecay(0.1, step_size=0, steps_per_epoch=1)),
    ("kreg.schedules.StepDecay", "gamma", "1.5", "range",
     lambda: ks.StepDecay(0.1, step_size=2, gamma=1.5, steps_per_epoch=1)),
    ("kreg.schedules.StepDecay", "steps_per_epoch", "'x'", "type", lambda: ks.StepDecay(0.1, step_size=2, steps_per_epoch="x")),
    ("kreg.schedules.PiecewiseConstant", "boundaries", "[5, 2]", "range",
     lambda: ks.PiecewiseConstant([5, 2], [1.0, 0.1, 0.01], steps_per_epoch=1)),
    ("kreg.schedules.PiecewiseConstant", "values", "[1.0]", "shape", lambda: ks.PiecewiseConstant([5], [1.0], steps_per_epoch=1)),
    ("kreg.schedules.PiecewiseConstant", "values", "-1.0", "range",
     lambda: ks.PiecewiseConstant([5], [1.0, -1.0], steps_per_epoch=1)),
    ("kreg.schedules.Scaled", "schedule", "0.1", "type", lambda: ks.Scaled(0.1)),
    ("kreg.schedules.Scaled", "scale", "0.0", "range", lambda: ks.Scaled(_schedule(), 0.0)),
    ("kreg.schedules.Scaled", "scale", "<Variable", "range", lambda: ks.Scaled(_schedule(), keras.Variable(-1.0))),
    ("kreg.schedules.Scaled", "scale", "<Variable", "shape", lambda: ks.Scaled(_schedule(), keras.Variable([1.0, 2.0]))),
    # ------------------------------------------------------------ initializers
    ("kreg.initializers.TorchLinearBias", "fan_in", "0", "range", lambda: ki.TorchLinearBias(0)),
    ("kreg.initializers.TorchLinearBias", "fan_in", "'4'", "type", lambda: ki.TorchLinearBias("4")),
    ("kreg.initializers.TorchLinearKernel", "seed", "1.5", "type", lambda: ki.TorchLinearKernel(seed=1.5)),
    # ------------------------------------------------------------ callbacks
    ("kreg.callbacks.EarlyStopping", "patience", "-1", "range", lambda: kc.EarlyStopping(patience=-1)),
    ("kreg.callbacks.EarlyStopping", "patience", "1.5", "type", lambda: kc.EarlyStopping(patience=1.5)),
    ("kreg.callbacks.EarlyStopping", "min_delta", "'a'", "type", lambda: kc.EarlyStopping(min_delta="a")),
    ("kreg.callbacks.EarlyStopping", "mode", "'best'", "range", lambda: kc.EarlyStopping(mode="best")),
    ("kreg.callbacks.EarlyStopping", "monitor", "3", "type", lambda: kc.EarlyStopping(monitor=3)),
    ("kreg.callbacks.EarlyStopping", "start_from_epoch", "-1", "range", lambda: kc.EarlyStopping(start_from_epoch=-1)),
    ("kreg.callbacks.EarlyStopping", "restore_best_weights", "'yes'", "type",
     lambda: kc.EarlyStopping(restore_best_weights="yes")),
    ("kreg.callbacks.UntilBelow", "threshold", "nan", "range", lambda: kc.UntilBelow(float("nan"))),
    ("kreg.callbacks.UntilBelow", "monitor", "3", "type", lambda: kc.UntilBelow(0.1, monitor=3)),
    ("kreg.callbacks.FitTracker", "threshold", "1.5", "range", lambda: kc.FitTracker(np.zeros((4, 2)), np.zeros(4),
                                                                                    threshold=1.5)),
    ("kreg.callbacks.FitTracker", "batch_size", "0", "range", lambda: kc.FitTracker(np.zeros((4, 2)), np.zeros(4),
                                                                                   batch_size=0)),
    ("kreg.callbacks.Snapshots", "every", "0", "range", lambda: kc.Snapshots(every=0)),
    ("kreg.callbacks.Snapshots", "ema", "'ema'", "type", lambda: kc.Snapshots(ema="ema")),
    ("kreg.callbacks.ReduceLROnPlateau", "factor", "1.5", "range", lambda: kc.ReduceLROnPlateau(factor=1.5)),
    ("kreg.callbacks.ReduceLROnPlateau", "factor", "'half'", "type", lambda: kc.ReduceLROnPlateau(factor="half")),
    ("kreg.callbacks.ReduceLROnPlateau", "patience", "-1", "range", lambda: kc.ReduceLROnPlateau(patience=-1)),
    ("kreg.callbacks.ReduceLROnPlateau", "cooldown", "-1", "range", lambda: kc.ReduceLROnPlateau(cooldown=-1)),
    ("kreg.callbacks.ReduceLROnPlateau", "min_lr", "-1.0", "range", lambda: kc.ReduceLROnPlateau(min_lr=-1.0)),
    ("kreg.callbacks.ReduceLROnPlateau", "threshold_mode", "'x'", "range",
     lambda: kc.ReduceLROnPlateau(threshold_mode="x")),
    ("kreg.callbacks.LearningCurves", "directory", "3", "type", lambda: kc.LearningCurves(directory=3)),
    ("kreg.callbacks.LearningCurves", "filename", "''", "range", lambda: kc.LearningCurves(filename="")),
    ("kreg.callbacks.LearningCurves", "log_to_history", "'yes'", "type", lambda: kc.LearningCurves(log_to_history="yes")),
    ("kreg.callbacks.WeightAveraging", "mode", "'x'", "range", lambda: kc.WeightAveraging(mode="x")),
    ("kreg.callbacks.WeightAveraging", "decay", "1.5", "range", lambda: kc.WeightAveraging(decay=1.5)),
    ("kreg.callbacks.WeightAveraging", "start_epoch", "-1", "range", lambda: kc.WeightAveraging(start_epoch=-1)),
    ("kreg.callbacks.WeightAveraging", "swap_on_epoch", "'y'", "type", lambda: kc.WeightAveraging(swap_on_epoch="y")),
    ("kreg.callbacks.WeightAveraging", "bn_data", "'x'", "type", lambda: kc.WeightAveraging(bn_data="x")),
    ("kreg.callbacks.WeightAveraging", "bn_data", "array([], shape=(0, 3)", "shape",
     lambda: kc.WeightAveraging(bn_data=np.zeros((0, 3), "float32"))),
    ("kreg.callbacks.WeightAveraging", "bn_batch_size", "1", "range", lambda: kc.WeightAveraging(bn_batch_size=1)),
    # ------------------------------------------------------------ data
    ("kreg.data.corrupt_labels", "y", "[0, 5]", "range", lambda: kd.corrupt_labels([0, 5], 0.5, 2)),
    ("kreg.data.corrupt_labels", "fraction", "1.5", "range", lambda: kd.corrupt_labels([0, 1], 1.5, 2)),
    ("kreg.data.corrupt_labels", "num_classes", "0", "range", lambda: kd.corrupt_labels([0, 1], 0.5, 0)),
    ("kreg.data.corrupt_labels", "y", ("array([[", "[[0, 0], [0, 0]]"), "shape",
     lambda: kd.corrupt_labels(np.zeros((2, 2), int), 0.5, 2)),
    ("kreg.data.load", "name", "'nope'", "range", lambda: kd.load("nope")),
    ("kreg.data.load", "val_fraction", "1.5", "range", lambda: kd.load("digits", val_fraction=1.5)),
    ("kreg.data.load", "n_train", "0", "range", lambda: kd.load("digits", n_train=0)),
    ("kreg.data.load", "fallback", "'x'", "range", lambda: kd.load("digits", fallback="x")),
    ("kreg.data.is_online", "timeout", "-1.0", "range", lambda: kd.is_online(timeout=-1.0)),
    ("kreg.data.make_linear_regression", "n", "0", "range", lambda: kd.make_linear_regression(n=0)),
    ("kreg.data.make_linear_regression", "noise", "-1.0", "range", lambda: kd.make_linear_regression(noise=-1.0)),
    ("kreg.data.make_sine", "n", "'10'", "type", lambda: kd.make_sine(n="10")),
    ("kreg.data.make_toy2d", "n", "0", "range", lambda: kd.make_toy2d(n=0)),
    ("kreg.data.read_idx", "path", "3", "type", lambda: kd.read_idx(3)),
    ("kreg.data.stratified_subset", "size", "0", "range", lambda: kd.stratified_subset(np.arange(10) % 2, 0)),
    ("kreg.data.stratified_subset", "y", ("array([[", "[[0, 0]"), "shape",
     lambda: kd.stratified_subset(np.zeros((4, 2), int), 2)),
    ("kreg.data.augment.augmentation", "image_size", "1", "range", lambda: ka.augmentation(1)),
    ("kreg.data.augment.augmentation", "rotation", "200.0", "range", lambda: ka.augmentation(28, rotation=200.0)),
    ("kreg.data.augment.augmentation", "channels", "0", "range", lambda: ka.augmentation(28, channels=0)),
    ("kreg.data.augment.TrainTestCrop", "height", "0", "range", lambda: ka.TrainTestCrop(0, 5)),
    ("kreg.data.augment.TrainTestCrop", "height", "40", "shape",
     lambda: ka.TrainTestCrop(40, 40)(np.zeros((1, 32, 32, 1), "float32"))),
    ("kreg.data.augment.RandomRotation", "fill_mode", "'x'", "range", lambda: ka.RandomRotation(0.1, fill_mode="x")),
    ("kreg.data.augment.augmented_sizes", "image_size", "1", "range", lambda: ka.augmented_sizes(1)),
    ("kreg.data.augment.augmented_sizes", "resize", "10", "range", lambda: ka.augmented_sizes(28, resize=10)),
    ("kreg.data.augment.upsample", "size", "0", "range", lambda: ka.upsample(np.zeros((2, 8, 8, 1), "float32"), 0)),
    ("kreg.data.augment.upsample", "images", ("<array of shape (2, 3)>", "'<array of shape (2, 3)>'", "array([[0."),
     "shape",
     lambda: ka.upsample(np.zeros((2, 3), "float32"))),
]


def _id(case):
    obj, arg, _, kind, _ = case
    return f"{obj.removeprefix('kreg.')}-{arg}-{kind}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_is_rejected_with_the_argument_and_value(case):
    _, arg, received, _, call = case
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    message = str(err.value)
    assert f"`{arg}`" in message, f"the message does not name `{arg}`: {message}"
    accepted = received if isinstance(received, tuple) else (received,)
    assert any(f"{arg}={r}" in message for r in accepted), f"the message does not show {arg}={accepted}: {message}"


def test_every_public_object_has_a_case():
    covered = {c[0] for c in CASES}
    missing = []
    for module in MODULES:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            full = f"{module}.{name}"
            if full in EXEMPT or f"kreg.data.{name}" in covered or full in covered:
                continue
            missing.append(full)
    assert not missing, f"public objects without a bad-input case: {missing}"


def test_each_case_names_a_public_object():
    public = {f"{m}.{n}" for m in MODULES for n in importlib.import_module(m).__all__}
    assert {c[0] for c in CASES} <= public
