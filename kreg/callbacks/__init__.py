"""kreg's callbacks: early stopping with restore, plateau LR on any schedule,
learning curves, weight averaging, and the small recorders the lessons share
(last weights, stop below a threshold, fit tracking, per-epoch learning rate,
per-step losses, snapshots). One callback per file; see each class."""

from kreg.callbacks.batch_losses import BatchLosses
from kreg.callbacks.early_stopping import EarlyStopping
from kreg.callbacks.epoch_lr import EpochLR
from kreg.callbacks.fit_tracker import FitTracker
from kreg.callbacks.keep_last import KeepLast
from kreg.callbacks.learning_curves import LearningCurves
from kreg.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from kreg.callbacks.snapshots import Snapshots
from kreg.callbacks.until_below import UntilBelow
from kreg.callbacks.weight_averaging import WeightAveraging

__all__ = ["BatchLosses", "EarlyStopping", "EpochLR", "FitTracker", "KeepLast", "LearningCurves",
           "ReduceLROnPlateau", "Snapshots", "UntilBelow", "WeightAveraging"]
