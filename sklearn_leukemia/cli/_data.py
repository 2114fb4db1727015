"""The data of ``evaluate`` and ``train``: a folder, or the synthetic smears."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sklearn_leukemia.cli._arguments import SYNTHETIC_DEFAULTS
from sklearn_leukemia.cli._io import UsageError, check_readable
from sklearn_leukemia.cli._layout import detect_layout, load_layout
from sklearn_leukemia.metrics._grouping import BinarySides, binary_sides

__all__ = [
    "Dataset",
    "check_data_folder",
    "class_counts",
    "command_sides",
    "fits_classes",
    "load_dataset",
]

SYNTHETIC_CLASSES = ("normal", "ALL", "AML")


@dataclass
class Dataset:
    """What the commands need from the data, whatever their source."""

    X: np.ndarray  # file paths (str) or images (n, S, S, 3) uint8
    y: np.ndarray  # class names (str)
    groups: np.ndarray | None
    pos_label: str | None
    source: str
    layout: str
    root: Path | None
    description: dict = field(default_factory=dict)
    # With --positive-classes: the class (folder) of each image, which y
    # merges into the two sides, and those sides; None otherwise.
    classes: np.ndarray | None = None
    sides: BinarySides | None = None


def command_sides(classes, positive_names, where: str) -> BinarySides:
    """Make the sides of ``--positive-classes``; a bad name is a usage error.

    Parameters
    ----------
    classes : list of str
        Every class, in its order.
    positive_names : list of str
        The names given to ``--positive-classes``.
    where : str
        What the classes are, for the messages, e.g. ``"the class folders of
        DATA"``.
    """
    try:
        return binary_sides(
            list(positive_names), [str(c) for c in classes],
            name="--positive-classes", where=where,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_data_folder(data: str) -> Path:
    """Return DATA as a path; a missing folder is a usage error."""
    root = Path(data).expanduser()
    if not root.exists():
        raise UsageError(f"data folder {data} does not exist.")
    if not root.is_dir():
        raise UsageError(f"data folder {data} is not a folder.")
    return root


def _synthetic(args) -> Dataset:
    from sklearn_leukemia.datasets import make_blood_smear

    if args.layout not in ("auto", "folder"):
        raise UsageError(f"--layout {args.layout} needs a DATA folder.")
    image_size = args.image_size or SYNTHETIC_DEFAULTS["image_size"]
    # About 5 images per patient, and at least 5 patients per class so that
    # 5 patient-level folds all see every class in training.
    n_patients = min(args.n_samples,
                     max(5 * len(SYNTHETIC_CLASSES), args.n_samples // 5))
    images, target, groups = make_blood_smear(
        args.n_samples, image_size=image_size, classes=SYNTHETIC_CLASSES,
        n_patients=n_patients, random_state=args.random_state,
    )
    target = np.asarray(target).astype(str)
    classes = pos_label = sides = None
    description = {
        "source": "synthetic blood smears (make_blood_smear)",
        "images": int(target.shape[0]),
        "image size": f"{image_size}x{image_size}",
    }
    if args.positive_classes:
        sides = command_sides(SYNTHETIC_CLASSES, args.positive_classes,
                              "the classes of the synthetic data")
        negative_label, pos_label = sides.names
        classes = target
        target = np.where(np.isin(target, sides.positive), pos_label,
                          negative_label)
        description["positive classes"] = sides.positive
    return Dataset(
        X=images, y=target, groups=np.asarray(groups), pos_label=pos_label,
        source="synthetic", layout="synthetic", root=None, description=description,
        classes=classes, sides=sides,
    )


def _folder(args) -> Dataset:
    root = check_data_folder(args.data)
    layout = detect_layout(root) if args.layout == "auto" else args.layout
    how = "detected" if args.layout == "auto" else "given"
    print(f"Layout of {args.data}: {layout} ({how}).", file=sys.stderr)
    if args.positive_classes and layout not in ("folder", "patients"):
        raise UsageError(
            f"--positive-classes applies to the folder and patients layouts "
            f"only; the {layout} layout has fixed classes. Pass --layout folder "
            "to choose them."
        )
    sides = None
    if args.positive_classes and layout == "folder":
        from sklearn_leukemia.datasets._base import scan_dir

        # The class folders as the loader finds them: a hidden folder or an
        # archiver's __MACOSX is no class.
        folders = [folder.name for folder in scan_dir(root)[1]]
        sides = command_sides(folders, args.positive_classes,
                              f"the class folders of {args.data}")
    # The loaders warn of the files they leave out (--on-error skip); the
    # warnings are printed as plain lines, like the rest of the output.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        if sides is not None:
            from sklearn_leukemia.datasets import load_image_folder

            data = load_image_folder(root, positive_classes=sides.positive,
                                     binary_names=sides.names, n_jobs=args.n_jobs,
                                     on_error=args.on_error)
        else:
            data = load_layout(
                root, layout,
                positive_classes=args.positive_classes if layout == "folder"
                else None,
                n_jobs=args.n_jobs, on_error=args.on_error,
            )
    for warning in caught:
        print(warning.message, file=sys.stderr)
    names = np.asarray(data.target_names).astype(str)
    X = np.asarray(data.filenames).astype(str)
    y = names[np.asarray(data.target)]
    groups = data.get("groups")
    groups = None if groups is None else np.asarray(groups)
    classes = None if sides is None else np.asarray(data.class_names).astype(str)
    if layout == "patients" and args.positive_classes:
        # The cell types are the classes, the patients' folders their level.
        sides = command_sides(names.tolist(), args.positive_classes,
                              f"the cell types of {args.data}")
        classes = y
        y = np.where(np.isin(y, sides.positive), sides.names[1], sides.names[0])
        names = np.array(sides.names)
    # Binary loaders put the positive (leukemic) class at target 1.
    pos_label = str(names[1]) if names.shape[0] == 2 else None
    if (names.shape[0] == 2 and layout in ("folder", "patients")
            and not args.positive_classes):
        raise UsageError(
            f"{args.data} has two classes {names.tolist()}; name the positive "
            "one with --positive-classes, since sensitivity and specificity "
            "depend on it."
        )
    # Every image read once now, so that a broken one stops the command (or
    # is left out) before any training; the patient loader has read them.
    keep = (
        np.ones(len(X), dtype=bool) if layout == "patients"
        else check_readable(X, on_error=args.on_error, n_jobs=args.n_jobs)
    )
    left_out = [os.path.relpath(path, root) for path in X[~keep]]
    if left_out:
        X, y = X[keep], y[keep]
        groups = None if groups is None else groups[keep]
        classes = None if classes is None else classes[keep]
    description = {"source": str(root), "layout": layout, "images": int(y.shape[0])}
    if left_out:
        description["unreadable images left out"] = left_out
    if sides is not None:
        description["positive classes"] = sides.positive
    return Dataset(
        X=X, y=y, groups=groups, pos_label=pos_label, source="folder",
        layout=layout, root=root, description=description, classes=classes,
        sides=sides,
    )


def class_counts(y) -> dict[str, int]:
    """Return the number of images of each class, classes sorted."""
    labels, counts = np.unique(y, return_counts=True)
    return {str(label): int(count) for label, count in zip(labels, counts)}


def load_dataset(args) -> Dataset:
    """Load the data named by the options (a folder, or the synthetic smears)."""
    dataset = _folder(args) if args.data is not None else _synthetic(args)
    counts = class_counts(dataset.y)
    if len(counts) < 2:
        raise UsageError(f"the data hold one class only ({list(counts)}); "
                         "at least two are needed.")
    dataset.description["classes"] = counts
    grouped = dataset.groups is not None
    dataset.description["patient_groups"] = grouped
    if grouped:
        dataset.description["patients"] = int(np.unique(dataset.groups).shape[0])
    return dataset


def fits_classes(args, dataset: Dataset) -> bool:
    """Whether a binary task fits the classes themselves rather than the sides.

    ``--fit-classes`` and ``--fit-sides`` decide; without either, the
    classes are fitted when a side of ``--positive-classes`` holds more
    than one of them (on all-taleqani the four-class models read as binary
    took fewer benign fields for leukemic than models of the two sides; see
    the benchmarks). Without ``--positive-classes`` there is no binary
    task: False.
    """
    if dataset.sides is None:
        return False
    if args.fit_classes is not None:
        return bool(args.fit_classes)
    return len(dataset.sides.negative) > 1 or len(dataset.sides.positive) > 1
