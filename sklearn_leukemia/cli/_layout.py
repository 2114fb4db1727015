"""Which published layout a data folder has, and loading it.

Detection looks at a few names near the top of the folder only (never a
full walk of a large tree):

- ``cnmc``: C-NMC 2019, folders ``fold_*/all`` and ``fold_*/hem``;
- ``all-idb``: ALL-IDB, files named ``ImNNN_L.tif`` / ``ImNNN_L.jpg``
  (``L`` is the label, 1 for ALL);
- ``aml-lmu``: AML-Cytomorphology_LMU, class folders named by its
  15 morphology codes (``BAS``, ``MYB``, ...);
- ``patients``: patient-first, a ``patients.csv`` beside the patient
  folders (``DATA/<patient>/[<cell type>/]<image>``, DeepAPL);
- ``folder``: anything else, one subfolder per class.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["AML_LMU_CODES", "LAYOUTS", "detect_layout", "load_layout"]

LAYOUTS = ("folder", "all-idb", "cnmc", "aml-lmu", "patients")

#: The table that makes a folder patient-first.
PATIENT_TABLE = "patients.csv"

AML_LMU_CODES = frozenset({
    "BAS", "EBO", "EOS", "KSC", "LYA", "LYT", "MMZ", "MOB",
    "MON", "MYB", "MYO", "NGB", "NGS", "PMB", "PMO",
})

_ALL_IDB_NAME = re.compile(r"^im\d+_[01]\.(tif|tiff|jpg|jpeg)$", re.IGNORECASE)
_CNMC_CLASSES = frozenset({"all", "hem"})
# How deep below DATA the layouts' marker names are looked for; the published
# archives put them one or two folders down (e.g. training_data/fold_0/all).
_MAX_DEPTH = 2
# Entries read per folder during detection, so that a folder of 100,000
# images is not listed in full just to find its layout.
_MAX_ENTRIES = 2000


def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    """Visible subfolders and files of ``folder``, at most ``_MAX_ENTRIES``."""
    # The loaders' rule: hidden entries and __MACOSX, Thumbs.db... are no
    # class folder or image, here as in the loading that follows.
    from sklearn_leukemia.datasets._base import is_ignored

    dirs, files = [], []
    try:
        with os.scandir(folder) as it:
            for n, entry in enumerate(it):
                if n >= _MAX_ENTRIES:
                    break
                if is_ignored(entry.name):
                    continue
                if entry.is_dir():
                    dirs.append(Path(entry.path))
                elif entry.is_file():
                    files.append(Path(entry.path))
    except OSError:
        pass
    return sorted(dirs), sorted(files)


def _is_cnmc_fold(folder: Path) -> bool:
    if not folder.name.lower().startswith("fold_"):
        return False
    dirs, _ = _entries(folder)
    return any(d.name.lower() in _CNMC_CLASSES for d in dirs)


def _detect(folder: Path, depth: int) -> str | None:
    dirs, files = _entries(folder)
    if depth == 0 and any(f.name == PATIENT_TABLE for f in files):
        return "patients"
    if any(_is_cnmc_fold(d) for d in dirs):
        return "cnmc"
    if any(_ALL_IDB_NAME.match(f.name) for f in files):
        return "all-idb"
    names = {d.name for d in dirs}
    if len(names) >= 2 and names <= AML_LMU_CODES:
        return "aml-lmu"
    if depth < _MAX_DEPTH:
        for d in dirs:
            found = _detect(d, depth + 1)
            # The archives unpack to one folder holding the layout; a plain
            # class folder that merely holds code-named subfolders is not one.
            if found in ("cnmc", "all-idb") or (found and len(dirs) == 1):
                return found
    return None


def detect_layout(root: str | os.PathLike) -> str:
    """Return the layout of the data folder ``root``: one of :data:`LAYOUTS`.

    Parameters
    ----------
    root : str or path-like
        An existing folder.

    Returns
    -------
    layout : {"cnmc", "all-idb", "aml-lmu", "patients", "folder"}
        ``"folder"`` when no published layout is recognised.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_leukemia.cli._layout import detect_layout
    >>> root = tempfile.mkdtemp()
    >>> for code in ("BAS", "MYB"):
    ...     os.mkdir(os.path.join(root, code))
    >>> detect_layout(root)
    'aml-lmu'
    """
    return _detect(Path(root), 0) or "folder"


def load_layout(
    root: str | os.PathLike,
    layout: str,
    *,
    positive_classes=None,
    n_jobs: int | None = None,
    on_error: str = "raise",
):
    """Load the file paths, targets and groups of a folder of a given layout.

    Parameters
    ----------
    root : str or path-like
        The data folder.
    layout : {"folder", "all-idb", "cnmc", "aml-lmu", "patients"}
        Its layout, e.g. from :func:`detect_layout`.
    positive_classes : list of str, default=None
        Folder layout only: class folders that make the positive class of a
        binary task.
    n_jobs : int, default=None
        Passed to the loader.
    on_error : {"raise", "skip"}, default="raise"
        Passed to the loader: what to do with a file that does not fit the
        layout.

    Returns
    -------
    data : Bunch
        From the loader of :mod:`sklearn_leukemia.datasets`: ``filenames``,
        ``target``, ``target_names``, ``groups`` (None without patient ids).

    Raises
    ------
    ValueError
        If ``positive_classes`` is given for a layout whose classes are fixed.
    """
    from sklearn_leukemia import datasets

    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not supported; expected one of "
                         f"{list(LAYOUTS)}.")
    if positive_classes and layout != "folder":
        raise ValueError(
            f"--positive-classes applies to the folder layout only; the {layout} "
            "layout has fixed classes. Pass --layout folder to choose them."
        )
    common = {"n_jobs": n_jobs, "on_error": on_error}
    if layout == "folder":
        return datasets.load_image_folder(
            root, positive_classes=positive_classes or None, **common
        )
    if layout == "all-idb":
        return datasets.load_all_idb(root, **common)
    if layout == "cnmc":
        return datasets.load_cnmc(root, **common)
    if layout == "patients":
        return _patient_cells(root, **common)
    return datasets.load_aml_cytomorphology(root, mapping="blast", **common)


def _patient_cells(root, *, n_jobs, on_error):
    """Load the cells of a patient-first folder, their types and patients."""
    from sklearn_leukemia import datasets
    from sklearn_leukemia.cli._io import UsageError

    data = datasets.load_patient_folder(root, n_jobs=n_jobs, on_error=on_error)
    if data.target is None:
        raise UsageError(
            f"The patient folders of {str(root)!r} have no cell-type folders, so "
            "their cells have no labels to learn. Pass --target COLUMN (a "
            f"column of {PATIENT_TABLE}, e.g. diagnosis) for a patient-level "
            "model."
        )
    return data
