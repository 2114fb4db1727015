"""Plumbing shared by the image transformers: parameter checks and a base class."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from sklearn_leukemia.utils._validation import (
    check_image_channels,
    check_images,
    check_scalar_in,
    is_integral,
)


def _check_choice(value, name: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; else name the known ones."""
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a str among {sorted(allowed)}; got {value!r} of type "
            f"{type(value).__name__}."
        )
    check_scalar_in(value, name, allowed)
    return value


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def _check_positive_number(value, name: str, *, strict: bool = True) -> float:
    """Return ``value`` as a float if it is > 0 (>= 0 unless ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}.")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (strict and value == 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}.")
    return value


def _check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    if not is_integral(value):
        raise TypeError(f"{name} must be an int; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}.")
    return int(value)


def _check_size(value, name: str = "size") -> tuple[int, int]:
    """Return an int or a ``(height, width)`` pair of positive ints as a pair."""
    if is_integral(value):
        pair = (value, value)
    elif (
        isinstance(value, (tuple, list, np.ndarray))
        and len(value) == 2
        and all(is_integral(v) for v in value)
    ):
        pair = tuple(value)
    else:
        raise TypeError(
            f"{name} must be an int or a (height, width) pair of ints; got {value!r}."
        )
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive; got {value!r}.")
    return int(pair[0]), int(pair[1])


def _cast_to(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast float results back to ``dtype``, rounding and clipping integers.

    A plain ``astype`` would truncate (biasing every pixel down by half a
    level) and wrap around out-of-range values.
    """
    dtype = np.dtype(dtype)
    if dtype == values.dtype:
        return values
    if dtype.kind == "b":
        return values >= 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.rint(values)
        np.clip(values, info.min, info.max, out=values)
    return values.astype(dtype)


def _unit_scale(dtype: np.dtype) -> float:
    """Value of full intensity: 255 for uint8, 65535 for uint16, 1 for floats."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0


def _channel_view(X: np.ndarray) -> np.ndarray:
    """Return ``X`` as (n_samples, n_pixels, n_channels) without copying."""
    n_channels = 1 if X.ndim == 3 else X.shape[-1]
    return X.reshape(len(X), -1, n_channels)


def _chunk_slices(n_samples: int, sample_size: int, budget: int = 2**23):
    """Yield slices over samples so that a chunk holds about ``budget`` values.

    Float work is done chunk by chunk so that a big uint8 batch never gets a
    full float64 twin in memory.
    """
    step = max(1, budget // max(1, sample_size))
    for start in range(0, n_samples, step):
        yield slice(start, min(start + step, n_samples))


class _BaseImageTransformer(TransformerMixin, BaseEstimator):
    """Base of the stateless image transformers.

    Subclasses define ``_check_params`` (returns the validated parameters as a
    dict, raising errors that name the parameter) and ``_transform_checked``
    (works on the output of :func:`check_images`). ``fit`` only validates and
    records the channel count; ``transform`` works without ``fit``.
    """

    _allow_ragged = False

    def _check_params(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform_checked(self, X, params: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None):
        """Validate the parameters and record the channel count of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels])
            Images.
        y : None
            Ignored.

        Returns
        -------
        self : object
            This transformer.
        """
        self._check_params()
        X = check_images(X, allow_ragged=self._allow_ragged, estimator=self)
        check_image_channels(self, X, reset=True)
        return self

    def transform(self, X):
        """Transform the images; see the class docstring for the output.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels])
            Images, with the channel count seen in ``fit`` if fitted.

        Returns
        -------
        X_out : ndarray
            One output image per input image, in the same order.
        """
        params = self._check_params()
        X = check_images(X, allow_ragged=self._allow_ragged, estimator=self)
        check_image_channels(self, X, reset=False)
        return self._transform_checked(X, params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["uint8", "float32", "float64"]
        return tags
