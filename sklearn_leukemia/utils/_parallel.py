"""joblib's Dask backend, with the death of a worker reported.

scikit-learn's ``n_jobs`` (``GridSearchCV``, ``cross_validate``) and the
command line's ``--scheduler`` run their tasks through joblib; joblib's Dask
backend sends them to a ``dask.distributed`` cluster. When a task kills the
workers that run it past the scheduler's ``allowed-failures``, Dask fails it
with ``KilledWorker``, but joblib's backend (1.4 to 1.6 at least) never
hands that failure to ``Parallel``, which then waits for ever.
:func:`dask_parallel_config` is joblib's backend with that failure passed
on, so the search stops and raises it; everything else is joblib's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator

__all__ = ["dask_parallel_config"]


@functools.cache
def _reporting_backend_class():
    from joblib._dask import DaskDistributedBackend

    class ReportingDaskBackend(DaskDistributedBackend):
        """joblib's Dask backend; a task Dask failed raises in ``Parallel``."""

        async def _collect(self):
            # joblib's loop (1.4 to 1.6), plus the callback on a failed
            # future: joblib raises what its callback is given when it is an
            # exception. tests/test_scale_out.py fails if joblib's changes.
            while self._continue:
                async for future, result in self.waiting_futures:
                    cf_future = self._results.pop(future)
                    callback = self._callbacks.pop(future)
                    if future.status == "error":
                        typ, exc, tb = result
                        cf_future.set_exception(exc)
                        callback(exc)
                    else:
                        cf_future.set_result(result)
                        callback(result)
                await asyncio.sleep(0.01)

    return ReportingDaskBackend


@contextlib.contextmanager
def dask_parallel_config(client=None, *, n_jobs: int = -1, **backend_args
                         ) -> Iterator[None]:
    """Run joblib's tasks of the block on a Dask cluster; report dead workers.

    :func:`joblib.parallel_config` with joblib's Dask backend, whose tasks
    (the fits of ``GridSearchCV`` and ``cross_validate``, the folds of the
    command line's ``evaluate``) run on the workers of ``client``. It differs
    from ``parallel_config(backend="dask")`` in one thing: a task whose
    workers died more often than the scheduler allows
    (``distributed.scheduler.allowed-failures``, 3 by default) raises
    :class:`distributed.scheduler.KilledWorker` rather than leaving the call
    waiting for ever. A worker that dies once has its task run again by
    Dask, with the same result.

    Parameters
    ----------
    client : distributed.Client, default=None
        The cluster's client; None takes the current one
        (``distributed.get_client()``).
    n_jobs : int, default=-1
        Tasks at once; -1: as many as the workers have threads. With a
        single worker thread joblib runs the tasks in this process.
    **backend_args
        More arguments of joblib's Dask backend (``scatter``,
        ``wait_for_workers_timeout``).

    Yields
    ------
    None

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_leukemia.utils import dask_parallel_config
    >>> X, y = [[0], [1], [2], [3]] * 3, [0, 0, 1, 1] * 3
    >>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
    ...                   dashboard_address=":0") as cluster, Client(cluster) as client:
    ...     with dask_parallel_config(client):
    ...         scores = cross_val_score(LogisticRegression(), X, y, cv=3)
    >>> scores.round(2)
    array([1., 1., 1.])
    """
    from joblib import parallel_config

    backend = _reporting_backend_class()(client=client, **backend_args)
    with parallel_config(backend=backend, n_jobs=n_jobs):
        yield
