"""Shared helpers: input validation and estimator discovery."""

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
]
