"""Torch plumbing of the classifier.

Device resolution, thread control, seeding and mixed precision; the dataset
that serves channel-last images as NCHW batches; the learning-rate schedules
and the moving average of the weights.
Kept apart from :mod:`sklearn_leukemia.classifier` so that each rule can be
tested on its own and reused by the command line and the benchmarks.
"""

from __future__ import annotations

import math
import os
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import joblib
import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler
from torch.utils.data._utils.collate import default_collate

__all__ = [
    "CALLER_VIEW",
    "SCHEDULES",
    "AmpConfig",
    "DeviceImageDataset",
    "ImageBatchDataset",
    "ScheduledLR",
    "WarmupCosine",
    "WeightAverage",
    "amp_config",
    "batch_to_tensor",
    "collate_batches",
    "dataset_on_device",
    "joblib_worker_threads",
    "resolve_device",
    "resolve_n_threads",
    "seeded",
    "softmax_float32",
    "torch_num_threads",
]


def _available(device_type: str) -> bool:
    if device_type == "cuda":
        return torch.cuda.is_available()
    if device_type == "mps":
        backend = getattr(torch.backends, "mps", None)
        return bool(backend is not None and backend.is_available())
    return device_type == "cpu"


def resolve_device(device) -> torch.device:
    """Turn the ``device`` parameter into the device to compute on.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` picks CUDA if available, then Apple's MPS, then the CPU.
        Anything else is a torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"``) that must be available on this machine.

    Returns
    -------
    torch.device
        The device.

    Raises
    ------
    ValueError
        If ``device`` is not a device name, or names a device this machine
        does not have.

    Examples
    --------
    >>> from sklearn_leukemia._torch_utils import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, str) and device == "auto":
        for device_type in ("cuda", "mps"):
            if _available(device_type):
                return torch.device(device_type)
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise ValueError(
            f"device={device!r} is not supported; expected 'auto', 'cpu', 'cuda', "
            "'cuda:<index>', 'mps' or a torch.device."
        )
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; expected 'auto', 'cpu', "
            "'cuda', 'cuda:<index>' or 'mps'."
        ) from exc
    if not _available(resolved.type):
        raise ValueError(
            f"device={device!r} was requested but {resolved.type.upper()} is not "
            f"available on this machine (torch {torch.__version__}); use "
            "device='auto' to take the best available device, or device='cpu'."
        )
    if resolved.type == "cuda" and resolved.index is not None:
        count = torch.cuda.device_count()
        if resolved.index >= count:
            raise ValueError(
                f"device={device!r} was requested but this machine has {count} "
                f"CUDA device(s) (indices 0 to {count - 1})."
            )
    return resolved


def joblib_worker_threads() -> int | None:
    """Threads a joblib worker may use, or None outside a joblib worker.

    joblib marks the code it runs in a worker with a nested backend
    (``nesting_level >= 1``). In a worker process of the loky backend (the
    default, used by scikit-learn's ``n_jobs``), joblib sets
    ``OMP_NUM_THREADS`` to the worker's share of the cores,
    ``max(1, cpu_count() // n_jobs)``, or passes on the user's own value;
    that share is returned. The threads of the threading backend, and the
    processes of the multiprocessing backend (which sets no variable) cannot
    learn how many siblings they have, so they get 1 thread.

    Returns
    -------
    int or None
        The number of threads, or None when not running in a joblib worker.

    Examples
    --------
    >>> from sklearn_leukemia._torch_utils import joblib_worker_threads
    >>> joblib_worker_threads() is None  # not called by joblib here
    True
    """
    backend, _ = joblib.parallel.get_active_backend()
    if not getattr(backend, "nesting_level", 0):
        return None
    if threading.current_thread() is not threading.main_thread():
        return 1
    value = os.environ.get("OMP_NUM_THREADS", "")
    try:
        return max(1, int(value))
    except ValueError:
        # A worker process that joblib started without a thread budget.
        return None if _in_main_process() else 1


def _in_main_process() -> bool:
    import multiprocessing

    return multiprocessing.parent_process() is None


def resolve_n_threads(n_threads: int | None = None) -> int:
    """Return the number of torch threads to compute with.

    The rule: ``n_threads`` when given; otherwise the smallest of torch's
    current setting (``torch.get_num_threads()``, which a user or a test may
    have lowered) and the cores this process may use: inside a joblib worker
    its share (see :func:`joblib_worker_threads`), elsewhere
    ``joblib.cpu_count()``, which honours CPU affinity and container quotas.
    So a grid search with ``n_jobs=2`` on 2 cores trains each model with 1
    thread instead of 2 x 2 threads fighting over 2 cores.

    Parameters
    ----------
    n_threads : int or None, default=None
        Explicit number of threads.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from sklearn_leukemia._torch_utils import resolve_n_threads
    >>> resolve_n_threads(3)
    3
    >>> resolve_n_threads() >= 1
    True
    """
    if n_threads is not None:
        return int(n_threads)
    budget = joblib_worker_threads()
    if budget is None:
        budget = joblib.cpu_count()
    return max(1, min(torch.get_num_threads(), budget))


@contextmanager
def torch_num_threads(n: int):
    """Set torch's intra-op thread count for the duration of the block.

    With torch's OpenMP backend the setting belongs to the calling thread, so
    a thread-based joblib worker changes only its own.

    Parameters
    ----------
    n : int
        Number of threads.

    Yields
    ------
    None

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia._torch_utils import torch_num_threads
    >>> before = torch.get_num_threads()
    >>> with torch_num_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    if n != previous:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextmanager
def seeded(seed: int, device: torch.device | str = "cpu"):
    """Seed torch, numpy and ``random`` inside the block, restoring them after.

    The global random states of the caller are left as they were, so fitting
    a model with a ``random_state`` has no side effect on the rest of a
    program.

    Parameters
    ----------
    seed : int
        Seed, in ``[0, 2**32)``.
    device : torch.device or str, default="cpu"
        The accelerator whose generator is also forked, if any.

    Yields
    ------
    None

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia._torch_utils import seeded
    >>> with seeded(0):
    ...     a = torch.rand(1)
    >>> with seeded(0):
    ...     b = torch.rand(1)
    >>> bool(a == b)
    True
    """
    device = torch.device(device)
    devices, device_type = [], None
    if device.type in ("cuda", "mps"):
        index = device.index
        if index is None:
            index = torch.cuda.current_device() if device.type == "cuda" else 0
        devices, device_type = [index], device.type
    # The legacy global numpy state is what third-party code may draw from.
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()
    with torch.random.fork_rng(devices=devices, device_type=device_type or "cuda"):
        try:
            torch.manual_seed(seed)
            np.random.seed(seed)  # noqa: NPY002
            random.seed(seed)
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)


@dataclass(frozen=True)
class AmpConfig:
    """How to run a module with automatic mixed precision.

    Attributes
    ----------
    dtype : torch.dtype or None
        The autocast dtype, None when mixed precision is off.
    device_type : str
        ``"cpu"``, ``"cuda"`` or ``"mps"``.
    grad_scaling : bool
        Whether float16 training needs a :class:`torch.amp.GradScaler`.
    """

    dtype: torch.dtype | None
    device_type: str
    grad_scaling: bool = False

    @property
    def enabled(self) -> bool:
        """Whether autocast is on."""
        return self.dtype is not None

    def autocast(self):
        """Return the autocast context (a no-op one when disabled)."""
        return torch.autocast(
            device_type=self.device_type,
            dtype=self.dtype,
            enabled=self.enabled,
        )


def amp_config(mixed_precision, device: torch.device) -> AmpConfig:
    """Decide the mixed-precision settings for a device.

    Parameters
    ----------
    mixed_precision : {"auto", True, False}
        ``"auto"`` is on for CUDA and off elsewhere. On CUDA the autocast
        dtype is bfloat16 when the GPU supports it, else float16 with a
        gradient scaler; on the CPU and MPS it is bfloat16.
    device : torch.device
        The compute device.

    Returns
    -------
    AmpConfig

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia._torch_utils import amp_config
    >>> amp_config("auto", torch.device("cpu")).enabled
    False
    >>> amp_config(True, torch.device("cpu")).dtype
    torch.bfloat16
    """
    device = torch.device(device)
    enabled = device.type == "cuda" if mixed_precision == "auto" else mixed_precision
    if not enabled:
        return AmpConfig(None, device.type)
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return AmpConfig(torch.bfloat16, "cuda")
        return AmpConfig(torch.float16, "cuda", grad_scaling=True)
    return AmpConfig(torch.bfloat16, device.type)


# --------------------------------------------------------------------------
# Data: the images stay in their array; batches are cut and converted lazily.
# --------------------------------------------------------------------------


def batch_to_tensor(images: np.ndarray) -> torch.Tensor:
    """Turn a gathered ``(b, H, W[, C])`` batch into an NCHW tensor, no copy.

    The NHWC array viewed as NCHW has exactly the ``channels_last`` strides.
    uint8 stays uint8, to be scaled on the compute device (four times less to
    move to a GPU); every other dtype becomes float32 here.
    """
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.dtype == np.uint16:
        images = images.astype(np.float32) * np.float32(1 / 65535)
    elif images.dtype not in (np.uint8, np.float32):
        images = images.astype(np.float32)
    return torch.from_numpy(images).permute(0, 3, 1, 2)


#: Attribute set on a batch tensor that shares memory with the caller's array.
CALLER_VIEW = "_sklearn_leukemia_caller_view"


class _BatchDataset(torch.utils.data.Dataset):
    """Images ``X`` and labels ``y`` served whole batches at a time.

    Subclasses define ``__getitems__(indices) -> (xb, yb)``; a single item
    is a batch of one.
    """

    def __init__(self, X, y=None):
        self.X = X
        self.y = y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):
        xb, yb = self.__getitems__([i])
        return xb[0], (None if yb is None else yb[0])


