"""The random geometric and colour changes shared by both augmenters."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

FILL_MODES = ("constant", "nearest", "reflect")

#: Keys of the dictionary returned by :meth:`AugmentationPolicy.sample`.
PARAM_KEYS = (
    "rotation",
    "horizontal_flip",
    "vertical_flip",
    "zoom",
    "shift",
    "shear",
    "brightness",
    "contrast",
    "transpose",
    "erase",
)

#: Range of the aspect ratio (height over width) of an erased rectangle,
#: drawn log-uniformly, as in Zhong et al. (2020).
ERASE_ASPECT = (0.3, 1 / 0.3)


_NO_COLOUR = {"brightness": None, "contrast": None}
# Flips only: every geometric change but the flips switched off.
_FLIPS = {"rotation": None, "zoom": None, "shift": None, "shear": None, **_NO_COLOUR}
#: Named settings of :meth:`AugmentationPolicy.preset`: constructor arguments.
PRESETS = {
    "default": {},
    "paper": _NO_COLOUR,
    "orientation": {"zoom": None, "shift": None, "shear": None, **_NO_COLOUR},
    "flips": _FLIPS,
    "dihedral": {**_FLIPS, "transpose": True},
    "erase": {**_FLIPS, "erase": (0.02, 0.25), "erase_probability": 0.5},
}


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _as_range(name, value, *, off, symmetric, number, bounds, expected):
    """Turn a number or a ``(low, high)`` pair into a validated ``(low, high)``.

    ``off`` is returned for None; ``symmetric(x)`` maps a single number to a
    range; ``number = (low, high, high_inclusive)`` bounds the single number
    (low inclusive); ``bounds`` (with ``None`` for
    unbounded) is an open or closed interval for the range ends, given as
    ``(low, high, low_inclusive, high_inclusive)``.
    """
    message = f"AugmentationPolicy: {name}={value!r} is invalid; expected {expected}."
    if value is None:
        return off
    if _is_real(value):
        value = float(value)
        low_n, high_n, high_inclusive = number
        above = value > high_n if high_inclusive else value >= high_n
        if not np.isfinite(value) or value < low_n or above:
            raise ValueError(message)
        return symmetric(value)
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(message)
    if not all(_is_real(v) for v in value):
        raise ValueError(message)
    low, high = float(value[0]), float(value[1])
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(message)
    if low > high:
        raise ValueError(
            f"AugmentationPolicy: {name}={value!r} has min {low} > max {high}; "
            f"expected {expected}."
        )
    lo_bound, hi_bound, lo_incl, hi_incl = bounds
    if lo_bound is not None and (low < lo_bound or (low == lo_bound and not lo_incl)):
        raise ValueError(message)
    if hi_bound is not None and (high > hi_bound or (high == hi_bound and not hi_incl)):
        raise ValueError(message)
    return (low, high)


#: How each range parameter is read (see :func:`_as_range`).
_RANGES = {
    "rotation": dict(
        off=(0.0, 0.0),
        symmetric=lambda r: (-r, r),
        number=(0.0, np.inf, False),
        bounds=(None, None, True, True),
        expected="a number r >= 0 meaning (-r, r), a (min, max) pair "
        "of degrees or None",
    ),
    "zoom": dict(
        off=(1.0, 1.0),
        symmetric=lambda z: (1 - z, 1 + z),
        number=(0.0, 1.0, False),
        bounds=(0.0, None, False, True),
        expected="a number 0 <= z < 1 meaning (1 - z, 1 + z), a (min, max) "
        "pair of scale factors with 0 < min <= max, or None",
    ),
    "shift": dict(
        off=(0.0, 0.0),
        symmetric=lambda s: (-s, s),
        number=(0.0, 1.0, False),
        bounds=(-1.0, 1.0, False, False),
        expected="a number 0 <= s < 1 meaning (-s, s), a (min, max) pair "
        "of image fractions inside (-1, 1), or None",
    ),
    "shear": dict(
        off=(0.0, 0.0),
        symmetric=lambda s: (-s, s),
        number=(0.0, 90.0, False),
        bounds=(-90.0, 90.0, False, False),
        expected="a number 0 <= s < 90 meaning (-s, s), a (min, max) pair "
        "of degrees inside (-90, 90), or None",
    ),
    "brightness": dict(
        off=(0.0, 0.0),
        symmetric=lambda b: (-b, b),
        number=(0.0, 1.0, True),
        bounds=(-1.0, 1.0, True, True),
        expected="a number 0 <= b <= 1 meaning (-b, b), a (min, max) pair "
        "inside [-1, 1], or None",
    ),
    "contrast": dict(
        off=(1.0, 1.0),
        symmetric=lambda c: (1 - c, 1 + c),
        number=(0.0, 1.0, True),
        bounds=(0.0, None, True, True),
        expected="a number 0 <= c <= 1 meaning (1 - c, 1 + c), a "
        "(min, max) pair of factors with 0 <= min <= max, or None",
    ),
    "erase": dict(
        off=(0.0, 0.0),
        symmetric=lambda e: (0.0, e),
        number=(0.0, 1.0, True),
        bounds=(0.0, 1.0, True, True),
        expected="a number 0 <= e <= 1 meaning (0, e), a (min, max) pair "
        "of area fractions inside [0, 1], or None",
    ),
}


class AugmentationPolicy(BaseEstimator):
    """Random rotation, flips, transposition, zoom, shift, shear, colour, erasing.

    One description of the random affine transform ``x' = A x + b`` and of the
    colour change applied to each training image, shared by the fit-time
    sampler :class:`ImageAugmenter` (numpy/scikit-image) and by
    :func:`augment_batch` (per-epoch augmentation of torch batches), so that
    both apply literally the same sampled transforms.

    It is a parameter object, not an estimator: it has ``get_params``,
    ``set_params``, ``clone`` and ``repr`` from scikit-learn (so that a grid
    search can tune ``augmenter__policy__zoom``) but no ``fit``. Its users call
    :meth:`validate` at fit time.

    Parameters
    ----------
    rotation : float or (float, float) or None, default=(0, 360)
        Rotation angle range in degrees, counter-clockwise as displayed (row 0
        at the top, like :func:`skimage.transform.rotate`). A number ``r >= 0``
        means ``(-r, r)``. None or 0 switches rotation off.
    horizontal_flip : bool, default=True
        Mirror left-right with probability 0.5.
    vertical_flip : bool, default=True
        Mirror top-bottom with probability 0.5.
    transpose : bool, default=False
        Swap rows and columns (mirror about the main diagonal) with
        probability 0.5. With both flips this gives each of the eight
        orientations of a square (the rotations by multiples of 90 degrees
        and the four mirror images) with probability 1/8, and on square
        images it only reorders pixels, exactly. On other images it is the
        mirror about the 45-degree line through the centre, interpolated, and
        part of the content leaves the frame.
    zoom : float or (float, float) or None, default=(0.8, 1.2)
        Range of the isotropic scale factor of the content (above 1
        magnifies). A number ``0 <= z < 1`` means ``(1 - z, 1 + z)``; the ends
        of a range must be positive. None or 0 switches zoom off.
    shift : float or (float, float) or None, default=0.1
        Translation as a fraction of the image width (for x) and height (for
        y), drawn independently per axis. A number ``0 <= s < 1`` means
        ``(-s, s)``; a range must lie inside ``(-1, 1)``. Positive values move
        the content right and down.
    shear : float or (float, float) or None, default=10
        Horizontal shear angle range in degrees, inside ``(-90, 90)``: a point
        ``y`` pixels below the centre moves ``tan(shear) * y`` pixels right. A
        number ``s`` means ``(-s, s)``.
    brightness : float or (float, float) or None, default=0.1
        Additive offset in units of the full intensity range (``hi - lo`` of
        the value range, e.g. 255 for uint8), drawn from the range. A number
        ``0 <= b <= 1`` means ``(-b, b)``; a range must lie inside ``[-1, 1]``.
    contrast : float or (float, float) or None, default=0.1
        Multiplicative factor around the per-image mean (over pixels and
        channels). A number ``0 <= c <= 1`` means ``(1 - c, 1 + c)``; the ends
        of a range must be non-negative.
    fill : {"reflect", "nearest", "constant"}, default="reflect"
        How pixels that come from outside the image are filled: mirrored
        about the image border (the edge pixel repeated, no black corners on a
        smear), the nearest edge pixel, or the low end of the value range
        (black).
    erase : float or (float, float) or None, default=None
        Random erasing (Zhong et al., 2020; "cutout"): range of the area of
        one rectangle, as a fraction of the image area, that is painted
        over with the image's mean colour (per channel), so that the network
        cannot rest its decision on one small part of the field. A number
        ``0 <= e <= 1`` means ``(0, e)``; a range must lie inside ``[0, 1]``.
        The rectangle's aspect ratio (height over width) is drawn
        log-uniformly from ``(0.3, 1 / 0.3)`` and its position uniformly
        among those that keep it inside the image. None or 0 switches
        erasing off. Zhong et al. draw areas from ``(0.02, 0.4)``,
        torchvision's ``RandomErasing`` from ``(0.02, 0.33)``.
    erase_probability : float, default=0.5
        Probability, in ``[0, 1]``, that an image gets a rectangle erased
        when ``erase`` is on.
    erase_keep_centre : float, default=0.0
        Side of a central rectangle, as a fraction of the image's height and
        width, in ``[0, 1)``, that erasing never paints: where the erased
        rectangle overlaps it, only the part outside it is painted (the
        rectangle is drawn as before, so the other draws are unchanged). For
        crops centred on the cell they are labelled by, such as single-cell
        data sets, erasing then hides the surroundings and not the cell. 0
        paints anywhere.

    See Also
    --------
    ImageAugmenter : Adds augmented copies of the training images in ``fit``.
    augment_images : Apply a policy to a numpy batch of images.
    augment_batch : Apply a policy to a torch batch ``(N, C, H, W)``.

    Notes
    -----
    Each image gets, in this order: transposition, flips, zoom, shear,
    rotation (all about the image centre ``((W - 1) / 2, (H - 1) / 2)`` in
    pixel coordinates), then the shift, then the colour change
    ``x' = (x - mean) * contrast + mean + brightness * (hi - lo)`` clipped to
    the value range ``[lo, hi]``, then the erasing, whose fill is the mean
    of each channel of the image it is applied to. Geometry is interpolated
    bilinearly; the erased rectangle has whole-pixel edges
    (:meth:`erase_boxes`).

    The values used by Geetha & Haridas (2024) were not accessible to us; the
    defaults follow common Keras ``ImageDataGenerator`` practice for cell
    images (any rotation, both flips, 20% zoom, 10% shift, 10 degrees shear)
    with mild brightness and contrast changes.

    Examples
    --------
    >>> from sklearn_leukemia.augmentation import AugmentationPolicy
    >>> policy = AugmentationPolicy(rotation=90, zoom=None, shear=None)
    >>> params = policy.sample(4, random_state=0)
    >>> params["rotation"].shape, params["shift"].shape
    ((4,), (4, 2))
    >>> policy.matrices(params, (32, 32)).shape
    (4, 3, 3)
    >>> AugmentationPolicy.from_dict(policy.to_dict()).rotation
    90
    """

    def __init__(
        self,
        *,
        rotation=(0, 360),
        horizontal_flip=True,
        vertical_flip=True,
        transpose=False,
        zoom=(0.8, 1.2),
        shift=0.1,
        shear=10,
        brightness=0.1,
        contrast=0.1,
        fill="reflect",
        erase=None,
        erase_probability=0.5,
        erase_keep_centre=0.0,
    ):
        self.rotation = rotation
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.transpose = transpose
        self.zoom = zoom
        self.shift = shift
        self.shear = shear
        self.brightness = brightness
        self.contrast = contrast
        self.fill = fill
        self.erase = erase
        self.erase_probability = erase_probability
        self.erase_keep_centre = erase_keep_centre

    @classmethod
    def preset(cls, name: str) -> AugmentationPolicy:
        """Return a new policy from one of the named settings.

        ``"default"``
            ``AugmentationPolicy()``: every change, colour included.
        ``"paper"``
            The changes of Geetha & Haridas (2024), see :meth:`paper`.
        ``"orientation"``
            Both flips and any rotation, nothing else: the orientation of a
            cell on a slide carries no information, while zoom, shift, shear
            and colour changes alter what a hematologist looks at (cell size,
            stain).
        ``"flips"``
            Horizontal and vertical flips only, which move pixels without
            interpolating them.
        ``"dihedral"``
            Both flips and the transposition: the eight orientations of a
            square image (rotations by multiples of 90 degrees and mirror
            images), all exact reorderings of the pixels.
        ``"erase"``
            Both flips and random erasing: in half of the images one
            rectangle of 2-25% of the image painted over with the image's
            mean colour (``erase=(0.02, 0.25), erase_probability=0.5``).

        Parameters
        ----------
        name : {"default", "paper", "orientation", "flips", "dihedral", "erase"}
            The setting.

        Returns
        -------
        policy : AugmentationPolicy
            A new policy.

        Raises
        ------
        ValueError
            If ``name`` is not one of the presets.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> policy = AugmentationPolicy.preset("orientation")
        >>> policy.rotation, policy.zoom, policy.brightness
        ((0, 360), None, None)
        """
        if not isinstance(name, str) or name not in PRESETS:
            raise ValueError(
                f"augmentation preset {name!r} is not supported; expected one of "
                f"{list(PRESETS)}."
            )
        return cls(**PRESETS[name])

    @classmethod
    def paper(cls) -> AugmentationPolicy:
        """Return the policy standing for the one of Geetha & Haridas (2024).

        The paper uses random rotation, flips, zoom, shift and shear; its
        numbers were not accessible to us, so this is the Keras
        ``ImageDataGenerator``-style setting of the defaults without the
        colour changes: rotation in ``[0, 360)``, both flips, zoom
        ``(0.8, 1.2)``, shift 10%, shear 10 degrees, reflected borders.

        Returns
        -------
        policy : AugmentationPolicy
            A new policy.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> AugmentationPolicy.paper().brightness is None
        True
        """
        return cls(**PRESETS["paper"])

    def preset_name(self) -> str | None:
        """Return the name of the preset whose parameters this policy has.

        What the command line and the benchmarks print for the augmentation
        a fit used.

        Returns
        -------
        name : str or None
            A name of :meth:`preset`, or None when the policy is none of
            them.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> AugmentationPolicy.preset("erase").preset_name()
        'erase'
        >>> AugmentationPolicy(rotation=15).preset_name() is None
        True
        """
        params = self.get_params()
        for name in PRESETS:
            if self.preset(name).get_params() == params:
                return name
        return None

    def _ranges(self) -> dict:
        """Validate the parameters and return them in canonical form."""
        for name in ("horizontal_flip", "vertical_flip", "transpose"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise ValueError(
                    f"AugmentationPolicy: {name}={value!r} is invalid; expected "
                    "True or False."
                )
        if not isinstance(self.fill, str) or self.fill not in FILL_MODES:
            raise ValueError(
                f"AugmentationPolicy: fill={self.fill!r} is not supported; "
                f"expected one of {list(FILL_MODES)}."
            )
        p = self.erase_probability
        if not _is_real(p) or not 0.0 <= float(p) <= 1.0:
            raise ValueError(
                f"AugmentationPolicy: erase_probability={p!r} is invalid; "
                "expected a number in [0, 1]."
            )
        keep = self.erase_keep_centre
        if not _is_real(keep) or not 0.0 <= float(keep) < 1.0:
            raise ValueError(
                f"AugmentationPolicy: erase_keep_centre={keep!r} is invalid; "
                "expected a fraction of the image side in [0, 1)."
            )
        return {
            name: _as_range(name, getattr(self, name), **spec)
            for name, spec in _RANGES.items()
        }

    def validate(self) -> AugmentationPolicy:
        """Check every parameter; called by the users of the policy at fit time.

        Returns
        -------
        self : AugmentationPolicy
            The policy itself, unchanged.

        Raises
        ------
        ValueError
            If a parameter is out of its range or of the wrong type; the
            message names the parameter and the expected form.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> AugmentationPolicy(zoom=(1.2, 0.8)).validate()
        Traceback (most recent call last):
        ...
        ValueError: AugmentationPolicy: zoom=(1.2, 0.8) has min 1.2 > max 0.8; ...
        """
        self._ranges()
        return self

    @property
    def has_colour(self) -> bool:
        """Whether brightness or contrast changes are switched on."""
        ranges = self._ranges()
        return ranges["brightness"] != (0.0, 0.0) or ranges["contrast"] != (1.0, 1.0)

    @property
    def has_erase(self) -> bool:
        """Whether random erasing can paint over part of an image."""
        return self._ranges()["erase"][1] > 0 and float(self.erase_probability) > 0

    def sample(self, n: int, random_state=None) -> dict[str, np.ndarray]:
        """Draw the random parameters of ``n`` images.

        Every distribution is drawn from, in a fixed order, whether it is
        switched on or not, so that switching one change off leaves the values
        of the others unchanged for the same ``random_state``; the later
        additions, the transposition and then the erasing, are drawn last.

        Parameters
        ----------
        n : int
            Number of images.
        random_state : int, RandomState instance, Generator or None, default=None
            Source of randomness.

        Returns
        -------
        params : dict of ndarray
            ``rotation`` (n,) degrees, ``horizontal_flip`` and
            ``vertical_flip`` (n,) bool, ``zoom`` (n,) scale factor, ``shift``
            (n, 2) fractions of the width and height (x, y), ``shear`` (n,)
            degrees, ``brightness`` (n,) fraction of the value range,
            ``contrast`` (n,) factor, ``transpose`` (n,) bool and ``erase``
            (n, 4): the area of the erased rectangle as a fraction of the
            image (0 where none is erased), its aspect ratio (height over
            width) and its position (x, y), each in ``[0, 1)``, as a fraction
            of the room left beside it; :meth:`erase_boxes` turns them into
            pixels.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> params = AugmentationPolicy(zoom=0.5).sample(3, random_state=0)
        >>> bool(((params["zoom"] >= 0.5) & (params["zoom"] <= 1.5)).all())
        True
        """
        ranges = self._ranges()
        if not (isinstance(n, numbers.Integral) and not isinstance(n, bool)) or n < 0:
            raise ValueError(f"n={n!r} is invalid; expected an integer >= 0.")
        if isinstance(random_state, np.random.Generator):
            rng = random_state
        else:
            rng = check_random_state(random_state)

        def uniform(name, size=n):
            low, high = ranges[name]
            return rng.uniform(low, high, size=size)

        p_h = 0.5 if self.horizontal_flip else 0.0
        p_v = 0.5 if self.vertical_flip else 0.0
        params = {
            "rotation": uniform("rotation"),
            "horizontal_flip": rng.random(n) < p_h,
            "vertical_flip": rng.random(n) < p_v,
            "zoom": uniform("zoom"),
            "shift": uniform("shift", size=(n, 2)),
            "shear": uniform("shear"),
            "brightness": uniform("brightness"),
            "contrast": uniform("contrast"),
            "transpose": rng.random(n) < (0.5 if self.transpose else 0.0),
        }
        erased = rng.random(n) < float(self.erase_probability)
        area = uniform("erase")
        log_aspect = rng.uniform(*np.log(ERASE_ASPECT), size=n)
        position = rng.random((n, 2))
        params["erase"] = np.column_stack(
            [np.where(erased, area, 0.0), np.exp(log_aspect), position]
        )
        return params

    @staticmethod
    def erase_boxes(params: dict, image_shape) -> np.ndarray:
        """Pixel rectangles of the sampled erasing, one per image.

        A rectangle of ``area * H * W`` pixels and aspect ratio ``aspect``
        has height ``rint(sqrt(area * H * W * aspect))`` and width
        ``rint(sqrt(area * H * W / aspect))``, each clipped to the image;
        its top is ``floor(y * (H - height + 1))`` and its left edge
        ``floor(x * (W - width + 1))``, so it always lies inside the image.
        A rectangle with no rows or no columns erases nothing.

        Parameters
        ----------
        params : dict of ndarray
            As returned by :meth:`sample`.
        image_shape : tuple of int
            ``(height, width)``, optionally followed by channels.

        Returns
        -------
        boxes : ndarray of shape (n, 4)
            int64 ``(top, bottom, left, right)``, bottom and right exclusive
            (``image[top:bottom, left:right]``); ``(0, 0, 0, 0)`` where
            nothing is erased.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> policy = AugmentationPolicy(erase=(0.25, 0.25), erase_probability=1)
        >>> params = policy.sample(1, random_state=0)
        >>> params["erase"][:, 1] = 1.0  # a square
        >>> AugmentationPolicy.erase_boxes(params, (32, 32))[0].tolist()
        [1, 17, 15, 31]
        """
        params = check_params(params)
        height, width = int(image_shape[0]), int(image_shape[1])
        area, aspect, x, y = params["erase"].T
        pixels = area * height * width
        rows = np.clip(np.rint(np.sqrt(pixels * aspect)), 0, height).astype(np.int64)
        cols = np.clip(np.rint(np.sqrt(pixels / aspect)), 0, width).astype(np.int64)
        empty = (rows == 0) | (cols == 0)
        rows[empty] = cols[empty] = 0
        top = np.minimum(np.floor(y * (height - rows + 1)), height - rows)
        left = np.minimum(np.floor(x * (width - cols + 1)), width - cols)
        top = np.where(empty, 0, top).astype(np.int64)
        left = np.where(empty, 0, left).astype(np.int64)
        return np.column_stack([top, top + rows, left, left + cols])

    def erase_kept_box(self, image_shape) -> tuple[int, int, int, int] | None:
        """Return the central rectangle that erasing never paints, in pixels.

        Parameters
        ----------
        image_shape : tuple of int
            ``(height, width)``, optionally followed by channels.

        Returns
        -------
        box : tuple of int or None
            ``(top, bottom, left, right)``, bottom and right exclusive, of
            ``rint(erase_keep_centre * height)`` rows and
            ``rint(erase_keep_centre * width)`` columns centred in the image
            (where the margins cannot be equal, the ones below and to the
            right are a pixel wider); None when it has no pixels.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> AugmentationPolicy(erase_keep_centre=0.5).erase_kept_box((32, 32))
        (8, 24, 8, 24)
        >>> AugmentationPolicy().erase_kept_box((32, 32)) is None
        True
        """
        self._ranges()
        height, width = int(image_shape[0]), int(image_shape[1])
        keep = float(self.erase_keep_centre)
        rows, cols = int(np.rint(keep * height)), int(np.rint(keep * width))
        if rows == 0 or cols == 0:
            return None
        top, left = (height - rows) // 2, (width - cols) // 2
        return top, top + rows, left, left + cols

    @staticmethod
    def matrices(params: dict, image_shape) -> np.ndarray:
        """Forward affine matrices of the sampled transforms, in pixel units.

        The convention: homogeneous coordinates ``(x, y, 1)`` with ``x`` the
        column and ``y`` the row index (pixel centres at integers, row 0 at
        the top), and each matrix maps a point of the input image to where it
        lands in the output image. ``M = T(c + shift) R S Z F P T(-c)`` with
        ``c = ((W - 1) / 2, (H - 1) / 2)`` the image centre, ``P`` the
        transposition (swapping x and y), ``F`` the flips, ``Z`` the zoom,
        ``S`` the shear and ``R`` the rotation. The inverse
        maps output pixels to input pixels, as :func:`skimage.transform.warp`
        expects.

        Parameters
        ----------
        params : dict of ndarray
            As returned by :meth:`sample`.
        image_shape : tuple of int
            ``(height, width)``, optionally followed by channels.

        Returns
        -------
        matrices : ndarray of shape (n, 3, 3)
            float64 forward matrices.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> params = AugmentationPolicy(rotation=None, horizontal_flip=False,
        ...     vertical_flip=False, zoom=None, shift=None, shear=None,
        ...     brightness=None, contrast=None).sample(2, random_state=0)
        >>> np.allclose(AugmentationPolicy.matrices(params, (8, 8)), np.eye(3))
        True
        """
        params = check_params(params)
        height, width = int(image_shape[0]), int(image_shape[1])
        n = len(params["rotation"])
        theta = np.deg2rad(params["rotation"])
        shear = np.tan(np.deg2rad(params["shear"]))
        cos, sin = np.cos(theta), np.sin(theta)
        zoom = params["zoom"]
        flip_x = np.where(params["horizontal_flip"], -1.0, 1.0)
        flip_y = np.where(params["vertical_flip"], -1.0, 1.0)

        # Linear part R @ S @ Z @ F, written out so that it is one array op.
        # R = [[cos, sin], [-sin, cos]] rotates counter-clockwise as displayed
        # because y points down; S = [[1, shear], [0, 1]].
        a = np.empty((n, 2, 2))
        a[:, 0, 0] = cos
        a[:, 0, 1] = cos * shear + sin
        a[:, 1, 0] = -sin
        a[:, 1, 1] = -sin * shear + cos
        a *= zoom[:, None, None]
        a[:, :, 0] *= flip_x[:, None]
        a[:, :, 1] *= flip_y[:, None]
        # ... @ P swaps the columns.
        swap = params["transpose"]
        a[swap] = a[swap][:, :, ::-1]

        centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
        offset = params["shift"] * np.array([width, height])
        matrices = np.zeros((n, 3, 3))
        matrices[:, :2, :2] = a
        matrices[:, :2, 2] = centre + offset - a @ centre
        matrices[:, 2, 2] = 1.0
        return matrices

    def to_dict(self) -> dict:
        """Return the parameters as a JSON-serialisable dictionary.

        Returns
        -------
        params : dict
            Parameter name to value; ranges become lists.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> AugmentationPolicy(zoom=(0.9, 1.1)).to_dict()["zoom"]
        [0.9, 1.1]
        """

        def plain(value):
            if isinstance(value, np.generic):
                return value.item()
            if isinstance(value, tuple | list | np.ndarray):
                return [plain(v) for v in value]
            return value

        return {name: plain(value) for name, value in self.get_params().items()}

    @classmethod
    def from_dict(cls, params: dict) -> AugmentationPolicy:
        """Build a policy from the output of :meth:`to_dict`.

        Parameters
        ----------
        params : dict
            Parameter name to value; lists become ``(min, max)`` tuples.

        Returns
        -------
        policy : AugmentationPolicy
            A new policy, validated.

        Raises
        ------
        ValueError
            If a key is not a parameter of the policy, or a value is invalid.

        Examples
        --------
        >>> from sklearn_leukemia.augmentation import AugmentationPolicy
        >>> AugmentationPolicy.from_dict({"zoom": [0.9, 1.1]}).zoom
        (0.9, 1.1)
        """
        if not isinstance(params, dict):
            raise TypeError(
                f"params is a {type(params).__name__}; expected a dict as "
                "returned by AugmentationPolicy.to_dict()."
            )
        known = set(cls._get_param_names())
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"Unknown AugmentationPolicy parameter(s) {unknown}; expected "
                f"some of {sorted(known)}."
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values).validate()


def flips_only(params: dict, image_shape) -> np.ndarray:
    """Whether each image's geometry is at most flips and a transposition.

    Such an image needs no interpolation: its pixels are only reordered,
    exactly, by reversing and swapping axes. A transposition reorders the
    pixels of square images only.

    Parameters
    ----------
    params : dict of ndarray
        As returned by :meth:`AugmentationPolicy.sample`.
    image_shape : tuple of int
        ``(height, width)``, optionally followed by channels.

    Returns
    -------
    ndarray of shape (n,)
        bool.
    """
    square = int(image_shape[0]) == int(image_shape[1])
    return (
        (square | ~params["transpose"])
        & (params["rotation"] == 0)
        & (params["zoom"] == 1)
        & (params["shear"] == 0)
        & np.all(params["shift"] == 0, axis=-1)
    )


def check_policy(policy) -> AugmentationPolicy:
    """Return a validated policy; None means the defaults."""
    if policy is None:
        return AugmentationPolicy()
    if not isinstance(policy, AugmentationPolicy):
        raise TypeError(
            f"policy is a {type(policy).__name__}; expected an "
            "AugmentationPolicy or None."
        )
    return policy.validate()


def check_params(params, n: int | None = None) -> dict[str, np.ndarray]:
    """Check a dictionary of sampled parameters, as made by ``sample``."""
    if not isinstance(params, dict):
        raise TypeError(
            f"params is a {type(params).__name__}; expected the dict returned by "
            "AugmentationPolicy.sample()."
        )
    missing = [key for key in PARAM_KEYS if key not in params]
    if missing:
        raise ValueError(
            f"params lacks {missing}; expected the dict returned by "
            "AugmentationPolicy.sample()."
        )
    out = {key: np.asarray(params[key]) for key in PARAM_KEYS}
    lengths = {key: len(value) if value.ndim else -1 for key, value in out.items()}
    size = n if n is not None else lengths["rotation"]
    wrong = {k: v for k, v in lengths.items() if v != size}
    if wrong or out["shift"].shape != (size, 2) or out["erase"].shape != (size, 4):
        raise ValueError(
            f"params has per-image arrays of lengths {lengths}, shift of shape "
            f"{out['shift'].shape} and erase of shape {out['erase'].shape}; "
            f"expected {size} values each, shift of shape ({size}, 2) and erase "
            f"of shape ({size}, 4)."
        )
    return out
