"""Per-epoch training rules of the classifier, as skorch callbacks.

:class:`~sklearn_leukemia.SECNNClassifier` adds these from its parameters
(``lr_schedule``, ``ema``, ``progressive_resizing``), under the names
``"lr_scheduler"``, ``"ema"`` and ``"progressive_resizing"``; their
parameters can be set with ``callbacks__<name>__<param>``. The first two
work on any skorch net; :class:`ProgressiveResizing` sets the scale that
the classifier's training step shrinks batches to (on another net it only
records it).

- :class:`LRSchedule`: the learning rate of every batch (warm-up and cosine
  decay, one-cycle, or steps), built once the number of batches is known;
- :class:`WeightAveraging`: an exponential moving average of the weights,
  which the network takes at the end of training;
- :class:`ProgressiveResizing`: the scale of each epoch's training images,
  which the classifier's training step shrinks them to.
"""

from __future__ import annotations

import math

import torch
from skorch.callbacks import Callback, LRScheduler
from torch.optim.swa_utils import AveragedModel

__all__ = [
    "LRSchedule",
    "ProgressiveResizing",
    "WarmupCosine",
    "WeightAveraging",
    "progressive_scale",
]


# --------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------


class WarmupCosine:
    """Factor of :class:`~torch.optim.lr_scheduler.LambdaLR`: warm-up, then cosine.

    ``(step + 1) / (warmup_steps + 1)`` during the warm-up, then
    ``0.5 * (1 + cos(pi * progress))`` down to 0 at ``total_steps``, in
    closed form. torch's ``SequentialLR`` of ``LinearLR`` and
    ``CosineAnnealingLR`` gives the same curve but computes it step by step:
    its learning rates differ from these in the last bits from the third
    step on (1e-13 relative), and so would every trained model.

    Parameters
    ----------
    total_steps : int
        Optimizer steps of the whole training.
    warmup_steps : int
        Steps of the linear warm-up.

    Examples
    --------
    >>> from sklearn_leukemia.callbacks import WarmupCosine
    >>> factor = WarmupCosine(total_steps=10, warmup_steps=1)
    >>> [round(factor(step), 3) for step in (0, 1, 10)]
    [0.5, 1.0, 0.0]
    """

    def __init__(self, total_steps: int, warmup_steps: int):
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        """Return the factor of the learning rate at optimizer step ``step``."""
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def _cosine(optimizer, *, steps_per_epoch: int, max_epochs: int):
    total = steps_per_epoch * max_epochs
    warmup = min(steps_per_epoch, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(total, warmup))


def _onecycle(optimizer, *, steps_per_epoch: int, max_epochs: int):
    cycle_momentum = (
        any(key in optimizer.defaults for key in ("momentum", "betas"))
        and optimizer.defaults.get("momentum", 1) != 0
    )
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=steps_per_epoch * max_epochs,
        cycle_momentum=cycle_momentum,
    )


def _step(optimizer, *, steps_per_epoch: int, max_epochs: int):
    return torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=max(1, max_epochs // 3), gamma=0.1
    )


# name -> (builder, when it steps)
_SCHEDULES = {
    "cosine": (_cosine, "batch"),
    "onecycle": (_onecycle, "batch"),
    "step": (_step, "epoch"),
}


