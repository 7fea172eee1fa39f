"""kreg.layers: regularization and normalization layers for Keras 3.

Every layer is registered under the ``kreg`` package, so a ``.keras`` file
that uses them loads without ``custom_objects`` once ``kreg.layers`` is
imported.
"""

from kreg.layers.batch_norm import BatchNorm, estimate_batchnorm_statistics, validate_bn_data
from kreg.layers.drop_connect import DropConnect
from kreg.layers.dropout import Dropout, mc_predict
from kreg.layers.group_norm import GroupNorm
from kreg.layers.weight_noise import WeightNoise

__all__ = [
    "BatchNorm",
    "DropConnect",
    "Dropout",
    "GroupNorm",
    "WeightNoise",
    "estimate_batchnorm_statistics",
    "mc_predict",
    "validate_bn_data",
]
