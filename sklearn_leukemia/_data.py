"""How the classifier serves images to torch: NCHW batches cut from ``X``.

The images stay in the caller's channel-last array; each batch is gathered
with one fancy index and converted lazily (:class:`ImageBatchDataset`), or,
with ``data_on_device``, the whole training set is copied to the device once
(:func:`dataset_on_device`, :class:`DeviceImageDataset`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data._utils.collate import default_collate

__all__ = [
    "CALLER_VIEW",
    "VALIDATION_FRACTION",
    "DeviceImageDataset",
    "ImageBatchDataset",
    "batch_to_device",
    "batch_to_tensor",
    "collate_batches",
    "dataset_on_device",
    "early_stopping_split",
    "fit_dataset_on_device",
    "make_iterator",
]

#: Share of the training images early stopping holds out, by class.
VALIDATION_FRACTION = 0.1


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
    >>> from sklearn_leukemia._data import (
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


def fit_dataset_on_device(run, dataset, setting, num_workers: int = 0):
    """Return a fit's ``dataset`` copied to the device, or None to stream it.

    The rule of the classifier's ``data_on_device``: True copies the
    training and validation images of a fit (``run.fit_datasets``) once, and
    cannot work with DataLoader workers; ``"auto"`` does so on CUDA only,
    without workers, when the images take at most half of the free GPU
    memory; False streams them. Each dataset is copied once per run.

    Parameters
    ----------
    run : sklearn_leukemia._runtime.Run or None
        The fit in progress; None (prediction) streams.
    dataset : torch Dataset
        The data a DataLoader is about to serve.
    setting : {"auto", True, False}
        The classifier's ``data_on_device``.
    num_workers : int, default=0
        The DataLoader's workers.

    Returns
    -------
    DeviceImageDataset or None
    """
    auto = isinstance(setting, str)
    if (
        run is None
        or not (auto or setting)
        or not any(d is dataset for d in run.fit_datasets)
    ):
        return None
    max_bytes = None
    if not auto:
        if num_workers:
            raise ValueError(
                f"data_on_device=True cannot be combined with {num_workers} "
                "DataLoader workers: the workers would have to reach the "
                "images on the device. Use data_on_device=False, or no "
                "workers (num_workers=0)."
            )
    elif run.device.type != "cuda" or num_workers:
        return None
    else:
        max_bytes = torch.cuda.mem_get_info(run.device)[0] // 2
    if id(dataset) not in run.on_device:
        run.on_device[id(dataset)] = dataset_on_device(
            dataset, run.device, max_bytes=max_bytes
        )
    return run.on_device[id(dataset)]


def batch_to_device(x, device, *, channels_last: bool) -> torch.Tensor:
    """Move a batch to ``device`` as float32 in the configured memory format.

    uint8 pixels are scaled to [0, 1] there. A batch that is a view of the
    caller's images (``CALLER_VIEW``) is copied when nothing else would copy
    it (float32 on the CPU), so that the network never holds the caller's
    memory.

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia._data import batch_to_device
    >>> x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    >>> batch_to_device(x, "cpu", channels_last=True).max().item()
    1.0
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    is_uint8 = x.dtype == torch.uint8
    source = x
    x = x.to(device, non_blocking=True)
    x = x.to(dtype=torch.float32, memory_format=memory_format)
    if is_uint8:
        x = x.mul_(1.0 / 255.0)
    elif getattr(source, CALLER_VIEW, False) and x.data_ptr() == source.data_ptr():
        x = x.clone(memory_format=memory_format)
    return x


def make_iterator(net, dataset, *, training: bool):
    """Return the DataLoader of the classifier ``net`` over ``dataset``.

    skorch's ``iterator_train``/``iterator_valid`` with their prefixed
    arguments, and these defaults: batches served whole
    (:func:`collate_batches`), ``batch_size=-1`` as one batch of all, training
    batches shuffled by the fit's own generator (a DataLoader without one
    draws its seed from the caller's global torch state), the fit's images
    copied to the device first when ``data_on_device`` says so
    (:func:`fit_dataset_on_device`), else pinned for CUDA.
    """
    from sklearn_leukemia._runtime import current_run

    prefix = "iterator_train" if training else "iterator_valid"
    iterator = net.iterator_train if training else net.iterator_valid
    kwargs = net.get_params_for(prefix)
    kwargs.setdefault("batch_size", net.batch_size)
    if kwargs["batch_size"] == -1:
        kwargs["batch_size"] = max(1, len(dataset))
    kwargs.setdefault("collate_fn", collate_batches)
    if training:
        kwargs.setdefault("shuffle", True)
    run = current_run(net)
    generator = run.generators.get("shuffle") if run and training else None
    kwargs.setdefault("generator", generator or torch.Generator())
    on_device = fit_dataset_on_device(
        run, dataset, net.data_on_device, kwargs.get("num_workers", 0)
    )
    if on_device is not None:
        dataset = on_device
    elif torch.device(net.device_).type == "cuda":
        kwargs.setdefault("pin_memory", True)
    return iterator(dataset, **kwargs)


def early_stopping_split(net, X, y, **fit_params):
    """Hold out :data:`VALIDATION_FRACTION` of the images, stratified by class.

    Early stopping's validation set when the classifier ``net`` has no
    ``train_split``, drawn from the fit's seed.
    """
    from skorch.dataset import ValidSplit

    from sklearn_leukemia._runtime import current_run

    seed = getattr(current_run(net), "seed", None)
    split = ValidSplit(VALIDATION_FRACTION, stratified=True, random_state=seed)
    try:
        return split(net.get_dataset(X, y), y, **fit_params)
    except ValueError as exc:
        raise ValueError(
            f"early stopping holds out {VALIDATION_FRACTION:.0%} of the "
            f"{len(y)} training images, which cannot make a stratified "
            f"validation set for {len(net.classes_)} classes ({exc}); "
            "give more images per class, a larger split (train_split="
            "ValidSplit(0.2, stratified=True)), or monitor='train_loss'."
        ) from exc
