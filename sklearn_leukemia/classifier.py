"""The squeeze-and-excitation CNN classifier that ends the pipeline.

:class:`SECNNClassifier` is a thin :class:`skorch.NeuralNetClassifier`: it
takes channel-last image batches, builds its network from the architecture
registry once it knows the classes and channels, and leaves the rest to the
modules beside it:

- :mod:`sklearn_leukemia.callbacks`: the per-epoch rules (learning-rate
  schedule, weight averaging, progressive resizing);
- ``_batch_transforms``: what a training batch goes through (shrinking,
  augmentation, mixup);
- ``_runtime``: device, threads, seeds and mixed precision of each call;
- ``_data``: how ``X`` is served to torch in batches.
"""

from __future__ import annotations

import inspect
import math
import signal
import threading
from contextlib import ExitStack, contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.class_weight import compute_class_weight
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
from skorch.dataset import unpack_data
from skorch.utils import is_dataset
from torch.utils.data import DataLoader

from sklearn_leukemia import _options
from sklearn_leukemia._batch_transforms import (
    batch_value_range,
    check_square_for_tta,
    transform_training_batch,
    tta_views,
)
from sklearn_leukemia._data import (
    ImageBatchDataset,
    batch_to_device,
    early_stopping_split,
    make_iterator,
)
from sklearn_leukemia._generators import FitGenerators
from sklearn_leukemia._runtime import (
    current_run,
    draw_seed,
    net_run,
    resolve_device,
    scaled_train_step,
    skorch_sees_device,
)
from sklearn_leukemia.augmentation import AugmentationPolicy
from sklearn_leukemia.callbacks import LRSchedule, ProgressiveResizing, WeightAveraging
from sklearn_leukemia.utils._validation import (
    check_classes,
    check_image_channels,
    check_images,
    check_intensity_range,
    encode_labels,
)

__all__ = ["SECNNClassifier"]

# Optimizer classes by name, with their defaults (optimizer__* overrides them).
_OPTIMIZERS = {
    "adamw": (torch.optim.AdamW, {"weight_decay": 1e-4}),
    "adam": (torch.optim.Adam, {"weight_decay": 1e-4}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
}
_LOWER_IS_BETTER = {"valid_loss": True, "valid_acc": False, "train_loss": True}
# skorch 1.4 routes fit's metadata as fit's when partial_fit is told so.
_SKORCH_ROUTES_FIT = "_routing_method" in inspect.signature(
    NeuralNetClassifier.fit_loop
).parameters
# Parameters of 0.1 that are gone, and what replaces them.
_REMOVED_PARAMS = {
    "weight_decay": "optimizer__weight_decay=...",
    "validation_fraction": "train_split=skorch.dataset.ValidSplit(fraction, "
    "stratified=True) for the split of early stopping",
}
# Parameters that choose the default callbacks.
_CALLBACK_PARAMS = frozenset(
    {"lr_schedule", "ema", "progressive_resizing", "early_stopping", "monitor",
     "verbose", "callbacks"}
)
_PIXEL_DTYPES = (np.uint8, np.uint16, np.bool_, np.float16, np.float32, np.float64)


class _Interrupted(BaseException):
    """Ctrl-C on its way through skorch.

    skorch takes a KeyboardInterrupt for a callback's request to stop
    (EarlyStopping raises one) and goes on.
    """


@contextmanager
def _ctrl_c_raises(active: bool):
    """Make Ctrl-C (SIGINT) raise :class:`_Interrupted` inside the block.

    Only in the main thread, where signals arrive, and only over Python's
    default handler: a program's own SIGINT handler is left in place.
    """
    previous = signal.getsignal(signal.SIGINT)
    if not active or threading.current_thread() is not threading.main_thread() or (
        previous is not signal.default_int_handler
    ):
        yield
        return
    inside = [True]

    def interrupted(signum, frame):
        # After the block (a Ctrl-C racing its end), Python's own behaviour.
        raise _Interrupted if inside[0] else KeyboardInterrupt

    try:
        try:
            signal.signal(signal.SIGINT, interrupted)
        except ValueError:  # not the main interpreter: leave signals alone
            pass
        yield
    finally:
        inside[0] = False
        try:
            signal.signal(signal.SIGINT, previous)
        except ValueError:
            pass


def _refuse_sample_weight(net, params: dict, *, requested: bool = False) -> None:
    """Raise at once when ``sample_weight`` is given to (or requested by) fit.

    skorch hands fit's keyword arguments to the network's ``forward``, which
    would fail deep in torch; and a weight per image has no place in a loss
    that weighs classes.
    """
    value = params.get("sample_weight")
    # None: no weights (what meta-estimators pass); False or UNCHANGED: a
    # request not to route them here.
    if value is None or (requested and (value is False or value == "$UNCHANGED$")):
        return
    raise TypeError(
        f"{type(net).__name__} does not take sample_weight: its loss weighs "
        "classes, not images. Give class_weight='balanced' (or a dict of "
        "class weights) for the cost of each class, or oversample "
        "(make_leukemia_pipeline(balance=True)); with metadata routing, "
        "set_fit_request(sample_weight=False) lets other steps have it."
    )


def _off(value) -> bool:
    """Whether an on-off parameter is off: None, False or 0.

    ``get_params`` lists the callbacks the parameters choose; it must not
    fail on a value that ``fit`` will reject.
    """
    return value is None or (isinstance(value, Real) and value == 0)


def _proba_accuracy(net, X, y) -> float:
    """Accuracy on encoded labels, for the ``valid_acc`` callback."""
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == np.asarray(y)))


