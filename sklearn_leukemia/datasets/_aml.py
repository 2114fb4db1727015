"""AML-Cytomorphology_LMU, single leukocytes of AML patients and controls."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
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

__all__ = ["load_aml_cytomorphology"]

# The folder names of the published data, from its abbreviations.txt.
MORPHOLOGY_CODES = {
    "BAS": "basophil",
    "EBO": "erythroblast",
    "EOS": "eosinophil",
    "KSC": "smudge cell",
    "LYA": "lymphocyte (atypical)",
    "LYT": "lymphocyte (typical)",
    "MMZ": "metamyelocyte",
    "MOB": "monoblast",
    "MON": "monocyte",
    "MYB": "myelocyte",
    "MYO": "myeloblast",
    "NGB": "neutrophil (band)",
    "NGS": "neutrophil (segmented)",
    "PMB": "promyelocyte (bilobed)",
    "PMO": "promyelocyte",
}

# Matek et al. (2019) ask whether a cell "has blast character": the myeloblast
# and monoblast classes. Promyelocytes count as blast equivalents only in APL
# (WHO) and stay non-blast here; a dict mapping can count them.
BLAST_CODES = ("MOB", "MYO")

# Where the class folders may sit below root, in the order they are looked for.
_DATA_DIRS = ("", "AML-Cytomorphology_LMU", "AML-Cytomorphology")

LAYOUT = """\
    root/                  (or root/AML-Cytomorphology_LMU/)
        BAS/
            BAS_0001.tiff
            ...
        EBO/
            EBO_0001.tiff
        ...
        PMO/
            PMO_0001.tiff
    one folder per morphological class, named by its code: {codes}
"""

_DESCR = """\
AML-Cytomorphology_LMU: leukocytes of AML patients and non-malignant controls
=============================================================================

18,365 expert-labelled single-cell images from peripheral blood smears of
100 patients with acute myeloid leukaemia (AML) and 100 patients without
malignancy, Laboratory of Leukemia Diagnostics, Munich University Hospital,
2014-2017; scanned at 100x oil immersion and cut to 400x400 TIFF images
centred on one leukocyte. Published on The Cancer Imaging Archive.

Layout read by ``load_aml_cytomorphology``:

{layout}
Image names are ``<CODE>_<number>`` with an image extension (``.tiff`` in
the published data), and the code must be that of the folder. Files at the
top level that are not images (annotations.dat, abbreviations.txt) are
ignored. {ignored}

Morphological classes
---------------------
{codes}

Labels
------
{labels}

The code of each image is kept in ``class_names``.

Groups
------
The published layout carries no patient identifiers, so ``groups`` is None.
Cells of one patient can then land on both sides of a random split, which
makes scores optimistic.

