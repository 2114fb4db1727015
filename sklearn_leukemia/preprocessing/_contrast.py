"""Contrast adjustment: percentile stretch, CLAHE and gamma correction."""

from __future__ import annotations

import numbers
from numbers import Integral, Real

import numpy as np
from skimage.exposure import equalize_adapthist
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from sklearn_leukemia._options import CONTRAST_METHODS
from sklearn_leukemia.preprocessing._base import (
    _BaseImageTransformer,
    _cast_to,
    _channel_view,
    _chunk_slices,
    _unit_scale,
)
from sklearn_leukemia.utils._validation import SIZE, check_images, check_size

_CONSTRAINTS = {
    "method": [StrOptions(set(CONTRAST_METHODS))],
    "percentiles": [tuple, list],
    "clip_limit": [Interval(Real, 0, 1, closed="right")],
    "gamma": [Interval(Real, 0, None, closed="neither")],
    "kernel_size": [*SIZE, None],
    "nbins": [Interval(Integral, 2, None, closed="left")],
}


def _check_percentiles(value) -> tuple[float, float]:
    if len(value) != 2 or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value
    ):
        raise TypeError(
            f"percentiles must be a (low, high) pair of numbers; got {value!r}."
        )
    low, high = float(value[0]), float(value[1])
    if not 0 <= low < high <= 100:
        raise ValueError(
            f"percentiles must satisfy 0 <= low < high <= 100; got {value!r}."
        )
    return low, high


def _params(method, percentiles, clip_limit, gamma, kernel_size, nbins) -> dict:
    """Return the parameters as ``_adjust`` takes them, pairs checked."""
    return {
        "method": method,
        "percentiles": _check_percentiles(percentiles),
        "clip_limit": float(clip_limit),
        "gamma": float(gamma),
        "kernel_size": None if kernel_size is None else check_size(
            kernel_size, "kernel_size"
        ),
        "nbins": int(nbins),
    }


def _rank_value(cumulative: np.ndarray, rank: float) -> np.ndarray:
    """Value at a fractional ``rank`` of each histogram, interpolated linearly.

    Gives what ``np.percentile`` (``method="linear"``) gives on the pixels.
    """
    below = int(np.floor(rank))
    above = min(below + 1, int(cumulative[..., -1].max()) - 1)
    low = np.argmax(cumulative > below, axis=-1)
    high = np.argmax(cumulative > above, axis=-1)
    return low + (rank - below) * (high - low)


def _stretch_uint8(X: np.ndarray, percentiles) -> np.ndarray:
    """Percentile stretch of uint8 images through histograms and lookup tables.

    One ``np.bincount`` per chunk gives every image-channel histogram, from
    which the percentiles are exact, and the stretch is one table lookup per
    pixel: about 2.5 times faster than ``np.percentile`` and float arithmetic.
    """
    flat = _channel_view(X)
    n_channels = flat.shape[-1]
    ranks = [p / 100 * (flat.shape[1] - 1) for p in percentiles]
    levels = np.arange(256, dtype=np.float64)
    out = np.empty_like(X)
    out_flat = out.reshape(flat.shape)
    for chunk in _chunk_slices(len(X), flat[0].size, budget=2**22):
        n_rows = (chunk.stop - chunk.start) * n_channels
        index = flat[chunk].astype(np.intp)
        index += 256 * np.arange(n_rows).reshape(-1, 1, n_channels)
        hist = np.bincount(index.ravel(), minlength=256 * n_rows)
        cumulative = np.cumsum(hist.reshape(n_rows, 256), axis=-1)
        low, high = (_rank_value(cumulative, rank)[:, None] for rank in ranks)
        spread = high - low
        flat_range = spread <= 0
        # A flat channel has no contrast to stretch: it keeps its values.
        lut = np.where(
            flat_range, levels, (levels - low) * (255 / np.where(flat_range, 1, spread))
        )
        np.clip(lut, 0, 255, out=lut)
        out_flat[chunk] = _cast_to(lut, np.uint8).ravel()[index]
    return out


