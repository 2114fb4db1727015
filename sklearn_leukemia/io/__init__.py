"""Reading blood-smear image files into RGB arrays."""

from sklearn_leukemia.io._read import ImageReadError, read_image

__all__ = ["ImageReadError", "read_image"]
