"""Image transformers: read, resize, adjust contrast, denoise, normalise.

Each transformer has a function twin taking the same parameters and working
on arrays directly; the transformer calls it.
"""

from sklearn_leukemia.preprocessing._contrast import ContrastAdjuster, adjust_contrast
from sklearn_leukemia.preprocessing._denoise import ImageDenoiser, denoise_images
from sklearn_leukemia.preprocessing._normalize import (
    IntensityNormalizer,
    normalize_intensity,
)
from sklearn_leukemia.preprocessing._reader import ImageReader, read_images
from sklearn_leukemia.preprocessing._resize import ImageResizer, resize_images

__all__ = [
    "ContrastAdjuster",
    "ImageDenoiser",
    "ImageReader",
    "ImageResizer",
    "IntensityNormalizer",
    "adjust_contrast",
    "denoise_images",
    "normalize_intensity",
    "read_images",
    "resize_images",
]
