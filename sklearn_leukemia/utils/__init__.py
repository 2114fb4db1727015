"""Shared helpers: input validation and estimator discovery."""

from sklearn_leukemia.utils._validation import (
    check_image_channels,
    check_images,
)

__all__ = ["check_image_channels", "check_images"]
