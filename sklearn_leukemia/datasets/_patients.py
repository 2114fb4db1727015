"""Patient-first datasets: one folder of cells per patient and a patient table."""

from __future__ import annotations

import csv
import os
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from sklearn_leukemia.datasets._base import (
    IGNORED_NOTE,
    IMAGE_EXTENSIONS,
    ProblemLog,
    check_loader_params,
    folder_key,
    has_image_extension,
    resolve_root,
    scan_dir,
    walk_files,
)

__all__ = ["load_patient_folder"]

LAYOUT = """\
    root/
        patients.csv        one row per patient folder: a `patient` column
                            and label columns (e.g. `diagnosis`)
        <patient_a>/
            <cell type>/    optional level: the cell-level labels
                cell_0001.jpg
                ...
        <patient_b>/
            cell_0001.jpg   (cells directly in the patient folder)
    Patient folders may also sit one level down, in grouping folders
    (root/<group>/<patient>/...), as in the Munich AML_Hehr set.
"""

_DESCR = """\
Patient-first dataset
=====================

Cells stored one folder per patient, with a table of patients:

{layout}
The table is a CSV file (comma, semicolon or tab separated, UTF-8, a header
row) with one row per patient folder. Every file inside a patient folder
must be an image with one of the extensions {extensions} (any case). {ignored}

Cells
-----
``filenames`` lists the cells patient by patient, in the table's order, and
``groups`` gives the patient of each cell: split with a group-aware splitter
(``StratifiedGroupKFold``) so that every cell of a patient stays on one side.
{cell_types}

Patients
--------
``patients`` lists the patients in the table's order, ``patient_cells`` the
cells of each (the ``X`` of a patient-level model) and ``patient_table`` the
table's columns. {patient_target}
"""

# How many file names the warnings and errors show.
_SHOWN = 3


