"""Data for kreg's lessons: loading with offline fallbacks, augmentation, noise."""

from kreg.data.datasets import (
    DATASETS,
    EMBEDDED,
    Dataset,
    DatasetInfo,
    is_online,
    load,
    make_linear_regression,
    make_sine,
    make_toy2d,
    read_idx,
    stratified_subset,
)
from kreg.data.noise import corrupt_labels

__all__ = [
    "DATASETS",
    "EMBEDDED",
    "Dataset",
    "DatasetInfo",
    "corrupt_labels",
    "is_online",
    "load",
    "make_linear_regression",
    "make_sine",
    "make_toy2d",
    "read_idx",
    "stratified_subset",
]