class ImageBatchDataset(_BatchDataset):
    """Channel-last images served as NCHW batches, one batch at a time.

    ``__getitems__`` (used by :class:`~torch.utils.data.DataLoader` for whole
    batches) gathers the batch with one fancy index, so only ``batch_size``
    images are ever copied and converted; ``X`` itself is never converted.
    A batch of consecutive images (prediction's) is a view of ``X`` instead,
    marked with the attribute ``CALLER_VIEW``: whoever may modify it in
    place must copy it first (the classifier does, where its device would
    otherwise see ``X``'s memory).

    Parameters
    ----------
    X : ndarray of shape (n, H, W) or (n, H, W, C)
        Checked images: uint8, uint16, bool or float.
    y : ndarray of shape (n,) of int64, default=None
        Encoded labels, or None when predicting.
    """

    def __getitems__(self, indices):
        index = np.asarray(indices, dtype=np.intp)
        n = len(index)
        view = bool(n) and index[-1] - index[0] == n - 1 and (np.diff(index) == 1).all()
        if view:
            # Consecutive images (prediction): a view, no copy of the batch.
            index = slice(int(index[0]), int(index[-1]) + 1)
        xb = batch_to_tensor(self.X[index])
        if view:
            setattr(xb, CALLER_VIEW, True)
        yb = None if self.y is None else torch.from_numpy(self.y[index])
        return xb, yb


