"""A small residual network with squeeze-and-excitation (SE-ResNet)."""

from __future__ import annotations

import torch
from torch import nn

from sklearn_leukemia.nn._registry import register_architecture
from sklearn_leukemia.nn._se import SEBlock, _init_weights
from sklearn_leukemia.utils._validation import check_bool, check_dropout, check_int

__all__ = ["SEBasicBlock", "SEResNet"]


class SEBasicBlock(nn.Module):
    """Residual basic block with an SE block before the addition.

    ``relu(shortcut(x) + se(bn2(conv2(relu(bn1(conv1(x)))))))``, where the
    shortcut is the identity, or a strided 1x1 convolution with batch norm
    when the block changes the resolution or the number of channels. The SE
    block rescales the residual branch before it is added, as in Hu et al.

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    out_channels : int
        Channels of the output.
    stride : int, default=1
        Stride of the first convolution (2 halves the resolution).
    se_reduction : int, default=16
        Reduction ratio of the SE block.
    use_se : bool, default=True
        Include the SE block.

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia.nn import SEBasicBlock
    >>> SEBasicBlock(8, 16, stride=2)(torch.zeros(1, 8, 10, 10)).shape
    torch.Size([1, 16, 5, 5])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        *,
        se_reduction: int = 16,
        use_se: bool = True,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = (
            SEBlock(out_channels, reduction=se_reduction) if use_se else nn.Identity()
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape ``(N, C, H, W)``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + self.shortcut(x))


@register_architecture("se_resnet")
class SEResNet(nn.Module):
    """A compact SE-ResNet for small medical image datasets.

    - **stem**: a 3x3 convolution with stride 2, batch norm and ReLU, then a
      3x3 max pooling with stride 2 (a 224x224 image reaches the first stage
      at 56x56);
    - ``depth`` **stages** of ``blocks_per_stage`` :class:`SEBasicBlock`,
      stage ``i`` with ``width * 2**i`` channels; every stage but the first
      halves the resolution in its first block (strided convolution, and a
      1x1 strided convolution with batch norm on the shortcut);
    - **head**: global average pooling (adaptive, so any input size works),
      dropout and a linear layer giving the logits (no softmax).

    With the defaults (``width=32, depth=4, blocks_per_stage=2``) it is an
    SE-ResNet-18 at half width, about 2.8 M parameters.

    Initialisation: convolutions are Kaiming-normal (fan-out, ReLU gain).
    With ``zero_init_residual=True`` the last batch norm of every residual
    branch starts with ``gamma = 0``, so each block starts as the identity
    (Goyal et al., 2017, "Accurate, Large Minibatch SGD"); this makes the
    early epochs more stable and usually improves accuracy a little.

    Parameters
    ----------
    n_classes : int
        Number of outputs (>= 2).
    in_channels : int, default=3
        Channels of the input images.
    width : int, default=32
        Channels of the stem and of the first stage; each further stage
        doubles it.
    depth : int, default=4
        Number of stages.
    blocks_per_stage : int, default=2
        Residual blocks per stage.
    se_reduction : int, default=16
        Reduction ratio of the SE blocks (see :class:`SEBlock`).
    dropout : float, default=0.2
        Dropout probability before the linear layer, in [0, 1).
    use_se : bool, default=True
        Whether to include the SE blocks; ``False`` gives a plain ResNet,
        for ablation studies.
    zero_init_residual : bool, default=True
        Zero-initialise the last batch-norm scale of each residual branch.

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia.nn import SEResNet
    >>> model = SEResNet(n_classes=3, width=8, depth=2, blocks_per_stage=1)
    >>> model(torch.zeros(2, 3, 48, 48)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_classes: int,
        in_channels: int = 3,
        *,
        width: int = 32,
        depth: int = 4,
        blocks_per_stage: int = 2,
        se_reduction: int = 16,
        dropout: float = 0.2,
        use_se: bool = True,
        zero_init_residual: bool = True,
    ):
        super().__init__()
        n_classes = check_int(n_classes, "n_classes", min_value=2)
        in_channels = check_int(in_channels, "in_channels", min_value=1)
        width = check_int(width, "width", min_value=1)
        depth = check_int(depth, "depth", min_value=1)
        blocks_per_stage = check_int(blocks_per_stage, "blocks_per_stage", min_value=1)
        se_reduction = check_int(se_reduction, "se_reduction", min_value=1)
        dropout = check_dropout(dropout)
        use_se = check_bool(use_se, "use_se")
        zero_init_residual = check_bool(zero_init_residual, "zero_init_residual")

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        channels = width
        for i in range(depth):
            out_channels = width * 2**i
            blocks = []
            for j in range(blocks_per_stage):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(
                    SEBasicBlock(
                        channels,
                        out_channels,
                        stride,
                        se_reduction=se_reduction,
                        use_se=use_se,
                    )
                )
                channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = channels
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, n_classes),
        )
        _init_weights(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, SEBasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits ``(N, n_classes)`` of a batch ``(N, C, H, W)``."""
        return self.head(self.stages(self.stem(x)))
