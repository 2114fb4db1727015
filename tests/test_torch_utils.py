import os
import pickle
import random

import joblib
import numpy as np
import pytest
import torch

from sklearn_leukemia._torch_utils import (
    CALLER_VIEW,
    DeviceImageDataset,
    ImageBatchDataset,
    WarmupCosine,
    amp_config,
    batch_to_tensor,
    collate_batches,
    dataset_on_device,
    joblib_worker_threads,
    resolve_device,
    resolve_n_threads,
    seeded,
    softmax_float32,
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


def test_resolve_n_threads(monkeypatch):
    assert resolve_n_threads(5) == 5
    with torch_num_threads(1):
        assert resolve_n_threads() == 1  # never more than torch is set to
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 4)
    assert resolve_n_threads() == 4
    monkeypatch.setattr(
        "sklearn_leukemia._torch_utils.joblib_worker_threads", lambda: 2
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


def test_seeded_is_reproducible_and_restores_states():
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    random.seed(5)
    expected = (torch.rand(1), np.random.rand(), random.random())  # noqa: NPY002
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    random.seed(5)
    with seeded(7):
        first = (torch.rand(1), np.random.rand(), random.random())  # noqa: NPY002
    with seeded(7):
        second = (torch.rand(1), np.random.rand(), random.random())  # noqa: NPY002
    assert first == second
    after = (torch.rand(1), np.random.rand(), random.random())  # noqa: NPY002
    assert after == expected


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
# Data
# ---------------------------------------------------------------------------


def test_batch_to_tensor_layouts():
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    t = batch_to_tensor(rgb)
    assert t.shape == (2, 3, 3, 4) and t.dtype == torch.uint8
    assert t.is_contiguous(memory_format=torch.channels_last)
    assert np.shares_memory(t.numpy(), rgb)  # a view, not a copy
    assert batch_to_tensor(rgb[..., 0]).shape == (2, 1, 3, 4)
    assert batch_to_tensor(rgb.astype(np.float64)).dtype == torch.float32
    assert batch_to_tensor(rgb > 3).dtype == torch.float32
    scaled = batch_to_tensor(np.full((1, 2, 2), 65535, dtype=np.uint16))
    assert scaled.dtype == torch.float32 and float(scaled.max()) == 1.0


def test_dataset_with_a_dataloader():
    X = np.random.default_rng(0).integers(0, 255, (10, 4, 4, 3), dtype=np.uint8)
    y = np.arange(10, dtype=np.int64)
    loader = torch.utils.data.DataLoader(
        ImageBatchDataset(X, y), batch_size=4, collate_fn=collate_batches
    )
    batches = list(loader)
    assert [len(xb) for xb, _ in batches] == [4, 4, 2]
    np.testing.assert_array_equal(torch.cat([yb for _, yb in batches]).numpy(), y)
    xb, yb = batches[0]
    np.testing.assert_array_equal(xb.permute(0, 2, 3, 1).numpy(), X[:4])
    # Without labels (prediction) the label slot is None.
    xb, yb = next(
        iter(
            torch.utils.data.DataLoader(
                ImageBatchDataset(X), batch_size=3, collate_fn=collate_batches
            )
        )
    )
    assert yb is None and xb.shape == (3, 3, 4, 4)
    # Samples from another dataset are still collated normally.
    assert collate_batches([torch.zeros(2), torch.ones(2)]).shape == (2, 2)


def test_dataset_slices_consecutive_images_and_copies_the_others():
    X = np.random.default_rng(0).random((10, 4, 4, 3)).astype(np.float32)
    dataset = ImageBatchDataset(X, np.arange(10, dtype=np.int64))
    # Prediction's batches are consecutive: a view of the caller's array.
    xb, yb = dataset.__getitems__([3, 4, 5, 6])
    assert np.shares_memory(xb.numpy(), X)
    assert getattr(xb, CALLER_VIEW)
    np.testing.assert_array_equal(xb.permute(0, 2, 3, 1).numpy(), X[3:7])
    np.testing.assert_array_equal(yb.numpy(), [3, 4, 5, 6])
    # Shuffled, repeated or descending indices are gathered into a copy.
    for index in ([6, 3, 4], [3, 3, 4], [5, 4, 3], [2, 4, 6]):
        xb, yb = dataset.__getitems__(index)
        assert not np.shares_memory(xb.numpy(), X)
        assert not hasattr(xb, CALLER_VIEW)
        np.testing.assert_array_equal(xb.permute(0, 2, 3, 1).numpy(), X[index])
        np.testing.assert_array_equal(yb.numpy(), index)
    assert dataset.__getitems__([])[0].shape == (0, 3, 4, 4)


@pytest.mark.parametrize(
    "X",
    [
        np.arange(6 * 5 * 4 * 3, dtype=np.uint8).reshape(6, 5, 4, 3),
        np.arange(6 * 5 * 4, dtype=np.uint16).reshape(6, 5, 4) * 97,
        np.linspace(-1, 1, 6 * 5 * 4 * 3).reshape(6, 5, 4, 3),
        np.arange(6 * 5 * 4 * 3).reshape(6, 5, 4, 3) % 3 == 0,
    ],
    ids=["uint8", "uint16-gray", "float64", "bool"],
)
def test_dataset_on_device_serves_the_same_batches(X):
    y = np.arange(6, dtype=np.int64)
    host = ImageBatchDataset(X, y)
    moved = dataset_on_device(host, torch.device("cpu"))
    assert isinstance(moved, DeviceImageDataset) and len(moved) == 6
    # uint8 stays uint8 (scaled on the device later); the rest is float32.
    assert moved.X.dtype == (torch.uint8 if X.dtype == np.uint8 else torch.float32)
    for index in ([4, 0, 2], [1, 2, 3], [5]):
        expected, expected_y = host.__getitems__(index)
        xb, yb = moved.__getitems__(index)
        assert xb.dtype == expected.dtype and xb.shape == expected.shape
        assert xb.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(xb, expected, rtol=0, atol=0)
        torch.testing.assert_close(yb, expected_y)
    x1, y1 = moved[2]
    torch.testing.assert_close(x1, host[2][0], rtol=0, atol=0)
    assert int(y1) == 2


def test_dataset_on_device_takes_subsets_and_respects_the_budget():
    X = np.arange(8 * 2 * 2 * 3, dtype=np.uint8).reshape(8, 2, 2, 3)
    y = np.arange(8, dtype=np.int64)
    subset = torch.utils.data.Subset(ImageBatchDataset(X, y), [7, 1, 4])
    moved = dataset_on_device(subset, torch.device("cpu"))
    xb, yb = moved.__getitems__([0, 2])
    np.testing.assert_array_equal(xb.permute(0, 2, 3, 1).numpy(), X[[7, 4]])
    np.testing.assert_array_equal(yb.numpy(), [7, 4])
    # Without labels, the label slot stays None.
    assert dataset_on_device(ImageBatchDataset(X), "cpu").__getitems__([0])[1] is None
    # 3 images of 12 uint8 bytes: 36 bytes fit, 35 do not.
    assert dataset_on_device(subset, torch.device("cpu"), max_bytes=36) is not None
    assert dataset_on_device(subset, torch.device("cpu"), max_bytes=35) is None
    # float images count 4 bytes a value.
    floats = ImageBatchDataset(X.astype(np.float64))
    assert dataset_on_device(floats, "cpu", max_bytes=8 * 12 * 4 - 1) is None
    # Datasets of other kinds are left alone.
    other = torch.utils.data.TensorDataset(torch.zeros(4, 3))
    assert dataset_on_device(other, torch.device("cpu")) is None


def test_softmax_float32():
    logits = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.bfloat16)
    proba = softmax_float32(logits)
    assert proba.dtype == torch.float32
    torch.testing.assert_close(proba.sum(dim=1), torch.ones(1))


def test_warmup_cosine():
    factor = WarmupCosine(total_steps=20, warmup_steps=4)
    values = [factor(step) for step in range(20)]
    assert values[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert values[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[4:], values[5:]))
    assert factor(20) == pytest.approx(0.0)
    assert pickle.loads(pickle.dumps(factor))(4) == pytest.approx(1.0)
