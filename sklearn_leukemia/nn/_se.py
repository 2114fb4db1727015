"""The squeeze-and-excitation block of Hu et al. (2018)."""

from __future__ import annotations

import torch
from torch import nn

from sklearn_leukemia.utils._validation import check_int

__all__ = ["SEBlock"]


class SEBlock(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al., 2018).

    The block *squeezes* each channel of a feature map to one number by
    global average pooling, *excites* the resulting vector through a
    bottleneck ``C -> hidden -> C`` (1x1 convolutions with a ReLU between
    them and a sigmoid at the end) and scales every channel of the input by
    its gate::

        s = sigmoid(W2 @ relu(W1 @ mean_hw(x) + b1) + b2)
        y = x * s

    The 1x1 convolutions are equivalent to the paper's fully connected
    layers but keep the ``(N, C, 1, 1)`` shape, so the block works unchanged
    on ``torch.channels_last`` tensors.

    Parameters
    ----------
    channels : int
        Number of channels ``C`` of the input feature map.
    reduction : int, default=16
        Reduction ratio ``r`` of the bottleneck; 16 is the paper's default.
    min_channels : int, default=8
        Smallest bottleneck width. With ``C // r`` alone a 32-channel map
        would be squeezed through 2 units, which throws away most of the
        channel information; the width is therefore
        ``max(C // r, min(min_channels, C))``: never below ``min_channels``,
        and never wider than the input itself. Use ``min_channels=1`` to get
        the paper's ``max(1, C // r)``.

    Attributes
    ----------
    hidden_channels : int
        Width of the bottleneck.
    fc1, fc2 : torch.nn.Conv2d
        The reducing and the expanding 1x1 convolution.

    References
    ----------
    J. Hu, L. Shen and G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018,
    https://arxiv.org/abs/1709.01507.

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia.nn import SEBlock
    >>> block = SEBlock(64)
    >>> block.hidden_channels
    8
    >>> block(torch.randn(2, 64, 7, 7)).shape
    torch.Size([2, 64, 7, 7])
    >>> SEBlock(64, reduction=4).hidden_channels
    16
    >>> SEBlock(4).hidden_channels
    4
    """

    def __init__(self, channels: int, reduction: int = 16, min_channels: int = 8):
        super().__init__()
        channels = check_int(channels, "channels", min_value=1)
        reduction = check_int(reduction, "reduction", min_value=1)
        min_channels = check_int(min_channels, "min_channels", min_value=1)
        self.channels = channels
        self.reduction = reduction
        self.hidden_channels = max(channels // reduction, min(min_channels, channels))
        self.fc1 = nn.Conv2d(channels, self.hidden_channels, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(self.hidden_channels, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale the channels of ``x`` (shape ``(N, C, H, W)``) by their gates."""
        s = x.mean((2, 3), keepdim=True)
        s = self.fc2(self.act(self.fc1(s)))
        return x * self.gate(s)

    def extra_repr(self) -> str:  # noqa: D102
        return (
            f"channels={self.channels}, reduction={self.reduction}, "
            f"hidden_channels={self.hidden_channels}"
        )


def _init_weights(module: nn.Module) -> None:
    """Kaiming-normal convolutions, unit/zero batch norms, default Linear layers.

    ``fan_out`` with the ReLU gain is the initialisation of He et al. (2015)
    used by torchvision's and timm's ResNets; it keeps activations at a
    stable scale through deep ReLU stacks. Linear layers keep PyTorch's
    default (uniform, fan-in scaled) initialisation.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
