"""Validation of image batches, shared by every estimator of the package.

Every transformer, sampler and the classifier call :func:`check_images` on
their input so that the same mistakes get the same clear message wherever
they happen.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.utils._param_validation import Interval

#: ``_parameter_constraints`` entry of an image size: an int or a
#: ``(height, width)`` pair, which :func:`check_size` then checks.
SIZE = [Interval(numbers.Integral, 1, None, closed="left"), tuple, list]

_CHANNEL_COUNTS = (1, 3, 4)


def _describe(X) -> str:
    return f"shape {X.shape} and dtype {X.dtype}"


def _check_one(image: np.ndarray, *, where: str, allow_nan: bool) -> None:
    if image.dtype == object or not (
        np.issubdtype(image.dtype, np.number) or image.dtype == bool
    ):
        raise ValueError(
            f"{where} has dtype {image.dtype}; expected numeric pixels "
            "(uint8, uint16 or float)."
        )
    if np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"{where} has complex dtype {image.dtype}; expected real.")
    if not allow_nan and np.issubdtype(image.dtype, np.floating):
        # A finite sum means finite pixels: one pass and no boolean copy of
        # the batch (as scikit-learn's check). An overflowing sum of finite
        # pixels falls back to the pixel-wise test.
        with np.errstate(over="ignore", invalid="ignore"):
            total = image.sum()
        if not np.isfinite(total) and not np.isfinite(image).all():
            raise ValueError(
                f"{where} contains NaN or infinity; images must hold finite "
                "pixel values."
            )


def _check_layout(shape: tuple[int, ...], *, where: str) -> None:
    """Reject a channel-first batch, the commonest layout mistake."""
    if len(shape) == 4 and shape[-1] not in _CHANNEL_COUNTS:
        if shape[1] in _CHANNEL_COUNTS:
            raise ValueError(
                f"{where} has shape {shape}, which looks channel-first "
                "(n, C, H, W); expected channel-last (n, H, W, C) as in "
                "scikit-image. Use np.moveaxis(X, 1, -1)."
            )
        raise ValueError(
            f"{where} has shape {shape} with {shape[-1]} channels in the last "
            f"axis; expected (n, H, W, C) with C in {_CHANNEL_COUNTS}."
        )


def check_images(
    X,
    *,
    allow_ragged: bool = False,
    allow_nan: bool = False,
    ensure_min_samples: int = 1,
    ensure_min_size: int = 1,
    estimator=None,
):
    """Validate a batch of images and return it in a canonical form.

    Parameters
    ----------
    X : array-like of shape (n_samples, height, width[, channels]) or list
        The images. Grayscale images have 3 dimensions in total, colour images
        4, with channels last (1, 3 or 4 of them). Pixels are numeric: uint8,
        uint16 or float. A list of images of different sizes is accepted when
        ``allow_ragged=True``.
    allow_ragged : bool, default=False
        Accept a list or object array of images whose sizes differ. The images
        are then returned as a list of arrays.
    allow_nan : bool, default=False
        Accept NaN and infinite values in float images.
    ensure_min_samples : int, default=1
        Smallest number of images accepted.
    ensure_min_size : int, default=1
        Smallest height and width accepted.
    estimator : estimator instance or str, default=None
        Named in error messages.

    Returns
    -------
    X_checked : ndarray or list of ndarray
        An ndarray of shape ``(n, H, W)`` or ``(n, H, W, C)`` without copying
        when the input already is one, or a list of 2-D/3-D arrays when
        ``allow_ragged=True`` and the sizes differ.

    Raises
    ------
    ValueError
        If X is empty, has the wrong number of dimensions, a channel-first or
        otherwise unknown layout, a non-numeric dtype, or NaN/inf pixels. The
        message names the problem and the expected form.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.utils import check_images
    >>> check_images(np.zeros((2, 8, 8, 3), dtype=np.uint8)).shape
    (2, 8, 8, 3)
    >>> check_images(np.zeros((2, 3, 8, 8)))
    Traceback (most recent call last):
    ...
    ValueError: X has shape (2, 3, 8, 8), which looks channel-first ...
    """
    who = ""
    if estimator is not None:
        name = estimator if isinstance(estimator, str) else type(estimator).__name__
        who = f" passed to {name}"
    where = f"X{who}"

    if isinstance(X, str) or (
        isinstance(X, Sequence) and len(X) and isinstance(X[0], str)
    ):
        raise ValueError(
            f"{where} holds file paths; expected image arrays. Put an "
            "ImageReader first in the pipeline to read files."
        )

    if isinstance(X, np.ndarray) and X.dtype != object:
        images = X
    else:
        items = list(X) if not isinstance(X, np.ndarray) else list(X)
        arrays = [np.asarray(item) for item in items]
        shapes = {a.shape for a in arrays}
        if len(shapes) <= 1 and all(a.dtype != object for a in arrays):
            images = np.stack(arrays) if arrays else np.empty((0, 0, 0))
        elif not allow_ragged:
            raise ValueError(
                f"{where} holds images of different shapes "
                f"({sorted(shapes, key=str)[:3]}...); expected one shape. Put "
                "an ImageResizer first to bring them to one size."
            )
        else:
            return _check_ragged(
                arrays,
                where=where,
                allow_nan=allow_nan,
                ensure_min_samples=ensure_min_samples,
                ensure_min_size=ensure_min_size,
            )

    if images.ndim not in (3, 4):
        raise ValueError(
            f"{where} has {images.ndim} dimension(s) ({_describe(images)}); "
            "expected a batch of images of shape (n_samples, height, width) "
            "or (n_samples, height, width, channels). A single image needs "
            "X[np.newaxis]."
        )
    _check_layout(images.shape, where=where)
    if images.shape[0] < ensure_min_samples:
        raise ValueError(
            f"{where} has {images.shape[0]} image(s); at least "
            f"{ensure_min_samples} required."
        )
    if min(images.shape[1:3]) < ensure_min_size:
        raise ValueError(
            f"{where} has images of size {images.shape[1]}x{images.shape[2]}; "
            f"at least {ensure_min_size}x{ensure_min_size} required."
        )
    _check_one(images, where=where, allow_nan=allow_nan)
    return images


def _check_ragged(arrays, *, where, allow_nan, ensure_min_samples, ensure_min_size):
    if len(arrays) < ensure_min_samples:
        raise ValueError(
            f"{where} has {len(arrays)} image(s); at least "
            f"{ensure_min_samples} required."
        )
    for i, image in enumerate(arrays):
        item = f"image {i} of {where}"
        if image.ndim not in (2, 3):
            raise ValueError(
                f"{item} has {image.ndim} dimension(s) ({_describe(image)}); "
                "expected (height, width) or (height, width, channels)."
            )
        if image.ndim == 3 and image.shape[-1] not in _CHANNEL_COUNTS:
            raise ValueError(
                f"{item} has shape {image.shape}; expected channel-last "
                f"(height, width, C) with C in {_CHANNEL_COUNTS}."
            )
        if min(image.shape[:2]) < ensure_min_size:
            raise ValueError(
                f"{item} has size {image.shape[0]}x{image.shape[1]}; at least "
                f"{ensure_min_size}x{ensure_min_size} required."
            )
        _check_one(image, where=item, allow_nan=allow_nan)
    ndims = {a.ndim for a in arrays}
    if len(ndims) > 1:
        raise ValueError(
            f"{where} mixes grayscale (H, W) and colour (H, W, C) images; "
            "expected one layout. Read them with ImageReader to get RGB."
        )
    return arrays


def n_image_channels(X) -> int:
    """Return the channel count of a checked batch (1 for ``(n, H, W)``)."""
    if isinstance(X, list):
        first = X[0]
        return 1 if first.ndim == 2 else first.shape[-1]
    return 1 if X.ndim == 3 else X.shape[-1]


def check_image_channels(estimator, X, *, reset: bool) -> None:
    """Record or check the channel count, like scikit-learn's ``n_features_in_``.

    Parameters
    ----------
    estimator : estimator instance
        Gets ``n_channels_in_`` when ``reset`` is True.
    X : ndarray or list of ndarray
        A batch returned by :func:`check_images`.
    reset : bool
        True in ``fit``: store the count. False afterwards: compare with it.

    Raises
    ------
    ValueError
        If ``reset`` is False and the count differs from the one seen in fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from sklearn_leukemia.utils import check_image_channels
    >>> est = BaseEstimator()
    >>> check_image_channels(est, np.zeros((1, 4, 4, 3)), reset=True)
    >>> est.n_channels_in_
    3
    """
    n_channels = n_image_channels(X)
    if reset:
        estimator.n_channels_in_ = n_channels
        return
    expected = getattr(estimator, "n_channels_in_", None)
    if expected is not None and n_channels != expected:
        raise ValueError(
            f"X has {n_channels} channel(s), but {type(estimator).__name__} was "
            f"fitted on images with {expected} channel(s); give images of the "
            "same layout as in fit."
        )


class IntensityRangeWarning(UserWarning):
    """Images far outside the intensity range an estimator was fitted on."""


def _intensity_range(X) -> tuple[float, float]:
    """Min and max of ``X`` in the units the estimators read it in.

    Integer and boolean pixels are read as fractions of their type's full
    scale (uint8 by 1/255, uint16 by 1/65535), floats as they are.
    """
    X = np.asarray(X)
    if X.dtype == bool:
        return float(X.min()), float(X.max())
    low, high = X.min(), X.max()
    if np.issubdtype(X.dtype, np.integer):
        full = float(np.iinfo(X.dtype).max)
        return float(low) / full, float(high) / full
    return float(low), float(high)


def _describe_range(low: float, high: float) -> str:
    return f"[{low:.4g}, {high:.4g}]"


def check_intensity_range(estimator, X, *, reset: bool, extend: bool = False) -> None:
    """Record, or compare with, the intensity range of the images seen in fit.

    Like :func:`check_image_channels`, for the scale of the pixels: in
    ``fit`` the range of ``X`` (integers read as fractions of their type's
    full scale, floats as they are) becomes ``intensity_range_``; later,
    images whose range leaves it by more than its own width (float images
    in [0, 255] given to a model fitted on uint8 or [0, 1] ones; the margin
    is at least half the scale of the fitted values) get an
    :class:`IntensityRangeWarning` naming both ranges. An estimator without
    a recorded range (a model saved before it was recorded) is not checked.

    Parameters
    ----------
    estimator : estimator instance
        Gets ``intensity_range_`` when ``reset`` is True.
    X : ndarray or list of ndarray
        A batch returned by :func:`check_images`.
    reset : bool
        True in ``fit``: record the range. False afterwards: compare.
    extend : bool, default=False
        With ``reset=False``, widen the recorded range to take ``X`` in
        rather than compare (more training data: ``partial_fit``).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from sklearn_leukemia.utils import check_intensity_range
    >>> est = BaseEstimator()
    >>> check_intensity_range(est, np.array([[[0, 255]]], np.uint8), reset=True)
    >>> est.intensity_range_
    (0.0, 1.0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_intensity_range(est, np.array([[[0.0, 255.0]]]), reset=False)
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    X passed to BaseEstimator holds intensities in [0, 255] (float64 pixels,
    read as they are), far outside the range [0, 1] of the images it was
    fitted on; its output is not to be trusted. Give images in the scale of
    fit (floats in [0, 255] divided by 255, or uint8 pixels).
    """
    if isinstance(X, list):
        ranges = [_intensity_range(image) for image in X] or [(0.0, 0.0)]
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        dtype = np.asarray(X[0]).dtype if X else np.dtype(float)
    else:
        (low, high), dtype = _intensity_range(X), np.asarray(X).dtype
    fitted = getattr(estimator, "intensity_range_", None)
    if reset or (extend and fitted is not None):
        if not reset:
            low, high = min(low, fitted[0]), max(high, fitted[1])
        estimator.intensity_range_ = (low, high)
        return
    if fitted is None:
        return
    fit_low, fit_high = fitted
    # The width of the fitted range, and never less than half the scale of
    # its values (images of one constant intensity have no width).
    margin = max(fit_high - fit_low, 0.5 * max(1.0, abs(fit_low), abs(fit_high)))
    if low >= fit_low - margin and high <= fit_high + margin:
        return
    kind = np.dtype(dtype)
    read = (
        "read as they are" if kind.kind == "f"
        else f"read as fractions of {np.iinfo(kind).max}" if kind.kind in "ui"
        else "read as 0 and 1"
    )
    name = type(estimator).__name__
    hint = ""
    if fit_low >= 0 and fit_high <= 1 and kind.kind == "f" and 1 < high <= 255:
        hint = " (floats in [0, 255] divided by 255, or uint8 pixels)"
    warnings.warn(
        f"X passed to {name} holds intensities in {_describe_range(low, high)} "
        f"({kind} pixels, {read}), far outside the range "
        f"{_describe_range(fit_low, fit_high)} of the images it was fitted on; "
        f"its output is not to be trusted. Give images in the scale of fit"
        f"{hint}.",
        IntensityRangeWarning,
        stacklevel=3,
    )


def _is_missing(value) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True  # None, pandas.NA, pandas.NaT
    try:
        return bool(value != value)  # NaN, of any float type
    except (TypeError, ValueError):
        return False


def _missing_name(value) -> str:
    if value is None:
        return "None"
    kind = type(value).__name__
    return {"NAType": "pandas.NA", "NaTType": "pandas.NaT"}.get(kind, "NaN")


def check_no_missing_labels(y, *, name: str = "y") -> None:
    """Raise naming the positions of missing labels (None, NaN) in ``y``.

    Without it, labels mixing None or NaN with strings fail deep inside
    ``np.unique`` with "'<' not supported between instances of 'NoneType'
    and 'str'".

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    name : str, default="y"
        Names the labels in the message.

    Raises
    ------
    ValueError
        If a label is None, NaN, ``pandas.NA`` or ``pandas.NaT``.

    Examples
    --------
    >>> from sklearn_leukemia.utils._validation import check_no_missing_labels
    >>> check_no_missing_labels(["ALL", None, "normal"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: y has a missing label (None) at position 1; every sample ...
    """
    # A list mixing strings with NaN would become strings ('nan') in an
    # array: its elements are looked at as they are.
    values = (y if isinstance(y, np.ndarray) else np.asarray(y, dtype=object)).ravel()
    if values.dtype.kind in "USbiu":
        return  # strings, booleans and integers have no missing value
    if values.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(values)).tolist()
    else:
        missing = [i for i, value in enumerate(values) if _is_missing(value)]
    if not missing:
        return
    shown = ", ".join(str(i) for i in missing[:10])
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    kinds = sorted({_missing_name(values[i]) for i in missing})
    if len(missing) == 1:
        where = f"a missing label ({kinds[0]}) at position {shown}"
        fix = "drop that sample or give its label"
    else:
        where = f"{len(missing)} missing labels ({', '.join(kinds)}) at " \
            f"positions {shown}{more}"
        fix = "drop those samples or give their labels"
    raise ValueError(f"{name} has {where}; every sample needs its class: {fix}.")


def check_classes(y, classes=None, *, estimator=None) -> np.ndarray:
    """Return the classes of a classifier: ``classes`` as given, or those of ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any type.
    classes : array-like or None, default=None
        Every label, in the order of the ``predict_proba`` columns; None
        takes the sorted labels of ``y``.
    estimator : estimator instance, default=None
        Named in the messages.

    Examples
    --------
    >>> from sklearn_leukemia.utils._validation import check_classes
    >>> check_classes(["b", "a", "b"]).tolist()
    ['a', 'b']
    """
    from sklearn.utils import column_or_1d
    from sklearn.utils.multiclass import check_classification_targets

    name = type(estimator).__name__ if estimator is not None else "The classifier"
    if y is None:
        raise ValueError(f"{name} needs the labels y to be fitted; got y=None.")
    check_no_missing_labels(y)
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    labels = np.unique(y) if classes is None else np.asarray(classes)
    if labels.ndim != 1 or len(np.unique(labels)) != len(labels):
        raise ValueError(
            f"classes={classes!r} is not supported; expected a 1-D list of "
            "distinct labels."
        )
    if len(labels) < 2:
        raise ValueError(
            f"{name} needs at least 2 classes, got {len(labels)}: {labels.tolist()}"
        )
    return labels


def align_proba(proba, classes, labels) -> np.ndarray:
    """Return probabilities whose columns follow ``classes`` in ``labels`` order.

    A model fitted on part of the data (a cross-validation fold) knows only
    the classes it saw; a label it never saw gets a column of zeros.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Probabilities, one column per entry of ``classes``.
    classes : array-like of shape (n_classes,)
        The model's ``classes_``.
    labels : array-like of shape (n_labels,)
        Every label, in the order wanted; it holds every class.

    Returns
    -------
    aligned : ndarray of shape (n_samples, n_labels)

    Examples
    --------
    >>> from sklearn_leukemia.utils._validation import align_proba
    >>> align_proba([[0.2, 0.8]], ["a", "c"], ["a", "b", "c"]).tolist()
    [[0.2, 0.0, 0.8]]
    """
    proba = np.asarray(proba, dtype=float)
    position = {label: j for j, label in enumerate(labels)}
    unknown = [c for c in classes if c not in position]
    if unknown:
        raise ValueError(f"The model's classes {unknown} are not among {list(labels)}.")
    aligned = np.zeros((len(proba), len(position)))
    for j, label in enumerate(classes):
        aligned[:, position[label]] = proba[:, j]
    return aligned


def encode_labels(X, y, classes: np.ndarray) -> np.ndarray:
    """Return the position of each label of ``y`` in ``classes``, as int64.

    Raises naming the labels that are not among ``classes``, and when ``X``
    and ``y`` differ in length.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.utils._validation import encode_labels
    >>> encode_labels(np.zeros((3, 2, 2)), ["b", "a", "b"], np.array(["a", "b"]))
    array([1, 0, 1])
    """
    from sklearn.utils import column_or_1d

    if y is None:
        raise ValueError("the labels y are needed to fit; got y=None.")
    y = column_or_1d(y, warn=True)
    if len(y) != len(X):
        raise ValueError(
            f"X has {len(X)} image(s) but y has {len(y)} label(s); expected "
            "one label per image."
        )
    sorter = np.argsort(classes, kind="stable")
    position = np.searchsorted(classes, y, sorter=sorter)
    encoded = sorter[np.clip(position, 0, len(classes) - 1)]
    unknown = classes[encoded] != y
    if np.any(unknown):
        raise ValueError(
            f"y has label(s) {np.unique(y[unknown]).tolist()} not among the "
            f"classes {classes.tolist()}."
        )
    return encoded.astype(np.int64)


def check_size(value, name: str = "size") -> tuple[int, int]:
    """Return an int or a ``(height, width)`` pair of positive ints as a pair.

    Examples
    --------
    >>> from sklearn_leukemia.utils._validation import check_size
    >>> check_size(16), check_size((8, 12))
    ((16, 16), (8, 12))
    """
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


def is_integral(value) -> bool:
    """Tell whether ``value`` is a Python or numpy integer (bool excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# Checks of plain arguments (the network builders, the generators), where
# scikit-learn's parameter tables do not apply.


def check_int(value, name: str, *, min_value: int) -> int:
    """Return ``value`` as an int, or raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer >= {min_value}; got {value!r} of type "
            f"{type(value).__name__}."
        )
    if value < min_value:
        raise ValueError(f"{name} must be an integer >= {min_value}; got {value!r}.")
    return int(value)


def check_dropout(value, name: str = "dropout") -> float:
    """Return a dropout probability in [0, 1), or raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a float in [0, 1); got {value!r} of type "
            f"{type(value).__name__}."
        )
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1); got {value!r}.")
    return float(value)


def check_bool(value, name: str) -> bool:
    """Accept Python and NumPy booleans only: ``0``/``"no"`` are likely mistakes."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be True or False; got {value!r} of type "
            f"{type(value).__name__}."
        )
    return bool(value)
