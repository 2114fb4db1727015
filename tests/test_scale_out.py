"""Scale-out through joblib's Dask backend: the same results as loky."""

import os

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from sklearn_leukemia import SECNNClassifier
from sklearn_leukemia.utils import dask_parallel_config

distributed = pytest.importorskip("distributed")


def _images(n=24, size=12, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["ALL", "normal"] * (n // 2))
    X = rng.integers(0, 200, size=(n, size, size, 3), dtype=np.uint8)
    X[y == "ALL", : size // 2] += 55  # something to learn
    return X, y


def _net(**params):
    return SECNNClassifier(max_epochs=2, batch_size=8, module__width=4, tta=None,
                           random_state=0, n_threads=1, **params)


def test_grid_search_on_a_dask_cluster_scores_as_loky(dask_cluster):
    X, y = _images()
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    grid = {"lr": [1e-2, 3e-3]}
    results = {}
    for backend in ("loky", "dask"):
        search = GridSearchCV(_net(), grid, cv=cv, scoring="neg_log_loss")
        with distributed.Client(dask_cluster), joblib.parallel_config(
            backend=backend, n_jobs=2
        ):
            search.fit(X, y)
        results[backend] = search.cv_results_
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(results["dask"][key], results["loky"][key])
    assert np.isfinite(results["dask"]["mean_test_score"]).all()


def test_cross_validate_on_a_dask_cluster_scores_as_loky(dask_cluster):
    X, y = _images(seed=1)
    with joblib.parallel_config(backend="loky", n_jobs=2):
        loky = cross_validate(_net(), X, y, cv=2, scoring="neg_log_loss")
    with distributed.Client(dask_cluster) as client, dask_parallel_config(client):
        dask = cross_validate(_net(), X, y, cv=2, scoring="neg_log_loss")
    np.testing.assert_array_equal(dask["test_score"], loky["test_score"])


class _DiesInFit(ClassifierMixin, BaseEstimator):
    """Ends its own process in fit when ``die``: a worker killed mid-search."""

    def __init__(self, die=False):
        self.die = die

    def fit(self, X, y):
        if self.die:
            os._exit(1)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_a_worker_that_dies_mid_search_is_reported_never_scored():
    import dask

    X, y = np.zeros((8, 2)), np.array([0, 1] * 4)
    search = GridSearchCV(_DiesInFit(), {"die": [False, True]}, cv=2,
                          error_score=0.0)
    # The scheduler gives up on a task at once, rather than after 3 deaths.
    # (Two workers: joblib runs the tasks of a one-thread cluster itself.)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=":0",
        ) as cluster, distributed.Client(cluster):
            with dask_parallel_config(), pytest.raises(
                distributed.scheduler.KilledWorker
            ):
                search.fit(X, y)
    # error_score does not turn the lost fit into a score of 0.
    assert not hasattr(search, "cv_results_")


class _DiesOnce(ClassifierMixin, BaseEstimator):
    """Ends its process in the first fit that finds no ``marker`` file."""

    def __init__(self, marker=None):
        self.marker = marker

    def fit(self, X, y):
        if self.marker is not None and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        self.classes_ = np.unique(y)
        self.mean_ = float(np.mean(X))
        return self

    def score(self, X, y):
        return self.mean_ + float(np.mean(X))


def test_a_worker_that_dies_once_has_its_task_run_again(dask_cluster, tmp_path):
    X, y = np.arange(16.0).reshape(8, 2), np.array([0, 1] * 4)
    with distributed.Client(dask_cluster), dask_parallel_config():
        scores = cross_validate(_DiesOnce(str(tmp_path / "died")), X, y, cv=2)
    assert (tmp_path / "died").exists()  # a worker did die
    expected = cross_validate(_DiesOnce(), X, y, cv=2)
    np.testing.assert_array_equal(scores["test_score"], expected["test_score"])


def test_the_backend_is_joblibs_with_the_failure_handed_on():
    """dask_parallel_config copies joblib's result loop: fail when it changes."""
    import inspect

    from joblib._dask import DaskDistributedBackend

    from sklearn_leukemia.utils._parallel import _reporting_backend_class

    def statements(method):
        lines = (line.strip() for line in inspect.getsource(method).splitlines())
        return [line for line in lines if line and not line.startswith("#")]

    ours = statements(_reporting_backend_class()._collect)
    ours.remove("callback(exc)")
    assert ours == statements(DaskDistributedBackend._collect)
