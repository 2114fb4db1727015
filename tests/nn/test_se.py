import numpy as np
import pytest
import torch

from sklearn_leukemia.nn import SEBlock


def _manual_se(block: SEBlock, x: torch.Tensor) -> torch.Tensor:
    """The paper's equations written out with plain tensor algebra."""
    w1 = block.fc1.weight[:, :, 0, 0]  # (hidden, C)
    w2 = block.fc2.weight[:, :, 0, 0]  # (C, hidden)
    z = x.mean(dim=(2, 3))  # squeeze: (N, C)
    h = torch.clamp(z @ w1.T + block.fc1.bias, min=0)
    s = 1 / (1 + torch.exp(-(h @ w2.T + block.fc2.bias)))
    return x * s[:, :, None, None]


def test_output_matches_manual_computation():
    torch.manual_seed(0)
    block = SEBlock(24, reduction=4)
    x = torch.randn(3, 24, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _manual_se(block, x))


def test_scales_each_channel_by_a_gate_in_zero_one():
    torch.manual_seed(0)
    block = SEBlock(16)
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        y = block(x)
    ratio = y / x
    # one gate per (sample, channel), shared by every pixel of the channel
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    assert ((ratio > 0) & (ratio < 1)).all()


def test_gates_depend_on_the_input():
    torch.manual_seed(0)
    block = SEBlock(16)
    a, b = torch.randn(1, 16, 4, 4), 3 * torch.randn(1, 16, 4, 4)
    with torch.no_grad():
        gate_a = block(a) / a
        gate_b = block(b) / b
    assert not torch.allclose(gate_a, gate_b)


@pytest.mark.parametrize(
    "channels, reduction, min_channels, expected",
    [
        (256, 16, 8, 16),  # C // r wins
        (64, 16, 8, 8),  # C // r == min_channels
        (32, 16, 8, 8),  # min_channels guards a too narrow bottleneck
        (4, 16, 8, 4),  # never wider than the input
        (32, 16, 1, 2),  # the paper's C // r
        (3, 16, 1, 1),  # at least one unit
        (64, 1, 8, 64),  # no reduction
    ],
)
def test_hidden_width(channels, reduction, min_channels, expected):
    block = SEBlock(channels, reduction=reduction, min_channels=min_channels)
    assert block.hidden_channels == expected
    assert block.fc1.out_channels == expected
    assert block.fc2.in_channels == expected
    assert block.fc2.out_channels == channels
    n_params = sum(p.numel() for p in block.parameters())
    assert n_params == 2 * channels * expected + expected + channels


def test_shape_preserved_for_any_spatial_size():
    block = SEBlock(8)
    for size in [(1, 1), (5, 9), (33, 33)]:
        x = torch.randn(2, 8, *size)
        assert block(x).shape == x.shape


def test_channels_last_gives_same_output():
    torch.manual_seed(0)
    block = SEBlock(32).eval()
    x = torch.randn(2, 32, 9, 9)
    with torch.no_grad():
        expected = block(x)
        block_cl = block.to(memory_format=torch.channels_last)
        got = block_cl(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_repr_shows_widths():
    assert "hidden_channels=8" in repr(SEBlock(64))


def test_numpy_integers_accepted():
    assert SEBlock(np.int64(32), reduction=np.int32(4)).hidden_channels == 8


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"channels": 0}, ValueError, "channels"),
        ({"channels": 2.5}, TypeError, "channels"),
        ({"channels": True}, TypeError, "channels"),
        ({"channels": 8, "reduction": 0}, ValueError, "reduction"),
        ({"channels": 8, "reduction": "16"}, TypeError, "reduction"),
        ({"channels": 8, "min_channels": 0}, ValueError, "min_channels"),
    ],
)
def test_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        SEBlock(**kwargs)
