import numpy as np
import pytest
import torch

from sklearn_leukemia._data import (
    CALLER_VIEW,
    DeviceImageDataset,
    ImageBatchDataset,
    batch_to_device,
    batch_to_tensor,
    collate_batches,
    dataset_on_device,
)

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


@pytest.mark.parametrize("channels_last", [True, False])
def test_batch_to_device_scales_uint8_and_never_holds_the_callers_memory(
    channels_last,
):
    X = np.full((2, 4, 4, 3), 255, dtype=np.uint8)
    x = batch_to_device(batch_to_tensor(X), "cpu", channels_last=channels_last)
    assert x.dtype == torch.float32 and float(x.max()) == 1.0
    assert x.is_contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format
    )
    floats = np.random.default_rng(0).random((3, 4, 4, 3)).astype(np.float32)
    view = ImageBatchDataset(floats).__getitems__([0, 1, 2])[0]
    x = batch_to_device(view, "cpu", channels_last=True)
    assert not np.shares_memory(x.numpy(), floats)
    torch.testing.assert_close(x, view)
    # A batch of its own (a copy already) is used as it is.
    own = torch.rand(2, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    assert batch_to_device(own, "cpu", channels_last=True) is own
