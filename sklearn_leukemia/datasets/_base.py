"""What every dataset loader shares: finding files, reporting problems, the Bunch.

A loader lists its samples (paths, labels and per-sample metadata) from a
folder tree, then hands them to :func:`build_dataset`, which reads the images
when asked, drops what could not be read under ``on_error="skip"`` and
assembles the :class:`~sklearn.utils.Bunch`.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import Bunch

from sklearn_leukemia.utils._validation import is_integral

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff")

# Left behind by file managers and archivers; never samples, never reported.
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store", "__macosx"})

IGNORED_NOTE = (
    "Hidden files and folders (names starting with '.') and the leftovers of "
    "file managers and archivers (Thumbs.db, desktop.ini, .DS_Store, "
    "__MACOSX) are ignored silently."
)

_ON_ERROR = ("raise", "skip")


def is_ignored(name: str) -> bool:
    """Tell hidden entries and operating-system leftovers."""
    return name.startswith(".") or name.lower() in _JUNK_NAMES


def has_image_extension(name: str) -> bool:
    """Tell whether ``name`` ends with a recognised image extension (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def check_loader_params(
    *,
    load_images: bool,
    image_size: int | None,
    return_X_y: bool,
    on_error: str,
) -> None:
    """Validate the keyword arguments every loader takes."""
    for name, value in (("load_images", load_images), ("return_X_y", return_X_y)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}.")
    if on_error not in _ON_ERROR:
        raise ValueError(
            f"on_error={on_error!r} is not supported; expected 'raise' or 'skip'."
        )
    if image_size is not None and (not is_integral(image_size) or image_size < 1):
        raise ValueError(
            f"image_size must be a positive int (the side of the square images "
            f"in pixels), got {image_size!r}."
        )
    if load_images and image_size is None:
        raise ValueError(
            "load_images=True needs image_size, the side in pixels of the "
            "square images to return, e.g. image_size=224."
        )


def resolve_root(root: str | os.PathLike, *, layout: str) -> Path:
    """Return ``root`` as an absolute path to an existing folder."""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(
            f"root must be a str or os.PathLike naming a folder, got "
            f"{type(root).__name__}."
        )
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
    if not path.exists():
        raise FileNotFoundError(
            f"The dataset folder {str(path)!r} does not exist. Expected a "
            f"folder laid out as:\n{layout}"
        )
    if not path.is_dir():
        raise NotADirectoryError(
            f"{str(path)!r} is a file; expected the dataset folder, laid out "
            f"as:\n{layout}"
        )
    return path


def scan_dir(folder: Path) -> tuple[list[Path], list[Path]]:
    """Files and subfolders of ``folder``, sorted by name, ignored ones left out.

    Links are followed: a link to a folder counts as a folder, a link to a
    file as a file. A link that leads nowhere counts as a file, for the
    reader to name. A FIFO, socket or device is skipped with a warning:
    reading one would block or never end.
    """
    from sklearn_leukemia.io._read import special_file_kind

    try:
        with os.scandir(folder) as entries:
            kept = [entry for entry in entries if not is_ignored(entry.name)]
    except OSError as exc:
        raise OSError(f"Cannot list the folder {str(folder)!r}: {exc}") from exc
    files, dirs, special = [], [], []
    for entry in kept:
        try:
            mode = entry.stat().st_mode
        except OSError:
            files.append(Path(entry.path))  # a broken link: the reader says so
            continue
        kind = special_file_kind(mode)
        if kind is not None:
            special.append(f"{entry.path!r} ({kind})")
        elif stat.S_ISDIR(mode):
            dirs.append(Path(entry.path))
        else:
            files.append(Path(entry.path))
    if special:
        warnings.warn(
            f"Skipped {len(special)} {'entry' if len(special) == 1 else 'entries'} "
            f"of {str(folder)!r} that {'is' if len(special) == 1 else 'are'} not "
            f"a regular file: {', '.join(sorted(special)[:5])}.",
            UserWarning,
            stacklevel=2,
        )
    return sorted(files, key=lambda p: p.name), sorted(dirs, key=lambda p: p.name)


def walk_files(folder: Path, *, seen: set | None = None) -> Iterator[Path]:
    """Every file under ``folder``, depth first, in sorted order.

    The rule of every loader and command: links to folders are followed,
    and each folder is listed once. A link to a folder that holds the one
    being listed (a loop), or to a folder already listed in this walk (a
    second path to it), is skipped with a warning naming it. Special files
    are skipped as :func:`scan_dir` says.

    Parameters
    ----------
    folder : Path
        Where to start.
    seen : set, default=None
        The folders listed so far, shared by several walks of one load
        (the class folders of a dataset) so that none is listed twice.
    """
    yield from _walk(Path(folder), set() if seen is None else seen, None)


def folder_key(folder) -> tuple:
    """Return what tells one folder from another: its device and inode.

    Where the file system gives no inode (0 on some Windows file systems),
    the folder's resolved path.
    """
    try:
        info = os.stat(folder)
    except OSError as exc:
        raise OSError(f"Cannot list the folder {str(folder)!r}: {exc}") from exc
    if info.st_ino:
        return (info.st_dev, info.st_ino)
    return ("path", os.path.normcase(os.path.realpath(folder)))


def _walk(folder: Path, seen: set, parent: str | None) -> Iterator[Path]:
    key = folder_key(folder)
    real = os.path.realpath(folder)
    if parent is not None and (
        real == parent or Path(real) in Path(parent).parents
    ):
        why = f"it leads back to {real!r}, which holds it (a link loop)"
    elif key in seen:
        why = f"it leads to {real!r}, which was already listed"
    else:
        why = None
    if why is not None:
        warnings.warn(f"Skipped the folder {str(folder)!r}: {why}.", UserWarning,
                      stacklevel=3)
        return
    seen.add(key)
    files, dirs = scan_dir(folder)
    yield from files
    for sub in dirs:
        yield from _walk(sub, seen, real)


class ProblemLog:
    """Raise on the first file that does not fit a layout, or collect it.

    Parameters
    ----------
    on_error : {"raise", "skip"}
        What to do with a file that does not fit.
    layout : str
        The expected tree, shown in the error message.
    """

    def __init__(self, on_error: str, *, layout: str) -> None:
        self.on_error = on_error
        self.layout = layout
        self.skipped: list[tuple[Path, str]] = []

    def __call__(self, path: Path, reason: str) -> None:
        """Report ``path``: raise ValueError, or remember it to warn later."""
        if self.on_error == "raise":
            raise ValueError(
                f"{str(path)!r}: {reason}.\nExpected layout:\n{self.layout}\n"
                "Pass on_error='skip' (--on-error skip on the command line) to "
                "leave such files out with a warning."
            )
        self.skipped.append((path, reason))

    def warn(self, *, stacklevel: int = 3) -> None:
        """Warn once, counting the skipped files and naming a few."""
        if not self.skipped:
            return
        shown = "; ".join(f"{p.name!r} ({why})" for p, why in self.skipped[:3])
        more = "" if len(self.skipped) <= 3 else "; ..."
        warnings.warn(
            f"Skipped {len(self.skipped)} file(s) that do not fit the expected "
            f"layout: {shown}{more}",
            UserWarning,
            stacklevel=stacklevel,
        )


def require_str_list(value: Any, name: str) -> list[str]:
    """Return a list of distinct strings; a lone str counts as one."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (Sequence, np.ndarray, set, frozenset)):
        raise TypeError(
            f"{name} must be a list of folder names, got {type(value).__name__}."
        )
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise TypeError(f"{name} must hold strings (folder names), got {items!r}.")
    if not items:
        raise ValueError(f"{name} is empty; give at least one folder name.")
    repeated = sorted(k for k, n in Counter(items).items() if n > 1)
    if repeated:
        raise ValueError(f"{name} names {repeated} more than once.")
    return items


def _take(values: Any, keep: np.ndarray) -> Any:
    if isinstance(values, list):
        return [value for value, kept in zip(values, keep) if kept]
    return np.asarray(values)[keep]


def _read_images(
    filenames: np.ndarray, *, image_size: int, n_jobs: int | None, on_error: str
) -> tuple[np.ndarray, np.ndarray | None]:
    # Imported here: preprocessing pulls in scikit-image's heavier modules,
    # and listing a dataset should stay cheap.
    from sklearn_leukemia.preprocessing import read_images

    if on_error == "skip":
        images, kept = read_images(
            filenames,
            image_size=image_size,
            n_jobs=n_jobs,
            on_error="skip",
            return_mask=True,
        )
        return images, np.asarray(kept, dtype=bool)
    images = read_images(
        filenames, image_size=image_size, n_jobs=n_jobs, on_error="raise"
    )
    return images, None


def _summary(root: Path, target: np.ndarray, target_names: np.ndarray) -> str:
    counts = np.bincount(target, minlength=len(target_names))
    per_class = ", ".join(
        f"{name}: {count}" for name, count in zip(target_names, counts)
    )
    return (
        "\n\nThis copy\n---------\n"
        f"Folder: {root}\n"
        f"Images: {len(target)} ({per_class})\n"
    )


def build_dataset(
    *,
    root: Path,
    layout: str,
    filenames: Sequence[Path],
    target: Sequence[int],
    target_names: Sequence[str],
    descr: str,
    groups: Sequence[str] | None = None,
    per_sample: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    load_images: bool,
    image_size: int | None,
    n_jobs: int | None,
    on_error: str,
    return_X_y: bool,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Read the images if asked and assemble the Bunch (or ``(X, y)``).

    ``per_sample`` holds arrays, or lists of arrays of varying shapes, aligned
    with ``filenames``; they are filtered with them when unreadable images
    are skipped. ``metadata`` goes
    into the Bunch as is.
    """
    if len(filenames) == 0:
        raise ValueError(
            f"No images found in {str(root)!r}. Expected a folder laid out "
            f"as:\n{layout}"
        )
    files = np.array([str(path) for path in filenames], dtype=str)
    y = np.asarray(target, dtype=np.int64)
    group_ids = None if groups is None else np.array(list(groups), dtype=str)
    extra = dict(per_sample or {})
    images = None
    if load_images:
        images, kept = _read_images(
            files, image_size=image_size, n_jobs=n_jobs, on_error=on_error
        )
        if kept is not None and not kept.all():
            if not kept.any():
                raise ValueError(
                    f"None of the {len(files)} images in {str(root)!r} could be read."
                )
            files, y = files[kept], y[kept]
            if group_ids is not None:
                group_ids = group_ids[kept]
            extra = {key: _take(values, kept) for key, values in extra.items()}
    if return_X_y:
        return (images if load_images else files), y
    names = np.array(list(target_names), dtype=str)
    bunch = Bunch(filenames=files, target=y, target_names=names, groups=group_ids)
    bunch.update(extra)
    bunch.update(metadata or {})
    if load_images:
        bunch.images = images
        # The flat view of LFW's ``data``: one row per image, no copy.
        bunch.data = images.reshape(len(images), -1)
    bunch.DESCR = descr + _summary(root, y, names)
    return bunch
