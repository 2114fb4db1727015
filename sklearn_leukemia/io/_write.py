"""Writing outputs: atomically, with one file mode, never into the data.

A crash or a Ctrl-C in the middle of a write must never leave a half-written
report, CSV or model where a finished one is expected, so every file the
package writes (:func:`~sklearn_leukemia.save_model`, the evaluation report,
the command line's outputs) goes through :func:`atomic_open`: a temporary
file in the same folder (same file system, so the final ``os.replace`` is
atomic), renamed when complete, with the permissions of any file created by
``open()``. :func:`check_outside` is the rule that outputs never go into a
folder of input data, and :func:`check_writable` finds out before any work
whether an output can be written at all.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "OutputInsideDataError",
    "OutputNotWritableError",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_outside",
]


class OutputInsideDataError(ValueError):
    """Raised when an output path lies inside a folder of input data."""


class OutputNotWritableError(OSError):
    """Raised when an output cannot be written where it was asked for."""


def _umask() -> int:
    # Linux says it without changing it; elsewhere it can only be read by
    # setting it (and straight back).
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; move it there on success.

    For writers that take a path (``safetensors``); :func:`atomic_open` is
    the same for a file object. The file gets the permissions of any file
    created by ``open()``, is synced to disk and renamed to ``path`` when the
    block ends without an exception, and removed otherwise, ``path`` left as
    it was.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_leukemia.io import atomic_path
    >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> with atomic_path(path) as tmp:
    ...     _ = tmp.write_bytes(b"done")
    >>> open(path, "rb").read()
    b'done'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp made the file readable by its owner only, and a writer may
        # have made a new one: the mode is set on what was written.
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` and move it to ``path`` on success.

    Parameters
    ----------
    path : str or path-like
        The final file. Its folder must exist.
    mode : {"w", "wb"}, default="w"
        Text or binary.
    encoding : str or None, default="utf-8"
        Encoding in text mode.

    Yields
    ------
    file : file object
        Write to it; on leaving the block without an exception the file is
        flushed, synced and renamed to ``path``; on an exception it is
        removed and ``path`` is left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_leukemia.io import atomic_open
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with atomic_open(path) as f:
    ...     _ = f.write("done")
    >>> open(path).read()
    'done'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r} is not supported; expected 'w' or 'wb'.")
    kwargs = {"encoding": encoding, "newline": ""} if mode == "w" else {}
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as file:
        yield file
        file.flush()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_leukemia.io import atomic_write_bytes
    >>> path = atomic_write_bytes(os.path.join(tempfile.mkdtemp(), "b"), b"xy")
    >>> path.read_bytes()
    b'xy'
    """
    with atomic_open(path, "wb") as file:
        file.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_leukemia.io import atomic_write_text
    >>> path = atomic_write_text(os.path.join(tempfile.mkdtemp(), "t"), "é")
    >>> path.read_text(encoding="utf-8")
    'é'
    """
    with atomic_open(path, "w") as file:
        file.write(text)
    return Path(path)


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_outside(
    output: str | os.PathLike, data: str | os.PathLike, *, what: str = "output"
) -> None:
    """Raise if ``output`` is ``data`` or lies inside it.

    Both paths are resolved (symbolic links followed, ``..`` removed), so a
    link into the data folder is caught as well.

    Parameters
    ----------
    output : str or path-like
        The output file or folder; it need not exist yet.
    data : str or path-like
        A folder (or file) of input data.
    what : str, default="output"
        Names the output in the message, e.g. ``"--out"``.

    Raises
    ------
    OutputInsideDataError
        If the output would be written into the data.

    Examples
    --------
    >>> from sklearn_leukemia.io import check_outside
    >>> check_outside("/tmp/report", "/data/smears")
    >>> check_outside("/data/smears/report", "/data/smears", what="--out")
    Traceback (most recent call last):
    ...
    sklearn_leukemia.io._write.OutputInsideDataError: --out /data/smears/report ...
    """
    out_resolved = Path(output).expanduser().resolve()
    data_resolved = Path(data).expanduser().resolve()
    if _is_within(out_resolved, data_resolved):
        raise OutputInsideDataError(
            f"{what} {output} is inside the data folder {data}; outputs are "
            "never written into data. Choose a folder outside it."
        )


def check_writable(
    output: str | os.PathLike, *, what: str = "output", folder: bool = False
) -> None:
    """Raise unless ``output`` can be written now, before any work is done.

    The folder that will hold the output (``output`` itself with
    ``folder=True``; a folder that does not exist yet is made inside its
    nearest existing parent) is tried by creating and removing an empty
    temporary file in it: permissions, access control lists, read-only and
    immutable file systems all answer as they will for the real write.

    Parameters
    ----------
    output : str or path-like
        The output file, or with ``folder=True`` the output folder.
    what : str, default="output"
        Names the output in the message, e.g. ``"--out"``.
    folder : bool, default=False
        Whether ``output`` is a folder to write files into.

    Raises
    ------
    OutputNotWritableError
        If nothing can be written there; the message names the folder and
        why.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_leukemia.io import check_writable
    >>> folder = tempfile.mkdtemp()
    >>> check_writable(os.path.join(folder, "model.slk"), what="--out")
    >>> open(os.path.join(folder, "a file"), "w").close()
    >>> check_writable(os.path.join(folder, "a file", "report"), what="--out",
    ...                folder=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn_leukemia.io._write.OutputNotWritableError: --out ... not a folder.
    """
    path = Path(output).expanduser()
    target = path if folder else path.parent
    existing = Path(os.path.abspath(target))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputNotWritableError(
            f"{what} {output} cannot be written: {existing} is a file, not a "
            "folder."
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".sklearn-leukemia-", dir=existing)
    except OSError as exc:
        raise OutputNotWritableError(
            f"{what} {output} cannot be written: nothing can be created in the "
            f"folder {existing} ({exc.strerror or exc}). Choose another "
            "location, or fix its permissions."
        ) from exc
    os.close(fd)
    os.unlink(probe)
