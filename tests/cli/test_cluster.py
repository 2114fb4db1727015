"""``--scheduler``: evaluate and predict on a Dask cluster, as they run here."""

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.cli import _cluster, main
from sklearn_leukemia.cli._io import UsageError

distributed = pytest.importorskip("distributed")

TINY = ["--image-size", "16", "--epochs", "1", "--width", "4", "--batch-size", "8"]


def _smears(root, rng, n=6):
    for cls in ("Benign", "Early"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{cls}_{i}.png")
    return root


def _run(argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    return status, stdout.getvalue(), stderr.getvalue()


def test_evaluate_on_a_cluster_reports_what_it_reports_here(dask_cluster, tmp_path):
    data = _smears(tmp_path / "smears", np.random.default_rng(0))
    docs = {}
    for where, extra in (("here", []), ("cluster", ["--scheduler",
                                                    dask_cluster.scheduler_address])):
        out = tmp_path / where
        status, stdout, stderr = _run(
            ["evaluate", str(data), "--positive-classes", "Early", *TINY, "--cv",
             "2", "--n-bootstraps", "20", "--out", str(out), *extra])
        assert status == 0, stderr
        docs[where] = json.loads((out / "report.json").read_text())
    assert "on the Dask cluster at" in stderr
    assert docs["cluster"]["fold_scores"] == docs["here"]["fold_scores"]
    assert docs["cluster"]["clinical_report"] == docs["here"]["clinical_report"]


def test_predict_on_a_cluster_writes_the_rows_written_here(dask_cluster, tmp_path,
                                                           monkeypatch):
    data = _smears(tmp_path / "smears", np.random.default_rng(1), n=8)
    model = tmp_path / "model.slk"
    status, _, stderr = _run(["train", str(data), "--positive-classes", "Early",
                              *TINY, "--out", str(model)])
    assert status == 0, stderr
    # Chunks of 3 images: six tasks for the workers, written in order.
    monkeypatch.setattr("sklearn_leukemia.cli._predict._CHUNK", 3)
    here = tmp_path / "here.csv"
    cluster = tmp_path / "cluster.csv"
    assert _run(["predict", str(model), str(data), "--output", str(here)])[0] == 0
    status, _, stderr = _run(["predict", str(model), str(data), "--output",
                              str(cluster), "--scheduler",
                              dask_cluster.scheduler_address])
    assert status == 0, stderr
    assert cluster.read_text() == here.read_text()
    assert len(here.read_text().splitlines()) == 17


def test_no_scheduler_at_the_address_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_cluster, "CONNECT_TIMEOUT", 1)
    status = main(["evaluate", "--n-samples", "40", "--cv", "2", "--out",
                   str(tmp_path / "r"),
                   "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert status == 2
    assert "--scheduler tcp://127.0.0.1:9: no Dask scheduler answers there" in err
    assert not (tmp_path / "r").exists()


def _end_process():
    import os

    os._exit(1)


def test_a_worker_that_always_dies_ends_the_command_clearly():
    import dask
    from joblib import Parallel, delayed

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        ) as cluster:
            with pytest.raises(_cluster.WorkerDiedError, match="a Dask worker died"):
                with _cluster.dask_backend(cluster.scheduler_address):
                    Parallel()(delayed(_end_process)() for _ in range(2))


def test_without_distributed_scheduler_asks_for_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError, match=r"pip install -e '\.\[dask\]'"):
        with _cluster.dask_backend("tcp://127.0.0.1:9"):
            pass


def test_patient_models_are_refused_rather_than_run_here(tmp_path, capsys):
    from tests.cli.test_patients import _patients

    data = _patients(tmp_path / "aml", np.random.default_rng(0))
    status = main(["evaluate", str(data), "--target", "diagnosis", "--cv", "2",
                   "--out", str(tmp_path / "r"), "--scheduler", "tcp://127.0.0.1:9"])
    assert status == 2
    assert "--scheduler runs the folds of a cell model" in capsys.readouterr().err


class _LibraryDeprecation(UserWarning, DeprecationWarning):
    """As pyparsing's PyparsingDeprecationWarning: both kinds at once."""


def _warns(text):
    import warnings

    warnings.warn(text, UserWarning)
    # A library's notices stay on the worker: not the command's to show, and
    # raised here they would meet other filters (tests turn ours into errors).
    warnings.warn("old API", DeprecationWarning)
    warnings.warn("old name", _LibraryDeprecation)
    return text.upper()


def test_warnings_raised_on_a_worker_come_back_to_the_command(dask_cluster):
    from joblib import Parallel, delayed

    with _cluster.dask_backend(dask_cluster.scheduler_address):
        results = Parallel()(delayed(_cluster.recording_warnings)(_warns, f"w{k}")
                             for k in range(2))
    assert [result for result, _ in results] == ["W0", "W1"]
    assert [str(w) for w in results[1][1]] == ["w1"]
    with pytest.warns(UserWarning, match="w1"):
        _cluster.reissue_warnings(results[1][1])
