"""Augmentation of numpy image batches with scikit-image."""

from __future__ import annotations

import numpy as np
from skimage.transform import warp

from sklearn_leukemia.augmentation._policy import (
    AugmentationPolicy,
    check_params,
    check_policy,
    flips_only,
)
from sklearn_leukemia.utils import check_images

# The policy's fill modes in scikit-image's words. "symmetric" repeats the edge
# pixel (d c b a | a b c d), which is what torch's "reflection" padding does
# with align_corners=False; numpy's "reflect" would skip the edge pixel.
_SKIMAGE_MODES = {"reflect": "symmetric", "nearest": "edge", "constant": "constant"}


def check_value_range(value_range, name: str = "value_range") -> tuple[float, float]:
    """Validate a ``(lo, hi)`` pair of finite numbers with ``lo < hi``."""
    message = (
        f"{name}={value_range!r} is invalid; expected a (lo, hi) pair of finite "
        "numbers with lo < hi, or None."
    )
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(message)
    return lo, hi


def default_value_range(images: np.ndarray) -> tuple[float, float]:
    """Full range of an integer dtype, or the min and max of float images."""
    if np.issubdtype(images.dtype, np.integer):
        info = np.iinfo(images.dtype)
        return float(info.min), float(info.max)
    lo, hi = float(images.min()), float(images.max())
    # A constant batch has no range; brightness then moves by a unit range.
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _check_dtype(images: np.ndarray) -> None:
    if images.dtype == bool or not (
        np.issubdtype(images.dtype, np.integer)
        or np.issubdtype(images.dtype, np.floating)
    ):
        raise ValueError(
            f"images have dtype {images.dtype}; expected integer (uint8, uint16) "
            "or float pixels."
        )


def augment_into(
    images: np.ndarray,
    source: np.ndarray,
    policy: AugmentationPolicy,
    params: dict,
    value_range: tuple[float, float],
    out: np.ndarray,
) -> None:
    """Write ``augment(images[source[i]], params[i])`` into ``out[i]``.

    The inputs are assumed validated. Working one image at a time keeps the
    memory to one float copy of an image, whatever the batch size.
    """
    matrices = policy.matrices(params, images.shape[1:3])
    inverse = np.linalg.inv(matrices)
    identity = np.isclose(matrices, np.eye(3), rtol=0, atol=1e-12).all(axis=(1, 2))
    flipped = flips_only(params, images.shape[1:3])
    colour = policy.has_colour
    boxes = policy.erase_boxes(params, images.shape[1:3])
    kept = policy.erase_kept_box(images.shape[1:3])
    lo, hi = value_range
    mode = _SKIMAGE_MODES[policy.fill]
    work = np.float64 if images.dtype == np.float64 else np.float32
    integer = np.issubdtype(out.dtype, np.integer)
    if integer:
        info = np.iinfo(out.dtype)
    for i, j in enumerate(source):
        image = images[j].astype(work, copy=True)
        if flipped[i]:
            # Exact and cheaper than warping, which would give the same
            # pixels up to rounding.
            if params["transpose"][i]:
                image = np.swapaxes(image, 0, 1)
            if params["horizontal_flip"][i]:
                image = image[:, ::-1]
            if params["vertical_flip"][i]:
                image = image[::-1]
        elif not identity[i]:
            # preserve_range keeps float intensities as they are; clip=False
            # because bilinear interpolation cannot overshoot anyway.
            image = warp(
                image,
                inverse[i],
                order=1,
                mode=mode,
                cval=lo,
                clip=False,
                preserve_range=True,
            )
        if colour:
            mean = image.mean()
            image = (image - mean) * params["contrast"][i] + mean
            image += params["brightness"][i] * (hi - lo)
            np.clip(image, lo, hi, out=image)
        top, bottom, left, right = boxes[i]
        if bottom > top:
            mean = image.mean(axis=(0, 1))
            if kept is None:
                image[top:bottom, left:right] = mean
            else:
                # The rectangle less the kept centre.
                inside = np.zeros(image.shape[:2], dtype=bool)
                inside[top:bottom, left:right] = True
                inside[kept[0]:kept[1], kept[2]:kept[3]] = False
                image[inside] = mean
        if integer:
            image = np.clip(np.rint(image), info.min, info.max)
        out[i] = image


def augment_images(
    images,
    policy: AugmentationPolicy | None = None,
    *,
    random_state=None,
    params: dict | None = None,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Apply random augmentations to a batch of images with scikit-image.

    Function twin of :class:`ImageAugmenter`: each image gets its own random
    flips, zoom, shear, rotation and shift (one
    :func:`skimage.transform.warp` with bilinear interpolation), then the
    brightness and contrast change, then the random erasing.

    Parameters
    ----------
    images : array-like of shape (n, H, W) or (n, H, W, C)
        Channel-last images, integer (uint8, uint16) or float.
    policy : AugmentationPolicy or None, default=None
        The random changes; None means ``AugmentationPolicy()``.
    random_state : int, RandomState instance, Generator or None, default=None
        Source of randomness for :meth:`AugmentationPolicy.sample`.
    params : dict of ndarray, default=None
        Parameters from ``policy.sample(n, ...)`` to apply instead of drawing
        new ones (then ``random_state`` is not used).
    value_range : (float, float) or None, default=None
        ``(lo, hi)`` intensity range: the unit of brightness, the bounds the
        colour change is clipped to and ``lo`` the "constant" fill value. None
        means the full range of an integer dtype (0-255 for uint8) and the
        min and max of the batch for float images.

    Returns
    -------
    augmented : ndarray
        Same shape and dtype as ``images``; integer images are rounded and
        clipped to their dtype's range. ``images`` is not modified.

    Raises
    ------
    ValueError
        If the images are empty, of the wrong shape or dtype, or hold NaN or
        infinite values; if ``value_range`` or ``params`` do not fit; or if the
        policy is invalid.

    See Also
    --------
    augment_batch : The same transforms on a torch batch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.augmentation import AugmentationPolicy, augment_images
    >>> images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), np.uint8)
    >>> out = augment_images(images, AugmentationPolicy(), random_state=0)
    >>> out.shape, out.dtype
    ((4, 16, 16, 3), dtype('uint8'))

    A pure horizontal flip is :func:`numpy.fliplr`:

    >>> flip = AugmentationPolicy(rotation=None, vertical_flip=False, zoom=None,
    ...     shift=None, shear=None, brightness=None, contrast=None)
    >>> params = flip.sample(4, random_state=0)
    >>> params["horizontal_flip"][:] = True
    >>> bool((augment_images(images, flip, params=params) == images[:, :, ::-1]).all())
    True
    """
    images = check_images(images, estimator="augment_images")
    _check_dtype(images)
    policy = check_policy(policy)
    n = images.shape[0]
    if params is None:
        params = policy.sample(n, random_state)
    else:
        params = check_params(params, n)
    if value_range is None:
        value_range = default_value_range(images)
    else:
        value_range = check_value_range(value_range)
    out = np.empty_like(images)
    augment_into(images, np.arange(n), policy, params, value_range, out)
    return out