def _stretch(X: np.ndarray, percentiles) -> np.ndarray:
    """Map each channel's percentiles of each image to the full range.

    scikit-image's ``rescale_intensity`` takes one range per call and
    truncates when casting back to integers; the whole batch is done here
    with one ``np.percentile`` call per chunk, and rounding.
    """
    if X.dtype == np.uint8:
        return _stretch_uint8(X, percentiles)
    flat = _channel_view(X)
    top = _unit_scale(X.dtype)
    out = np.empty_like(X)
    out_flat = out.reshape(flat.shape)
    for chunk in _chunk_slices(len(X), flat[0].size):
        low, high = np.percentile(flat[chunk], percentiles, axis=1, keepdims=True)
        flat_range = high <= low
        low[flat_range] = 0.0
        high[flat_range] = top
        values = flat[chunk].astype(np.float32)
        values -= low.astype(np.float32)
        values *= (top / (high - low)).astype(np.float32)
        np.clip(values, 0, top, out=values)
        out_flat[chunk] = _cast_to(values, X.dtype)
    return out


def _clahe_one(image: np.ndarray, kernel_size, clip_limit, nbins) -> np.ndarray:
    """CLAHE on one image, back in its own dtype.

    RGB images are equalised on the HSV value channel by scikit-image, so the
    hues of the stain are kept; a fourth channel is left unchanged.
    """
    extra = None
    if image.ndim == 3 and image.shape[-1] == 1:
        work = image[..., 0]
    elif image.ndim == 3 and image.shape[-1] == 4:
        work, extra = image[..., :3], image[..., 3:]
    else:
        work = image
    result = equalize_adapthist(
        work, kernel_size=kernel_size, clip_limit=clip_limit, nbins=nbins
    )
    result = _cast_to(result * _unit_scale(image.dtype), image.dtype)
    if extra is not None:
        result = np.concatenate([result, extra], axis=-1)
    return result.reshape(image.shape)


def _gamma(X: np.ndarray, gamma: float) -> np.ndarray:
    """``full * (X / full) ** gamma``; a rounded lookup table for integers.

    scikit-image's ``adjust_gamma`` truncates its uint8 lookup table; this
    rounds instead, so gamma=1 is exactly the identity.
    """
    if X.dtype.kind == "u" and X.dtype.itemsize <= 2:
        top = _unit_scale(X.dtype)
        levels = np.arange(int(top) + 1, dtype=np.float64)
        lut = _cast_to(top * (levels / top) ** gamma, X.dtype)
        return lut[X]
    if X.min() < 0:
        raise ValueError(
            "method='gamma' needs non-negative pixel values; X has negative "
            "values. Apply it before IntensityNormalizer(method='symmetric' or "
            "'standard')."
        )
    top = _unit_scale(X.dtype)
    values = X.astype(np.result_type(X.dtype, np.float32))
    values /= top
    np.power(values, gamma, out=values)
    values *= top
    return _cast_to(values, X.dtype)


def _adjust(X, method, percentiles, clip_limit, gamma, kernel_size, nbins):
    if method == "stretch":
        return _stretch(X, percentiles)
    if method == "gamma":
        return _gamma(X, gamma)
    out = np.empty_like(X)
    for i, image in enumerate(X):
        out[i] = _clahe_one(image, kernel_size, clip_limit, nbins)
    return out


