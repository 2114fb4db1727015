"""ALL-IDB, the Acute Lymphoblastic Leukemia Image Database (Labati et al. 2011)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from sklearn_leukemia.datasets._base import (
    IGNORED_NOTE,
    ProblemLog,
    build_dataset,
    check_loader_params,
    resolve_root,
    scan_dir,
)

__all__ = ["load_all_idb"]

_VERSIONS = ("ALL_IDB1", "ALL_IDB2")

# ImNNN_L: NNN the image number, L the 0/1 label.
_NAME = re.compile(r"^Im(?P<number>\d+)_(?P<label>[01])$", re.IGNORECASE)

_EXTENSIONS = {"ALL_IDB1": (".jpg", ".jpeg"), "ALL_IDB2": (".tif", ".tiff")}

# Where the images may sit below root, in the order they are looked for.
_IMAGE_DIRS = {
    "ALL_IDB1": ("", "im", "ALL_IDB1/im", "ALL_IDB1"),
    "ALL_IDB2": ("", "img", "ALL_IDB2/img", "ALL_IDB2"),
}

_TARGET_NAMES = {"ALL_IDB1": ["healthy", "ALL"], "ALL_IDB2": ["normal", "blast"]}

_LAYOUTS = {
    "ALL_IDB1": """\
    root/                 (or root/im/, root/ALL_IDB1/im/, root/ALL_IDB1/)
        Im001_1.jpg       ImNNN_L.jpg: L = 1 image of an ALL patient, 0 healthy
        Im001_1.xyc       blast centres of Im001_1.jpg, one "x y" per line;
        ...               may sit in a sibling xyc/ folder instead
                          (ALL_IDB1/xyc/), may be absent when L = 0
""",
    "ALL_IDB2": """\
    root/                 (or root/img/, root/ALL_IDB2/img/, root/ALL_IDB2/)
        Im001_1.tif       ImNNN_L.tif: L = 1 the centred cell is a blast,
        Im131_0.tif       0 it is not
        ...
""",
}

_BOTH_LAYOUTS = (
    "ALL-IDB1:\n" + _LAYOUTS["ALL_IDB1"] + "or ALL-IDB2:\n" + _LAYOUTS["ALL_IDB2"]
)

_DESCR = """\
ALL-IDB: Acute Lymphoblastic Leukemia Image Database ({version})
==========================================================

Peripheral blood smear images collected for the evaluation of segmentation
and classification algorithms for acute lymphoblastic leukaemia (ALL), made
with an optical laboratory microscope and a Canon PowerShot G5 camera. Blast
(lymphoblast) labels and positions were given by expert oncologists.

- ALL-IDB1: 108 fields of view, JPEG, 2592x1944, magnifications of 300 to
  500, about 39000 blood elements. ``ImNNN_L.jpg``: L = 1 when the image
  comes from an ALL patient (it holds at least one blast), 0 when it comes
  from a healthy individual. ``ImNNN_L.xyc`` gives the centres of the blasts,
  one ``x y`` pair (column, row, in pixels of the full-resolution image) per
  line.
- ALL-IDB2: 260 crops of ALL-IDB1 fields, TIFF, each centred on one cell,
  half of them blasts. ``ImNNN_L.tif``: L = 1 when the centred cell is a
  blast, 0 when it is not.

Layout read by ``load_all_idb`` for {version}:

{layout}
Name pattern: ``ImNNN_L`` (regular expression ``^Im(\\d+)_([01])$``, any case)
with the extension {extensions}. {ignored}

Labels
------
{labels}

Groups
------
ALL-IDB publishes no patient identifiers, so ``groups`` is None. ALL-IDB2
crops come from ALL-IDB1 fields, and several fields come from one patient, so
a random split can put cells of one patient, even of one field, on both sides;
scores are then optimistic.