def load_patient_folder(
    root: str | os.PathLike,
    *,
    target: str | None = None,
    table: str | os.PathLike | None = "patients.csv",
    patient_column: str = "patient",
    load_images: bool = False,
    image_size: int | None = None,
    return_X_y: bool = False,
    n_jobs: int | None = None,
    on_error: str = "skip",
) -> Bunch | tuple:
    r"""Load cells stored one folder per patient, with a table of patients.

    The layout is ``root/<patient>/[<cell type>/]<image>`` with a table
    ``root/patients.csv`` holding one row per patient folder: the DeepAPL
    layout (Sidhom et al., 2021). Patient folders may also sit one level
    down, in grouping folders such as the diagnosis folders of the Munich
    AML_Hehr set (``root/<group>/<patient>/<image>``, with its metadata
    table passed as ``table`` and its id column as ``patient_column``).

    Every cell is decoded once: an unreadable cell (truncated, empty, not an
    image) is left out with one warning that counts them, so that files,
    labels and patients stay aligned, or raises with ``on_error="raise"``.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding the patient folders. ``~`` is expanded.
    target : str, default=None
        The column of the table that is the patient-level label, e.g.
        ``"diagnosis"``: it fills ``patient_target``, and ``return_X_y``
        returns patients. If None, the dataset is one of cells.
    table : str, os.PathLike or None, default="patients.csv"
        The table of patients, relative to ``root`` or absolute. None: no
        table (to predict, where labels are not needed); every subfolder of
        ``root`` is then a patient, named by its folder, and ``target``
        must be None.
    patient_column : str, default="patient"
        The column of the table naming each patient's folder.
    load_images : bool, default=False
        Also read the cells into ``images``, resized to ``image_size`` x
        ``image_size`` RGB ``uint8``. Needs ``image_size``.
    image_size : int, default=None
        Side in pixels of the square images returned when
        ``load_images=True``.
    return_X_y : bool, default=False
        With ``target``: return ``(patient_cells, patient_target)``, one
        sample per patient (each patient's cells as paths, or as an array of
        images with ``load_images=True``). Without: ``(filenames, target)``
        of the cells (``images`` with ``load_images=True``), ``target``
        being the cell types.
    n_jobs : int, default=None
        Threads decoding the cells (joblib semantics).
    on_error : {"skip", "raise"}, default="skip"
        What to do with a cell that cannot be read or a file that is not an
        image: leave it out with one warning that counts them, or raise an
        error naming it. Note the default: a few broken files are expected
        in a set of thousands of cells.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        filenames : ndarray of shape (n_cells,) of str
            Absolute paths of the cells, patient by patient.
        groups : ndarray of shape (n_cells,) of str
            The patient of each cell.
        target : ndarray of shape (n_cells,) of int64 or None
            The cell type of each cell, when the patient folders have a
            cell-type level; None when the cells sit directly in them.
        target_names : ndarray of str or None
            The cell types, sorted: ``target_names[target[i]]``.
        cell_types : ndarray of shape (n_cells,) of str or None
            The cell-type folder of each cell.
        patients : ndarray of shape (n_patients,) of str
            The patients, in the table's order.
        patient_cells : list of ndarray of str
            The cells of each patient (``patient_cells[i]`` those of
            ``patients[i]``), or of images with ``load_images=True``.
        patient_cell_types : list of ndarray of str or None
            The cell type of each patient's cells, aligned with
            ``patient_cells``.
        patient_target : ndarray of shape (n_patients,) of str or None
            The ``target`` column for each patient.
        patient_target_names : ndarray of str or None
            Its values, sorted.
        patient_table : dict of str to ndarray of shape (n_patients,)
            Every column of the table (as str), aligned with ``patients``.
        images : ndarray of shape (n_cells, image_size, image_size, 3)
            Only with ``load_images=True``.
        DESCR : str
            Description of the layout and of this copy.

    (patient_cells, patient_target) or (filenames, target) : tuple
        If ``return_X_y`` is True; see that parameter.

    Raises
    ------
    FileNotFoundError
        If ``root`` or the table does not exist.
    ValueError
        If the table lacks ``patient_column`` or ``target``, names a
        patient twice or leaves its label empty, a patient of the table has
        no folder, a folder is not in the table, a patient has folders in
        two places, a patient folder mixes cells and cell-type folders or
        holds no readable cell, or (with ``on_error="raise"``) a file is
        not an image or cannot be read.

    Warns
    -----
    UserWarning
        When cells were left out (``on_error="skip"``), counting them and
        naming a few; and when one image file name sits under two cell
        types of one patient (both are kept: the files say two labels).

    See Also
    --------
    load_image_folder : One folder per class, no patients.
    sklearn_leukemia.patient.PatientClassifier : A model whose sample is a
        patient.

    Notes
    -----
    Hidden files and folders (names starting with ``.``) and the leftovers
    of file managers and archivers (``Thumbs.db``, ``desktop.ini``,
    ``.DS_Store``, ``__MACOSX``) are ignored silently. Folder links are
    followed once, as by every loader. The loader never writes into
    ``root``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_leukemia.datasets import load_patient_folder
    >>> root = tempfile.mkdtemp()
    >>> with open(os.path.join(root, "patients.csv"), "w") as f:
    ...     _ = f.write("patient,diagnosis\nP1,APL\nP2,AML\n")
    >>> for patient, types in [("P1", ["Blast", "Promyelocyte"]),
    ...                        ("P2", ["Blast", "Lymphocyte"])]:
    ...     for cell_type in types:
    ...         os.makedirs(os.path.join(root, patient, cell_type))
    ...         Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
    ...             os.path.join(root, patient, cell_type, cell_type + ".png"))
    >>> data = load_patient_folder(root, target="diagnosis")
    >>> data.patients.tolist(), data.patient_target.tolist()
    (['P1', 'P2'], ['APL', 'AML'])
    >>> data.groups.tolist(), data.target_names.tolist()
    (['P1', 'P1', 'P2', 'P2'], ['Blast', 'Lymphocyte', 'Promyelocyte'])
    >>> [len(cells) for cells in data.patient_cells]
    [2, 2]
    """
    check_loader_params(
        load_images=load_images,
        image_size=image_size,
        return_X_y=return_X_y,
        on_error=on_error,
    )
    for name, value in (("patient_column", patient_column), ("target", target)):
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"{name} must be the name of a column of the table (a str), got "
                f"{type(value).__name__}."
            )
    if table is not None and not isinstance(table, (str, os.PathLike)):
        raise TypeError(
            f"table must be the path of the patient table (a str or "
            f"os.PathLike) or None, got {type(table).__name__}."
        )
    if table is None and target is not None:
        raise ValueError(
            f"target={target!r} is a column of the patient table, but "
            "table=None reads none; give the table's path."
        )
    root = resolve_root(root, layout=LAYOUT)
    if table is None:
        names = sorted(d.name for d in scan_dir(root)[1])
        if not names:
            raise ValueError(
                f"No patient folders in {str(root)!r}; expected:\n{LAYOUT}"
            )
        columns = {patient_column: np.array(names, dtype=str)}
        table_path = None
    else:
        table_path = root / Path(os.path.expanduser(os.fspath(table)))
        columns = _read_table(table_path, patient_column, target)
    patients = columns[patient_column]
    folders = _patient_folders(root, table_path, set(patients.tolist()))
    problems = ProblemLog(on_error, layout=LAYOUT)
    seen = {folder_key(root)}
    cells, types = [], []
    for patient in patients:
        files, kinds = _patient_cells(folders[patient], problems, seen)
        cells.append(files)
        types.append(kinds)
    problems.warn()
    has_types = _check_levels(patients, folders, types)
    _warn_doubled_names(patients, cells, types)

    filenames = np.array([str(p) for files in cells for p in files], dtype=str)
    groups = np.repeat(patients, [len(files) for files in cells])
    cell_types = np.array([t for kinds in types for t in kinds], dtype=str)
    keep, images = _read_cells(
        filenames, root=root, load_images=load_images, image_size=image_size,
        n_jobs=n_jobs, on_error=on_error,
    )
    if not keep.all():
        filenames, groups, cell_types = (
            filenames[keep], groups[keep], cell_types[keep]
        )
    empty = [p for p in patients if not np.any(groups == p)]
    if empty:
        shown = ", ".join(repr(str(folders[p])) for p in empty[:_SHOWN])
        raise ValueError(
            f"{len(empty)} patient folder(s) hold no readable cell: {shown}. "
            "Every patient of the table needs at least one image; remove the "
            "patient from the table or add its cells."
        )

    bounds = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1], True])
    per_patient = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    if has_types:
        target_names = np.unique(cell_types)
        cell_target = np.searchsorted(target_names, cell_types).astype(np.int64)
    else:
        target_names = cell_target = cell_types = None
    source = images if load_images else filenames
    patient_cells = [source[s] for s in per_patient]
    patient_cell_types = (
        None if cell_types is None else [cell_types[s] for s in per_patient]
    )
    patient_target = None if target is None else columns[target]
    if return_X_y:
        if target is not None:
            return patient_cells, patient_target
        if cell_target is None:
            raise ValueError(
                "return_X_y=True without target returns the cells and their "
                "cell types, but the patient folders of "
                f"{str(root)!r} have no cell-type folders. Pass the column of "
                "the patient label as target=... to get one sample per patient."
            )
        return source, cell_target
    bunch = Bunch(
        filenames=filenames,
        groups=groups,
        target=cell_target,
        target_names=target_names,
        cell_types=cell_types,
        patients=patients,
        patient_cells=patient_cells,
        patient_cell_types=patient_cell_types,
        patient_target=patient_target,
        patient_target_names=(
            None if patient_target is None else np.unique(patient_target)
        ),
        patient_table=columns,
    )
    if load_images:
        bunch.images = images
    bunch.DESCR = _describe(root, bunch, target, has_types)
    return bunch


