"""Floating-point operations of one forward pass, counted by torch itself."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops"]


def count_flops(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Count the floating-point operations of one forward pass of ``module``.

    The forward pass runs on a zero tensor of ``input_shape`` under
    :class:`torch.utils.flop_counter.FlopCounterMode`, in eval mode and
    without gradients; the module's training flag is restored afterwards and
    its batch-norm statistics are untouched. Only the operations torch counts
    are included: convolutions and matrix products, at 2 FLOPs per
    multiply-add. Element-wise work (batch norm, activations, pooling) is
    left out, as is usual when reporting model FLOPs or computing model-FLOP
    utilisation. A backward pass costs about twice the forward FLOPs.

    Parameters
    ----------
    module : torch.nn.Module
        The network. The input is created on the device and with the
        floating dtype of its first parameter (float32 if it has none).
    input_shape : sequence of int
        Shape of the input including the batch axis, e.g. ``(1, 3, 224, 224)``.
        The count is proportional to the batch size.

    Returns
    -------
    int
        Number of floating-point operations.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_leukemia.nn import count_flops
    >>> count_flops(nn.Linear(10, 4, bias=False), (8, 10))  # 2 * 8 * 10 * 4
    640
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"module must be a torch.nn.Module; got {type(module).__name__}."
        )
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else ()
    if not shape or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
        for s in shape
    ):
        raise ValueError(
            "input_shape must be a non-empty sequence of positive integers such as "
            f"(1, 3, 224, 224); got {input_shape!r}."
        )
    param = next((p for p in module.parameters() if p.is_floating_point()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    x = torch.zeros(tuple(int(s) for s in shape), device=device, dtype=dtype)

    was_training = module.training
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            module(x)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())
