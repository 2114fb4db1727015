"""Intensity normalisation to [0, 1], [-1, 1] or per-channel z-scores."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from sklearn_leukemia._options import NORMALIZE_METHODS
from sklearn_leukemia.preprocessing._base import (
    _channel_view,
    _chunk_slices,
    _unit_scale,
)
from sklearn_leukemia.utils._validation import (
    check_image_channels,
    check_images,
    check_intensity_range,
)

_CONSTRAINTS = {"method": [StrOptions(set(NORMALIZE_METHODS))]}


def _channel_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation in the [0, 1] scale.

    uint8 batches are summarised by one per-channel histogram (exact integer
    counts, a single pass, no float copy). Other dtypes are accumulated chunk
    by chunk in float64 and merged with Chan et al.'s pairwise update, which
    avoids the cancellation of ``E[x^2] - E[x]^2``.
    """
    flat = _channel_view(X)
    n_channels = flat.shape[-1]
    if X.dtype == np.uint8:
        hist = np.zeros(256 * n_channels, dtype=np.int64)
        for chunk in _chunk_slices(len(X), flat[0].size, budget=2**22):
            index = flat[chunk].astype(np.intp)
            index += 256 * np.arange(n_channels)
            hist += np.bincount(index.ravel(), minlength=256 * n_channels)
        hist = hist.reshape(n_channels, 256).astype(np.float64)
        levels = np.arange(256) / 255.0
        count = hist.sum(axis=1)
        mean = hist @ levels / count
        var = (hist * (levels - mean[:, None]) ** 2).sum(axis=1) / count
        return mean, np.sqrt(var)

    scale = _unit_scale(X.dtype)
    count, mean, m2 = 0, np.zeros(n_channels), np.zeros(n_channels)
    for chunk in _chunk_slices(len(X), flat[0].size):
        values = flat[chunk].reshape(-1, n_channels).astype(np.float64)
        values /= scale
        n_chunk = len(values)
        mean_chunk = values.mean(axis=0)
        values -= mean_chunk
        m2_chunk = np.einsum("ij,ij->j", values, values)
        delta = mean_chunk - mean
        total = count + n_chunk
        mean = mean + delta * n_chunk / total
        m2 = m2 + m2_chunk + delta**2 * count * n_chunk / total
        count = total
    return mean, np.sqrt(m2 / count)


def _apply(X: np.ndarray, method: str, mean=None, std=None) -> np.ndarray:
    """Scale to [0, 1] by the dtype, then shift and divide; float32 out."""
    scale = _unit_scale(X.dtype)
    if method == "unit":
        shift, divisor = np.zeros(1), np.full(1, scale)
    elif method == "symmetric":
        shift, divisor = np.full(1, scale / 2), np.full(1, scale / 2)
    else:
        # A constant channel has std 0: leave it centred rather than divide by
        # zero, as scikit-learn's StandardScaler does.
        std = np.where(std == 0, 1.0, std)
        shift, divisor = mean * scale, std * scale
    # One row of per-pixel values for a whole image: numpy runs a long
    # contiguous inner loop instead of one of length n_channels (4x faster).
    flat = X.reshape(len(X), -1)
    repeats = flat.shape[1] // len(shift)
    shift = np.tile(shift.astype(np.float32), repeats)
    factor = np.tile((1.0 / divisor).astype(np.float32), repeats)
    out = np.empty(X.shape, dtype=np.float32)
    out_flat = out.reshape(flat.shape)
    for chunk in _chunk_slices(len(X), flat[0].size):
        values = out_flat[chunk]
        values[...] = flat[chunk]
        values -= shift
        values *= factor
    return out


@validate_params(
    {"X": "no_validation", **_CONSTRAINTS}, prefer_skip_nested_validation=True
)
def normalize_intensity(X, *, method: str = "unit") -> np.ndarray:
    """Scale pixel intensities to [0, 1], [-1, 1] or per-channel z-scores.

    Parameters
    ----------
    X : ndarray of shape (n_samples, height, width[, channels])
        Images. uint8 is divided by 255, uint16 by 65535; float images are
        taken to be in [0, 1] already (scikit-image's convention) and are
        not rescaled.
    method : {"unit", "symmetric", "standard"}, default="unit"
        ``"unit"``: [0, 1]. ``"symmetric"``: [-1, 1]. ``"standard"``:
        ``(X - mean) / std`` per channel, with the mean and standard deviation
        of ``X`` itself over all images and pixels. To apply the statistics
        of training images to new ones, use :class:`IntensityNormalizer`.

    Returns
    -------
    X_normalized : ndarray of shape X.shape, dtype float32
        Same number and order of images.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.preprocessing import normalize_intensity
    >>> X = np.array([[[0, 255]]], dtype=np.uint8)
    >>> normalize_intensity(X, method="symmetric")
    array([[[-1.,  1.]]], dtype=float32)
    """
    X = check_images(X, estimator="normalize_intensity")
    if method == "standard":
        return _apply(X, method, *_channel_stats(X))
    return _apply(X, method)