def _read_table(path: Path, patient_column: str, target: str | None) -> dict:
    """Read the table and return its columns as arrays of str, checked."""
    if not path.is_file():
        raise FileNotFoundError(
            f"The patient table {str(path)!r} does not exist. A patient-first "
            f"folder needs a table of its patients (pass its path as "
            f"table=...):\n{LAYOUT}"
        )
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"Cannot read the patient table {str(path)!r}: {exc}. Expected a "
            "UTF-8 CSV file with a header row."
        ) from exc
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(
            f"The patient table {str(path)!r} is empty; expected a header row "
            f"naming its columns ({patient_column!r}, labels...) and one row "
            "per patient folder."
        )
    header = lines[0]
    delimiter = max(",;\t", key=header.count) if any(
        d in header for d in ",;\t"
    ) else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    names = [name.strip() for name in rows[0]]
    missing = [c for c in (patient_column, target) if c is not None and c not in names]
    if missing:
        raise ValueError(
            f"The patient table {str(path)!r} has no column "
            f"{' or '.join(map(repr, missing))}; its columns are {names}. Name "
            f"the column of patient folders with patient_column=... and the "
            "label column with target=...."
        )
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise ValueError(
            f"The patient table {str(path)!r} names the column(s) {repeated} "
            "more than once."
        )
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    for number, row in enumerate(body, start=2):
        if len(row) != len(names):
            raise ValueError(
                f"Row {number} of the patient table {str(path)!r} has "
                f"{len(row)} fields; the header has {len(names)}."
            )
    if not body:
        raise ValueError(f"The patient table {str(path)!r} lists no patient.")
    columns = {
        name: np.array([row[i].strip() for row in body], dtype=str)
        for i, name in enumerate(names)
    }
    patients = columns[patient_column]
    repeated = sorted(p for p, n in Counter(patients.tolist()).items() if n > 1)
    if repeated:
        raise ValueError(
            f"The patient table {str(path)!r} lists the patient(s) "
            f"{repeated[:_SHOWN]} more than once; one row per patient folder."
        )
    for column in (patient_column, target):
        if column is None:
            continue
        empty = np.flatnonzero(columns[column] == "")
        if len(empty):
            where = [f"row {i + 2}" for i in empty[:_SHOWN]]
            raise ValueError(
                f"The column {column!r} of the patient table {str(path)!r} is "
                f"empty in {len(empty)} row(s) ({', '.join(where)}); every "
                "patient needs a value."
            )
    return columns


