"""The plain squeeze-and-excitation CNN: conv stages with SE, then a dense head."""

from __future__ import annotations

import torch
from torch import nn

from sklearn_leukemia.nn._registry import register_architecture
from sklearn_leukemia.nn._se import SEBlock, _init_weights
from sklearn_leukemia.utils._validation import check_bool, check_dropout, check_int

__all__ = ["SECNN"]


def _conv_bn_relu(
    in_channels: int,
    out_channels: int,
    stride: int = 1,
    kernel_size: int = 3,
    padding: int = 1,
) -> list:
    return [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


@register_architecture("secnn")
class SECNN(nn.Module):
    """A plain convolutional network with squeeze-and-excitation blocks.

    The layout follows the squeeze-and-excitation CNN used for leukemia
    classification:

    - **stem**: a 3x3 convolution with stride 2 (``stem_stride``), batch
      norm and ReLU, then a 2x2 max pooling, so a 224x224 image reaches the
      first stage at 56x56 and the network stays cheap on a CPU;
    - ``depth`` **stages**, stage ``i`` with ``width * 2**i`` channels:
      ``convs_per_stage`` times [3x3 conv, batch norm, ReLU], an
      :class:`SEBlock` and a 2x2 max pooling;
    - **head**: global average pooling (adaptive, so any input size works),
      dropout, a dense layer with ReLU, and a linear layer giving the logits.

    The module returns logits, not probabilities: the softmax of the
    "softmax head" is applied by the loss during training and by the
    classifier's ``predict_proba``.

    Max pooling uses ``ceil_mode=True`` so that feature maps never shrink
    below 1x1, which lets small inputs (16x16) go through deep
    configurations. Convolutions are Kaiming-normal initialised (fan-out,
    ReLU gain), batch norms to 1 and 0.

    Parameters
    ----------
    n_classes : int
        Number of outputs (>= 2).
    in_channels : int, default=3
        Channels of the input images.
    width : int, default=16
        Channels of the stem and of the first stage; each further stage
        doubles it.
    depth : int, default=4
        Number of stages.
    convs_per_stage : int, default=2
        Convolutions per stage, before its SE block.
    dense_units : int, default=128
        Width of the dense layer of the head.
    se_reduction : int, default=16
        Reduction ratio of the SE blocks (see :class:`SEBlock`).
    dropout : float, default=0.5
        Dropout probability before the dense layer, in [0, 1).
    use_se : bool, default=True
        Whether to include the SE blocks; ``False`` gives the same network
        without channel attention, for ablation studies.
    stem_stride : int, default=2
        Stride of the stem's convolution. 2 (and 1) use a 3x3 kernel; a
        larger stride ``s`` uses an ``s x s`` kernel, non-overlapping patches
        as in ConvNeXt's stem, so that every pixel reaches the network once
        (where a side is not a multiple of ``s``, the last ``side % s`` rows
        or columns are left out). With 4, a 224x224 image reaches the first
        stage at 28x28, for the FLOPs of a 112x112 image with the default
        stem, while the stem still sees every pixel of the full resolution.

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia.nn import SECNN
    >>> model = SECNN(n_classes=2, width=8, depth=3)
    >>> model(torch.zeros(4, 3, 64, 64)).shape
    torch.Size([4, 2])
    """

    def __init__(
        self,
        n_classes: int,
        in_channels: int = 3,
        *,
        width: int = 16,
        depth: int = 4,
        convs_per_stage: int = 2,
        dense_units: int = 128,
        se_reduction: int = 16,
        dropout: float = 0.5,
        use_se: bool = True,
        stem_stride: int = 2,
    ):
        super().__init__()
        n_classes = check_int(n_classes, "n_classes", min_value=2)
        in_channels = check_int(in_channels, "in_channels", min_value=1)
        width = check_int(width, "width", min_value=1)
        depth = check_int(depth, "depth", min_value=1)
        convs_per_stage = check_int(convs_per_stage, "convs_per_stage", min_value=1)
        dense_units = check_int(dense_units, "dense_units", min_value=1)
        se_reduction = check_int(se_reduction, "se_reduction", min_value=1)
        dropout = check_dropout(dropout)
        use_se = check_bool(use_se, "use_se")
        stem_stride = check_int(stem_stride, "stem_stride", min_value=1)

        # Above 2, non-overlapping patches: every pixel reaches the network once.
        patches = {"kernel_size": stem_stride, "padding": 0} if stem_stride > 2 else {}
        self.stem = nn.Sequential(
            *_conv_bn_relu(in_channels, width, stride=stem_stride, **patches),
            nn.MaxPool2d(2, ceil_mode=True),
        )
        stages = []
        channels = width
        for i in range(depth):
            out_channels = width * 2**i
            layers = []
            for _ in range(convs_per_stage):
                layers += _conv_bn_relu(channels, out_channels)
                channels = out_channels
            layers.append(
                SEBlock(channels, reduction=se_reduction) if use_se else nn.Identity()
            )
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.num_features = channels
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, dense_units),
            nn.ReLU(inplace=True),
            nn.Linear(dense_units, n_classes),
        )
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits ``(N, n_classes)`` of a batch ``(N, C, H, W)``."""
        return self.head(self.stages(self.stem(x)))