@validate_params(
    {"X": "no_validation", **_CONSTRAINTS}, prefer_skip_nested_validation=True
)
def adjust_contrast(
    X,
    *,
    method: str = "stretch",
    percentiles=(2, 98),
    clip_limit: float = 0.01,
    gamma: float = 1.0,
    kernel_size=None,
    nbins: int = 256,
) -> np.ndarray:
    """Adjust the contrast of each image.

    Parameters
    ----------
    X : ndarray of shape (n_samples, height, width[, channels])
        Images, uint8, uint16 or float. Float images are taken to be in
        [0, 1] (scikit-image's convention).
    method : {"stretch", "clahe", "gamma"}, default="stretch"
        ``"stretch"``: per image and channel, the ``percentiles`` are mapped to
        black and full intensity and values beyond are clipped; a channel with
        no spread is left unchanged. ``"clahe"``: contrast-limited adaptive
        histogram equalisation (:func:`skimage.exposure.equalize_adapthist`),
        per image; RGB images are equalised on the HSV value channel so the
        stain colours keep their hue. ``"gamma"``: ``full * (X / full) **
        gamma`` (below 1 brightens, above 1 darkens).
    percentiles : (float, float), default=(2, 98)
        Low and high percentiles for ``"stretch"``, 0 <= low < high <= 100.
    clip_limit : float, default=0.01
        CLAHE clipping limit in (0, 1]; higher gives more contrast.
    gamma : float, default=1.0
        Exponent for ``"gamma"``, > 0.
    kernel_size : int or (int, int), default=None
        CLAHE tile size; None uses 1/8 of the image height and width.
    nbins : int, default=256
        Number of CLAHE histogram bins.

    Returns
    -------
    X_adjusted : ndarray of the same shape and dtype as X
        uint8 stays uint8 (rounded), uint16 stays uint16; float images come
        back in [0, 1] for ``"stretch"`` and ``"clahe"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.preprocessing import adjust_contrast
    >>> X = np.linspace(100, 150, 2 * 8 * 8 * 3).astype(np.uint8).reshape(2, 8, 8, 3)
    >>> out = adjust_contrast(X, method="stretch", percentiles=(0, 100))
    >>> out.dtype, int(out[0].min()), int(out[0].max())
    (dtype('uint8'), 0, 255)
    """
    params = _params(method, percentiles, clip_limit, gamma, kernel_size, nbins)
    X = check_images(X, estimator="adjust_contrast")
    return _adjust(X, **params)


class ContrastAdjuster(_BaseImageTransformer):
    """Adjust the contrast of each image: percentile stretch, CLAHE or gamma.

    Stateless: each image is adjusted on its own, ``fit`` only checks the
    parameters and records the channel count. The transformer form of
    :func:`adjust_contrast`.

    Parameters
    ----------
    method : {"stretch", "clahe", "gamma"}, default="stretch"
        ``"stretch"`` maps each image channel's ``percentiles`` to the full
        range; ``"clahe"`` is contrast-limited adaptive histogram equalisation
        (on the HSV value channel of RGB images); ``"gamma"`` raises the
        intensity, scaled to [0, 1], to the power ``gamma``.
    percentiles : (float, float), default=(2, 98)
        Low and high percentiles for ``"stretch"``.
    clip_limit : float, default=0.01
        CLAHE clipping limit in (0, 1].
    gamma : float, default=1.0
        Exponent for ``"gamma"``, > 0.
    kernel_size : int or (int, int), default=None
        CLAHE tile size; None uses 1/8 of the image size.
    nbins : int, default=256
        Number of CLAHE histogram bins.

    Attributes
    ----------
    n_channels_in_ : int
        Channels of the images seen in ``fit`` (1 for grayscale).

    See Also
    --------
    adjust_contrast : The function this transformer calls.

    Notes
    -----
    The output has the dtype of the input: uint8 stays uint8 (rounded).
    Float input is taken to be in [0, 1]; ``"stretch"`` and ``"clahe"``
    return it in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.preprocessing import ContrastAdjuster
    >>> X = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), np.uint8)
    >>> ContrastAdjuster(method="clahe").fit_transform(X).dtype
    dtype('uint8')
    """

    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(
        self,
        *,
        method="stretch",
        percentiles=(2, 98),
        clip_limit=0.01,
        gamma=1.0,
        kernel_size=None,
        nbins=256,
    ):
        self.method = method
        self.percentiles = percentiles
        self.clip_limit = clip_limit
        self.gamma = gamma
        self.kernel_size = kernel_size
        self.nbins = nbins

    def _params(self) -> dict:
        return _params(
            self.method,
            self.percentiles,
            self.clip_limit,
            self.gamma,
            self.kernel_size,
            self.nbins,
        )

    def _transform_checked(self, X, params: dict) -> np.ndarray:
        return _adjust(X, **params)
