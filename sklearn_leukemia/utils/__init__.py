"""Shared helpers: input validation, estimator discovery, Dask scale-out."""

from sklearn_leukemia.utils._parallel import dask_parallel_config
from sklearn_leukemia.utils._validation import (
    IntensityRangeWarning,
    check_image_channels,
    check_images,
    check_intensity_range,
)

__all__ = [
    "IntensityRangeWarning",
    "check_image_channels",
    "check_images",
    "check_intensity_range",
    "dask_parallel_config",
]