class LRSchedule(LRScheduler):
    """Learning-rate schedule by name, spanning the net's ``max_epochs``.

    skorch's :class:`~skorch.callbacks.LRScheduler` for schedules that need
    the number of optimizer steps, known only once the training split is:
    the torch scheduler is made at the first ``on_epoch_begin`` of a fit
    rather than at ``on_train_begin``. It is dropped at the end of training
    because it holds a reference to the optimizer, which would otherwise be
    pickled a second time, outside skorch's device mapping. The learning
    rate of every batch is recorded as ``"event_lr"`` in the history.

    Parameters
    ----------
    policy : {"cosine", "onecycle", "step"}, default="cosine"
        ``"cosine"``: linear warm-up over at most one epoch (and 10% of the
        steps), then cosine decay to 0 (:class:`WarmupCosine`), stepped
        every batch; ``"onecycle"``: :class:`torch.optim.lr_scheduler.OneCycleLR`
        stepped every batch; ``"step"``: divided by 10 every
        ``max_epochs // 3`` epochs.
    monitor : str, default="train_loss"
        As for skorch's ``LRScheduler``; unused by these schedules.
    event_name : str, default="event_lr"
        History key of the learning rates.

    Examples
    --------
    >>> from sklearn_leukemia.callbacks import LRSchedule
    >>> LRSchedule("onecycle").step_every
    'batch'
    """

    def __init__(self, policy="cosine", monitor="train_loss", event_name="event_lr"):
        super().__init__(
            policy=policy,
            monitor=monitor,
            event_name=event_name,
            # Checked in initialize; a name that is not one steps per batch.
            step_every=(
                _SCHEDULES[policy][1] if isinstance(policy, str)
                and policy in _SCHEDULES else "batch"
            ),
        )

    def _get_policy_cls(self):
        return _SCHEDULES[self.policy][0]

    def initialize(self):
        """Check the policy name and set when to step."""
        if self.policy not in _SCHEDULES:
            raise ValueError(
                f"lr schedule {self.policy!r} is not supported; expected one of "
                f"{sorted(_SCHEDULES)}."
            )
        self.step_every = _SCHEDULES[self.policy][1]
        return super().initialize()

    def on_train_begin(self, net, **kwargs):
        """Forget the scheduler of a previous fit."""
        self.lr_scheduler_ = None
        self.batch_idx_ = 0

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        """Make the torch scheduler at the first epoch, when sizes are known."""
        if self.lr_scheduler_ is None:
            self.lr_scheduler_ = self.policy_(
                net.optimizer_,
                steps_per_epoch=_batches_per_epoch(net, dataset_train),
                max_epochs=net.max_epochs,
            )

    def on_train_end(self, net, **kwargs):
        """Drop the torch scheduler, which references the optimizer."""
        self.drop_state()

    def drop_state(self) -> None:
        """Forget the torch scheduler (also after a failed fit)."""
        self.lr_scheduler_ = None


def _batches_per_epoch(net, dataset) -> int:
    # The net's own training DataLoader says how many batches an epoch has,
    # whatever its batch size and the batches it drops.
    return max(1, len(net.get_iterator(dataset, training=True)))


# --------------------------------------------------------------------------
# Weight averaging
# --------------------------------------------------------------------------


class WeightAveraging(Callback):
    """Exponential moving average of the weights, which the network ends with.

    After each training batch the average ``a`` of every floating-point
    parameter and buffer (batch-norm statistics included) moves toward the
    current value ``w``: ``a = d * a + (1 - d) * w``, with ``d = min(decay,
    (1 + t) / (10 + t))`` at the ``t``-th update, so that short trainings are
    not dominated by the initial weights. At the end of training the
    network takes the averaged weights; integer buffers (batch counters)
    keep their current values. The average is torch's
    :class:`~torch.optim.swa_utils.AveragedModel`, started from the weights
    at the beginning of each ``fit`` or ``partial_fit`` call, kept on the
    network's device and dropped at the end of training, so that it is
    never pickled.

    Per-epoch validation scores are those of the current weights, not of
    the average.

    Parameters
    ----------
    decay : float, default=0.999
        Weight of the past in ``[0, 1)``; the average spans about ``1 / (1 -
        decay)`` optimizer steps.

    Examples
    --------
    >>> from sklearn_leukemia.callbacks import WeightAveraging
    >>> [round(WeightAveraging(0.999).decay_at(t), 3) for t in (0, 90)]
    [0.1, 0.91]
    """

    def __init__(self, decay=0.999):
        self.decay = decay

    def decay_at(self, t: int) -> float:
        """Return the decay of the ``t``-th update (0-based)."""
        return min(float(self.decay), (1.0 + t) / (10.0 + t))

    def initialize(self):
        """Start without an average."""
        self.drop_state()
        return self

    def _update(self, averages, currents, _n_averaged) -> None:
        # AveragedModel's multi_avg_fn, one call per device and dtype. The
        # decay's count is kept here, in Python, and AveragedModel's own on
        # the CPU (device=None), so that no step waits for the GPU.
        if averages[0].is_floating_point():
            weight = 1.0 - self.decay_at(self.n_updates_)
            torch._foreach_lerp_(averages, currents, weight)
        else:
            torch._foreach_copy_(averages, currents)

    def on_train_begin(self, net, **kwargs):
        """Start the average at the current weights."""
        module = net.module_
        # device=None: the copy stays where the network is, the counter on
        # the CPU (on a GPU, AveragedModel reads it at every update).
        self.average_ = AveragedModel(
            module, multi_avg_fn=self._update, use_buffers=True
        )
        self.n_updates_ = 0
        # The first update copies the weights.
        self.average_.update_parameters(module)

    def on_batch_end(self, net, training=False, **kwargs):
        """Move the average toward the weights after a training batch."""
        if not training or self.average_ is None:
            return
        self.average_.update_parameters(net.module_)
        self.n_updates_ += 1

    def on_train_end(self, net, **kwargs):
        """Give the network the averaged weights, then drop the average."""
        if self.average_ is not None:
            averaged = self.average_.module
            pairs = zip(
                [*net.module_.parameters(), *net.module_.buffers()],
                [*averaged.parameters(), *averaged.buffers()],
            )
            with torch.no_grad():
                for tensor, average in pairs:
                    if tensor.is_floating_point():
                        tensor.copy_(average)
        self.drop_state()

    def drop_state(self) -> None:
        """Forget the average (also after a failed fit)."""
        self.average_ = None