class IntensityNormalizer(TransformerMixin, BaseEstimator):
    """Scale pixel intensities to [0, 1], [-1, 1] or per-channel z-scores.

    The z-score (``method="standard"``) is the paper's
    ``X_norm = (X - mu) / sigma``, with ``mu`` and ``sigma`` learned per
    channel over all training images and pixels in ``fit``. ``"unit"`` and
    ``"symmetric"`` learn nothing; their ``fit`` only checks the input.

    Parameters
    ----------
    method : {"unit", "symmetric", "standard"}, default="unit"
        ``"unit"``: [0, 1]. ``"symmetric"``: [-1, 1]. ``"standard"``:
        ``(X / full - mean_) / std_`` per channel, where ``full`` is 255 for
        uint8, 65535 for uint16 and 1 for float.

    Attributes
    ----------
    n_channels_in_ : int
        Channels of the images seen in ``fit`` (1 for grayscale).
    intensity_range_ : (float, float)
        Lowest and highest intensity seen in ``fit``, integers read as
        fractions of their full scale; ``transform`` warns on images far
        outside it (:func:`~sklearn_leukemia.utils.check_intensity_range`).
    mean_ : ndarray of shape (n_channels,)
        Per-channel mean of the training images in the [0, 1] scale; only
        with ``method="standard"``.
    std_ : ndarray of shape (n_channels,)
        Per-channel standard deviation in the [0, 1] scale; only with
        ``method="standard"``. A constant channel is divided by 1.

    See Also
    --------
    normalize_intensity : The function form; ``"standard"`` uses the
        statistics of its own input.

    Notes
    -----
    The output is float32 (4 bytes a pixel, 4 times a uint8 batch), so put
    this step last. Integers are scaled by their full range (uint8 by 255,
    uint16 by 65535); float input is taken to be in [0, 1] and is not
    rescaled, so ``"unit"`` leaves it as it is. Because ``mean_`` and
    ``std_`` are kept in the [0, 1] scale, a normalizer fitted on uint8
    images gives the same result on the same images as float in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.preprocessing import IntensityNormalizer
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), np.uint8)
    >>> norm = IntensityNormalizer(method="standard").fit(X)
    >>> norm.mean_.shape
    (3,)
    >>> Xt = norm.transform(X)
    >>> Xt.dtype, bool(abs(Xt.mean()) < 1e-5)
    (dtype('float32'), True)
    """

    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, *, method="unit"):
        self.method = method

    def fit(self, X, y=None):
        """Check ``X`` and, for ``method="standard"``, learn the statistics.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels])
            Training images.
        y : None
            Ignored.

        Returns
        -------
        self : IntensityNormalizer
            Fitted normalizer.
        """
        self._validate_params()
        method = self.method
        X = check_images(X, estimator=self)
        check_image_channels(self, X, reset=True)
        check_intensity_range(self, X, reset=True)
        for name in ("mean_", "std_"):
            self.__dict__.pop(name, None)
        if method == "standard":
            self.mean_, self.std_ = _channel_stats(X)
        return self

    def transform(self, X):
        """Normalise the images.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width[, channels])
            Images with the channel count seen in ``fit``.

        Returns
        -------
        X_normalized : ndarray of shape X.shape, dtype float32
            Same number and order of images.
        """
        check_is_fitted(self, "n_channels_in_")
        self._validate_params()
        method = self.method
        X = check_images(X, estimator=self)
        check_image_channels(self, X, reset=False)
        check_intensity_range(self, X, reset=False)
        if method == "standard":
            check_is_fitted(
                self,
                ("mean_", "std_"),
                msg="This IntensityNormalizer was fitted with another method; "
                "call fit again after setting method='standard'.",
            )
            return _apply(X, method, self.mean_, self.std_)
        return _apply(X, method)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