class SECNNClassifier(NeuralNetClassifier):
    """Squeeze-and-excitation CNN image classifier with a scikit-learn API.

    A :class:`skorch.NeuralNetClassifier` for channel-last images ``(n, H, W,
    C)`` or ``(n, H, W)``. ``fit`` builds the network from the architecture
    registry for the classes and channels it sees and trains it with
    cross-entropy; batches are cut from ``X`` and converted on the device
    (uint8 scaled by 1/255, uint16 by 1/65535, floats used as they are). The
    defaults are :func:`~sklearn_leukemia.make_leukemia_pipeline`'s for a
    large training set.

    Parameters
    ----------
    architecture : str or callable, default="secnn"
        A registered name (``"secnn"``, ``"se_resnet"``, ``"timm:<name>"``,
        a plugin's) or a builder ``builder(n_classes=..., in_channels=...,
        **module_kwargs)``; its arguments take the ``module__`` prefix.
    max_epochs : int, default=150
        Passes over the training images.
    batch_size : int, default=32
        Images per batch; -1 for one batch of all of them.
    lr : float, default=3e-3
        Learning rate (the peak one of a schedule).
    optimizer : {"adamw", "adam", "sgd"} or optimizer class, default="adamw"
        Named ones use ``weight_decay=1e-4`` (``"sgd"`` also Nesterov
        momentum 0.9); change them with ``optimizer__weight_decay=...``.
    lr_schedule : {"cosine", "onecycle", "step"} or None, default="cosine"
        :class:`~sklearn_leukemia.callbacks.LRSchedule`; None keeps ``lr``.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss, as in scikit-learn.
    augmentation : str, AugmentationPolicy or None, default="erase"
        Random changes of every training batch, drawn anew each epoch: a
        preset name of :meth:`AugmentationPolicy.preset
        <sklearn_leukemia.augmentation.AugmentationPolicy.preset>` or a
        policy. Never applied to validation or prediction batches.
    mixup : float, default=0.0
        Mixup with ``lam ~ Beta(mixup, mixup)``; 0 switches it off.
    ema : float, default=0.0
        Decay of the moving average of the weights the network ends with
        (:class:`~sklearn_leukemia.callbacks.WeightAveraging`); 0: off.
    progressive_resizing : float or None, default=None
        Scale of the first epoch's training images, grown to 1 at three
        quarters of the epochs
        (:class:`~sklearn_leukemia.callbacks.ProgressiveResizing`).
    tta : {"dihedral", "flips"} or None, default="dihedral"
        Test-time views: a prediction averages the log-probabilities of the
        image's eight orientations (``"flips"``: four mirror images). Read
        at prediction time; ``"dihedral"`` needs square images.
    early_stopping : int or False, default=False
        Patience in epochs; the best epoch's weights are kept. Validation
        comes from ``train_split``, else from 10% of the images by class.
    monitor : {"valid_loss", "valid_acc", "train_loss"}, default="valid_loss"
        What early stopping watches.
    device : str or torch.device, default="auto"
        ``"auto"``: CUDA, then MPS, then the CPU, chosen in ``fit``.
    data_on_device : {"auto", True, False}, default="auto"
        Copy the training images to the device once rather than per batch;
        ``"auto"``: on CUDA when they fit in half its free memory.
    mixed_precision : {"auto", True, False}, default="auto"
        Autocast: ``"auto"`` is on with CUDA (bfloat16, or float16 with
        gradient scaling); True on a CPU uses bfloat16.
    channels_last : bool, default=True
        ``channels_last`` memory format for the network and batches.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, dropout, shuffling, augmentation, mixup and
        the validation split, which draw from the fit's own generators: the
        global random states (torch's, NumPy's) are neither read nor
        written, and fits in threads equal serial ones. None: a fresh seed
        from the operating system each fit.
    n_threads : int or None, default=None
        torch threads; None: the cores this process (or joblib worker) has.
    verbose : int, default=0
        1 prints the losses of each epoch, 2 adds a progress bar.
    on_interrupt : {"raise", "stop"}, default="raise"
        What Ctrl-C (SIGINT) during training does. ``"raise"``: a
        ``KeyboardInterrupt`` leaves the call; a ``fit`` (or first
        ``partial_fit``) it interrupts leaves the classifier unfitted, and a
        continued training keeps its network as the interrupt found it.
        ``"stop"``: skorch's behaviour, training ends early and the call
        returns the network trained so far. A callback stopping training
        (early stopping) is no interrupt. Ctrl-C is told apart in the main
        thread under Python's default SIGINT handler.
    **kwargs
        skorch's parameters (``criterion``, ``train_split``, ``classes``,
        ``callbacks``, ``warm_start``, ...) and prefixed ones (``module__*``,
        ``optimizer__*``, ``criterion__*``, ``callbacks__*``,
        ``iterator_train__*``, ``iterator_valid__*``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, in the order of the ``predict_proba`` columns.
    n_channels_in_ : int
        Image channels seen in ``fit``.
    intensity_range_ : (float, float)
        Lowest and highest intensity seen in ``fit`` (uint8/uint16 read as
        fractions of their full scale); prediction warns on images far
        outside it (:func:`~sklearn_leukemia.utils.check_intensity_range`).
    device_ : str
        The device the network is on.
    n_threads_ : int
        torch threads of the last fit.
    augmentation_ : AugmentationPolicy or None
        The policy ``augmentation`` names.
    class_weight_ : ndarray of shape (n_classes,) or None
        Loss weight of each class.
    value_range_ : (float, float) or None
        Intensity range given to the augmentation.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Losses, scores and learning rates of every epoch and batch.

    See Also
    --------
    sklearn_leukemia.make_leukemia_pipeline : The pipeline that ends with it.

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
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        "architecture": [str, callable],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            Options(Integral, {-1}),
        ],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_options.OPTIMIZERS)), callable],
        "lr_schedule": [StrOptions(set(_options.LR_SCHEDULES)), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "augmentation": [
            StrOptions(set(_options.AUGMENTATION_PRESETS)),
            AugmentationPolicy,
            None,
        ],
        "mixup": [Interval(Real, 0, None, closed="left")],
        "ema": [Interval(Real, 0, 1, closed="left")],
        "progressive_resizing": [Interval(Real, 0, 1, closed="right"), None],
        "tta": [StrOptions(set(_options.TTA_MODES)), None],
        "early_stopping": [Interval(Integral, 0, None, closed="left"), None],
        "monitor": [StrOptions(set(_options.MONITORS))],
        "device": [str, torch.device],
        "data_on_device": [StrOptions({"auto"}), "boolean"],
        "mixed_precision": [StrOptions({"auto"}), "boolean"],
        "channels_last": ["boolean"],
        "random_state": ["random_state"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
        "on_interrupt": [StrOptions({"raise", "stop"})],
        "callbacks": [list, tuple, StrOptions({"disable"}), None],
        # skorch's own, checked by skorch.
        **dict.fromkeys(
            ("criterion", "train_split", "classes", "iterator_train",
             "iterator_valid", "dataset", "predict_nonlinearity", "warm_start",
             "compile", "use_caching", "torch_load_kwargs"),
            "no_validation",
        ),
    }

    def __init__(
        self,
        *,
        architecture="secnn",
        max_epochs=150,
        batch_size=32,
        lr=3e-3,
        optimizer="adamw",
        lr_schedule="cosine",
        class_weight=None,
        augmentation="erase",
        mixup=0.0,
        ema=0.0,
        progressive_resizing=None,
        tta="dihedral",
        early_stopping=False,
        monitor="valid_loss",
        device="auto",
        data_on_device="auto",
        mixed_precision="auto",
        channels_last=True,
        random_state=None,
        n_threads=None,
        verbose=0,
        on_interrupt="raise",
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
            module=None, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size,
            iterator_train=iterator_train, iterator_valid=iterator_valid,
            dataset=dataset, train_split=train_split, callbacks=callbacks,
            predict_nonlinearity=predict_nonlinearity, warm_start=warm_start,
            verbose=verbose, device=device, compile=compile,
            use_caching=use_caching, torch_load_kwargs=torch_load_kwargs,
            classes=classes, **kwargs,
        )
        # The network comes from ``architecture``, not skorch's ``module``.
        vars(self).pop("module", None)
        # Stored directly: skorch's __setattr__ would take a module instance
        # given as architecture for a part of the net; fit rejects it.
        vars(self).update(
            architecture=architecture, lr_schedule=lr_schedule,
            class_weight=class_weight, augmentation=augmentation, mixup=mixup,
            ema=ema, progressive_resizing=progressive_resizing, tta=tta,
            early_stopping=early_stopping, monitor=monitor,
            data_on_device=data_on_device, mixed_precision=mixed_precision,
            channels_last=channels_last, random_state=random_state,
            n_threads=n_threads, on_interrupt=on_interrupt,
        )

    def __repr__(self) -> str:
        return BaseEstimator.__repr__(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.classifier_tags.multi_label = False
        tags.non_deterministic = False
        return tags

    def get_params(self, deep: bool = True, **kwargs) -> dict:
        """Get the parameters, skorch's prefixed ones included (see skorch)."""
        params = super().get_params(deep=deep, **kwargs)
        params.pop("_params_to_validate", None)  # skorch's bookkeeping
        return params

    def set_params(self, **params):
        """Set parameters: ``lr``, ``module__width``, ``augmentation__zoom``...

        ``augmentation__*`` on a preset name sets them on its policy. On a
        fitted classifier, parameters that choose callbacks (``lr_schedule``,
        ``ema``, ``progressive_resizing``, ...) rebuild them, so that the next
        ``partial_fit`` or warm-started ``fit`` trains with them.
        """
        if any(k.startswith("augmentation__") for k in params) and isinstance(
            params.get("augmentation", self.augmentation), str
        ):
            name = params.pop("augmentation", self.augmentation)
            vars(self)["augmentation"] = AugmentationPolicy.preset(name)
        own = set(self._get_param_names())
        for key in [k for k in params if k.partition("__")[0] in own]:
            owner, sep, sub = key.partition("__")
            if sep and hasattr(getattr(self, owner, None), "set_params"):
                getattr(self, owner).set_params(**{sub: params.pop(key)})
        if self.initialized_ and not _CALLBACK_PARAMS.isdisjoint(params):
            # Rebuilt by the next partial_fit or warm-started fit, which
            # validates them first: set_params never fails on a value.
            vars(self)["_callbacks_stale_"] = True
        if "callbacks" in params:
            # skorch would build every callback, the list's and the default
            # ones, before taking the list; fit checks them.
            vars(self)["callbacks"] = params.pop("callbacks")
        with skorch_sees_device(self):
            super().set_params(**params)
        return self

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

    def _check_params(self) -> None:
        for old, new in _REMOVED_PARAMS.items():
            if old in vars(self):
                raise TypeError(
                    f"{type(self).__name__} has no parameter {old!r} any more; "
                    f"use {new}."
                )
        if self.early_stopping is True:
            raise ValueError(
                "early_stopping=True is ambiguous; give the patience in epochs, "
                "e.g. early_stopping=5, or False to train for max_epochs."
            )
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        if isinstance(self.architecture, torch.nn.Module):
            raise ValueError(
                f"architecture={self.architecture!r} is a module instance; give "
                "a registered name such as 'secnn', or a builder (a "
                "torch.nn.Module class or a function)."
            )
        if self.ema and self.early_stopping:
            raise ValueError(
                f"ema={self.ema!r} cannot be combined with early_stopping="
                f"{self.early_stopping!r}: early stopping keeps the weights of "
                "the best epoch, judged without the average. Use one of them."
            )
        if isinstance(self.augmentation, AugmentationPolicy):
            self.augmentation.validate()

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = check_images(X, estimator=self)
        if X.dtype.type not in _PIXEL_DTYPES:
            raise ValueError(
                f"X passed to {type(self).__name__} has dtype {X.dtype}; expected "
                "uint8 or uint16 pixels (scaled to [0, 1]) or float pixels (used "
                "as they are). Convert with X.astype(np.uint8) or "
                "X.astype(np.float32)."
            )
        check_image_channels(self, X, reset=reset)
        return X

    def _prepare_fit(self, X, y, *, reset: bool, classes=None):
        """Validate what ``fit`` needs; set the data-dependent attributes."""
        self._check_params()
        X = self._check_X(X, reset=reset)
        # Fail before training, not at the first prediction after it.
        check_square_for_tta(self.tta, *X.shape[1:3])
        if reset:
            self.classes_inferred_ = check_classes(
                y, self.classes if classes is None else classes, estimator=self
            )
        y_encoded = encode_labels(X, y, self.classes_)
        # Training data make the range; later training data widen it.
        check_intensity_range(self, X, reset=reset, extend=True)
        augmentation = self.augmentation
        if isinstance(augmentation, str):
            augmentation = AugmentationPolicy.preset(augmentation)
        self.augmentation_ = augmentation
        if reset:
            self.device_ = str(self._resolve_device())
            self.class_weight_ = None
            if self.class_weight is not None:
                self.class_weight_ = compute_class_weight(
                    self.class_weight, classes=self.classes_, y=self.classes_[y_encoded]
                )
            self.value_range_ = None
            if augmentation is not None:
                self.value_range_ = batch_value_range(X)
        return X, y_encoded

    def initialize(self):
        """Build the network, loss, optimizer and callbacks (``fit`` calls it)."""
        if not hasattr(self, "n_channels_in_") or not hasattr(
            self, "classes_inferred_"
        ):
            raise ValueError(
                f"{type(self).__name__} builds its network from the classes and "
                "image channels of the training data; call fit(X, y) instead "
                "of initialize()."
            )
        self.device_ = str(self._resolve_device())
        with skorch_sees_device(self):
            return self._initialize_parts()

    def _resolve_device(self) -> torch.device:
        """Return the device of the fit: ``device`` resolved ("auto": the best)."""
        return resolve_device(self.device)

    def _initialize_parts(self):
        """Skorch's initialize: callbacks, network, loss, optimizer, history."""
        return super().initialize()

    def initialize_module(self):
        """Build the network from ``architecture`` and the ``module__`` args."""
        module = self._build_module()
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module_ = module
        return self

    def _build_module(self) -> torch.nn.Module:
        """Return a new network for the classes and channels of fit."""
        builder = self.architecture
        if isinstance(builder, str):
            from sklearn_leukemia.nn import get_architecture

            builder = get_architecture(builder)
        run = current_run(self)
        generators = getattr(run, "network_generators", None) or FitGenerators(
            draw_seed(self.random_state)
        )
        # Initialised from the fit's generator, never torch's global one.
        with generators.building():
            module = builder(
                n_classes=len(self.classes_), in_channels=self.n_channels_in_,
                **self.get_params_for("module"),
            )
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"architecture={self.architecture!r} returned a "
                f"{type(module).__name__}; expected a torch.nn.Module."
            )
        return module

    def initialize_criterion(self):
        """Build the loss, weighted by ``class_weight_``."""
        kwargs = self.get_params_for("criterion")
        weights = getattr(self, "class_weight_", None)
        if weights is not None and "weight" not in kwargs:
            kwargs["weight"] = torch.as_tensor(weights, dtype=torch.float32)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """Build the optimizer ``optimizer`` names, with the ``optimizer__`` args."""
        args, kwargs = self.get_params_for_optimizer(
            "optimizer", self.get_all_learnable_params()
        )
        optimizer, defaults = self.optimizer, {}
        if isinstance(optimizer, str):
            optimizer, defaults = _OPTIMIZERS[optimizer]
        self.optimizer_ = optimizer(*args, **{**defaults, **kwargs})
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
        if self.lr_schedule is not None:
            callbacks.append(("lr_scheduler", LRSchedule(self.lr_schedule)))
        if not _off(self.ema):
            callbacks.append(("ema", WeightAveraging(self.ema)))
        if self.progressive_resizing is not None:
            callbacks.append(
                ("progressive_resizing", ProgressiveResizing(self.progressive_resizing))
            )
        if not _off(self.early_stopping):
            callbacks.append((
                "early_stopping",
                EarlyStopping(
                    monitor=self.monitor,
                    patience=self.early_stopping,
                    # fit validates monitor; get_params must not fail on it.
                    lower_is_better=_LOWER_IS_BETTER.get(str(self.monitor), True),
                    load_best=True,
                ),
            ))
        if isinstance(self.verbose, Real) and self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks.append(("print_log", PrintLog()))
        return callbacks

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off the validation set: ``train_split``, or early stopping's."""
        if self.train_split is None and self.early_stopping and (
            self.monitor.startswith("valid_")
        ):
            datasets = early_stopping_split(self, X, y, **fit_params)
        else:
            datasets = super().get_split_datasets(X, y, **fit_params)
        run = current_run(self)
        if run is not None:
            run.fit_datasets = [d for d in datasets if d is not None]
        return datasets

    def get_iterator(self, dataset, training=False):
        """Return the DataLoader over ``dataset`` (see ``_data.make_iterator``)."""
        return make_iterator(self, dataset, training=training)

    def infer(self, x, **fit_params):
        """Run the network on a batch; return float32 logits.

        Under autocast when mixed precision is on. In evaluation mode with
        ``tta``, the network runs once on the batch and its flipped (and
        transposed) copies together, and the mean of their log-softmax
        outputs is returned in place of the logits: its softmax is the
        normalised geometric mean of their probabilities.
        """
        x = batch_to_device(x, self.device_, channels_last=self.channels_last)
        run = current_run(self)
        amp = run.amp if run is not None else None
        views = None if self.module_.training else tta_views(x, self.tta)
        if views is not None:
            n, x = x.shape[0], torch.cat(views)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        generators = getattr(run, "network_generators", None)
        with ExitStack() as stack:
            if amp is not None and amp.enabled:
                stack.enter_context(amp.autocast())
            if generators is not None and self.module_.training:
                # Dropout draws from the fit's generator.
                stack.enter_context(generators.training())
            out = self.module_(x, **fit_params)
        if views is None:
            return out.float()
        log_proba = torch.log_softmax(out.float(), dim=1)
        return log_proba.view(len(views), n, *log_proba.shape[1:]).mean(dim=0)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Return the loss of the logits ``y_pred`` for the labels ``y_true``."""
        y_true = torch.as_tensor(y_true).to(self.device_, non_blocking=True)
        return self.criterion_(y_pred, y_true)

    def train_step_single(self, batch, **fit_params):
        """Forward and backward pass on one training batch.

        The batch goes to the device, through ``_batch_transforms``
        (shrinking, augmentation, mixup), then through the network.
        """
        self._set_training(True)
        loss, y_pred = self._training_loss(batch, **fit_params)
        run = current_run(self)
        scaler = run.scaler if run else None
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def _training_loss(self, batch, **fit_params):
        """Return the loss of a transformed training batch and the logits."""
        Xi, yi = unpack_data(batch)
        run = current_run(self)
        resizing = next(
            (cb for _, cb in self.callbacks_ if isinstance(cb, ProgressiveResizing)),
            None,
        )
        Xi, mix = transform_training_batch(
            batch_to_device(Xi, self.device_, channels_last=self.channels_last),
            scale=getattr(resizing, "scale_", 1.0),
            augmentation=self.augmentation_,
            value_range=self.value_range_,
            mixup=self.mixup,
            generators=run.generators if run else None,
            mixup_rng=run.mixup_rng if run else None,
            channels_last=self.channels_last,
        )
        y_pred = self.infer(Xi, **fit_params)
        if mix is None:
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        else:
            loss = mix.loss(self.get_loss, y_pred, yi)
        return loss, y_pred

    def train_step(self, batch, **fit_params):
        """One optimisation step; a loss that is not finite stops training.

        With float16 mixed precision the step goes through the gradient
        scaler, skipping the steps whose gradients overflowed.
        """
        run = current_run(self)
        if run is None or run.scaler is None:
            step = super().train_step(batch, **fit_params)
        else:
            step = scaled_train_step(self, run.scaler, batch, **fit_params)
        value = step["loss"].item()
        if not math.isfinite(value):
            kind = "NaN" if math.isnan(value) else "infinite"
            raise FloatingPointError(
                f"training loss became {kind} at epoch {len(self.history)}, "
                f"batch {len(self.history[-1, 'batches'])}; try a lower lr "
                f"(current {self.lr:g})."
            )
        return step

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
        """
        reset = not (self.warm_start and self.initialized_)
        return self._fit(X, y, reset=reset, fit_params=fit_params, routing="fit")

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels])
            Channel-last images.
        y : array-like of shape (n_samples,)
            Labels.
        classes : array-like or None, default=None
            All the labels, for the first call if later ones may hold labels
            absent from it.
        **fit_params : dict
            Passed to the network's ``forward``.

        Returns
        -------
        self : SECNNClassifier
        """
        return self._fit(
            X, y, reset=not self.initialized_, classes=classes, fit_params=fit_params
        )

    def set_fit_request(self, **kwargs):
        """Request metadata for ``fit``, as skorch does; ``sample_weight`` refused.

        ``fit`` hands what is requested to the network's ``forward``.

        Parameters
        ----------
        **kwargs : dict
            ``param_name=alias``, as in scikit-learn's metadata routing.

        Returns
        -------
        self : SECNNClassifier
        """
        return self._set_request("fit", kwargs)

    def set_partial_fit_request(self, **kwargs):
        """Request metadata for ``partial_fit``; ``sample_weight`` refused.

        Parameters
        ----------
        **kwargs : dict
            ``param_name=alias``, as in scikit-learn's metadata routing.

        Returns
        -------
        self : SECNNClassifier
        """
        return self._set_request("partial_fit", kwargs)

    def _set_request(self, method: str, kwargs: dict):
        # skorch >= 1.4's set_*_request, which skorch 1.3 lacks.
        from sklearn.utils._metadata_requests import _routing_enabled

        if not _routing_enabled():
            raise RuntimeError(
                "This method is only available when metadata routing is enabled: "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        _refuse_sample_weight(self, kwargs, requested=True)
        requests = self._get_metadata_request()
        for param, alias in kwargs.items():
            getattr(requests, method).add_request(param=param, alias=alias)
        self._metadata_request = requests
        return self

    def _fit(self, X, y, *, reset: bool, fit_params: dict, classes=None,
             routing="partial_fit"):
        _refuse_sample_weight(self, fit_params)
        if "sample_weight" in fit_params:  # None: no weights
            fit_params = {k: v for k, v in fit_params.items() if k != "sample_weight"}
        start = len(self.history_) if self.initialized_ and self.history_ else 0
        try:
            with _ctrl_c_raises(self.on_interrupt == "raise"):
                X, y_encoded = self._prepare_fit(X, y, reset=reset, classes=classes)
                with net_run(self, training=True):
                    stale = vars(self).pop("_callbacks_stale_", False)
                    if reset:
                        self.initialize()
                        start = 0
                    elif stale:
                        self.initialize_callbacks()
                    # skorch's partial_fit trains without re-initialising;
                    # ours validated the data and built the net above.
                    # Metadata is routed as for the public method called,
                    # where skorch can.
                    if routing == "fit" and _SKORCH_ROUTES_FIT:
                        fit_params = {**fit_params, "_routing_method": "fit"}
                    super().partial_fit(X, y_encoded, **fit_params)
        except (_Interrupted, KeyboardInterrupt):
            rows = list(self.history_ or [])[start:]
            epochs = sum("dur" in row for row in rows)
            if reset:
                self._forget_fit()
            raise KeyboardInterrupt(
                f"training interrupted after {epochs} complete epoch(s)"
            ) from None
        return self

    def _forget_fit(self) -> None:
        """Make an interrupted fit's classifier what it was when constructed.

        Everything ``fit`` set goes: the fitted attributes and skorch's
        registries of parts (which its ``__init__`` leaves to the class).
        """
        state = vars(self)
        for name in [k for k in state if k.endswith("_") and k[0] != "_"]:
            state.pop(name)
        for name in ("_modules", "_criteria", "_optimizers"):
            state.pop(name, None)
        state.update(history_=None, initialized_=False, virtual_params_={})

    def forward_iter(self, X, training=False, device="cpu"):
        """Yield the network's output for each batch of ``X``, as skorch does."""
        with net_run(self, training=False):
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
            float32 probabilities, columns in the order of ``classes_``: the
            softmax of the network's output, whatever the ``criterion``,
            unless ``predict_nonlinearity`` says otherwise.
        """
        # The network, not skorch's notion of fitted, which differs between
        # its versions (an unfitted net, an unpickled one).
        check_is_fitted(self, "module_")
        validate_parameter_constraints(
            {"tta": self._parameter_constraints["tta"]}, {"tta": self.tta},
            caller_name=type(self).__name__,
        )
        if not is_dataset(X):
            X = self._check_X(X, reset=False)
            check_intensity_range(self, X, reset=False)
        with net_run(self, training=False):
            if not (isinstance(self.predict_nonlinearity, str)
                    and self.predict_nonlinearity == "auto"):
                return super().predict_proba(X)
            # The softmax whatever the loss: skorch's "auto" leaves the
            # output of any loss but the cross-entropy as it is.
            probas = []
            for out in self.forward_iter(X, training=False):
                out = out[0] if isinstance(out, tuple) else out
                probas.append(torch.softmax(out, dim=-1).detach().cpu().numpy())
            return np.concatenate(probas, 0)

    def predict(self, X) -> np.ndarray:
        """Return the label of each image of ``X``: the most probable class."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def load_params(self, *args, **kwargs):
        """Load saved parameters, as :meth:`skorch.NeuralNet.load_params` does."""
        with skorch_sees_device(self):
            super().load_params(*args, **kwargs)
            if "device_" in vars(self):
                # skorch maps CUDA weights to the CPU when CUDA is missing.
                self.device_ = str(torch.device(vars(self)["device"]))

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_device_shown_", None)
        return state

    def __setstate__(self, state):
        # skorch maps CUDA tensors to the CPU when CUDA is missing, by
        # ``state["device"]``: give it where the tensors really are.
        state = dict(state)
        raw = state.get("device")
        state["device"] = state.get("device_") or "cpu"
        super().__setstate__(state)
        if "device_" in state:
            self.device_ = str(torch.device(vars(self)["device"]))
        vars(self)["device"] = raw