# --------------------------------------------------------------------------
# Progressive resizing
# --------------------------------------------------------------------------


def progressive_scale(epoch: int, n_epochs: int, start: float) -> float:
    """Return the side scale of training epoch ``epoch`` (0-based) of ``n_epochs``.

    The scale grows linearly from ``start`` at the first epoch to 1 at the
    first epoch of the last quarter, which trains at the full size. It is
    rounded to sixteenths (but never below ``start``), so that a fit sees at
    most 16 image sizes: each new size costs the convolution libraries time
    and memory to set up.

    Examples
    --------
    >>> from sklearn_leukemia.callbacks import progressive_scale
    >>> [progressive_scale(epoch, 8, 0.5) for epoch in (0, 3, 6, 7)]
    [0.5, 0.75, 1.0, 1.0]
    """
    ramp = 0.75 * n_epochs
    if ramp <= 1:
        return 1.0
    scale = min(1.0, start + (1.0 - start) * epoch / ramp)
    return float(max(start, round(scale * 16) / 16))


class ProgressiveResizing(Callback):
    """Train the early epochs on smaller copies of the images.

    Progressive resizing, as in fastai and in the progressive learning of
    EfficientNetV2: the first epoch of each ``fit`` or ``partial_fit`` call
    scales the sides of the training images by ``start``, the scale grows
    to 1 at three quarters of the net's ``max_epochs``
    (:func:`progressive_scale`), and the last quarter trains at full size.
    Each epoch's scale is ``scale_`` and is recorded as ``"train_scale"`` in
    the history; :class:`~sklearn_leukemia.SECNNClassifier` shrinks its
    training batches to it (antialiased bilinear interpolation, before the
    augmentation). Validation and prediction batches are never resized.

    Parameters
    ----------
    start : float, default=0.5
        Scale of the first epoch, in (0, 1].

    Examples
    --------
    >>> from sklearn_leukemia.callbacks import ProgressiveResizing
    >>> ProgressiveResizing(0.5).initialize().scale_
    1.0
    """

    def __init__(self, start=0.5):
        self.start = start

    def initialize(self):
        """Train at full size until the first epoch says otherwise."""
        self.scale_ = 1.0
        self.first_epoch_ = 0
        return self

    def on_train_begin(self, net, **kwargs):
        """Note the first epoch of this call, from which the scale grows."""
        self.first_epoch_ = len(net.history)

    def on_epoch_begin(self, net, **kwargs):
        """Set and record this epoch's scale."""
        epoch = len(net.history) - 1 - self.first_epoch_
        self.scale_ = progressive_scale(epoch, net.max_epochs, float(self.start))
        net.history.record("train_scale", self.scale_)

    def on_train_end(self, net, **kwargs):
        """Leave the net at full size."""
        self.scale_ = 1.0