def _patient_folders(root: Path, table_path: Path, listed: set) -> dict:
    """Find the folder of every listed patient, at the top or one level down."""
    files, dirs = scan_dir(root)
    loose = [p for p in files if has_image_extension(p.name)]
    if loose:
        raise ValueError(
            f"{str(loose[0])!r}: an image directly in the dataset folder; every "
            f"cell sits in the folder of its patient:\n{LAYOUT}"
        )
    top = [d for d in dirs if d.name in listed]
    if top:
        candidates = dirs
    else:
        # Grouping folders (AML_Hehr's diagnosis folders) hold the patients.
        candidates = []
        for group in dirs:
            files, subs = scan_dir(group)
            loose = [p for p in files if has_image_extension(p.name)]
            if loose:
                raise ValueError(
                    f"{str(loose[0])!r}: an image in a folder that is no patient "
                    f"of the table; every cell sits in the folder of its "
                    f"patient:\n{LAYOUT}"
                )
            candidates.extend(subs)
    found = defaultdict(list)
    for folder in candidates:
        found[folder.name].append(folder)
    unlisted = sorted(str(p) for name, ps in found.items() if name not in listed
                      for p in ps)
    if unlisted:
        raise ValueError(
            f"{len(unlisted)} folder(s) are not patients of the table "
            f"{str(table_path)!r}: {unlisted[:_SHOWN]}. Add a row for each "
            "patient folder, or move other folders out of the dataset folder."
        )
    twice = sorted(name for name, ps in found.items() if len(ps) > 1)
    if twice:
        shown = [str(p) for p in found[twice[0]]]
        raise ValueError(
            f"The patient {twice[0]!r} has {len(shown)} folders: {shown}. A "
            "patient's cells sit in one folder."
        )
    absent = sorted(listed - set(found))
    if absent:
        raise ValueError(
            f"{len(absent)} patient(s) of the table {str(table_path)!r} have no "
            f"folder in {str(root)!r}: {absent[:_SHOWN]}. Remove their rows or "
            "add their folders."
        )
    return {name: ps[0] for name, ps in found.items()}


def _patient_cells(folder: Path, problems, seen: set):
    """List the image files of one patient folder and the cell type of each."""
    files, dirs = scan_dir(folder)
    seen.add(folder_key(folder))
    images = [p for p in files if has_image_extension(p.name)]
    for path in files:
        if not has_image_extension(path.name):
            problems(path, _not_image())
    if images and dirs:
        raise ValueError(
            f"The patient folder {str(folder)!r} holds both cells "
            f"({images[0].name!r}) and folders ({dirs[0].name!r}); its cells "
            "sit either directly in it or all in cell-type folders."
        )
    kinds = [""] * len(images)
    for sub in dirs:
        for path in walk_files(sub, seen=seen):
            if has_image_extension(path.name):
                images.append(path)
                kinds.append(sub.name)
            else:
                problems(path, _not_image())
    return images, kinds


def _not_image() -> str:
    extensions = ", ".join(IMAGE_EXTENSIONS)
    return f"not an image file: expected one of the extensions {extensions}"


