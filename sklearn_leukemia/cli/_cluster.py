"""``--scheduler ADDRESS``: run a command's tasks on a Dask cluster.

``evaluate`` fits its folds, and ``predict`` its chunks of images, through
joblib; under ``--scheduler`` joblib's Dask backend sends them to the
workers of a ``dask.distributed`` scheduler. Nothing here distributes work
by itself: it connects a :class:`distributed.Client`, sets joblib's backend
for the command (:func:`~sklearn_leukemia.utils.dask_parallel_config`), and
turns what the cluster reports into the command's errors.

The workers read the images from the paths they are given, so they must
see the data folder at the same path as the machine that runs the command
(a shared file system). A worker that dies while it runs a task has the
task retried on another by the scheduler, up to its
``distributed.scheduler.allowed-failures``; past it the command stops,
naming the task, and writes no output file (rows that ``predict`` already
printed to stdout stay printed).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

from sklearn_leukemia.cli._io import UsageError
from sklearn_leukemia.utils import dask_parallel_config

__all__ = [
    "WorkerDiedError",
    "add_scheduler_option",
    "dask_backend",
    "recording_warnings",
    "reissue_warnings",
]

#: Seconds to wait for a scheduler to answer, and for its first worker.
CONNECT_TIMEOUT = 30


class WorkerDiedError(RuntimeError):
    """A Dask worker died, again and again, while it ran one of the tasks."""


def add_scheduler_option(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--scheduler ADDRESS``; ``what`` says what the workers run."""
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", default=None,
        help=f"address of a Dask scheduler (tcp://host:8786) whose workers "
        f"run {what}; they read the images from their paths, so they must "
        "see DATA at the same path (a shared file system). Needs "
        "'pip install dask[distributed]' (default: run here)",
    )


@contextlib.contextmanager
def dask_backend(address: str | None) -> Iterator[object]:
    """Send the joblib tasks of the block to the Dask scheduler at ``address``.

    Yields the connected :class:`distributed.Client`, or None when
    ``address`` is None (the block then runs here, as without the option).

    Raises
    ------
    UsageError
        If ``distributed`` is not installed, no scheduler answers at
        ``address``, or it has no worker.
    WorkerDiedError
        If a task killed the workers that ran it (Dask's ``KilledWorker``):
        a worker that ran out of memory, or was stopped.
    """
    if address is None:
        yield None
        return
    try:
        from distributed import Client
        from distributed.scheduler import KilledWorker
    except ImportError:
        raise UsageError(
            "--scheduler needs Dask's distributed scheduler: install the dask "
            "extra of sklearn-leukemia (python -m pip install -e '.[dask]' in "
            "a clone), or python -m pip install 'distributed>=2024.8'."
        ) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"--scheduler {address}: no Dask scheduler answers there ({exc}). "
            "Start one with 'dask scheduler' and its workers with 'dask worker "
            "ADDRESS' (see the Scaling out guide)."
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise UsageError(
                f"--scheduler {address}: the scheduler has no worker after "
                f"{CONNECT_TIMEOUT} s; start some with 'dask worker {address}'."
            ) from None
        n_threads = sum(client.nthreads().values())
        if n_threads < 2:
            # joblib runs the tasks of a single worker thread itself.
            print(f"The Dask cluster at {address} has {n_threads} worker "
                  "thread: joblib runs the tasks here, one after the other.",
                  file=sys.stderr)
        else:
            print(f"Running the tasks on the Dask cluster at {address} "
                  f"({n_threads} worker threads).", file=sys.stderr)
        try:
            with dask_parallel_config(client):
                yield client
        except KilledWorker as exc:
            raise WorkerDiedError(
                f"a Dask worker died while running a task ({exc}); the "
                "scheduler gave up on it after its allowed failures, so the "
                "command stopped and wrote no output file. A worker usually "
                "dies when it runs out of memory: give the workers more "
                "memory, or fewer threads each."
            ) from exc


def recording_warnings(func, *args, **kwargs):
    """Call ``func``; return its result and the user warnings it raised.

    A task runs through this so that the warnings it raises on a Dask worker
    (an image far outside the training intensities) come back to the
    command, which :func:`reissue_warnings` them, as they would be in one
    process.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = func(*args, **kwargs)
    # What the command shows; the libraries' deprecation notices are not,
    # even those that are user warnings too (pyparsing's).
    return result, [
        w.message for w in caught
        if issubclass(w.category, UserWarning)
        and not issubclass(w.category, (DeprecationWarning,
                                        PendingDeprecationWarning, FutureWarning))
    ]


def reissue_warnings(messages) -> None:
    """Raise again, here, the warnings a task recorded."""
    for message in messages:
        warnings.warn(message, stacklevel=2)