class DeviceImageDataset(_BatchDataset):
    """Images held as one tensor on the compute device, served as NCHW batches.

    Made by :func:`dataset_on_device`. A batch is gathered on the device
    with one ``index_select``, so that training copies nothing from the
    host after the first upload; the labels stay on the CPU.

    Parameters
    ----------
    X : torch.Tensor of shape (n, H, W, C)
        uint8 or float32 images on the device, channel-last.
    y : ndarray of shape (n,) of int64, default=None
        Encoded labels, or None.
    """

    def __getitems__(self, indices):
        index = np.asarray(indices, dtype=np.intp)
        on_device = torch.from_numpy(index).to(self.X.device)
        # NHWC rows viewed as NCHW: the channels_last strides, as on the host.
        xb = self.X.index_select(0, on_device).permute(0, 3, 1, 2)
        yb = None if self.y is None else torch.from_numpy(self.y[index])
        return xb, yb


def _image_source(dataset):
    """``(X, y, rows)`` of an ImageBatchDataset or a Subset of one, else None.

    ``rows`` are the Subset's indices into ``X`` and ``y``, None for all.
    """
    if isinstance(dataset, ImageBatchDataset):
        return dataset.X, dataset.y, None
    if isinstance(dataset, torch.utils.data.Subset) and isinstance(
        dataset.dataset, ImageBatchDataset
    ):
        rows = np.asarray(dataset.indices, dtype=np.intp)
        return dataset.dataset.X, dataset.dataset.y, rows
    return None