def _check_levels(patients, folders: dict, types: list) -> bool:
    """Whether the cells have cell types; every patient alike."""
    typed = [p for p, kinds in zip(patients, types) if kinds and kinds[0]]
    plain = [p for p, kinds in zip(patients, types) if kinds and not kinds[0]]
    if typed and plain:
        raise ValueError(
            f"Patient folders differ in layout: {str(folders[typed[0]])!r} has "
            f"cell-type folders, {str(folders[plain[0]])!r} has its cells "
            "directly in it. Either every patient folder has cell-type folders "
            "or none has."
        )
    return bool(typed)


def _warn_doubled_names(patients, cells: list, types: list) -> None:
    doubled = []
    for patient, files, kinds in zip(patients, cells, types):
        by_name = defaultdict(set)
        for path, kind in zip(files, kinds):
            by_name[path.name].add(kind)
        doubled.extend(
            f"{patient}/{name} ({' and '.join(sorted(k))})"
            for name, k in by_name.items()
            if len(k) > 1
        )
    if doubled:
        warnings.warn(
            f"{len(doubled)} image file name(s) sit under two cell types of one "
            f"patient: {'; '.join(doubled[:_SHOWN])}"
            f"{'; ...' if len(doubled) > _SHOWN else ''}. Both files are kept, "
            "each with the label of its folder.",
            UserWarning,
            stacklevel=3,
        )


def _read_cells(filenames, *, root, load_images, image_size, n_jobs, on_error):
    """Decode every cell once: the mask of readable ones, and the images."""
    from sklearn_leukemia.io._read import read_errors

    if load_images:
        from sklearn_leukemia.preprocessing import read_images

        # Its own warning is replaced by the one below, naming patients.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            images, keep = read_images(
                filenames, image_size=image_size, n_jobs=n_jobs,
                on_error="skip", return_mask=True,
            )
        keep = np.asarray(keep, dtype=bool)
        failed = [f for f, k in zip(filenames, keep) if not k]
        reasons = {e.path: e.reason for e in read_errors(failed) if e is not None}
        errors = [(f, reasons.get(f, "cannot be read")) for f in failed]
    else:
        images = None
        found = read_errors(filenames, n_jobs=n_jobs)
        keep = np.array([e is None for e in found], dtype=bool)
        errors = [(e.path, e.reason) for e in found if e is not None]
    if errors:
        shown = "; ".join(
            f"{os.path.relpath(p, root)!r} ({why})" for p, why in errors[:_SHOWN]
        )
        more = "; ..." if len(errors) > _SHOWN else ""
        if on_error == "raise":
            raise ValueError(
                f"{len(errors)} of {len(filenames)} cells cannot be read: "
                f"{errors[0][0]!r}: {errors[0][1]}"
                f"{f' (and {len(errors) - 1} more)' if len(errors) > 1 else ''}. "
                "Pass on_error='skip' (--on-error skip on the command line) to "
                "leave them out with a warning."
            )
        warnings.warn(
            f"Left out {len(errors)} of {len(filenames)} cells that cannot be "
            f"read: {shown}{more}.",
            UserWarning,
            stacklevel=3,
        )
    return keep, images


def _describe(root: Path, bunch: Bunch, target, has_types: bool) -> str:
    if has_types:
        counts = Counter(bunch.cell_types.tolist())
        cell_types = "Cell types (the folders inside each patient folder): " + (
            ", ".join(f"{name} {counts[name]}" for name in bunch.target_names)
        ) + "."
    else:
        cell_types = (
            "The cells sit directly in the patient folders: no cell-level "
            "labels (``target`` is None)."
        )
    if target is None:
        patient_target = "No patient-level target was chosen (``target=None``)."
    else:
        counts = Counter(bunch.patient_target.tolist())
        patient_target = (
            f"``patient_target`` is the column {target!r}: "
            + ", ".join(f"{name} {counts[name]}" for name in sorted(counts))
            + " patients."
        )
    descr = _DESCR.format(
        layout=LAYOUT,
        extensions=", ".join(IMAGE_EXTENSIONS),
        ignored=IGNORED_NOTE,
        cell_types=cell_types,
        patient_target=patient_target,
    )
    return descr + (
        "\n\nThis copy\n---------\n"
        f"Folder: {root}\n"
        f"Patients: {len(bunch.patients)}; cells: {len(bunch.filenames)}\n"
    )
