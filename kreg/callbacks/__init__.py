"""kreg's callbacks: early stopping with restore, plateau LR on any schedule,
learning curves, weight averaging. One callback per file; see each class."""

from kreg.callbacks.early_stopping import EarlyStopping
from kreg.callbacks.learning_curves import LearningCurves
from kreg.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from kreg.callbacks.weight_averaging import WeightAveraging

__all__ = ["EarlyStopping", "LearningCurves", "ReduceLROnPlateau", "WeightAveraging"]