Citation
--------
C. Matek, S. Schwarz, C. Marr, K. Spiekermann, "A Single-cell Morphological
Dataset of Leukocytes from AML Patients and Non-malignant Controls", The
Cancer Imaging Archive, 2019, https://doi.org/10.7937/tcia.2019.36f5o9ld.
C. Matek, S. Schwarz, K. Spiekermann, C. Marr, "Human-level recognition of
blast cells in acute myeloid leukaemia with convolutional neural networks",
Nature Machine Intelligence 1, 538-544, 2019.
"""

_FILE = re.compile(r"^(?P<code>[A-Za-z]{3})_(?P<number>\d+)$")


def load_aml_cytomorphology(
    root: str | os.PathLike,
    *,
    mapping: str | Mapping[str, str | None] = "blast",
    load_images: bool = False,
    image_size: int | None = None,
    return_X_y: bool = False,
    n_jobs: int | None = None,
    on_error: str = "raise",
) -> Bunch | tuple:
    """Load AML-Cytomorphology_LMU (Matek et al., 2019).

    Single leukocytes from blood smears of AML patients and non-malignant
    controls, one folder per morphological class named by a three-letter
    code (``MYO`` myeloblast, ``MYB`` myelocyte, ``MOB`` monoblast, ...; the
    ``DESCR`` lists all fifteen). Images are listed by code, then name.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding the class folders, or its parent holding
        ``AML-Cytomorphology_LMU/``.
    mapping : {"blast", "morphology"} or dict, default="blast"
        How codes become targets.

        - ``"blast"``: the question of Matek et al., whether a cell has blast
          character: target 1 (``"blast"``) for myeloblasts (MYO) and
          monoblasts (MOB), target 0 (``"non_blast"``) for every other
          class.
        - ``"morphology"``: one target per code present, in sorted code
          order.
        - a dict mapping each code present to a label name, or to None to
          leave that class out, e.g. ``{"MYO": "blast", "MOB": "blast",
          "PMO": "blast", "LYT": "normal", ...}``. Target values follow the
          order in which label names first appear among the dict's values.
          A code present in the folders but missing from the dict raises.
    load_images : bool, default=False
        Also read the images into ``images``, resized to
        ``image_size`` x ``image_size`` RGB ``uint8`` (the published TIFFs
        carry an alpha channel, composited onto white). Needs
        ``image_size``.
    image_size : int, default=None
        Side in pixels of the square images returned when
        ``load_images=True``.
    return_X_y : bool, default=False
        Return ``(images, target)`` when ``load_images=True``, otherwise
        ``(filenames, target)``, instead of a Bunch.
    n_jobs : int, default=None
        Number of parallel jobs reading images (joblib semantics).
    on_error : {"raise", "skip"}, default="raise"
        What to do with a folder whose name is not a known code, a file
        whose name is not ``<CODE>_<number>`` with an image extension, or
        (with ``load_images=True``) an unreadable image: raise an error
        naming it, or leave it out and warn with a count of what was left
        out.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        filenames : ndarray of shape (n_samples,) of str
            Absolute paths of the images.
        target : ndarray of shape (n_samples,) of int64
            The label of each image under ``mapping``.
        target_names : ndarray of str
            The name of each target value.
        class_names : ndarray of shape (n_samples,) of str
            The morphological code of each image.
        groups : None
            The published layout has no patient identifiers.
        images : ndarray of shape (n_samples, image_size, image_size, 3)
            Only with ``load_images=True``.
        data : ndarray of shape (n_samples, image_size * image_size * 3)
            Only with ``load_images=True``: ``images`` flattened (a view).
        DESCR : str
            Description of the dataset, its codes, labels and citation.

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
        If no class folder with a known code is found, a class folder holds
        no image, ``mapping`` is invalid or misses a code present, or (with
        ``on_error="raise"``) a folder or file does not fit the layout.

    Warns
    -----
    UserWarning
        With ``on_error="skip"``, when files were left out: it counts them
        and names the first few.

    Notes
    -----
    Hidden files and folders (names starting with ``.``) and the leftovers
    of file managers and archivers (``Thumbs.db``, ``desktop.ini``,
    ``.DS_Store``, ``__MACOSX``) are ignored silently, and so are files at
    the top level that are not images (``annotations.dat``,
    ``abbreviations.txt``); anything else that
    does not fit the layout is reported. The loader never writes into
    ``root``.

    Examples
    --------
    >>> from sklearn_leukemia.datasets import load_aml_cytomorphology
    >>> root = "~/data/AML-Cytomorphology_LMU"
    >>> data = load_aml_cytomorphology(root)  # doctest: +SKIP
    >>> data.target_names.tolist()  # doctest: +SKIP
    ['non_blast', 'blast']
    """
    check_loader_params(
        load_images=load_images,
        image_size=image_size,
        return_X_y=return_X_y,
        on_error=on_error,
    )
    _check_mapping_kind(mapping)
    root = resolve_root(root, layout=_layout())
    data_dir = _find_data_dir(root)
    problems = ProblemLog(on_error, layout=_layout())
    files, dirs = scan_dir(data_dir)
    for path in files:
        if has_image_extension(path.name):
            problems(
                path,
                "an image directly in the dataset folder; images sit "
                "in the folder of their class code",
            )
    class_dirs = {}
    for folder in dirs:
        code = folder.name.upper()
        if code in MORPHOLOGY_CODES:
            class_dirs[code] = folder
        else:
            problems(
                folder,
                f"the folder name is not a known class code; expected one of "
                f"{', '.join(MORPHOLOGY_CODES)}",
            )
    codes = sorted(class_dirs)
    code_to_label, target_names, labels = _resolve_mapping(mapping, codes)

    filenames: list[Path] = []
    class_names: list[str] = []
    for code in codes:
        if code_to_label[code] is None:
            continue
        images = _list_class(class_dirs[code], code, problems)
        filenames.extend(images)
        class_names.extend([code] * len(images))
    problems.warn()

    index = {name: i for i, name in enumerate(target_names)}
    target = [index[code_to_label[code]] for code in class_names]
    descr = _DESCR.format(
        layout=_layout(),
        ignored=IGNORED_NOTE,
        codes="\n".join(f"- {c}: {m}" for c, m in MORPHOLOGY_CODES.items()),
        labels=labels,
    )
    return build_dataset(
        root=root,
        layout=_layout(),
        filenames=filenames,
        target=target,
        target_names=target_names,
        descr=descr,
        per_sample={"class_names": np.array(class_names, dtype=str)},
        load_images=load_images,
        image_size=image_size,
        n_jobs=n_jobs,
        on_error=on_error,
        return_X_y=return_X_y,
    )


def _layout() -> str:
    return LAYOUT.format(codes=", ".join(MORPHOLOGY_CODES))


def _find_data_dir(root: Path) -> Path:
    for sub in _DATA_DIRS:
        folder = root / sub if sub else root
        if folder.is_dir() and any(
            d.name.upper() in MORPHOLOGY_CODES for d in scan_dir(folder)[1]
        ):
            return folder
    raise ValueError(
        f"No class folder named by an AML-Cytomorphology_LMU code in "
        f"{str(root)!r} or {str(root / _DATA_DIRS[1])!r}. Expected:\n{_layout()}"
    )


def _list_class(folder: Path, code: str, problems: ProblemLog) -> list[Path]:
    files, subdirs = scan_dir(folder)
    for sub in subdirs:
        problems(sub, f"an unexpected folder; images sit directly in {code}/")
    images = []
    for path in files:
        match = _FILE.match(os.path.splitext(path.name)[0])
        if not has_image_extension(path.name) or match is None:
            problems(
                path,
                f"the name does not follow {code}_<number>.tiff (a class code, "
                "an underscore, a number, an image extension)",
            )
        elif match["code"].upper() != code:
            problems(
                path, f"the name says {match['code']!r} but the file is in {code}/"
            )
        else:
            images.append(path)
    if not images:
        raise ValueError(
            f"The class folder {str(folder)!r} holds no images; every class "
            f"folder needs at least one. Expected:\n{_layout()}"
        )
    return images


def _check_mapping_kind(mapping) -> None:
    if isinstance(mapping, str):
        if mapping not in ("blast", "morphology"):
            raise ValueError(
                f"mapping={mapping!r} is not supported; expected 'blast', "
                "'morphology' or a dict from class code to label name."
            )
    elif not isinstance(mapping, Mapping):
        raise TypeError(
            "mapping must be 'blast', 'morphology' or a dict from class code to "
            f"label name, got {type(mapping).__name__}."
        )


def _resolve_mapping(mapping, codes: list[str]):
    """Code -> label name (None: left out), the target names, a description."""
    if mapping == "blast":
        names = ["non_blast", "blast"]
        code_to_label = {c: names[c in BLAST_CODES] for c in codes}
        labels = (
            "mapping='blast' (whether a cell has blast character, Matek et al. "
            "2019):\n- target 0: 'non_blast', every other class\n"
            f"- target 1: 'blast', {' and '.join(BLAST_CODES)} (monoblast, "
            "myeloblast)"
        )
        return code_to_label, names, labels
    if mapping == "morphology":
        labels = "mapping='morphology': " + ", ".join(
            f"target {i}: {c!r}" for i, c in enumerate(codes)
        )
        return {c: c for c in codes}, list(codes), labels

    unknown = [k for k in mapping if k not in MORPHOLOGY_CODES]
    if unknown:
        raise ValueError(
            f"mapping has keys {unknown} that are not class codes; the codes "
            f"are {list(MORPHOLOGY_CODES)}."
        )
    bad = {k: v for k, v in mapping.items() if v is not None and not isinstance(v, str)}
    if bad:
        raise TypeError(f"mapping values must be label names (str) or None, got {bad}.")
    missing = [c for c in codes if c not in mapping]
    if missing:
        raise ValueError(
            f"mapping has no label for the class folders {missing}; map each "
            "code present to a label name, or to None to leave that class out."
        )
    names = list(dict.fromkeys(v for v in mapping.values() if v is not None))
    if not names:
        raise ValueError("mapping leaves every class out (all values are None).")
    labels = "Custom mapping:\n" + "\n".join(
        f"- target {i}: {name!r}: "
        + ", ".join(c for c, v in mapping.items() if v == name)
        for i, name in enumerate(names)
    )
    left_out = [c for c, v in mapping.items() if v is None]
    if left_out:
        labels += f"\nLeft out: {', '.join(left_out)}"
    return dict(mapping), names, labels
