"""Read image files into one uint8 RGB batch, resizing while reading."""

from __future__ import annotations

import os
import warnings
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_params,
)

from sklearn_leukemia._options import ON_ERROR
from sklearn_leukemia.io import ImageReadError
from sklearn_leukemia.io._read import _read_pixels
from sklearn_leukemia.preprocessing._resize import _resize
from sklearn_leukemia.preprocessing._resize import _resize_one as _resize_image
from sklearn_leukemia.utils._validation import SIZE, check_images, check_size

# Images per joblib task: large enough that the dispatch overhead (tens of
# microseconds) is small next to decoding (about a millisecond an image).
_MAX_CHUNK = 64
_CONSTRAINTS = {
    "image_size": [*SIZE, None],
    "n_jobs": [
        Interval(Integral, 1, None, closed="left"),
        Interval(Integral, None, -1, closed="right"),
        None,
    ],
    "on_error": [StrOptions(set(ON_ERROR))],
}


def _params(image_size, n_jobs, on_error) -> dict:
    """Return the reader's parameters, with the size as a pair."""
    if image_size is not None:
        image_size = check_size(image_size, "image_size")
    return {"image_size": image_size, "n_jobs": n_jobs, "on_error": on_error}


def _as_paths(X) -> list | None:
    """Return the paths in ``X`` as a list, or None for image arrays."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"X is a single path {X!r}; expected a list or 1-D array of paths. "
            "Wrap a single file in a list: [path]."
        )
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
        return None
    if isinstance(X, np.ndarray) and X.ndim != 1 and X.size:
        if isinstance(X.flat[0], (str, os.PathLike)):
            raise ValueError(
                f"X is an array of paths of shape {X.shape}; expected a 1-D "
                "array or a list of paths."
            )
    items = list(X)
    is_path = [isinstance(item, (str, os.PathLike)) for item in items]
    if items and all(is_path):
        return items
    if any(is_path):
        raise TypeError(
            "X mixes file paths and other objects; expected either file paths "
            "(str or os.PathLike) or image arrays, not both."
        )
    return None


def _read_chunk(paths, start, out, image_size, on_error):
    """Read ``paths`` into ``out[start:]``; return the failures.

    ``out`` is shared with the caller (threads), so nothing is copied back.
    """
    min_size = None if image_size is None else max(image_size)
    failures = []
    for offset, path in enumerate(paths):
        try:
            # The pixels are copied into ``out`` below: no writeable copy here.
            image = _read_pixels(os.fspath(path), min_size=min_size, size=image_size)
        except ImageReadError as exc:
            if on_error == "raise":
                raise
            failures.append((start + offset, exc))
            continue
        if image_size is not None:
            image = _resize_image(image, image_size, "stretch", True)
        elif image.shape != out.shape[1:]:
            raise ValueError(
                f"{os.fspath(path)!r} is {image.shape[0]}x{image.shape[1]} "
                f"pixels but the first image is {out.shape[1]}x{out.shape[2]}; "
                "files of different sizes need image_size, for example "
                "ImageReader(image_size=224)."
            )
        out[start + offset] = image
    return failures


def _first_image(paths, on_error):
    """Read files until one succeeds, to learn the output size."""
    failures = []
    for index, path in enumerate(paths):
        try:
            return index, _read_pixels(os.fspath(path)), failures
        except ImageReadError as exc:
            if on_error == "raise":
                raise
            failures.append((index, exc))
    return len(paths), None, failures


def _compact(out: np.ndarray, failed: list[int]) -> np.ndarray:
    """Move the images read over the gaps left by failures, in place.

    Indexing with a mask would copy the whole batch; this moves each run of
    images between two failures once and returns a view.
    """
    dst = failed[0]
    for k, index in enumerate(failed):
        stop = failed[k + 1] if k + 1 < len(failed) else len(out)
        run = stop - index - 1
        out[dst : dst + run] = out[index + 1 : stop]
        dst += run
    return out[:dst]


def _read_files(paths, image_size, n_jobs, on_error):
    """Read all ``paths``; return the images of the readable ones and failures."""
    n_samples = len(paths)
    start = 0
    if image_size is None:
        first, image, failures = _first_image(paths, on_error)
        if image is None:
            return np.empty((0, 0, 0, 3), dtype=np.uint8), failures
        out = np.empty((n_samples, *image.shape), dtype=np.uint8)
        out[first] = image
        start = first + 1
    else:
        out = np.empty((n_samples, *image_size, 3), dtype=np.uint8)
        failures = []

    todo = range(start, n_samples)
    n_workers = min(effective_n_jobs(n_jobs), max(1, len(todo)))
    if n_workers == 1:
        failures += _read_chunk(paths[start:], start, out, image_size, on_error)
    else:
        # A few chunks per worker balance uneven file sizes; the chunk cap
        # keeps the memory of in-flight work small.
        n_chunks = max(4 * n_workers, -(-len(todo) // _MAX_CHUNK))
        bounds = np.array_split(np.arange(start, n_samples), n_chunks)
        # Threads, not processes: Pillow releases the GIL while decoding and
        # resizing, so threads scale, and they write into ``out`` directly
        # where worker processes would pickle every image back.
        results = Parallel(n_jobs=n_workers, require="sharedmem")(
            delayed(_read_chunk)(
                paths[b[0] : b[-1] + 1], int(b[0]), out, image_size, on_error
            )
            for b in bounds
            if len(b)
        )
        for chunk_failures in results:
            failures += chunk_failures
    return out, sorted(failures, key=lambda item: item[0])


def _warn_skipped(n_files: int, failures) -> None:
    names = [exc.path for _, exc in failures]
    shown = ", ".join(repr(name) for name in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    warnings.warn(
        f"Skipped {len(names)} of {n_files} image file(s) that could not be "
        f"read: {shown}{more} (first reason: {failures[0][1].reason}).",
        UserWarning,
        stacklevel=3,
    )


def _read(X, image_size, n_jobs, on_error, *, require_one=True):
    """Return the images, the mask of the samples kept and the failures.

    With ``require_one``, files none of which can be read raise.
    """
    paths = _as_paths(X)
    if paths is None:
        images = check_images(X, allow_ragged=True, estimator="ImageReader")
        if image_size is not None:
            images = _resize(images, image_size, "stretch", True)
        elif isinstance(images, list):
            raise ValueError(
                "X holds images of different sizes; set image_size (for "
                "example ImageReader(image_size=224)) to bring them to one size."
            )
        return images, np.ones(len(images), dtype=bool), []
    images, failures = _read_files(paths, image_size, n_jobs, on_error)
    if require_one and len(failures) == len(paths):
        raise ValueError(
            f"None of the {len(paths)} image file(s) could be read; the first, "
            f"{failures[0][1].path!r}: {failures[0][1].reason}."
        ) from failures[0][1]
    mask = np.ones(len(paths), dtype=bool)
    failed = [i for i, _ in failures]
    mask[failed] = False
    if failed and len(images):
        images = _compact(images, failed)
    return images, mask, failures


@validate_params(
    {"X": "no_validation", "return_mask": ["boolean"], **_CONSTRAINTS},
    prefer_skip_nested_validation=True,
)
def read_images(
    X,
    *,
    image_size=None,
    n_jobs: int | None = None,
    on_error: str = "raise",
    return_mask: bool = False,
):
    """Read image files into one uint8 RGB array.

    Each file goes through :func:`sklearn_leukemia.io.read_image` (grayscale,
    palette, RGBA and 16-bit files all become 8-bit RGB). With
    ``image_size``, each image is resized right after it is read, so a folder
    of large images never sits in memory at full size; JPEGs are then also
    decoded at a reduced scale when they are at least twice ``image_size``.

    Parameters
    ----------
    X : list or 1-D array of str or os.PathLike, or image arrays
        File paths. Image arrays (an ndarray of shape (n_samples, height,
        width[, channels]) or a list of them) are validated and passed
        through unchanged, apart from being resized when ``image_size`` is
        set, so a pipeline starting with a reader accepts both.
    image_size : int or (int, int), default=None
        Output ``(height, width)``; an int gives a square. Images are
        stretched to it with the anti-aliased resampling of
        :class:`ImageResizer` (``mode="stretch"``). None keeps the file
        size, and all files must then have the same size.
    n_jobs : int, default=None
        Number of threads reading files. None means 1 unless in a
        :func:`joblib.parallel_config` context; -1 means all cores. Threads
        are used because Pillow releases the GIL while decoding and resizing,
        and they write straight into the output array.
    on_error : {"raise", "skip"}, default="raise"
        ``"raise"`` stops at the first unreadable file with
        :class:`sklearn_leukemia.io.ImageReadError`, which names it.
        ``"skip"`` drops unreadable files and warns with their count and
        names; combine it with ``return_mask=True`` to drop the matching
        labels with ``y[mask]``.
    return_mask : bool, default=False
        Also return the boolean mask of the files that were read.

    Returns
    -------
    images : ndarray of shape (n_read, height, width, 3), dtype uint8
        In the order of ``X``. Arrays passed through keep their dtype and
        channels.
    mask : ndarray of shape (n_samples,), dtype bool
        Only with ``return_mask=True``: True for each file that was read.

    Raises
    ------
    sklearn_leukemia.io.ImageReadError
        If a file cannot be read and ``on_error="raise"``.
    ValueError
        If the files differ in size and ``image_size`` is None, or ``X`` is
        empty.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_leukemia.preprocessing import read_images
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{i}.png") for i in range(2)]
    >>> for path in paths:
    ...     Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(path)
    >>> read_images(paths, image_size=16).shape
    (2, 16, 16, 3)
    >>> images, mask = read_images(
    ...     paths + ["missing.png"], on_error="skip", return_mask=True
    ... )  # doctest: +SKIP
    """
    images, mask, failures = _read(X, **_params(image_size, n_jobs, on_error))
    if failures:
        _warn_skipped(len(mask), failures)
    return (images, mask) if return_mask else images


def _check_input(X) -> int:
    """Cheap check of ``X`` without reading any file; return its length."""
    paths = _as_paths(X)
    if paths is None:
        return len(check_images(X, allow_ragged=True, estimator="ImageReader"))
    return len(paths)


class ImageReader(TransformerMixin, BaseEstimator):
    """Read image files into a uint8 RGB batch, the first step of a pipeline.

    The transformer form of :func:`read_images`. ``fit`` checks the
    parameters and the form of ``X`` but reads nothing, and ``transform``
    works without ``fit``.

    Parameters
    ----------
    image_size : int, (int, int) or None, default=None
        Output ``(height, width)``; each image is stretched to it right after
        it is read (anti-aliased, as :class:`ImageResizer` does), so large
        files never sit in memory at full size. None keeps the file size,
        which must then be the same for all files.
    n_jobs : int, default=None
        Number of threads reading files; None means 1 unless in a
        :func:`joblib.parallel_config` context, -1 all cores.
    on_error : {"raise", "skip"}, default="raise"
        What to do with files that cannot be read. ``"raise"`` stops at the
        first one with :class:`sklearn_leukemia.io.ImageReadError`.
        ``"skip"`` reads every file and then raises one ValueError listing
        all the unreadable ones. A transformer may not drop samples (the
        labels would no longer line up), so to drop them use
        ``read_images(paths, on_error="skip", return_mask=True)`` outside the
        pipeline and keep ``y[mask]``.

    See Also
    --------
    read_images : The function this transformer calls.
    sklearn_leukemia.io.read_image : Reads one file.
    ImageResizer : Resizes image arrays.

    Notes
    -----
    Image arrays given instead of paths are validated and passed through
    (resized when ``image_size`` is set), so the same pipeline accepts
    paths and arrays. Files are read by threads: Pillow releases the GIL
    while decoding and resizing, and threads write straight into the
    preallocated output, where worker processes would pickle each image back
    (see ``benchmarks/bench_preprocessing.py``).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_leukemia.preprocessing import ImageReader
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{i}.jpg") for i in range(3)]
    >>> for path in paths:
    ...     Image.fromarray(np.full((48, 64, 3), 200, np.uint8)).save(path)
    >>> X = ImageReader(image_size=32).fit_transform(paths)
    >>> X.shape, X.dtype
    ((3, 32, 32, 3), dtype('uint8'))
    """

    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, *, image_size=None, n_jobs=None, on_error="raise"):
        self.image_size = image_size
        self.n_jobs = n_jobs
        self.on_error = on_error

    def fit(self, X, y=None):
        """Check the parameters and the form of ``X``; no file is read.

        Parameters
        ----------
        X : list or 1-D array of str or os.PathLike, or image arrays
            File paths or images.
        y : None
            Ignored.

        Returns
        -------
        self : ImageReader
            This transformer.
        """
        self._validate_params()
        _params(self.image_size, self.n_jobs, self.on_error)
        _check_input(X)
        return self

    def transform(self, X):
        """Read the files.

        Parameters
        ----------
        X : list or 1-D array of str or os.PathLike, or image arrays
            File paths or images.

        Returns
        -------
        images : ndarray of shape (n_samples, height, width, 3), dtype uint8
            One image per path, in the order of ``X``.

        Raises
        ------
        sklearn_leukemia.io.ImageReadError
            If a file cannot be read and ``on_error="raise"``.
        ValueError
            If files cannot be read and ``on_error="skip"`` (naming all of
            them), or the files differ in size and ``image_size`` is None.
        """
        self._validate_params()
        images, mask, failures = _read(
            X, **_params(self.image_size, self.n_jobs, self.on_error)
        )
        if failures:
            names = [exc.path for _, exc in failures]
            listed = "; ".join(
                f"{exc.path!r}: {exc.reason}" for _, exc in failures[:10]
            )
            more = f"; and {len(names) - 10} more" if len(names) > 10 else ""
            raise ValueError(
                f"{len(names)} of {len(mask)} image file(s) could not be read: "
                f"{listed}{more}. ImageReader cannot drop them, since a "
                "transformer must return one image per input; remove them from "
                "X, or use read_images(X, on_error='skip', return_mask=True) "
                "and keep y[mask]."
            )
        return images

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["uint8"]
        return tags
