import os

import joblib
import numpy as np
import pytest
import torch

from sklearn_leukemia._runtime import (
    amp_config,
    current_run,
    dask_worker_threads,
    draw_seed,
    joblib_worker_threads,
    resolve_device,
    resolve_n_threads,
    run_context,
    torch_num_threads,
)

# ---------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------


def test_auto_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_explicit_devices(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda:1' was requested but CUDA"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="has 1 CUDA device"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("device", ["nvidia", "", 3, None])
def test_bad_devices(device):
    with pytest.raises(ValueError, match="device="):
        resolve_device(device)


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------


def test_no_budget_outside_joblib():
    assert joblib_worker_threads() is None


def test_budget_in_joblib_workers():
    loky = joblib.Parallel(n_jobs=2)(
        joblib.delayed(joblib_worker_threads)() for _ in range(2)
    )
    # joblib's rule for its process workers, unless the user fixed the variable.
    expected = int(os.environ.get("OMP_NUM_THREADS", max(1, joblib.cpu_count() // 2)))
    assert loky == [expected, expected]
    threads = joblib.Parallel(n_jobs=2, backend="threading")(
        joblib.delayed(joblib_worker_threads)() for _ in range(2)
    )
    assert threads == [1, 1]
    processes = joblib.Parallel(n_jobs=2, backend="multiprocessing")(
        joblib.delayed(joblib_worker_threads)() for _ in range(2)
    )
    expected = (
        int(os.environ["OMP_NUM_THREADS"]) if "OMP_NUM_THREADS" in os.environ else 1
    )
    assert processes == [expected, expected]
    sequential = joblib.Parallel(n_jobs=1)(
        joblib.delayed(joblib_worker_threads)() for _ in range(1)
    )
    assert sequential == [None]


def _threads_in_task():
    # What a task sees with torch set to more threads than the task's share.
    with torch_num_threads(2):
        return dask_worker_threads(), resolve_n_threads(), resolve_n_threads(3)


def test_dask_tasks_get_one_thread_each(dask_cluster):
    distributed = pytest.importorskip("distributed")
    assert dask_worker_threads() is None  # this process is no Dask worker
    with distributed.Client(dask_cluster) as client:
        futures = [client.submit(_threads_in_task, pure=False) for _ in range(2)]
        # One core per task: the worker's threads are its cores; n_threads
        # still overrides.
        assert client.gather(futures) == [(1, 1, 3), (1, 1, 3)]


def test_resolve_n_threads(monkeypatch):
    assert resolve_n_threads(5) == 5
    with torch_num_threads(1):
        assert resolve_n_threads() == 1  # never more than torch is set to
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 4)
    assert resolve_n_threads() == 4
    monkeypatch.setattr(
        "sklearn_leukemia._runtime.joblib_worker_threads", lambda: 2
    )
    assert resolve_n_threads() == 2


def test_torch_num_threads_restores():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_num_threads(before + 1):
            assert torch.get_num_threads() == before + 1
            raise RuntimeError
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------------------
# Seeding and mixed precision
# ---------------------------------------------------------------------------


def test_draw_seed():
    assert draw_seed(3) == draw_seed(3) != draw_seed(4)
    rng = np.random.RandomState(0)
    assert draw_seed(rng) != draw_seed(rng)  # the instance's next draws
    np.random.seed(0)  # noqa: NPY002
    state = np.random.get_state()  # noqa: NPY002
    assert draw_seed(None) != draw_seed(None)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), state))  # noqa: NPY002


def test_amp_config():
    cpu = torch.device("cpu")
    assert not amp_config("auto", cpu).enabled
    assert not amp_config(False, cpu).enabled
    on = amp_config(True, cpu)
    assert on.dtype == torch.bfloat16 and not on.grad_scaling
    with on.autocast():
        out = torch.nn.Linear(4, 2)(torch.ones(1, 4))
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize(
    "bf16, dtype, scaling", [(True, "bfloat16", False), (False, "float16", True)]
)
def test_amp_config_cuda(monkeypatch, bf16, dtype, scaling):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    config = amp_config("auto", torch.device("cuda"))
    assert config.dtype == getattr(torch, dtype)
    assert config.grad_scaling is scaling
    assert not amp_config(False, torch.device("cuda")).enabled


# ---------------------------------------------------------------------------
# The run of one call
# ---------------------------------------------------------------------------


def test_run_context_sets_threads_seeds_and_nests():
    owner = object()
    before = torch.get_num_threads()
    with run_context(owner, device="cpu", n_threads=1, mixed_precision=False,
                     training=True, random_state=3) as run:
        assert current_run(owner) is run and torch.get_num_threads() == 1
        assert run.seed is not None and set(run.generators) == {
            "shuffle", "augment", "mixup"}
        state = torch.get_rng_state()
        with run.network_generators.building():
            first = torch.rand(1)
        assert torch.equal(torch.get_rng_state(), state)  # global untouched
        # A call inside the call (fit's validation scores) reuses the run.
        with run_context(owner, device="cpu", n_threads=2, mixed_precision=True,
                         training=False) as inner:
            assert inner is run
    assert current_run(owner) is None and torch.get_num_threads() == before
    with run_context(owner, device="cpu", n_threads=1, mixed_precision=False,
                     training=True, random_state=3) as again:
        with again.network_generators.building():
            assert torch.equal(torch.rand(1), first)
    with run_context(owner, device="cpu", n_threads=None, mixed_precision=True,
                     training=False) as predicting:
        assert predicting.seed is None and predicting.generators == {}
        assert predicting.network_generators is None
        assert predicting.amp.enabled
