"""Bad constructor input to every public kreg callback: ValueError/TypeError naming argument and value."""

import numpy as np
import pytest

from kreg.callbacks import EarlyStopping, LearningCurves, ReduceLROnPlateau, WeightAveraging

NAN = float("nan")

CASES = [
    # (callable, argument, value)
    (EarlyStopping, "monitor", ""),
    (EarlyStopping, "monitor", None),
    (EarlyStopping, "monitor", ["val_loss"]),
    (EarlyStopping, "min_delta", "0.1"),
    (EarlyStopping, "min_delta", NAN),
    (EarlyStopping, "patience", -1),
    (EarlyStopping, "patience", 1.5),
    (EarlyStopping, "patience", True),
    (EarlyStopping, "verbose", -1),
    (EarlyStopping, "mode", "maximize"),
    (EarlyStopping, "mode", None),
    (EarlyStopping, "baseline", "1.0"),
    (EarlyStopping, "baseline", float("inf")),
    (EarlyStopping, "restore_best_weights", "yes"),
    (EarlyStopping, "start_from_epoch", -2),
    (EarlyStopping, "start_from_epoch", 2.0),
    (EarlyStopping, "path", "best.h5"),
    (EarlyStopping, "path", 7),
    (ReduceLROnPlateau, "monitor", 0),
    (ReduceLROnPlateau, "factor", 0.0),
    (ReduceLROnPlateau, "factor", 1.0),
    (ReduceLROnPlateau, "factor", -0.5),
    (ReduceLROnPlateau, "factor", None),
    (ReduceLROnPlateau, "patience", -3),
    (ReduceLROnPlateau, "patience", "2"),
    (ReduceLROnPlateau, "verbose", 0.5),
    (ReduceLROnPlateau, "mode", "up"),
    (ReduceLROnPlateau, "min_delta", -1e-4),
    (ReduceLROnPlateau, "min_delta", NAN),
    (ReduceLROnPlateau, "cooldown", -1),
    (ReduceLROnPlateau, "cooldown", 1.0),
    (ReduceLROnPlateau, "min_lr", -0.1),
    (ReduceLROnPlateau, "min_lr", [0.0]),
    (ReduceLROnPlateau, "threshold_mode", "absolute"),
    (ReduceLROnPlateau, "semantics", "pytorch"),
    (ReduceLROnPlateau.from_torch, "mode", "best"),
    (ReduceLROnPlateau.from_torch, "factor", 2.0),
    (ReduceLROnPlateau.from_torch, "patience", -1),
    (ReduceLROnPlateau.from_torch, "threshold_mode", "relative"),
    (ReduceLROnPlateau.from_torch, "cooldown", "0"),
    (ReduceLROnPlateau.from_torch, "min_lr", -1.0),
    (ReduceLROnPlateau.from_torch, "threshold", -1e-4),
    (ReduceLROnPlateau.from_torch, "threshold", NAN),
    (ReduceLROnPlateau.from_torch, "eps", -1e-8),
    (ReduceLROnPlateau.from_torch, "eps", "tiny"),
    (LearningCurves, "directory", 3),
    (LearningCurves, "filename", ""),
    (LearningCurves, "filename", 5),
    (LearningCurves, "filename", "sub/curves"),
    (LearningCurves, "log_to_history", 1),
    (WeightAveraging, "mode", "polyak"),
    (WeightAveraging, "decay", 1.0),
    (WeightAveraging, "decay", -0.1),
    (WeightAveraging, "decay", "0.9"),
    (WeightAveraging, "start_epoch", -1),
    (WeightAveraging, "start_epoch", 0.5),
    (WeightAveraging, "swap_on_epoch", 1),
    (WeightAveraging, "bn_data", "x"),
    (WeightAveraging, "bn_data", 1.0),
    (WeightAveraging, "bn_data", np.zeros((0, 3))),
    (WeightAveraging, "bn_data", []),
    (WeightAveraging, "bn_data", {"x": None}),
    (WeightAveraging, "bn_batch_size", 1),
    (WeightAveraging, "bn_batch_size", 32.0),
    (WeightAveraging, "verbose", -1),
]

def _id(case):
    fn, arg, value = case
    return f"{getattr(fn, '__qualname__', fn)}-{arg}={value!r}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_names_the_argument_and_the_value(case):
    fn, arg, value = case
    with pytest.raises((ValueError, TypeError)) as err:
        fn(**{arg: value})
    message = str(err.value)
    name = arg
    assert f"`{name}`" in message, message
    if isinstance(value, np.ndarray):
        assert f"Received: {name}=array(" in message, message
    else:
        assert f"Received: {name}={value!r}" in message, message