def dataset_on_device(dataset, device, *, max_bytes=None):
    """Copy the images of ``dataset`` to ``device`` once, as one tensor.

    Parameters
    ----------
    dataset : ImageBatchDataset or torch.utils.data.Subset of one
        The images to move. Any other dataset is left alone.
    device : torch.device
        Where to put them.
    max_bytes : int or None, default=None
        Leave the dataset alone when its images would take more bytes
        than this on the device (uint8 stays uint8, other dtypes become
        float32 as in :func:`batch_to_tensor`). None: no limit.

    Returns
    -------
    DeviceImageDataset or None
        None when the dataset is of another kind or too large.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_leukemia._torch_utils import (
    ...     ImageBatchDataset, dataset_on_device)
    >>> X = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    >>> data = dataset_on_device(ImageBatchDataset(X), torch.device("cpu"))
    >>> data.__getitems__([2, 0])[0].shape
    torch.Size([2, 3, 8, 8])
    >>> dataset_on_device(ImageBatchDataset(X), torch.device("cpu"), max_bytes=100)
    """
    source = _image_source(dataset)
    if source is None:
        return None
    X, y, rows = source
    n_images = len(X) if rows is None else len(rows)
    itemsize = 1 if X.dtype == np.uint8 else 4
    nbytes = n_images * int(np.prod(X.shape[1:])) * itemsize
    if max_bytes is not None and nbytes > max_bytes:
        return None
    if rows is not None:
        X, y = X[rows], (None if y is None else y[rows])
    # batch_to_tensor's conversions, then back to the channel-last layout.
    images = batch_to_tensor(X).permute(0, 2, 3, 1)
    return DeviceImageDataset(images.to(device).contiguous(), y)


def collate_batches(batch):
    """Pass the batches of ``ImageBatchDataset`` through; collate anything else."""
    if isinstance(batch, tuple):
        return batch
    return default_collate(batch)


