"""C-NMC 2019, the ISBI 2019 challenge on normal versus malignant cells."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from sklearn_leukemia.datasets._base import (
    IGNORED_NOTE,
    ProblemLog,
    build_dataset,
    check_loader_params,
    has_image_extension,
    resolve_root,
    scan_dir,
)
from sklearn_leukemia.utils._validation import is_integral

__all__ = ["load_cnmc"]

# UID_<subject>_<image>_<cell>_<all|hem>; healthy subjects start with H.
NAME_PATTERN = (
    r"^UID_(?P<subject>[Hh]?\d+)_(?P<image>\d+)_(?P<cell>\d+)_(?P<label>all|hem)$"
)
_NAME = re.compile(NAME_PATTERN, re.IGNORECASE)
_FOLD = re.compile(r"^fold_(\d+)$")

# Where the fold_k folders may sit below root, in the order they are looked for.
_TRAINING_DIRS = (
    "",
    "C-NMC_training_data",
    "training_data",
    "C-NMC_Leukemia/C-NMC_training_data",
    "C-NMC_Leukemia/training_data",
    "PKG - C-NMC 2019/C-NMC_training_data",
)

_LABELS = ("hem", "all")

LAYOUT = """\
    root/                  (or root/C-NMC_training_data/, root/training_data/,
        fold_0/             root/C-NMC_Leukemia/training_data/)
            all/
                UID_11_10_1_all.bmp      ALL subject 11, image 10, cell 1
                ...
            hem/
                UID_H10_43_1_hem.bmp     healthy subject H10
                ...
        fold_1/
            all/ ...
            hem/ ...
        fold_2/
            ...
"""

_DESCR = """\
C-NMC 2019: classification of normal versus malignant cells
============================================================

The training data of the ISBI 2019 challenge on the classification of
leukemic B-lymphoblasts (ALL) against normal B-lymphoid precursors (hem) in
microscopic images of blood smears, prepared by SBI Lab (IIIT Delhi) and
AIIMS New Delhi. Each image is one cell segmented from a stained smear and
stain-normalised, on a black background, 450x450 BMP. The ground truth was
marked by an expert oncologist. The training data hold about 10,700 cells of
73 subjects in three folds; the challenge's test sets are not loaded.

Layout read by ``load_cnmc``:

{layout}
File names follow ``UID_<subject>_<image>_<cell>_<label>`` with the extension
of an image (``.bmp`` in the published data), regular expression
``{pattern}`` (any case). The label in the name must match the folder. {ignored}

Labels
------
- target 0: 'hem' (normal cell, folder hem/, healthy subject)
- target 1: 'all' (leukemic blast, folder all/, ALL subject)

Groups
------
``groups`` holds the subject id parsed from each file name ("11", "H10"; a
leading h is written H), ``folds`` the fold of each image. Cells of one
subject are strongly correlated: split by subject, e.g. with
``StratifiedGroupKFold`` and ``groups=data.groups``, or by the published
folds.

