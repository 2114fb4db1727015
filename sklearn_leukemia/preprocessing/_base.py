"""Plumbing shared by the image transformers: a base class and pixel helpers."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from sklearn_leukemia.utils._validation import check_image_channels, check_images


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

    Subclasses declare ``_parameter_constraints`` (scikit-learn's table) and
    define ``_params`` (the validated parameters as the keyword arguments of
    their function twin, with the checks a table cannot express) and
    ``_transform_checked`` (works on the output of :func:`check_images`).
    ``fit`` only validates and records the channel count; ``transform``
    works without ``fit``.
    """

    _allow_ragged = False

    def _params(self) -> dict:
        return self.get_params()

    def _transform_checked(self, X, params: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def _checked_params(self) -> dict:
        self._validate_params()
        return self._params()

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
        self._checked_params()
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
        params = self._checked_params()
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