def softmax_float32(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, computed in float32."""
    # Mixed precision gives bfloat16/float16 logits; probabilities in those
    # dtypes would not sum to 1 within float32 precision.
    return torch.softmax(logits.float(), dim=-1)


# --------------------------------------------------------------------------
# Learning-rate schedules: skorch's LRScheduler, built once the number of
# batches per epoch is known (after the train/validation split).
# --------------------------------------------------------------------------


class WarmupCosine:
    """LambdaLR factor: linear warm-up, then cosine decay to 0 (picklable)."""

    def __init__(self, total_steps: int, warmup_steps: int):
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def _cosine_schedule(optimizer, *, steps_per_epoch: int, max_epochs: int):
    total = steps_per_epoch * max_epochs
    warmup = min(steps_per_epoch, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(total, warmup))


def _onecycle_schedule(optimizer, *, steps_per_epoch: int, max_epochs: int):
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


def _step_schedule(optimizer, *, steps_per_epoch: int, max_epochs: int):
    return torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=max(1, max_epochs // 3), gamma=0.1
    )


SCHEDULES = {
    "cosine": (_cosine_schedule, "batch"),
    "onecycle": (_onecycle_schedule, "batch"),
    "step": (_step_schedule, "epoch"),
}


class ScheduledLR(LRScheduler):
    """skorch's LRScheduler for the named schedules of the classifier.

    The schedules need the number of optimizer steps, known only once the
    training split is, so the torch scheduler is made at the first
    ``on_epoch_begin`` instead of ``on_train_begin``. It is dropped at the end
    of training because it holds a reference to the optimizer, which would
    otherwise be pickled a second time, outside skorch's device mapping.
    """

    def __init__(self, policy="cosine", monitor="train_loss", event_name="event_lr"):
        super().__init__(
            policy=policy,
            monitor=monitor,
            event_name=event_name,
            step_every=SCHEDULES.get(policy, (None, "batch"))[1],
        )

    def _get_policy_cls(self):
        return SCHEDULES[self.policy][0]

    def initialize(self):
        """Check the policy name and set when to step."""
        if self.policy not in SCHEDULES:
            raise ValueError(
                f"lr schedule {self.policy!r} is not supported; expected one of "
                f"{sorted(SCHEDULES)}."
            )
        self.step_every = SCHEDULES[self.policy][1]
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
                steps_per_epoch=net._batches_per_epoch(dataset_train),
                max_epochs=getattr(net, "max_epochs_", net.max_epochs),
            )

    def on_train_end(self, net, **kwargs):
        """Drop the torch scheduler, which references the optimizer."""
        self.drop_state()

    def drop_state(self) -> None:
        """Forget the torch scheduler (also after a failed fit)."""
        self.lr_scheduler_ = None


class WeightAverage(Callback):
    """Exponential moving average of the network's weights, used at the end.

    After each training batch the average ``a`` of every floating-point
    parameter and buffer (batch-norm statistics included) moves toward the
    current value ``w``: ``a = d * a + (1 - d) * w``, with ``d = min(decay,
    (1 + t) / (10 + t))`` at the ``t``-th update, so that short trainings are
    not dominated by the initial weights. At the end of training the
    network's weights are replaced by their average; integer buffers (batch
    counters) keep their current values. The average starts from the weights
    at the beginning of each ``fit`` or ``partial_fit`` call, lives on the
    network's device, and is dropped at the end of training, so that it is
    never pickled.

    Parameters
    ----------
    decay : float, default=0.999
        Weight of the past in ``[0, 1)``; the average spans about ``1 / (1 -
        decay)`` optimizer steps.
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

    def on_train_begin(self, net, **kwargs):
        """Start the average at the current weights."""
        current = [
            tensor for tensor in net.module_.state_dict().values()
            if tensor.is_floating_point()
        ]
        # The state dict's tensors share storage with the network's, so they
        # follow the optimizer's in-place updates.
        self.current_ = current
        self.average_ = [tensor.detach().clone() for tensor in current]
        self.n_updates_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        """Move the average toward the weights after a training batch."""
        if not training or self.average_ is None:
            return
        weight = 1.0 - self.decay_at(self.n_updates_)
        with torch.no_grad():
            torch._foreach_lerp_(self.average_, self.current_, weight)
        self.n_updates_ += 1

    def on_train_end(self, net, **kwargs):
        """Give the network the averaged weights, then drop the average."""
        if self.average_ is not None:
            with torch.no_grad():
                for tensor, average in zip(self.current_, self.average_):
                    tensor.copy_(average)
        self.drop_state()

    def drop_state(self) -> None:
        """Forget the average and the references to the network's tensors."""
        self.current_ = None
        self.average_ = None