Citation
--------
R. Donida Labati, V. Piuri, F. Scotti, "ALL-IDB: the acute lymphoblastic
leukemia image database for image processing", 18th IEEE International
Conference on Image Processing (ICIP), pp. 2045-2048, 2011.
https://homes.di.unimi.it/scotti/all/
"""


def load_all_idb(
    root: str | os.PathLike,
    *,
    version: str = "auto",
    load_images: bool = False,
    image_size: int | None = None,
    return_X_y: bool = False,
    n_jobs: int | None = None,
    on_error: str = "raise",
) -> Bunch | tuple:
    """Load ALL-IDB1 or ALL-IDB2, the Acute Lymphoblastic Leukemia Image Database.

    ALL-IDB (Labati, Piuri and Scotti, 2011) comes in two versions. ALL-IDB1
    holds 108 full microscope fields named ``ImNNN_L.jpg``, L = 1 for an
    image of an ALL patient and 0 for a healthy one, each with an
    ``ImNNN_L.xyc`` file listing the centres of its blasts. ALL-IDB2 holds
    260 crops ``ImNNN_L.tif`` centred on one cell, L = 1 when that cell is a
    blast. Images are listed in name order.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding the images, or a parent of it: the images are
        looked for in ``root``, then ``root/im`` (ALL-IDB1) or ``root/img``
        (ALL-IDB2), then ``root/ALL_IDB1/im`` or ``root/ALL_IDB2/img``, then
        ``root/ALL_IDB1`` or ``root/ALL_IDB2``.
    version : {"auto", "ALL_IDB1", "ALL_IDB2"}, default="auto"
        Which version to load. ``"auto"`` recognises it from the names and
        extensions (``.jpg`` for ALL-IDB1, ``.tif`` for ALL-IDB2) and raises
        if ``root`` holds both.
    load_images : bool, default=False
        Also read the images into ``images``, resized to
        ``image_size`` x ``image_size`` RGB ``uint8``. Needs ``image_size``.
    image_size : int, default=None
        Side in pixels of the square images returned when
        ``load_images=True``.
    return_X_y : bool, default=False
        Return ``(images, target)`` when ``load_images=True``, otherwise
        ``(filenames, target)``, instead of a Bunch.
    n_jobs : int, default=None
        Number of parallel jobs reading images (joblib semantics).
    on_error : {"raise", "skip"}, default="raise"
        What to do with a file whose name does not follow ``ImNNN_L``, a
        malformed or missing blast-coordinate file, or (with
        ``load_images=True``) an unreadable image: raise an error naming it,
        or leave the image out and warn with a count of what was left out.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        filenames : ndarray of shape (n_samples,) of str
            Absolute paths of the images.
        target : ndarray of shape (n_samples,) of int64
            ALL-IDB1: 1 for an image of an ALL patient, 0 for a healthy one.
            ALL-IDB2: 1 when the centred cell is a blast, 0 otherwise.
        target_names : ndarray of str
            ``["healthy", "ALL"]`` for ALL-IDB1, ``["normal", "blast"]`` for
            ALL-IDB2.
        groups : None
            ALL-IDB publishes no patient identifiers.
        version : str
            ``"ALL_IDB1"`` or ``"ALL_IDB2"``.
        blast_coordinates : list of ndarray of shape (k, 2)
            ALL-IDB1 only: the ``(x, y)`` centres of the blasts of each image
            (column, row) in pixels of the full-resolution image, as float;
            shape (0, 2) when there are none.
        images : ndarray of shape (n_samples, image_size, image_size, 3)
            Only with ``load_images=True``.
        data : ndarray of shape (n_samples, image_size * image_size * 3)
            Only with ``load_images=True``: ``images`` flattened (a view).
        DESCR : str
            Description of the dataset, its layout, labels and citation.

    (filenames or images, target) : tuple if ``return_X_y`` is True
        ``images`` when ``load_images=True``, else ``filenames``, and
        ``target``, as in the Bunch.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    NotADirectoryError
        If ``root`` is a file.
    ValueError
        If no ALL-IDB images are found, both versions are found with
        ``version="auto"``, or (with ``on_error="raise"``) a file does not
        fit the layout. Messages show the expected tree.

    Warns
    -----
    UserWarning
        With ``on_error="skip"``, when files were left out: it counts them
        and names the first few.

    Notes
    -----
    Hidden files and folders (names starting with ``.``) and the leftovers
    of file managers and archivers (``Thumbs.db``, ``desktop.ini``,
    ``.DS_Store``, ``__MACOSX``) are ignored silently; anything else that
    does not fit the layout is reported. The loader never writes into
    ``root``.

    Examples
    --------
    >>> from sklearn_leukemia.datasets import load_all_idb
    >>> data = load_all_idb("~/data/ALL_IDB2")  # doctest: +SKIP
    >>> data.target_names.tolist()  # doctest: +SKIP
    ['normal', 'blast']
    """
    check_loader_params(
        load_images=load_images,
        image_size=image_size,
        return_X_y=return_X_y,
        on_error=on_error,
    )
    if version != "auto" and version not in _VERSIONS:
        raise ValueError(
            f"version={version!r} is not supported; expected 'auto', "
            "'ALL_IDB1' or 'ALL_IDB2'."
        )
    layout = _BOTH_LAYOUTS if version == "auto" else _LAYOUTS[version]
    root = resolve_root(root, layout=layout)
    version, image_dir = _find_version(root, version)
    layout = _LAYOUTS[version]
    problems = ProblemLog(on_error, layout=layout)
    extensions = _EXTENSIONS[version]

    images: list[tuple[Path, int]] = []
    files, _ = scan_dir(image_dir)
    for path in files:
        stem, ext = os.path.splitext(path.name)
        if version == "ALL_IDB1" and ext.lower() == ".xyc":
            continue
        match = _NAME.match(stem)
        if match is None or ext.lower() not in extensions:
            problems(
                path,
                f"the name does not follow the {version} pattern ImNNN_L"
                f"{extensions[0]} (NNN a number, L 0 or 1)",
            )
            continue
        images.append((path, int(match["label"])))

    per_sample = {}
    if version == "ALL_IDB1":
        coordinate_files = _coordinate_files(image_dir)
        kept, coordinates = [], []
        for path, label in images:
            xyc = coordinate_files.get(os.path.splitext(path.name)[0].lower())
            try:
                coordinates.append(_read_xyc(xyc, label=label, image=path))
            except ValueError as exc:
                problems(path, str(exc))
                continue
            kept.append((path, label))
        images = kept
        per_sample["blast_coordinates"] = coordinates
    problems.warn()

    target_names = _TARGET_NAMES[version]
    labels = "\n".join(
        f"- target {i}: {name!r} (L = {i} in the file name)"
        for i, name in enumerate(target_names)
    )
    descr = _DESCR.format(
        version=version,
        layout=layout,
        extensions=" or ".join(extensions),
        ignored=IGNORED_NOTE,
        labels=labels,
    )
    return build_dataset(
        root=root,
        layout=layout,
        filenames=[path for path, _ in images],
        target=[label for _, label in images],
        target_names=target_names,
        descr=descr,
        per_sample=per_sample,
        metadata={"version": version},
        load_images=load_images,
        image_size=image_size,
        n_jobs=n_jobs,
        on_error=on_error,
        return_X_y=return_X_y,
    )


def _holds_version(folder: Path, version: str) -> bool:
    if not folder.is_dir():
        return False
    for path in scan_dir(folder)[0]:
        stem, ext = os.path.splitext(path.name)
        if ext.lower() in _EXTENSIONS[version] and _NAME.match(stem):
            return True
    return False


def _image_dir(root: Path, version: str) -> Path | None:
    for sub in _IMAGE_DIRS[version]:
        folder = root / sub if sub else root
        if _holds_version(folder, version):
            return folder
    return None


def _find_version(root: Path, version: str) -> tuple[str, Path]:
    candidates = _VERSIONS if version == "auto" else (version,)
    found = {v: d for v in candidates if (d := _image_dir(root, v)) is not None}
    if len(found) == 1:
        return next(iter(found.items()))
    if len(found) > 1:
        where = "; ".join(f"{v} in {str(d)!r}" for v, d in found.items())
        raise ValueError(
            f"Both ALL-IDB versions are under {str(root)!r} ({where}); pass "
            "version='ALL_IDB1' or version='ALL_IDB2' to choose one."
        )
    layout = _BOTH_LAYOUTS if version == "auto" else _LAYOUTS[version]
    what = "ALL-IDB" if version == "auto" else version
    raise ValueError(
        f"No {what} images (ImNNN_L.jpg for ALL-IDB1, ImNNN_L.tif for "
        f"ALL-IDB2) in {str(root)!r} or the usual subfolders. Expected:\n{layout}"
    )


def _coordinate_files(image_dir: Path) -> dict[str, Path]:
    """ImNNN_L.xyc files next to the images or in a sibling ``xyc`` folder."""
    found: dict[str, Path] = {}
    for folder in (image_dir.parent / "xyc", image_dir / "xyc", image_dir):
        if folder.is_dir():
            for path in scan_dir(folder)[0]:
                stem, ext = os.path.splitext(path.name)
                if ext.lower() == ".xyc":
                    found[stem.lower()] = path
    return found


def _read_xyc(path: Path | None, *, label: int, image: Path) -> np.ndarray:
    """Read the (k, 2) blast centres of one image; ValueError on a bad file."""
    if path is None:
        if label == 0:
            return np.empty((0, 2))
        raise ValueError(
            f"no blast-coordinate file {os.path.splitext(image.name)[0]}.xyc "
            "next to the image or in a sibling xyc/ folder; every image of an "
            "ALL patient (L = 1) has one"
        )
    rows = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for lineno, line in enumerate(handle, start=1):
            fields = line.replace(",", " ").split()
            if not fields:
                continue
            try:
                if len(fields) != 2:
                    raise ValueError
                rows.append((float(fields[0]), float(fields[1])))
            except ValueError:
                raise ValueError(
                    f"{path.name}, line {lineno}: expected two numbers 'x y', "
                    f"got {line.strip()!r}"
                ) from None
    return np.array(rows, dtype=np.float64).reshape(-1, 2)
