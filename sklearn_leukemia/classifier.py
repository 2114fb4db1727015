"""The squeeze-and-excitation CNN classifier that ends the pipeline.

:class:`SECNNClassifier` is a :class:`skorch.NeuralNetClassifier` that takes
channel-last image batches as the rest of the package produces them, builds
its network from the architecture registry once it knows the number of
classes and channels, and trains it with the usual conveniences (learning-rate
schedule, early stopping, class weights, mixed precision, per-epoch
augmentation) while keeping scikit-learn's contract: ``clone``, grid search,
pickling and reproducibility with ``random_state``.
"""

from __future__ import annotations

import math
import numbers
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import TeeGenerator, is_dataset
from torch.utils.data import DataLoader

from sklearn_leukemia._torch_utils import (
    CALLER_VIEW,
    SCHEDULES,
    ImageBatchDataset,
    ScheduledLR,
    WeightAverage,
    amp_config,
    collate_batches,
    dataset_on_device,
    resolve_device,
    resolve_n_threads,
    seeded,
    softmax_float32,
    torch_num_threads,
)
from sklearn_leukemia.utils._budget import (
    auto_augment,
    auto_max_epochs,
    auto_progressive_resizing,
    is_auto,
)
from sklearn_leukemia.utils._validation import (
    check_image_channels,
    check_images,
    check_scalar_in,
    is_integral,
)

__all__ = ["SECNNClassifier"]

_OutOfMemoryError = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
# Per-thread registry of the fits and predictions running, keyed by id(estimator).
_RUNS = threading.local()

