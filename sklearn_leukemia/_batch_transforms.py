"""What happens to a batch before the network sees it.

The classifier's training step calls :func:`transform_training_batch`, which
applies, in order: the progressive-resizing shrink, the random augmentation
and mixup; validation and prediction batches never pass through it. A
prediction batch may instead be seen in several orientations
(:func:`tta_views`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Mixup",
    "batch_value_range",
    "check_square_for_tta",
    "downscale",
    "draw_mixup",
    "transform_training_batch",
    "tta_views",
]


def _scaled_side(side: int, scale: float) -> int:
    """Return ``side`` scaled by ``scale``, rounded, and at least one pixel."""
    return max(1, min(side, round(side * scale)))


def downscale(x: torch.Tensor, scale: float, *, channels_last: bool) -> torch.Tensor:
    """Shrink a batch ``(N, C, H, W)`` by ``scale`` (antialiased bilinear).

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia._batch_transforms import downscale
    >>> downscale(torch.ones(2, 3, 16, 12), 0.5, channels_last=False).shape
    torch.Size([2, 3, 8, 6])
    """
    height, width = x.shape[-2:]
    size = (_scaled_side(height, scale), _scaled_side(width, scale))
    if size == (height, width):
        return x
    with torch.no_grad():
        x = torch.nn.functional.interpolate(
            x, size=size, mode="bilinear", antialias=True, align_corners=False
        )
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@dataclass(frozen=True)
class Mixup:
    """The blend of one batch: ``lam * x + (1 - lam) * x[perm]``."""

    lam: float
    perm: torch.Tensor

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Blend the images (a new tensor in ``x``'s memory format)."""
        return x.mul(self.lam).add_(x[self.perm.to(x.device)], alpha=1.0 - self.lam)

    def loss(self, loss_fn, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Blend the losses of the two labels of each image the same way."""
        other = torch.as_tensor(y)[self.perm]
        return self.lam * loss_fn(y_pred, y) + (1.0 - self.lam) * loss_fn(
            y_pred, other
        )


def draw_mixup(
    n: int,
    alpha: float,
    rng: np.random.Generator | None,
    generator: torch.Generator | None,
) -> Mixup:
    """Draw the mixup weight ``lam ~ Beta(alpha, alpha)`` and a partner permutation.

    ``lam`` comes from NumPy (torch's Beta distribution takes no generator);
    the permutation is drawn on the CPU, where the labels are.
    """
    rng = rng if rng is not None else np.random.default_rng()
    lam = float(rng.beta(alpha, alpha))
    return Mixup(lam, torch.randperm(n, generator=generator))


def batch_value_range(X: np.ndarray) -> tuple[float, float]:
    """Intensity range of the batches ``X`` gives, for the augmentation.

    (0, 1) for integer and boolean images, which the batches scale to it;
    the min and max of float images (a unit range above a constant one).
    """
    if X.dtype.kind in "ub":
        return (0.0, 1.0)
    low, high = float(X.min()), float(X.max())
    return (low, high if high > low else low + 1.0)


def transform_training_batch(
    x: torch.Tensor,
    *,
    scale: float = 1.0,
    augmentation=None,
    value_range=None,
    mixup: float = 0.0,
    generators: dict | None = None,
    mixup_rng: np.random.Generator | None = None,
    channels_last: bool = True,
) -> tuple[torch.Tensor, Mixup | None]:
    """Shrink, augment and mix a training batch ``(N, C, H, W)`` on its device.

    Parameters
    ----------
    x : torch.Tensor
        The float32 batch.
    scale : float, default=1.0
        Side scale of this epoch
        (:class:`~sklearn_leukemia.callbacks.ProgressiveResizing`).
    augmentation : AugmentationPolicy or None, default=None
        Random changes (:func:`~sklearn_leukemia.augmentation.augment_batch`).
    value_range : (float, float) or None, default=None
        Intensity range of the images, for the augmentation.
    mixup : float, default=0.0
        ``alpha`` of the mixup weight's Beta distribution; 0 switches it off.
    generators : dict of str to torch.Generator, default=None
        ``"augment"`` and ``"mixup"`` draws (the fit's own generators).
    mixup_rng : numpy.random.Generator, default=None
        Draws the mixup weight.
    channels_last : bool, default=True
        Memory format of the shrunk batch.

    Returns
    -------
    x : torch.Tensor
        The transformed batch.
    mix : Mixup or None
        How the batch was mixed, for the loss; None without mixup.
    """
    generators = generators or {}
    if scale < 1.0:
        x = downscale(x, scale, channels_last=channels_last)
    if augmentation is not None:
        from sklearn_leukemia.augmentation import augment_batch

        with torch.no_grad():
            x = augment_batch(
                x,
                augmentation,
                generator=generators.get("augment"),
                value_range=value_range,
            )
    mix = None
    if mixup:
        mix = draw_mixup(x.shape[0], mixup, mixup_rng, generators.get("mixup"))
        x = mix.apply(x)
    return x, mix


def tta_views(x: torch.Tensor, tta) -> list[torch.Tensor] | None:
    """Return the test-time views of a batch ``(N, C, H, W)``, or None.

    ``"flips"``: the batch and its three mirror images; ``"dihedral"``: also
    its transpose and the transpose's mirror images, the eight orientations
    of a square. Prediction batches only.
    """
    if tta is None:
        return None
    views = [x, x.flip(-1), x.flip(-2), x.flip((-2, -1))]
    if tta == "dihedral":
        check_square_for_tta(tta, *x.shape[-2:])
        t = x.transpose(-1, -2)
        views += [t, t.flip(-1), t.flip(-2), t.flip((-2, -1))]
    return views


def check_square_for_tta(tta, height: int, width: int) -> None:
    """Raise if ``tta="dihedral"`` meets images that are not square."""
    if tta == "dihedral" and height != width:
        raise ValueError(
            f"tta='dihedral' needs square images; got images of {height}x"
            f"{width} pixels. Use tta='flips', or resize them to a square "
            "(ImageResizer)."
        )
