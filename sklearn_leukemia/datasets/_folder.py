"""Any dataset stored as one folder of images per class."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from sklearn_leukemia.datasets._base import (
    IGNORED_NOTE,
    IMAGE_EXTENSIONS,
    ProblemLog,
    build_dataset,
    check_loader_params,
    folder_key,
    has_image_extension,
    require_str_list,
    resolve_root,
    scan_dir,
    walk_files,
)

__all__ = ["load_image_folder"]

LAYOUT = """\
    root/
        <class_a>/
            image_0001.jpg
            image_0002.png
            ...
        <class_b>/
            ...
"""

_DESCR = """\
Image-folder dataset
====================

Images stored one folder per class, the layout of torchvision's
``ImageFolder`` and of scikit-learn's ``load_files``:

{layout}
Every file inside a class folder, in nested folders too, must be an image
with one of the extensions {extensions} (any case). Files at the top level
that are not images (a README, a licence) are ignored. {ignored}

Labels
------
{labels}

Groups
------
The layout carries no patient or slide identifiers, so ``groups`` is None.
A random split can then put cells of one patient on both sides, which makes
scores optimistic compared with a patient-level split.
"""


def load_image_folder(
    root: str | os.PathLike,
    *,
    classes: Sequence[str] | None = None,
    positive_classes: Sequence[str] | str | None = None,
    binary_names: Sequence[str] = ("negative", "positive"),
    load_images: bool = False,
    image_size: int | None = None,
    return_X_y: bool = False,
    n_jobs: int | None = None,
    on_error: str = "raise",
) -> Bunch | tuple:
    """Load a dataset stored as one subfolder of images per class.

    The layout is ``root/<class>/<image>``, as in torchvision's
    ``ImageFolder``; images may sit in nested folders inside a class folder.
    Class folders are taken in sorted order unless ``classes`` says
    otherwise, and images in sorted order within each class, so the order
    never depends on the file system.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding one subfolder per class. ``~`` is expanded.
    classes : list of str, default=None
        The class folders to load, in the order that gives their target
        values (``classes[i]`` gets target ``i``). Other folders are left
        out. If None, every subfolder, sorted by name.
    positive_classes : list of str or str, default=None
        Turn the task into a binary one: images of these class folders get
        target 1, all others target 0, and ``target_names`` becomes
        ``binary_names``. The folder of each image stays in
        ``class_names``. If None, one target value per class folder.
    binary_names : pair of str, default=("negative", "positive")
        Names of targets 0 and 1 when ``positive_classes`` is given, for
        example ``("normal", "leukemia")``. Unused otherwise.
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
        What to do with a file that is not an image (wrong extension) or,
        with ``load_images=True``, cannot be read: raise an error naming it,
        or leave it out and warn with a count of what was left out.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        filenames : ndarray of shape (n_samples,) of str
            Absolute paths of the images.
        target : ndarray of shape (n_samples,) of int64
            The label of each image.
        target_names : ndarray of str
            The name of each target value: ``target_names[target[i]]``.
        class_names : ndarray of shape (n_samples,) of str
            The class folder of each image.
        groups : None
            The layout has no patient identifiers.
        images : ndarray of shape (n_samples, image_size, image_size, 3)
            Only with ``load_images=True``.
        data : ndarray of shape (n_samples, image_size * image_size * 3)
            Only with ``load_images=True``: ``images`` flattened (a view).
        DESCR : str
            Description of the layout, the label mapping and this copy.

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
        If ``root`` holds no class folder, a class folder holds no image,
        images sit directly in ``root``, a file is not an image (with
        ``on_error="raise"``), or ``classes`` / ``positive_classes`` name
        folders that do not exist. Messages show the expected tree.

    Warns
    -----
    UserWarning
        With ``on_error="skip"``, when files were left out: it counts them
        and names the first few.

    See Also
    --------
    sklearn.datasets.load_files : The same layout for text files.

    Notes
    -----
    Hidden files and folders (names starting with ``.``) and the leftovers
    of file managers and archivers (``Thumbs.db``, ``desktop.ini``,
    ``.DS_Store``, ``__MACOSX``) are ignored silently, and so are files at
    the top level that are not images (a README, a licence); anything else that
    does not fit the layout is reported. The loader never writes into
    ``root``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_leukemia.datasets import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> for cls in ["Benign", "Early", "Pre"]:
    ...     os.mkdir(os.path.join(root, cls))
    ...     for i in range(2):
    ...         Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
    ...             os.path.join(root, cls, f"{i}.png"))
    >>> data = load_image_folder(root)
    >>> data.target_names.tolist(), data.target.tolist()
    (['Benign', 'Early', 'Pre'], [0, 0, 1, 1, 2, 2])
    >>> data = load_image_folder(root, positive_classes=["Early", "Pre"],
    ...                          binary_names=("benign", "leukemia"))
    >>> data.target_names.tolist(), data.target.tolist()
    (['benign', 'leukemia'], [0, 0, 1, 1, 1, 1])
    >>> data.class_names.tolist()
    ['Benign', 'Benign', 'Early', 'Early', 'Pre', 'Pre']
    """
    check_loader_params(
        load_images=load_images,
        image_size=image_size,
        return_X_y=return_X_y,
        on_error=on_error,
    )
    root = resolve_root(root, layout=LAYOUT)
    problems = ProblemLog(on_error, layout=LAYOUT)
    files, dirs = scan_dir(root)
    for path in files:
        if has_image_extension(path.name):
            problems(
                path,
                "an image directly in the root folder; every image must sit in "
                "the folder of its class",
            )
    found = [folder.name for folder in dirs]
    if not found:
        raise ValueError(
            f"No class folders in {str(root)!r}; expected one subfolder of "
            f"images per class:\n{LAYOUT}"
        )
    selected = _select_classes(classes, found)

    filenames, class_names = _class_images(root, selected, problems)
    problems.warn()
    target, target_names, labels = _targets(
        selected, class_names, positive_classes, binary_names, found
    )
    descr = _DESCR.format(
        layout=LAYOUT,
        extensions=", ".join(IMAGE_EXTENSIONS),
        ignored=IGNORED_NOTE,
        labels=labels,
    )
    return build_dataset(
        root=root,
        layout=LAYOUT,
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


def _class_images(root: Path, selected: list[str], problems):
    """Return the image files of each class folder, and the class of each."""
    filenames: list[Path] = []
    class_names: list[str] = []
    # One walk of the whole tree: a folder linked from two classes, or a
    # link back to the root, is listed once.
    seen = {folder_key(root)}
    for name in selected:
        folder = root / name
        images = []
        for path in walk_files(folder, seen=seen):
            if has_image_extension(path.name):
                images.append(path)
            else:
                problems(
                    path,
                    f"not an image file: expected one of the extensions "
                    f"{', '.join(IMAGE_EXTENSIONS)}",
                )
        if not images:
            raise ValueError(
                f"The class folder {str(folder)!r} holds no images; every class "
                f"folder needs at least one image with one of the extensions "
                f"{', '.join(IMAGE_EXTENSIONS)}. Remove the folder or choose the "
                f"classes to load with classes=[...]. Expected:\n{LAYOUT}"
            )
        filenames.extend(images)
        class_names.extend([name] * len(images))
    return filenames, class_names


def _targets(selected, class_names, positive_classes, binary_names, found):
    """Return the target of each image, the target names and their story."""
    if positive_classes is None:
        index = {name: i for i, name in enumerate(selected)}
        labels = "\n".join(
            f"- target {i}: images in the folder {name!r}"
            for i, name in enumerate(selected)
        )
        return [index[name] for name in class_names], list(selected), labels
    positive = _check_positive(positive_classes, selected, found)
    negative_name, positive_name = _check_binary_names(binary_names)
    negative = [name for name in selected if name not in positive]
    labels = (
        f"Binary task: target 1 ({positive_name!r}) for the folders "
        f"{positive}, target 0 ({negative_name!r}) for the folders "
        f"{negative}. The folder of each image is kept in ``class_names``."
    )
    target = [int(name in positive) for name in class_names]
    return target, [negative_name, positive_name], labels


def _select_classes(classes, found: list[str]) -> list[str]:
    if classes is None:
        return found
    if isinstance(classes, str):
        raise TypeError(
            f"classes must be a list of folder names, got the string {classes!r}; "
            f"write classes=[{classes!r}]."
        )
    if isinstance(classes, (set, frozenset)):
        raise TypeError(
            "classes must be a list: its order gives the target values, and a "
            "set has no order."
        )
    selected = require_str_list(classes, "classes")
    unknown = [name for name in selected if name not in found]
    if unknown:
        raise ValueError(
            f"classes names folders that do not exist: {unknown}. The class "
            f"folders found are {found}."
        )
    return selected


def _check_positive(positive_classes, selected: list[str], found: list[str]):
    positive = require_str_list(positive_classes, "positive_classes")
    unknown = [name for name in positive if name not in selected]
    if unknown:
        raise ValueError(
            f"positive_classes names {unknown}, which are not among the class "
            f"folders loaded {selected} (folders found: {found})."
        )
    if set(positive) == set(selected):
        raise ValueError(
            f"positive_classes covers every class loaded {selected}; at least "
            "one class must stay negative."
        )
    # In folder order, whatever the order (or set) given.
    return [name for name in selected if name in positive]


def _check_binary_names(binary_names) -> tuple[str, str]:
    names = list(binary_names) if not isinstance(binary_names, str) else None
    if (
        names is None
        or len(names) != 2
        or not all(isinstance(n, str) for n in names)
        or names[0] == names[1]
    ):
        raise ValueError(
            "binary_names must be two different strings, the names of targets "
            f"0 and 1, e.g. ('normal', 'leukemia'); got {binary_names!r}."
        )
    return names[0], names[1]