Citation
--------
A. Gupta, R. Gupta (eds.), "ALL Challenge dataset of ISBI 2019", The Cancer
Imaging Archive, 2019, https://doi.org/10.7937/tcia.2019.dc64i46r.
A. Gupta, R. Gupta (eds.), "ISBI 2019 C-NMC Challenge: Classification in
Cancer Cell Imaging", Lecture Notes in Bioengineering, Springer, 2019.
"""


def load_cnmc(
    root: str | os.PathLike,
    *,
    folds: int | Sequence[int] | None = None,
    load_images: bool = False,
    image_size: int | None = None,
    return_X_y: bool = False,
    n_jobs: int | None = None,
    on_error: str = "raise",
) -> Bunch | tuple:
    """Load the training data of C-NMC 2019 (ISBI 2019 ALL challenge).

    The data (Gupta and Gupta, 2019) hold single-cell images of leukemic
    blasts (``all``) and normal cells (``hem``), in three folds
    ``fold_0``, ``fold_1``, ``fold_2``, each with an ``all/`` and a ``hem/``
    folder. File names carry the subject: ``UID_11_10_1_all.bmp`` is cell 1
    of image 10 of ALL subject 11, ``UID_H10_43_1_hem.bmp`` a cell of the
    healthy subject H10. Images are listed by fold, then label folder
    (``hem/`` before ``all/``), then name.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``fold_0``, ``fold_1``, ... or a parent of it:
        ``root/C-NMC_training_data``, ``root/training_data``,
        ``root/C-NMC_Leukemia/training_data`` (the Kaggle copy) and
        ``root/PKG - C-NMC 2019/C-NMC_training_data`` (the TCIA download)
        are looked in too.
    folds : int or list of int, default=None
        The folds to load, e.g. ``[0, 1]``. If None, every fold found.
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
        What to do with a file whose name does not parse, whose label does
        not match its folder, or (with ``load_images=True``) that cannot be
        read: raise an error naming it and the expected pattern, or leave it
        out and warn with a count of what was left out.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        filenames : ndarray of shape (n_samples,) of str
            Absolute paths of the images.
        target : ndarray of shape (n_samples,) of int64
            1 for a leukemic blast (``all``), 0 for a normal cell (``hem``).
        target_names : ndarray of str
            ``["hem", "all"]``.
        groups : ndarray of shape (n_samples,) of str
            The subject of each image, e.g. ``"11"`` or ``"H10"``.
        folds : ndarray of shape (n_samples,) of int
            The published fold of each image.
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
        If no ``fold_k`` folders are found, a fold lacks ``all/`` or
        ``hem/`` or they hold no image, ``folds`` names a missing fold, or
        (with ``on_error="raise"``) a file name does not parse. Messages show
        the expected tree or name pattern.

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
    >>> from sklearn.model_selection import StratifiedGroupKFold
    >>> from sklearn_leukemia.datasets import load_cnmc
    >>> data = load_cnmc("~/data/C-NMC_Leukemia")  # doctest: +SKIP
    >>> cv = StratifiedGroupKFold(5)  # doctest: +SKIP
    >>> splits = cv.split(data.filenames, data.target,
    ...                   groups=data.groups)  # doctest: +SKIP
    """
    check_loader_params(
        load_images=load_images,
        image_size=image_size,
        return_X_y=return_X_y,
        on_error=on_error,
    )
    root = resolve_root(root, layout=LAYOUT)
    fold_dirs = _find_folds(root)
    selected = _select_folds(folds, fold_dirs)
    problems = ProblemLog(on_error, layout=LAYOUT)

    filenames: list[Path] = []
    target: list[int] = []
    subjects: list[str] = []
    fold_of: list[int] = []
    for fold in selected:
        fold_dir = fold_dirs[fold]
        for target_value, label in enumerate(_LABELS):
            label_dir = _label_dir(fold_dir, label)
            files, subdirs = scan_dir(label_dir)
            for sub in subdirs:
                problems(sub, "an unexpected folder; images sit in all/ and hem/")
            n_before = len(filenames)
            for path in files:
                subject, reason = _parse_name(path, label)
                if reason is not None:
                    problems(path, reason)
                    continue
                filenames.append(path)
                target.append(target_value)
                subjects.append(subject)
                fold_of.append(fold)
            if len(filenames) == n_before:
                raise ValueError(
                    f"The folder {str(label_dir)!r} holds no C-NMC images; every "
                    f"fold has images in all/ and hem/. Expected:\n{LAYOUT}"
                )
    problems.warn()

    descr = _DESCR.format(layout=LAYOUT, pattern=NAME_PATTERN, ignored=IGNORED_NOTE)
    return build_dataset(
        root=root,
        layout=LAYOUT,
        filenames=filenames,
        target=target,
        target_names=list(_LABELS),
        descr=descr,
        groups=subjects,
        per_sample={"folds": np.array(fold_of, dtype=np.int64)},
        load_images=load_images,
        image_size=image_size,
        n_jobs=n_jobs,
        on_error=on_error,
        return_X_y=return_X_y,
    )


def _parse_name(path: Path, label: str) -> tuple[str | None, str | None]:
    """Return the subject of a C-NMC image in ``label``/, or why its name is wrong."""
    match = _NAME.match(os.path.splitext(path.name)[0])
    if not has_image_extension(path.name) or match is None:
        return None, (
            "the name does not follow UID_<subject>_<image>_<cell>_<all|hem>.bmp "
            f"(regular expression {NAME_PATTERN} plus an image extension)"
        )
    if match["label"].lower() != label:
        return None, f"the name says {match['label']!r} but the file is in {label}/"
    # Some copies write the healthy prefix in lower case: h3 and H3 are one.
    return match["subject"].upper(), None


def _find_folds(root: Path) -> dict[int, Path]:
    for sub in _TRAINING_DIRS:
        folder = root / sub if sub else root
        if not folder.is_dir():
            continue
        folds = {}
        for path in scan_dir(folder)[1]:
            match = _FOLD.match(path.name)
            if match is not None:
                folds[int(match[1])] = path
        if folds:
            return dict(sorted(folds.items()))
    raise ValueError(
        f"No fold_0, fold_1, ... folders in {str(root)!r} or its usual "
        f"subfolders {[s for s in _TRAINING_DIRS if s]}; is this the C-NMC "
        f"2019 training data? Expected:\n{LAYOUT}"
    )


def _select_folds(folds, fold_dirs: dict[int, Path]) -> list[int]:
    found = list(fold_dirs)
    if folds is None:
        return found
    wanted = [folds] if is_integral(folds) else folds
    if isinstance(wanted, str) or not all(is_integral(f) for f in wanted):
        raise TypeError(
            f"folds must be an int or a list of ints, e.g. [0, 1]; got {folds!r}."
        )
    wanted = [int(f) for f in wanted]
    if not wanted:
        raise ValueError("folds is empty; give at least one fold number.")
    missing = [f for f in wanted if f not in fold_dirs]
    if missing:
        raise ValueError(f"folds {missing} not found; the folds present are {found}.")
    return sorted(set(wanted))


def _label_dir(fold_dir: Path, label: str) -> Path:
    # Some copies nest each fold in a folder of the same name.
    for folder in (fold_dir, fold_dir / fold_dir.name):
        if (folder / label).is_dir():
            return folder / label
    raise ValueError(
        f"The fold folder {str(fold_dir)!r} has no {label}/ folder; every fold "
        f"holds all/ and hem/. Expected:\n{LAYOUT}"
    )
