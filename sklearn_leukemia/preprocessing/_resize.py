"""Bring images of any size to one size: stretch, pad or centre-crop."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage.transform import resize as _sk_resize
from sklearn.utils._param_validation import StrOptions, validate_params

from sklearn_leukemia.preprocessing._base import _BaseImageTransformer, _cast_to
from sklearn_leukemia.utils._validation import SIZE, check_images, check_size

_CONSTRAINTS = {
    "size": SIZE,
    "mode": [StrOptions({"crop", "pad", "stretch"})],
    "anti_aliasing": ["boolean"],
}


def _resample(image: np.ndarray, out_hw, box, anti_aliasing: bool) -> np.ndarray:
    """Resample the ``box`` (left, top, right, bottom) of ``image`` to ``out_hw``.

    With anti-aliasing, Pillow's bilinear filter is used: it widens its
    support when shrinking, so every source pixel is averaged in (an
    area-aware, anti-aliased reduction), and it is several times faster than
    scikit-image's Gaussian-then-interpolate. Without, scikit-image samples the
    bilinear interpolant at the output pixel centres only.
    """
    out_h, out_w = out_hw
    height, width = image.shape[:2]
    if box == (0, 0, width, height) and (height, width) == (out_h, out_w):
        return image
    if not anti_aliasing:
        left, top, right, bottom = (int(round(v)) for v in box)
        part = image[top:bottom, left:right]
        shape = (out_h, out_w) + image.shape[2:]
        out = _sk_resize(
            part, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True
        )
        return _cast_to(out, image.dtype)

    size = (out_w, out_h)
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3:
        pil = Image.fromarray(np.ascontiguousarray(image))
        return np.asarray(pil.resize(size, Image.Resampling.BILINEAR, box=box))

    # One band at a time: Pillow premultiplies alpha for RGBA, which would
    # change the colour of a fourth channel that is not an alpha channel.
    planes = image[..., np.newaxis] if image.ndim == 2 else image
    work = np.uint8 if image.dtype == np.uint8 else np.float32
    bands = []
    for c in range(planes.shape[-1]):
        pil = Image.fromarray(np.ascontiguousarray(planes[..., c], dtype=work))
        bands.append(np.asarray(pil.resize(size, Image.Resampling.BILINEAR, box=box)))
    out = np.stack(bands, axis=-1)
    if image.ndim == 2:
        out = out[..., 0]
    return _cast_to(out, image.dtype)


def _border_colour(image: np.ndarray) -> np.ndarray:
    """Median of the border pixels, per channel."""
    border = np.concatenate(
        [image[0], image[-1], image[1:-1, 0], image[1:-1, -1]], axis=0
    )
    return _cast_to(np.atleast_1d(np.median(border, axis=0)), image.dtype)


def _resize_one(image: np.ndarray, size, mode: str, anti_aliasing: bool):
    """Resize one (H, W[, C]) image to ``size`` = (height, width); keeps dtype."""
    out_h, out_w = size
    height, width = image.shape[:2]
    full = (0, 0, width, height)
    if mode == "stretch" or height * out_w == width * out_h:
        return _resample(image, size, full, anti_aliasing)
    if mode == "crop":
        if width * out_h > height * out_w:
            new_w = height * out_w / out_h
            left = (width - new_w) / 2
            box = (left, 0, left + new_w, height)
        else:
            new_h = width * out_h / out_w
            top = (height - new_h) / 2
            box = (0, top, width, top + new_h)
        return _resample(image, size, box, anti_aliasing)
    # mode == "pad"
    scale = min(out_h / height, out_w / width)
    inner_h = min(out_h, max(1, round(height * scale)))
    inner_w = min(out_w, max(1, round(width * scale)))
    inner = _resample(image, (inner_h, inner_w), full, anti_aliasing)
    out = np.empty((out_h, out_w) + image.shape[2:], dtype=image.dtype)
    out[...] = _border_colour(image)
    top = (out_h - inner_h) // 2
    left = (out_w - inner_w) // 2
    out[top : top + inner_h, left : left + inner_w] = inner
    return out


def _check_uniform(images) -> tuple[np.dtype, tuple[int, ...]]:
    """Return the dtype and channel shape shared by all images, or raise."""
    dtypes = {image.dtype for image in images}
    if len(dtypes) > 1:
        raise ValueError(
            f"X holds images of several dtypes {sorted(map(str, dtypes))}; expected "
            "one dtype for the whole batch."
        )
    channels = {image.shape[2:] for image in images}
    if len(channels) > 1:
        raise ValueError(
            f"X holds images with different channel counts {sorted(channels)}; "
            "expected one layout for the whole batch."
        )
    return images[0].dtype, images[0].shape[2:]


def _resize(X, size, mode: str, anti_aliasing: bool) -> np.ndarray:
    """Resize a checked batch (ndarray or list of arrays) into a new array."""
    if isinstance(X, list):
        dtype, channels = _check_uniform(X)
    else:
        dtype, channels = X.dtype, X.shape[3:]
    out = np.empty((len(X), *size, *channels), dtype=dtype)
    for i, image in enumerate(X):
        out[i] = _resize_one(image, size, mode, anti_aliasing)
    return out


@validate_params(
    {"X": "no_validation", **_CONSTRAINTS}, prefer_skip_nested_validation=True
)
def resize_images(
    X, *, size=224, mode: str = "stretch", anti_aliasing: bool = True
) -> np.ndarray:
    """Resize images of any sizes to one size.

    Parameters
    ----------
    X : ndarray of shape (n_samples, height, width[, channels]) or list of ndarray
        Images; a list may mix sizes (but not dtypes or channel counts).
    size : int or (int, int), default=224
        Output ``(height, width)``; an int gives a square.
    mode : {"stretch", "pad", "crop"}, default="stretch"
        ``"stretch"`` scales each axis on its own and may distort the aspect
        ratio. ``"pad"`` keeps the aspect ratio, fits the whole image inside
        ``size`` and fills the margins with the median colour of the image's
        border pixels: the background of a smear is light, so padding with
        zeros would add black bars the classifier could learn from, and a
        constant colour does not smear a cell touching the border into
        stripes the way edge replication would. ``"crop"`` keeps the aspect
        ratio, fills ``size`` and cuts the overflow equally on both sides
        (centre crop).
    anti_aliasing : bool, default=True
        Shrink with Pillow's bilinear filter, which averages all source pixels
        (anti-aliased). False samples the bilinear interpolant at the output
        pixels only (scikit-image, ``order=1``), which aliases when shrinking.

    Returns
    -------
    X_resized : ndarray of shape (n_samples, height, width[, channels])
        Same dtype as ``X`` (uint8 stays uint8, rounded); grayscale stays
        grayscale. Float images are resampled in float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.preprocessing import resize_images
    >>> X = [np.zeros((10, 20, 3), np.uint8), np.zeros((30, 30, 3), np.uint8)]
    >>> resize_images(X, size=16, mode="pad").shape
    (2, 16, 16, 3)
    """
    size = check_size(size)
    X = check_images(X, allow_ragged=True, estimator="resize_images")
    return _resize(X, size, mode, anti_aliasing)


class ImageResizer(_BaseImageTransformer):
    """Resize images of any sizes to one size (stretch, pad or centre-crop).

    ``fit`` checks the parameters and records the channel count;
    ``transform`` works without ``fit``. This is the transformer form of
    :func:`resize_images`.

    Parameters
    ----------
    size : int or (int, int), default=224
        Output ``(height, width)``; an int gives a square.
    mode : {"stretch", "pad", "crop"}, default="stretch"
        ``"stretch"`` ignores the aspect ratio; ``"pad"`` keeps it and fills
        the margins with the median colour of the image border (light smear
        background, not black bars); ``"crop"`` keeps it and centre-crops.
    anti_aliasing : bool, default=True
        Anti-aliased (area-aware) shrinking with Pillow; False samples the
        bilinear interpolant at the output pixels only.

    Attributes
    ----------
    n_channels_in_ : int
        Channels of the images seen in ``fit`` (1 for grayscale).

    See Also
    --------
    resize_images : The function this transformer calls.
    ImageReader : Reads files and can resize them while reading.

    Notes
    -----
    The output keeps the input dtype (uint8 stays uint8, rounded), so a
    batch costs no more memory than needed. Grayscale ``(n, H, W)`` input
    stays grayscale.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.preprocessing import ImageResizer
    >>> X = np.zeros((2, 32, 48, 3), dtype=np.uint8)
    >>> ImageResizer(size=16, mode="crop").fit_transform(X).shape
    (2, 16, 16, 3)
    """

    _allow_ragged = True
    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, *, size=224, mode="stretch", anti_aliasing=True):
        self.size = size
        self.mode = mode
        self.anti_aliasing = anti_aliasing

    def _params(self) -> dict:
        return {
            "size": check_size(self.size),
            "mode": self.mode,
            "anti_aliasing": self.anti_aliasing,
        }

    def _transform_checked(self, X, params: dict) -> np.ndarray:
        return _resize(X, **params)