_OPTIMIZERS = {
    "adamw": (torch.optim.AdamW, {}),
    "adam": (torch.optim.Adam, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
}
_LR_SCHEDULES = tuple(SCHEDULES)
_TTA_MODES = ("flips", "dihedral")
_MONITORS = {"valid_loss": True, "valid_acc": False, "train_loss": True}
_FLOAT_DTYPES = (np.float16, np.float32, np.float64)
_MODULE_TRAIN = torch.nn.Module.train
def _progressive_scale(epoch: int, n_epochs: int, start: float) -> float:
    """Return the side scale of training epoch ``epoch`` (0-based) of ``n_epochs``.

    The scale grows linearly from ``start`` at the first epoch to 1 at the
    first epoch of the last quarter, which trains at the full size. It is
    rounded to sixteenths (but never below ``start``), so that a fit sees at
    most 16 image sizes: each new size costs the convolution libraries time
    and memory to set up.
    """
    ramp = 0.75 * n_epochs
    if ramp <= 1:
        return 1.0
    scale = min(1.0, start + (1.0 - start) * epoch / ramp)
    return float(max(start, round(scale * 16) / 16))


def _scaled_side(side: int, scale: float) -> int:
    """Return ``side`` scaled by ``scale``, rounded, and at least one pixel."""
    return max(1, min(side, round(side * scale)))


def _proba_accuracy(net, X, y) -> float:
    """Accuracy on encoded labels, for the ``valid_acc`` callback."""
    proba = net.predict_proba(X)
    return float(np.mean(proba.argmax(axis=1) == np.asarray(y)))


# --------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------


def _check_int(value, name: str, *, minimum: int) -> None:
    if not is_integral(value) or value < minimum:
        raise ValueError(
            f"{name}={value!r} is not supported; expected an int >= {minimum}."
        )


def _check_positive_float(value, name: str, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"{name}={value!r} is not supported; expected a float {bound}."
        )


def _check_square_for_tta(tta, height: int, width: int) -> None:
    """Raise if ``tta="dihedral"`` meets images that are not square."""
    if tta == "dihedral" and height != width:
        raise ValueError(
            f"tta='dihedral' needs square images; got images of {height}x"
            f"{width} pixels. Use tta='flips', or resize them to a square "
            "(ImageResizer)."
        )


def _tta_views(x: torch.Tensor, tta):
    """Return the test-time views of a batch ``(N, C, H, W)``, or None."""
    if tta is None:
        return None
    views = [x, x.flip(-1), x.flip(-2), x.flip((-2, -1))]
    if tta == "dihedral":
        _check_square_for_tta(tta, *x.shape[-2:])
        t = x.transpose(-1, -2)
        views += [t, t.flip(-1), t.flip(-2), t.flip((-2, -1))]
    return views


class SECNNClassifier(NeuralNetClassifier):
    """Squeeze-and-excitation CNN image classifier with a scikit-learn API.

    A :class:`skorch.NeuralNetClassifier` for batches of channel-last images
    ``(n, H, W, C)`` (or grayscale ``(n, H, W)``), as produced by the
    preprocessing steps of the package. The network is built at fit time
    from the architecture registry (:func:`sklearn_leukemia.nn.get_architecture`)
    with the number of classes and of image channels seen in ``fit``, and
    trained with cross-entropy on its logits. Any image size works: the
    networks end with adaptive pooling.

    Images are never converted as a whole: each batch is cut from ``X``,
    moved to the device and converted there to float32 ``(N, C, H, W)`` in
    the ``channels_last`` memory format. **uint8 pixels are scaled by 1/255**
    (uint16 by 1/65535) to [0, 1]; float pixels are used as they are (e.g.
    after an ``IntensityNormalizer``).

    Parameters
    ----------
    architecture : str or callable, default="secnn"
        Name of a registered architecture (``"secnn"``, ``"se_resnet"``,
        ``"timm:<model name>"``, or a plugin's), or a builder called as
        ``builder(n_classes=..., in_channels=..., **module_kwargs)`` that
        returns a :class:`torch.nn.Module` giving logits. Its keyword
        arguments are given with the ``module__`` prefix, e.g.
        ``module__width=16``, and can be tuned by a grid search.
    max_epochs : int or "auto", default="auto"
        Number of passes over the training data. ``"auto"`` trains for 150
        epochs on 1,500 images or more; a smaller set gets the same number
        of image passes (225,000, so ``round(225000 / n_samples)`` epochs),
        up to 250 epochs (900 images or fewer). A fit on a small set then
        costs no more than one on 1,500 images, and single-cell sets of a
        few hundred images per class, which gain from longer training, get
        it. The number used is ``max_epochs_``.
    batch_size : int, default=32
        Images per batch, for training and prediction. Lower it if the
        device runs out of memory.
    lr : float, default=3e-3
        Learning rate (the peak one when a schedule is used).
    optimizer : {"adamw", "adam", "sgd"} or torch optimizer class, default="adamw"
        ``"sgd"`` uses momentum 0.9 with Nesterov. Further arguments are given
        with the ``optimizer__`` prefix.
    weight_decay : float, default=1e-4
        Weight decay of the optimizer (decoupled for AdamW).
    lr_schedule : {"cosine", "onecycle", "step"} or None, default="cosine"
        ``"cosine"``: linear warm-up over at most one epoch (and 10% of the
        steps), then cosine decay to 0, stepped every batch;
        ``"onecycle"``: :class:`torch.optim.lr_scheduler.OneCycleLR` stepped
        every batch; ``"step"``: lr divided by 10 every ``max_epochs_ // 3``
        epochs; None: constant lr. Implemented with skorch's
        :class:`~skorch.callbacks.LRScheduler` (callback ``"lr_scheduler"``);
        the lr of every batch is in ``history_[:, "batches", :, "event_lr"]``.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss, as in scikit-learn: ``"balanced"``
        uses ``n_samples / (n_classes * np.bincount(y))``; a dict maps labels
        to weights (missing labels weigh 1).
    augmentation : AugmentationPolicy, "auto" or None, default=None
        When set, each training batch (never a validation or prediction
        batch) is randomly transformed on the device with
        :func:`sklearn_leukemia.augmentation.augment_batch`, with new draws
        every epoch. ``"auto"`` is
        ``AugmentationPolicy.preset("erase")`` (the flips and random
        erasing) from 1,500 training images up and
        ``AugmentationPolicy.preset("flips")`` below (the rule of
        :func:`~sklearn_leukemia.make_leukemia_pipeline`'s ``augment="auto"``);
        the policy used is ``augmentation_``.
    mixup : float, default=0.0
        Mixup (Zhang et al., 2018) of the training batches: each batch is
        blended with a shuffled copy of itself, ``lam * x + (1 - lam) *
        x[perm]`` with ``lam ~ Beta(mixup, mixup)`` drawn per batch, and the
        loss is the same blend of the losses of the two labels. Larger values
        blend more (0.2 to 0.4 are usual); 0 switches it off. It acts after
        ``augmentation``, on training batches only, and is seeded by
        ``random_state``.
    ema : float, default=0.0
        Decay of an exponential moving average of the weights (and the
        batch-norm statistics), updated after every training batch; at the
        end of training the network takes the averaged weights, which are
        what ``predict`` uses and what is saved. The average spans about ``1 /
        (1 - ema)`` optimizer steps (0.999: about 1,000 steps; an epoch is
        ``ceil(n_samples / batch_size)`` steps). The ``t``-th update uses the
        decay ``min(ema, (1 + t) / (10 + t))``, so that short trainings are
        not dominated by the initial weights. Integer buffers keep their
        values; 0 switches it off.
        Per-epoch validation scores are those of the current weights, not of
        the average, so it cannot be combined with ``early_stopping``.
    progressive_resizing : float, "auto" or None, default=None
        Progressive resizing (as in fastai and in the progressive learning of
        EfficientNetV2): the early epochs train on smaller copies of the
        training images, which cost less, and the last ones on the images as
        given. The first epoch scales the sides by this factor, in (0, 1];
        the scale grows linearly, in steps of one sixteenth, to 1 at three
        quarters of the epochs, and the last quarter trains at full size.
        The batches are shrunk on the device with antialiased bilinear
        interpolation, before ``augmentation``; validation and prediction
        batches are never resized. With 0.5, a fit makes the pixel passes
        of one at 0.83 times the full side, and ends on images of the full
        side: ``image_size=128`` with 0.5 makes the pixel passes of 106
        pixels. Each epoch's scale is in ``history_[:, "train_scale"]``.
        ``"auto"`` is 0.5 on fewer than 1,500 training images and None from
        1,500 up (the budget of :func:`~sklearn_leukemia.make_leukemia_pipeline`'s
        ``image_size="auto"``, which this goes with); the value used is
        ``progressive_resizing_``. None trains at full size throughout.
    tta : {"flips", "dihedral"} or None, default=None
        Test-time flips: ``"flips"`` makes the prediction of an image the
        average of the network's log-probabilities for the image, its
        horizontal and vertical mirror images and its 180-degree rotation
        (``predict_proba`` returns the normalised geometric mean of the four
        probability vectors); ``"dihedral"`` adds the transposed image and
        its three flips, the eight orientations of a square image (square
        images only). The views are the same for every image, so
        predictions stay deterministic, and they only reorder pixels. It
        costs four (eight) forward passes per image in ``predict``,
        ``predict_proba``, ``score`` and the validation loss; training
        batches are never affected. It is read at prediction time, so
        ``set_params(tta=None)`` on a fitted model switches it off without
        refitting. None predicts from the image alone.
    early_stopping : int or False, default=False
        Patience: stop when ``monitor`` has not improved for this many
        epochs, and restore the weights of the best epoch (skorch's
        :class:`~skorch.callbacks.EarlyStopping` with ``load_best=True``).
    validation_fraction : float, default=0.1
        Fraction of the training images held out, stratified by class, to
        compute ``valid_loss`` and ``valid_acc`` when early stopping monitors
        one of them.
    monitor : {"valid_loss", "valid_acc", "train_loss"}, default="valid_loss"
        Quantity watched by early stopping.
    device : str or torch.device, default="auto"
        ``"auto"`` takes CUDA if available, then MPS, then the CPU; the
        device used is stored as ``device_``. Naming a device that is not
        available raises ValueError at fit time. A model trained on a GPU
        can be unpickled and used on a machine without one.
    data_on_device : {"auto", True, False}, default="auto"
        Where ``fit`` keeps the training and validation images. True copies
        them to ``device`` once, as one tensor (uint8 stays uint8, any other
        dtype becomes float32), and gathers every batch there; False leaves
        them in their array and copies each batch over (from pinned memory
        on CUDA). ``"auto"`` is True on CUDA when the images take at most
        half of the GPU's free memory and no DataLoader workers are set
        (``iterator_train__num_workers``), else False. The batches, and so
        the model, are the same either way; prediction always copies batch
        by batch.
    mixed_precision : {"auto", True, False}, default="auto"
        Automatic mixed precision: ``"auto"`` is on with CUDA (bfloat16 when
        the GPU supports it, else float16 with gradient scaling) and off on
        the CPU; True on the CPU uses bfloat16. On a processor with native
        bfloat16 instructions (AVX512-BF16, AMX) that trained 1.1 times as
        fast as float32 at 96 pixels and 1.7 times at 224, with scores
        within the noise at 96 (:ref:`cpu-bfloat16`); without them it is
        emulated and may be slower.
    channels_last : bool, default=True
        Use the ``channels_last`` memory format for the network and the
        batches, faster for convolutions on CPUs and tensor cores.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling, dropout, augmentation and
        validation split, so that two fits give the same model. torch, numpy
        and ``random`` are seeded inside ``fit`` only; the caller's global
        random states are restored afterwards. Results are reproducible on
        the same hardware and thread count; GPU kernels may add tiny
        differences.
    n_threads : int or None, default=None
        torch threads used by ``fit`` and ``predict``. None takes the
        smallest of torch's current setting and the cores available to this
        process, which inside a joblib worker (``n_jobs`` of a grid search)
        is the worker's share ``cpu_count // n_jobs``, so that parallel
        searches do not oversubscribe the CPU.
    verbose : int, default=0
        0 prints nothing, 1 prints a table of the losses after each epoch
        (skorch's :class:`~skorch.callbacks.PrintLog`), 2 also shows a tqdm
        progress bar over the batches.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        Loss on the logits; arguments with the ``criterion__`` prefix.
    train_split : callable or None, default=None
        skorch's internal validation split. None splits only when early
        stopping needs it (see ``validation_fraction``); pass, e.g.,
        ``skorch.dataset.ValidSplit(0.2, stratified=True)`` to always log
        validation scores.
    classes : array-like or None, default=None
        All the labels, in the order of the ``predict_proba`` columns.
        None takes the sorted labels of ``y``.
    callbacks : list or None, default=None
        Additional skorch callbacks. The built-in ones are ``"epoch_timer"``,
        ``"train_loss"``, ``"valid_loss"``, ``"valid_acc"``,
        ``"lr_scheduler"``, ``"ema"``, ``"early_stopping"``,
        ``"progress_bar"`` and ``"print_log"``; set their parameters with
        ``callbacks__<name>__<param>``.
    iterator_train, iterator_valid : DataLoader class, default=DataLoader
        Arguments with the ``iterator_train__`` / ``iterator_valid__``
        prefixes, e.g. ``iterator_train__num_workers=2``. Training batches
        are shuffled unless ``iterator_train__shuffle=False``.
    dataset : torch Dataset class, default=the internal image dataset
        How ``X`` is served in batches; rarely changed.
    predict_nonlinearity : "auto", callable or None, default="auto"
        "auto" is the softmax, computed in float32.
    warm_start : bool, default=False
        Continue training the current network in further ``fit`` calls.
    compile : bool, default=False
        Compile the network with :func:`torch.compile`.
    use_caching : "auto" or bool, default="auto"
        skorch's caching of validation predictions for scoring.
    torch_load_kwargs : dict or None, default=None
        Passed to :func:`torch.load` by skorch's ``load_params``.
    **kwargs
        Further skorch parameters with a prefix: ``module__*``,
        ``optimizer__*``, ``criterion__*``, ``callbacks__*``,
        ``iterator_train__*``, ``iterator_valid__*``, ``dataset__*``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, in the order of the ``predict_proba`` columns.
    n_channels_in_ : int
        Number of image channels seen in ``fit`` (1 for grayscale).
    device_ : str
        The device the network is on.
    n_threads_ : int
        torch threads used by the last ``fit``.
    max_epochs_ : int
        Epochs the last ``fit`` or ``partial_fit`` call was set to train:
        ``max_epochs``, or the number ``"auto"`` chose for its images (early
        stopping may end training sooner; ``len(history_)`` counts them).
    progressive_resizing_ : float or None
        The first epoch's scale of the last ``fit`` or ``partial_fit`` call:
        ``progressive_resizing``, or what ``"auto"`` chose for its images.
    augmentation_ : AugmentationPolicy or None
        The augmentation of the last ``fit`` or ``partial_fit`` call:
        ``augmentation``, or the preset ``"auto"`` chose for its images.
    class_weight_ : ndarray of shape (n_classes,) or None
        Loss weight of each class.
    value_range_ : tuple of float or None
        Intensity range of the training batches given to the augmentation:
        (0, 1) for integer images, the min and max of ``X`` for float ones;
        None without augmentation.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Losses, scores, learning rates and durations of every epoch and
        batch; also available as ``history``.

    See Also
    --------
    sklearn_leukemia.nn.get_architecture : The architectures.
    sklearn_leukemia.augmentation.AugmentationPolicy : Per-epoch augmentation.

    Notes
    -----
    Losses that become NaN or infinite stop training with a
    ``FloatingPointError`` naming the epoch and batch. A CUDA out-of-memory
    error is re-raised with advice on ``batch_size``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia import SECNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    >>> y = np.array(["ALL", "normal"] * 10)
    >>> clf = SECNNClassifier(max_epochs=1, batch_size=8, module__width=4,
    ...                       random_state=0)
    >>> clf.fit(X, y).classes_
    array(['ALL', 'normal'], dtype='<U6')
    >>> proba = clf.predict_proba(X[:3])
    >>> proba.shape, np.allclose(proba.sum(axis=1), 1)
    ((3, 2), True)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        *,
        architecture="secnn",
        max_epochs="auto",
        batch_size=32,
        lr=3e-3,
        optimizer="adamw",
        weight_decay=1e-4,
        lr_schedule="cosine",
        class_weight=None,
        augmentation=None,
        mixup=0.0,
        ema=0.0,
        progressive_resizing=None,
        tta=None,
        early_stopping=False,
        validation_fraction=0.1,
        monitor="valid_loss",
        device="auto",
        data_on_device="auto",
        mixed_precision="auto",
        channels_last=True,
        random_state=None,
        n_threads=None,
        verbose=0,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=None,
        classes=None,
        callbacks=None,
        iterator_train=DataLoader,
        iterator_valid=DataLoader,
        dataset=ImageBatchDataset,
        predict_nonlinearity="auto",
        warm_start=False,
        compile=False,
        use_caching="auto",
        torch_load_kwargs=None,
        **kwargs,
    ):
        super().__init__(
            module=None,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            dataset=dataset,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=predict_nonlinearity,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            compile=compile,
            use_caching=use_caching,
            torch_load_kwargs=torch_load_kwargs,
            classes=classes,
            **kwargs,
        )
        # The network comes from ``architecture``; skorch's ``module`` is not
        # a parameter of this class.
        vars(self).pop("module", None)
        # Stored directly: skorch's __setattr__ would reject a module instance
        # given as architecture, which fit reports with a clearer message.
        vars(self).update(
            architecture=architecture,
            weight_decay=weight_decay,
            lr_schedule=lr_schedule,
            class_weight=class_weight,
            augmentation=augmentation,
            mixup=mixup,
            ema=ema,
            progressive_resizing=progressive_resizing,
            tta=tta,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            monitor=monitor,
            data_on_device=data_on_device,
            mixed_precision=mixed_precision,
            channels_last=channels_last,
            random_state=random_state,
            n_threads=n_threads,
        )

    # ------------------------------------------------------------------
    # scikit-learn plumbing
    # ------------------------------------------------------------------

    def __repr__(self) -> str:
        return BaseEstimator.__repr__(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        tags.non_deterministic = False
        return tags

    def get_params(self, deep: bool = True, **kwargs) -> dict:
        """Get the parameters, including the prefixed skorch ones.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of the callbacks and of the
            augmentation policy.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep, **kwargs)
        # skorch's bookkeeping, rebuilt from the other parameters by __init__.
        params.pop("_params_to_validate", None)
        return params

    def set_params(self, **params):
        """Set parameters, e.g. ``lr``, ``module__width`` or ``callbacks__*``.

        Parameters of the augmentation policy are set with the
        ``augmentation__`` prefix, as for any nested scikit-learn object.

        Parameters
        ----------
        **params : dict
            Parameter names mapped to new values.

        Returns
        -------
        self : SECNNClassifier
        """
        nested: dict[str, dict] = {}
        for key in list(params):
            owner, sep, sub = key.partition("__")
            if (
                sep
                and owner in self._own_params()
                and hasattr(getattr(self, owner, None), "set_params")
            ):
                nested.setdefault(owner, {})[sub] = params.pop(key)
        for owner, sub_params in nested.items():
            getattr(self, owner).set_params(**sub_params)
        with self._device_shown_to_skorch():
            return super().set_params(**params)

    @classmethod
    def _own_params(cls) -> tuple[str, ...]:
        return (
            "architecture",
            "weight_decay",
            "lr_schedule",
            "class_weight",
            "augmentation",
            "mixup",
            "ema",
            "progressive_resizing",
            "tta",
            "early_stopping",
            "validation_fraction",
            "monitor",
            "data_on_device",
            "mixed_precision",
            "channels_last",
            "random_state",
            "n_threads",
        )

    @property
    def classes_(self) -> np.ndarray:
        """The labels, in the order of the ``predict_proba`` columns."""
        try:
            return self.classes_inferred_
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_' before fit."
            ) from None

    def check_data(self, X, y=None):
        """Do nothing: ``fit`` validated the data and encoded the labels."""

    # ------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------

    def _check_params(self) -> None:
        arch = self.architecture
        if isinstance(arch, torch.nn.Module) or not (
            isinstance(arch, str) or callable(arch)
        ):
            raise ValueError(
                f"architecture={arch!r} is not supported; expected a registered "
                "name such as 'secnn' or 'se_resnet', or a builder callable "
                "(a torch.nn.Module class or a function), not a module instance."
            )
        if not (
            is_auto(self.max_epochs)
            or (is_integral(self.max_epochs) and self.max_epochs >= 1)
        ):
            raise ValueError(
                f"max_epochs={self.max_epochs!r} is not supported; expected an "
                "int >= 1 or 'auto'."
            )
        if not (
            is_integral(self.batch_size)
            and (self.batch_size >= 1 or self.batch_size == -1)
        ):
            raise ValueError(
                f"batch_size={self.batch_size!r} is not supported; expected an "
                "int >= 1 (or -1 for one batch of all images)."
            )
        _check_positive_float(self.lr, "lr")
        _check_positive_float(self.weight_decay, "weight_decay", allow_zero=True)
        if isinstance(self.optimizer, str):
            check_scalar_in(self.optimizer, "optimizer", _OPTIMIZERS)
        elif not callable(self.optimizer):
            raise ValueError(
                f"optimizer={self.optimizer!r} is not supported; expected one of "
                f"{sorted(_OPTIMIZERS)} or a torch.optim.Optimizer class."
            )
        if self.lr_schedule is not None:
            check_scalar_in(self.lr_schedule, "lr_schedule", _LR_SCHEDULES)
        self._check_tta()
        _check_positive_float(self.mixup, "mixup", allow_zero=True)
        _check_positive_float(self.ema, "ema", allow_zero=True)
        if self.ema >= 1:
            raise ValueError(
                f"ema={self.ema!r} is not supported; expected a decay in [0, 1), "
                "e.g. 0.999, or 0 to switch the weight average off."
            )
        pr = self.progressive_resizing
        if pr is not None and not is_auto(pr) and not (
            isinstance(pr, numbers.Real)
            and not isinstance(pr, bool)
            and 0 < pr <= 1
        ):
            raise ValueError(
                f"progressive_resizing={pr!r} is not supported; expected the "
                "scale of the first epoch's images, a float in (0, 1] such as "
                "0.5, 'auto', or None to train at full size throughout."
            )
        cw = self.class_weight
        if not (
            cw is None
            or isinstance(cw, Mapping)
            or (isinstance(cw, str) and cw == "balanced")
        ):
            raise ValueError(
                f"class_weight={cw!r} is not supported; expected None, 'balanced' "
                "or a dict mapping labels to weights."
            )
        if self.augmentation is not None and not is_auto(self.augmentation):
            from sklearn_leukemia.augmentation import AugmentationPolicy

            if not isinstance(self.augmentation, AugmentationPolicy):
                raise ValueError(
                    f"augmentation={self.augmentation!r} is not supported; expected "
                    "an AugmentationPolicy, 'auto' or None."
                )
            self.augmentation.validate()
        es = self.early_stopping
        if es is True:
            raise ValueError(
                "early_stopping=True is ambiguous; give the patience in epochs, "
                "e.g. early_stopping=5, or False to train for max_epochs."
            )
        if not (es is False or es is None or (is_integral(es) and es >= 0)):
            raise ValueError(
                f"early_stopping={es!r} is not supported; expected False or a "
                "patience in epochs (an int >= 1)."
            )
        if self.ema and self._patience():
            raise ValueError(
                f"ema={self.ema!r} cannot be combined with early_stopping={es!r}: "
                "early stopping keeps the weights of the best epoch, judged "
                "without the average. Use one of them (ema=0 or "
                "early_stopping=False)."
            )
        vf = self.validation_fraction
        if not (
            isinstance(vf, numbers.Real) and not isinstance(vf, bool) and 0 < vf < 1
        ):
            raise ValueError(
                f"validation_fraction={vf!r} is not supported; expected a float "
                "strictly between 0 and 1."
            )
        check_scalar_in(self.monitor, "monitor", _MONITORS)
        if not is_auto(self.data_on_device) and not isinstance(
            self.data_on_device, (bool, np.bool_)
        ):
            raise ValueError(
                f"data_on_device={self.data_on_device!r} is not supported; "
                "expected 'auto', True or False."
            )
        if self.mixed_precision not in ("auto", True, False):
            raise ValueError(
                f"mixed_precision={self.mixed_precision!r} is not supported; "
                "expected 'auto', True or False."
            )
        if not isinstance(self.channels_last, (bool, np.bool_)):
            raise ValueError(
                f"channels_last={self.channels_last!r} is not supported; expected "
                "True or False."
            )
        if self.n_threads is not None:
            _check_int(self.n_threads, "n_threads", minimum=1)
        if not isinstance(self.verbose, bool):
            _check_int(self.verbose, "verbose", minimum=0)

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = check_images(X, estimator=self)
        if (
            X.dtype.kind not in "ub"
            and X.dtype not in _FLOAT_DTYPES
            or (X.dtype.kind == "u" and X.dtype not in (np.uint8, np.uint16))
        ):
            raise ValueError(
                f"X passed to {type(self).__name__} has dtype {X.dtype}; expected "
                "uint8 or uint16 pixels (scaled to [0, 1]) or float pixels (used "
                "as they are). Convert with X.astype(np.uint8) or "
                "X.astype(np.float32)."
            )
        check_image_channels(self, X, reset=reset)
        return X

    def _encode_labels(self, X, y, *, reset: bool, classes=None) -> np.ndarray:
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} needs the labels y to be fitted; got y=None.")
        y = column_or_1d(y, warn=True)
        if len(y) != len(X):
            raise ValueError(
                f"X has {len(X)} image(s) but y has {len(y)} label(s); expected "
                "one label per image."
            )
        check_classification_targets(y)
        if reset:
            if classes is None:
                classes = self.classes
            present = np.unique(y)
            labels = present if classes is None else np.asarray(classes)
            if labels.ndim != 1 or len(np.unique(labels)) != len(labels):
                raise ValueError(
                    f"classes={classes!r} is not supported; expected a 1-D list "
                    "of distinct labels."
                )
            n_distinct = len(labels) if classes is not None else len(present)
            if n_distinct < 2:
                raise ValueError(
                    f"{name} needs at least 2 classes, got {n_distinct}: "
                    f"{labels.tolist()}"
                )
            self.classes_inferred_ = labels
        labels = self.classes_
        sorter = np.argsort(labels, kind="stable")
        position = np.searchsorted(labels, y, sorter=sorter)
        encoded = sorter[np.clip(position, 0, len(labels) - 1)]
        unknown = labels[encoded] != y
        if np.any(unknown):
            raise ValueError(
                f"y has label(s) {np.unique(y[unknown]).tolist()} not among the "
                f"classes {labels.tolist()}."
            )
        return encoded.astype(np.int64)

    def _prepare_fit(self, X, y, *, reset: bool, classes=None):
        """Validate everything ``fit`` needs; set the data-dependent attributes."""
        self._check_params()
        X = self._check_X(X, reset=reset)
        # Fail before training, not at the first prediction after it.
        _check_square_for_tta(self.tta, *X.shape[1:3])
        y_encoded = self._encode_labels(X, y, reset=reset, classes=classes)
        if reset:
            self.device_ = str(resolve_device(self.device))
            self.class_weight_ = None
            if self.class_weight is not None:
                self.class_weight_ = compute_class_weight(
                    self.class_weight, classes=self.classes_, y=self.classes_[y_encoded]
                )
            self.value_range_ = None
            if self.augmentation is not None:
                if X.dtype.kind in "ub":
                    self.value_range_ = (0.0, 1.0)
                else:
                    low, high = float(X.min()), float(X.max())
                    self.value_range_ = (low, high if high > low else low + 1.0)
        return X, y_encoded

    # ------------------------------------------------------------------
    # Runtime context: device, threads, seeds, mixed precision
    # ------------------------------------------------------------------

    @contextmanager
    def _device_shown_to_skorch(self):
        """Let skorch's internals see the resolved device as ``self.device``.

        skorch reads ``self.device`` to move modules and batches; the
        parameter may be ``"auto"``, which torch does not know. Inside this
        block the attribute holds ``device_``; the parameter is restored on
        exit so that ``get_params`` and ``clone`` see what the user gave.
        """
        state = vars(self)
        if "device_" not in state or state.get("_device_shown_"):
            yield
            return
        raw = state["device"]
        state["device"] = state["device_"]
        state["_device_shown_"] = True
        try:
            yield
        finally:
            state["device"] = raw
            state.pop("_device_shown_", None)

    def _run_state(self) -> dict | None:
        """Return the settings of the fit or predict running in this thread."""
        return getattr(_RUNS, "states", {}).get(id(self))

    @contextmanager
    def _runtime(self, *, training: bool):
        """Threads and mixed precision; device and seeds too when training.

        The state lives in a thread-local registry rather than on the
        instance, so that threads predicting with one fitted classifier at
        the same time each set up their own threads.
        """
        states = _RUNS.__dict__.setdefault("states", {})
        if id(self) in states:
            yield
            return
        device = torch.device(self.device_)
        n_threads = resolve_n_threads(self.n_threads)
        run = {"amp": amp_config(self.mixed_precision, device)}
        with ExitStack() as stack:
            stack.enter_context(torch_num_threads(n_threads))
            if training:
                # Prediction never reads ``self.device``, so only training,
                # which mutates the instance anyway, swaps it.
                stack.enter_context(self._device_shown_to_skorch())
                self.n_threads_ = n_threads
                seed = int(check_random_state(self.random_state).randint(2**31 - 1))
                stack.enter_context(seeded(seed, device))
                run["seed"] = seed
                run["shuffle_generator"] = torch.Generator().manual_seed(seed + 1)
                run["augment_generator"] = torch.Generator().manual_seed(seed + 2)
                run["mixup_generator"] = torch.Generator().manual_seed(seed + 3)
                run["mixup_rng"] = np.random.default_rng(seed + 3)
                if run["amp"].grad_scaling:
                    run["scaler"] = torch.amp.GradScaler(device.type)
            states[id(self)] = run
            try:
                yield
            except _OutOfMemoryError as exc:
                raise type(exc)(self._oom_message(exc, training)) from exc
            finally:
                del states[id(self)]
                if training:
                    # Callbacks that hold on to the optimizer or the
                    # network's tensors let go, also after a failed fit.
                    for _, callback in getattr(self, "callbacks_", []):
                        if isinstance(callback, (ScheduledLR, WeightAverage)):
                            callback.drop_state()

    def _oom_message(self, exc, training: bool) -> str:
        where = "training" if training else "predicting"
        size = self.batch_size
        smaller = f" (e.g. batch_size={max(1, size // 2)})" if size > 1 else ""
        setting = self.data_on_device
        moved = training and (is_auto(setting) or bool(setting))
        return (
            f"{type(self).__name__} ran out of memory on {self.device_} while "
            f"{where} with batch_size={size}; use a smaller batch_size{smaller}, "
            "smaller images, a smaller network (module__width)"
            + (", data_on_device=False" if moved else "")
            + f" or mixed_precision=True. Original error: {exc}"
        )

    def _amp(self):
        run = self._run_state()
        if run is not None:
            return run["amp"]
        return amp_config(self.mixed_precision, torch.device(self.device_))

    # ------------------------------------------------------------------
    # skorch hooks: initialisation
    # ------------------------------------------------------------------

    def initialize(self):
        """Build the network, loss, optimizer and callbacks.

        ``fit`` calls it; call it yourself only on a classifier that knows
        its data (after ``fit``), e.g. to reset the weights.

        Returns
        -------
        self : SECNNClassifier
        """
        if not hasattr(self, "n_channels_in_") or not hasattr(
            self, "classes_inferred_"
        ):
            raise ValueError(
                f"{type(self).__name__} builds its network from the classes and "
                "image channels of the training data; call fit(X, y) instead "
                "of initialize()."
            )
        self.device_ = str(resolve_device(self.device))
        with self._device_shown_to_skorch():
            return super().initialize()

    def _builder(self) -> Callable[..., torch.nn.Module]:
        if isinstance(self.architecture, str):
            from sklearn_leukemia.nn import get_architecture

            return get_architecture(self.architecture)
        return self.architecture

    def initialize_module(self):
        """Build the network from ``architecture`` and the ``module__`` args.

        Returns
        -------
        self : SECNNClassifier
        """
        kwargs = self.get_params_for("module")
        module = self._builder()(
            n_classes=len(self.classes_), in_channels=self.n_channels_in_, **kwargs
        )
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"architecture={self.architecture!r} returned a "
                f"{type(module).__name__}; expected a torch.nn.Module."
            )
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module_ = module
        return self

    def initialize_criterion(self):
        """Build the loss, with the class weights on the device.

        Returns
        -------
        self : SECNNClassifier
        """
        kwargs = self.get_params_for("criterion")
        weights = getattr(self, "class_weight_", None)
        if weights is not None and "weight" not in kwargs:
            kwargs["weight"] = torch.as_tensor(weights, dtype=torch.float32)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """Build the optimizer named by ``optimizer`` with ``weight_decay``.

        Parameters
        ----------
        triggered_directly : None
            Deprecated by skorch; ignored.

        Returns
        -------
        self : SECNNClassifier
        """
        args, kwargs = self.get_params_for_optimizer(
            "optimizer", self.get_all_learnable_params()
        )
        if isinstance(self.optimizer, str):
            optimizer_class, defaults = _OPTIMIZERS[self.optimizer]
        else:
            optimizer_class, defaults = self.optimizer, {}
        kwargs = {"weight_decay": self.weight_decay, **defaults, **kwargs}
        self.optimizer_ = optimizer_class(*args, **kwargs)
        return self

    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            (
                "valid_acc",
                EpochScoring(_proba_accuracy, name="valid_acc", lower_is_better=False),
            ),
        ]
        if self.lr_schedule in SCHEDULES:
            callbacks.append(("lr_scheduler", ScheduledLR(self.lr_schedule)))
        if self.ema:
            callbacks.append(("ema", WeightAverage(self.ema)))
        if self._patience():
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor=self.monitor,
                        patience=self._patience(),
                        lower_is_better=_MONITORS.get(self.monitor, True),
                        load_best=True,
                    ),
                )
            )
        if is_integral(self.verbose) and self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks.append(("print_log", PrintLog()))
        return callbacks

    def _patience(self) -> int:
        es = self.early_stopping
        return int(es) if is_integral(es) and es is not True and es > 0 else 0

    # ------------------------------------------------------------------
    # skorch hooks: data
    # ------------------------------------------------------------------

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off the validation set when early stopping needs one.

        Parameters
        ----------
        X : ndarray
            Checked training images.
        y : ndarray
            Encoded labels.
        **fit_params : dict
            Passed to the split.

        Returns
        -------
        dataset_train, dataset_valid
            The training dataset, and the validation one or None.
        """
        datasets = self._split_datasets(X, y, **fit_params)
        run = self._run_state()
        if run is not None:
            # The datasets that ``data_on_device`` may move, for this fit.
            run["fit_datasets"] = [d for d in datasets if d is not None]
        return datasets

    def _split_datasets(self, X, y=None, **fit_params):
        needs_split = self._patience() and self.monitor.startswith("valid_")
        if self.train_split is not None or not needs_split:
            return super().get_split_datasets(X, y, **fit_params)
        seed = (self._run_state() or {}).get("seed")
        split = ValidSplit(self.validation_fraction, stratified=True, random_state=seed)
        dataset = self.get_dataset(X, y)
        try:
            return split(dataset, y, **fit_params)
        except ValueError as exc:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {len(y)} "
                f"images cannot make a stratified validation set for "
                f"{len(self.classes_)} classes ({exc}); give more images per "
                "class or a larger validation_fraction, or monitor='train_loss'."
            ) from exc

    def get_iterator(self, dataset, training=False):
        """Return the DataLoader over ``dataset``.

        Defaults added to skorch's: batches are passed through whole (no
        per-image collation), training batches are shuffled with a generator
        seeded from ``random_state``, and batches are pinned for CUDA. In
        ``fit``, the training and validation images are first moved to the
        device when ``data_on_device`` says so.

        Parameters
        ----------
        dataset : torch Dataset
            The data.
        training : bool, default=False
            Whether it is for training.

        Returns
        -------
        DataLoader
        """
        prefix = "iterator_train" if training else "iterator_valid"
        iterator = self.iterator_train if training else self.iterator_valid
        kwargs = self.get_params_for(prefix)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = max(1, len(dataset))
        kwargs.setdefault("collate_fn", collate_batches)
        if training:
            kwargs.setdefault("shuffle", True)
        generator = (self._run_state() or {}).get("shuffle_generator")
        # Every DataLoader iterator draws a seed from its generator; without
        # one it would advance the caller's global torch random state.
        kwargs.setdefault(
            "generator", generator if training and generator else torch.Generator()
        )
        on_device = self._dataset_on_device(dataset, kwargs)
        if on_device is not None:
            dataset = on_device
        elif torch.device(self.device_).type == "cuda":
            kwargs.setdefault("pin_memory", True)
        return iterator(dataset, **kwargs)

    def _dataset_on_device(self, dataset, iterator_kwargs):
        """Return the fit's ``dataset`` moved to the device, or None to stream it."""
        run = self._run_state()
        setting = self.data_on_device
        auto = is_auto(setting)
        if (
            run is None
            or not (auto or setting)
            or not any(d is dataset for d in run.get("fit_datasets", ()))
        ):
            return None
        device = torch.device(self.device_)
        workers = iterator_kwargs.get("num_workers", 0)
        max_bytes = None
        if not auto:
            if workers:
                raise ValueError(
                    f"data_on_device=True cannot be combined with {workers} "
                    "DataLoader workers: the workers would have to reach the "
                    "images on the device. Use data_on_device=False, or no "
                    "workers (num_workers=0)."
                )
        elif device.type != "cuda" or workers:
            return None
        else:
            max_bytes = torch.cuda.mem_get_info(device)[0] // 2
        moved = run.setdefault("datasets_on_device", {})
        if id(dataset) not in moved:
            moved[id(dataset)] = dataset_on_device(dataset, device, max_bytes=max_bytes)
        return moved[id(dataset)]

    def _batches_per_epoch(self, dataset) -> int:
        kwargs = self.get_params_for("iterator_train")
        size = kwargs.get("batch_size", self.batch_size)
        n = len(dataset)
        if size == -1:
            return 1
        if kwargs.get("drop_last", False):
            return max(1, n // size)
        return max(1, math.ceil(n / size))

    def _prepare_batch(self, x) -> torch.Tensor:
        """Move a batch to the device as float32 in the configured layout.

        A batch that is a view of the caller's images is copied when nothing
        else would copy it (float32 on the CPU), so that the network never
        holds the caller's memory.
        """
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        memory_format = (
            torch.channels_last if self.channels_last else torch.contiguous_format
        )
        is_uint8 = x.dtype == torch.uint8
        source = x
        x = x.to(self.device_, non_blocking=True)
        x = x.to(dtype=torch.float32, memory_format=memory_format)
        if is_uint8:
            x = x.mul_(1.0 / 255.0)
        elif getattr(source, CALLER_VIEW, False) and x.data_ptr() == source.data_ptr():
            x = x.clone(memory_format=memory_format)
        return x

    # ------------------------------------------------------------------
    # skorch hooks: steps
    # ------------------------------------------------------------------

    def _set_training(self, training=True):
        """Put the network and loss in training or evaluation mode.

        skorch calls this before every batch; ``Module.train`` walks every
        submodule through ``nn.Module.__setattr__`` each time, which costs
        several percent of a CPU prediction of small images. A module whose
        submodules are all in the requested mode already is left as it is,
        so the result is the same as skorch's. A network with a module that
        overrides ``train`` (which may do more than set the flag) gets
        skorch's call before every batch.
        """
        modules = [getattr(self, name + "_") for name in self._modules + self._criteria]
        if any(
            m.training != bool(training) or type(m).train is not _MODULE_TRAIN
            for module in modules
            if isinstance(module, torch.nn.Module)
            for m in module.modules()
        ):
            super()._set_training(training)

    def _check_tta(self) -> None:
        tta = self.tta
        if not (tta is None or (isinstance(tta, str) and tta in _TTA_MODES)):
            raise ValueError(
                f"tta={self.tta!r} is not supported; expected one of "
                f"{list(_TTA_MODES)} or None."
            )

    def infer(self, x, **fit_params):
        """Run the network on a batch, under autocast when enabled.

        In evaluation mode with ``tta`` set, the network runs once on the
        batch and its flipped (and transposed) copies stacked together, and
        the mean of the log-softmax outputs of the views (float32) is
        returned in place of the logits: its softmax is the normalised
        geometric mean of their probability vectors.

        Parameters
        ----------
        x : torch.Tensor
            A batch ``(N, C, H, W)``, uint8 or float, on any device.
        **fit_params : dict
            Passed to the network's ``forward``.

        Returns
        -------
        torch.Tensor
            The logits ``(N, n_classes)``.
        """
        x = self._prepare_batch(x)
        amp = self._amp()
        views = None if self.module_.training else _tta_views(x, self.tta)
        if views is not None:
            n, x = x.shape[0], torch.cat(views)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        with amp.autocast() if amp.enabled else nullcontext():
            out = self.module_(x, **fit_params)
        if views is None:
            return out
        log_proba = torch.log_softmax(out.float(), dim=1)
        return log_proba.view(len(views), n, *log_proba.shape[1:]).mean(dim=0)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Cross-entropy of the float32 logits.

        Parameters
        ----------
        y_pred : torch.Tensor
            Logits.
        y_true : torch.Tensor
            Encoded labels.
        X : torch.Tensor, default=None
            The batch; unused.
        training : bool, default=False
            Whether it is a training batch; unused.

        Returns
        -------
        torch.Tensor
            The loss.
        """
        y_true = y_true.to(self.device_, non_blocking=True)
        return super().get_loss(y_pred.float(), y_true, X=X, training=training)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        from sklearn_leukemia.augmentation import augment_batch

        run = self._run_state() or {}
        with torch.no_grad():
            return augment_batch(
                x,
                self.augmentation_,
                generator=run.get("augment_generator"),
                value_range=self.value_range_,
            )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Note the first epoch of this call, from which resizing counts.

        Parameters
        ----------
        net : SECNNClassifier
            This classifier (skorch notifies the net as a callback).
        X, y : ndarray or None, default=None
            The training data.
        **kwargs : dict
            Further arguments of skorch's notification.
        """
        super().on_train_begin(net, X=X, y=y, **kwargs)
        run = self._run_state()
        if run is not None:
            run["first_epoch"] = len(self.history)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Start the epoch's history row; set the epoch's training image scale.

        With ``progressive_resizing``, the scale of this epoch's training
        images is recorded in the history as ``train_scale``.

        Parameters
        ----------
        net : SECNNClassifier
            This classifier (skorch notifies the net as a callback).
        dataset_train, dataset_valid : torch Dataset or None, default=None
            The training and validation data.
        **kwargs : dict
            Further arguments of skorch's notification.
        """
        super().on_epoch_begin(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        run = self._run_state()
        start = getattr(self, "progressive_resizing_", None)
        if start is None or run is None:
            return
        epoch = len(self.history) - 1 - run.get("first_epoch", 0)
        n_epochs = getattr(self, "max_epochs_", epoch + 1)
        run["train_scale"] = _progressive_scale(epoch, n_epochs, float(start))
        self.history.record("train_scale", run["train_scale"])

    def _downscale(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """Shrink a training batch ``(N, C, H, W)`` by ``scale`` (antialiased)."""
        height, width = x.shape[-2:]
        size = (_scaled_side(height, scale), _scaled_side(width, scale))
        if size == (height, width):
            return x
        with torch.no_grad():
            x = torch.nn.functional.interpolate(
                x, size=size, mode="bilinear", antialias=True, align_corners=False
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _mixup(self, x: torch.Tensor):
        """Draw the mixup weight and partner permutation of one batch."""
        run = self._run_state() or {}
        # torch's Beta distribution takes no generator: numpy draws lam.
        rng = run.get("mixup_rng") or np.random.default_rng()
        lam = float(rng.beta(self.mixup, self.mixup))
        # On the CPU, where the labels are; the images index with a copy.
        return lam, torch.randperm(x.shape[0], generator=run.get("mixup_generator"))

    def train_step_single(self, batch, **fit_params):
        """Forward and backward pass on one training batch.

        The batch is moved to the device and, when ``augmentation`` is set,
        randomly transformed there; validation and prediction batches never
        are.

        Parameters
        ----------
        batch : tuple
            ``(X_batch, y_batch)`` from the DataLoader.
        **fit_params : dict
            Passed to the network's ``forward``.

        Returns
        -------
        dict
            ``{"loss": loss, "y_pred": logits}``.
        """
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = self._prepare_batch(Xi)
        scale = (self._run_state() or {}).get("train_scale", 1.0)
        if scale < 1.0:
            Xi = self._downscale(Xi, scale)
        if self.augmentation_ is not None:
            Xi = self._augment(Xi)
        mix = self._mixup(Xi) if self.mixup else None
        if mix is not None:
            lam, perm = mix
            # In place on the scaled copy, which keeps the memory format.
            Xi = Xi.mul(lam).add_(Xi[perm.to(Xi.device)], alpha=1.0 - lam)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        if mix is not None:
            y_other = torch.as_tensor(yi)[perm]
            other = self.get_loss(y_pred, y_other, X=Xi, training=True)
            loss = lam * loss + (1.0 - lam) * other
        scaler = (self._run_state() or {}).get("scaler")
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        """One optimisation step; stops training when the loss is not finite.

        Parameters
        ----------
        batch : tuple
            ``(X_batch, y_batch)`` from the DataLoader.
        **fit_params : dict
            Passed to the network's ``forward``.

        Returns
        -------
        dict
            ``{"loss": loss, "y_pred": logits}``.

        Raises
        ------
        FloatingPointError
            If the loss is NaN or infinite.
        """
        scaler = (self._run_state() or {}).get("scaler")
        if scaler is None:
            step = super().train_step(batch, **fit_params)
        else:
            # float16 needs the scaled backward and the skip of steps whose
            # gradients overflowed, which skorch's closure-based step lacks.
            self._zero_grad_optimizer()
            step = self.train_step_single(batch, **fit_params)
            optimizers = [getattr(self, name + "_") for name in self._optimizers]
            for optimizer in optimizers:
                scaler.unscale_(optimizer)
            self.notify(
                "on_grad_computed",
                named_parameters=TeeGenerator(self.get_all_learnable_params()),
                batch=batch,
                training=True,
            )
            for optimizer in optimizers:
                scaler.step(optimizer)
            scaler.update()
        value = step["loss"].item()
        if not math.isfinite(value):
            kind = "NaN" if math.isnan(value) else "infinite"
            epoch = len(self.history)
            n_batch = len(self.history[-1, "batches"])
            raise FloatingPointError(
                f"training loss became {kind} at epoch {epoch}, batch {n_batch}; "
                f"try a lower lr (current {self.lr:g})."
            )
        return step

    def _get_predict_nonlinearity(self):
        if self.predict_nonlinearity == "auto":
            return softmax_float32
        return super()._get_predict_nonlinearity()

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------

    def fit(self, X, y, **fit_params):
        """Build the network and train it on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels])
            Channel-last images, uint8/uint16 (scaled to [0, 1]) or float.
        y : array-like of shape (n_samples,)
            Labels of any type, e.g. ``"ALL"``, ``"AML"``, ``"normal"``.
        **fit_params : dict
            Passed to the network's ``forward``.

        Returns
        -------
        self : SECNNClassifier
            The fitted classifier.
        """
        reset = not (self.warm_start and self.initialized_)
        X, y_encoded = self._prepare_fit(X, y, reset=reset)
        with self._runtime(training=True):
            if reset:
                self.initialize()
            super().partial_fit(X, y_encoded, _routing_method="fit", **fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising.

        The first call builds the network; give ``classes`` then if later
        batches may hold labels absent from the first.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels])
            Channel-last images.
        y : array-like of shape (n_samples,)
            Labels.
        classes : array-like or None, default=None
            All the labels; used by the first call only.
        **fit_params : dict
            Passed to the network's ``forward``.

        Returns
        -------
        self : SECNNClassifier
        """
        reset = not self.initialized_
        X, y_encoded = self._prepare_fit(X, y, reset=reset, classes=classes)
        with self._runtime(training=True):
            if reset:
                self.initialize()
            super().partial_fit(X, y_encoded, **fit_params)
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """Train for ``epochs``, by default the ones ``max_epochs`` sets.

        Parameters
        ----------
        X : ndarray or torch Dataset
            Checked training images, or a dataset of them.
        y : ndarray or None, default=None
            Encoded labels.
        epochs : int or None, default=None
            Epochs to train; None takes ``max_epochs``, resolved for the
            number of images when it is ``"auto"``. Stored as
            ``max_epochs_``, which the learning-rate schedule spans.
            ``progressive_resizing`` and ``augmentation`` are resolved for
            the number of images into ``progressive_resizing_`` and
            ``augmentation_`` in any case.
        **fit_params : dict
            Passed to the network's ``forward``.

        Returns
        -------
        self : SECNNClassifier
        """
        if epochs is None:
            epochs = self.max_epochs
            if is_auto(epochs):
                epochs = auto_max_epochs(len(X))
        self.max_epochs_ = int(epochs)
        pr = self.progressive_resizing
        self.progressive_resizing_ = (
            auto_progressive_resizing(len(X)) if is_auto(pr) else pr
        )
        self.augmentation_ = self.augmentation
        if is_auto(self.augmentation):
            from sklearn_leukemia.augmentation import AugmentationPolicy

            self.augmentation_ = AugmentationPolicy.preset(auto_augment(len(X)))
        return super().fit_loop(X, y, epochs=self.max_epochs_, **fit_params)

    def forward_iter(self, X, training=False, device="cpu") -> Iterator:
        """Yield the network's output for each batch of ``X``.

        Parameters
        ----------
        X : ndarray or torch Dataset
            Checked images, or a dataset of them.
        training : bool, default=False
            Whether to run the network in training mode.
        device : str, default="cpu"
            Where to put the outputs.

        Yields
        ------
        torch.Tensor
            Logits of a batch.
        """
        with self._runtime(training=False):
            yield from super().forward_iter(X, training=training, device=device)

    def predict_proba(self, X) -> np.ndarray:
        """Return the class probabilities of images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels])
            Channel-last images with the channel count seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            float32 probabilities (softmax of the logits, computed in
            float32), columns in the order of ``classes_``; rows sum to 1.
        """
        check_is_fitted(self)
        self._check_tta()
        if not is_dataset(X):
            X = self._check_X(X, reset=False)
        with self._runtime(training=False):
            return super().predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """Return the predicted label of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels])
            Channel-last images with the channel count seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def load_params(self, *args, **kwargs):
        """Load saved parameters (see :meth:`skorch.NeuralNet.load_params`).

        Parameters
        ----------
        *args, **kwargs
            As for skorch.

        Returns
        -------
        None
        """
        with self._device_shown_to_skorch():
            super().load_params(*args, **kwargs)
            if "device_" in vars(self):
                # skorch maps CUDA weights to the CPU when CUDA is missing.
                self.device_ = str(torch.device(vars(self)["device"]))

    # ------------------------------------------------------------------
    # Portable model files (sklearn_leukemia.save_model / load_model)
    # ------------------------------------------------------------------

    def _get_portable_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Return the fitted state as JSON-able values and named arrays."""
        check_is_fitted(self, "module_")
        state = {
            "classes_": np.asarray(self.classes_),
            "n_channels_in_": int(self.n_channels_in_),
            "class_weight_": self.class_weight_,
            "value_range_": self.value_range_,
            "max_epochs_": getattr(self, "max_epochs_", None),
            "progressive_resizing_": getattr(self, "progressive_resizing_", None),
            "augmentation_": getattr(self, "augmentation_", None),
            "device_": self.device_,
            # Epoch-level entries only: the per-batch records are bulky and
            # only serve the training curves, which keep the epoch values.
            "history": [
                {k: v for k, v in row.items() if k != "batches"}
                for row in self.history_
            ],
        }
        arrays = {
            name: tensor.detach().cpu().numpy()
            for name, tensor in self.module_.state_dict().items()
        }
        return state, arrays

    def _set_portable_state(self, state: dict, arrays: dict) -> None:
        """Rebuild the fitted network from :meth:`_get_portable_state` output."""
        from skorch.history import History

        self.classes_inferred_ = np.asarray(state["classes_"])
        self.n_channels_in_ = state["n_channels_in_"]
        self.class_weight_ = state["class_weight_"]
        self.value_range_ = state["value_range_"]
        if state.get("max_epochs_") is not None:
            self.max_epochs_ = int(state["max_epochs_"])
        if "progressive_resizing_" in state:
            self.progressive_resizing_ = state["progressive_resizing_"]
        if "augmentation_" in state:
            self.augmentation_ = state["augmentation_"]
        try:
            resolve_device(self.device)
        except (RuntimeError, ValueError):
            warnings.warn(
                f"the model was trained with device={self.device!r}, which is "
                "not available here; it is loaded on the CPU.",
                UserWarning,
                stacklevel=3,
            )
            self.device = "cpu"
        self.initialize()
        device = torch.device(self.device_)
        self.module_.load_state_dict(
            {name: torch.from_numpy(np.array(a)).to(device) for name, a in
             arrays.items()}
        )
        self.history = History(state["history"])

    # ------------------------------------------------------------------
    # Pickling
    # ------------------------------------------------------------------

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_device_shown_", None)
        return state

    def __setstate__(self, state):
        # skorch maps CUDA tensors to the CPU when CUDA is missing, based on
        # ``state["device"]``; give it the device the tensors are really on
        # (``device_``) rather than the parameter, which may be "auto".
        state = dict(state)
        raw = state.get("device")
        state["device"] = state.get("device_") or "cpu"
        super().__setstate__(state)
        if "device_" in state:
            self.device_ = str(torch.device(vars(self)["device"]))
        vars(self)["device"] = raw
