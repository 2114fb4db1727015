"""Reading blood-smear image files, and writing outputs safely."""

from sklearn_leukemia.io._read import ImageReadError, read_image
from sklearn_leukemia.io._write import (
    OutputInsideDataError,
    OutputNotWritableError,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    check_outside,
    check_writable,
)

__all__ = [
    "ImageReadError",
    "OutputInsideDataError",
    "OutputNotWritableError",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_outside",
    "check_writable",
    "read_image",
]
