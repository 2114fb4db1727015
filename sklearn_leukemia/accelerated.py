"""Data-parallel training on several processes or GPUs, through accelerate.

:class:`AcceleratedSECNNClassifier` is :class:`~sklearn_leukemia.
SECNNClassifier` with skorch's :class:`skorch.hf.AccelerateMixin`: launched
by Hugging Face's ``accelerate launch`` on N processes (CPUs with gloo, or
GPUs), each process trains a replica on its share of every batch and the
gradients are averaged, so the N replicas stay equal. Device placement,
the distributed wrapping and mixed precision are the accelerator's; the
batches, augmentation, schedules and callbacks are the classifier's own.
Run in one plain process, it trains as a SECNNClassifier does.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.hf import AccelerateMixin

from sklearn_leukemia._generators import FitGenerators
from sklearn_leukemia._runtime import current_run
from sklearn_leukemia.classifier import SECNNClassifier

__all__ = ["AcceleratedSECNNClassifier"]

# What the accelerated classifier has beyond a SECNNClassifier's state.
_ACCELERATOR_STATE = ("accelerator", "unwrap_after_train", "_wrapped_with_accelerator",
                      "callbacks__print_log__sink")


class AcceleratedSECNNClassifier(AccelerateMixin, SECNNClassifier):
    """SECNNClassifier trained data-parallel by an ``accelerate`` Accelerator.

    The same parameters, methods and results as :class:`~sklearn_leukemia.
    SECNNClassifier`, plus the ``accelerator`` that places the network,
    shards the batches and averages the gradients of the processes that
    ``accelerate launch`` started. Each batch of ``batch_size`` images is
    split between the processes when the accelerator is made with
    ``DataLoaderConfiguration(split_batches=True)`` (as
    :func:`make_accelerator` does), so N processes take the optimisation
    steps of one (``batch_size`` must then be a multiple of N); otherwise
    each process takes ``batch_size`` images of its own. Every process must
    call ``fit`` with the same data and the same ``random_state`` (None is
    refused on several processes). The network starts the same in every
    process; each process draws the augmentation, mixup and dropout of its
    share of a batch from a seed of its own, made from ``random_state`` and
    its rank (the main process's is the fit's own).

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        Made once per process; its ``mixed_precision`` (``"bf16"``,
        ``"fp16"``, from ``accelerate launch --mixed_precision``) replaces
        the classifier's own, which must stay False.
    unwrap_after_train : bool, default=True
        Take the network out of its distributed wrapper after ``fit``, so
        that it predicts, and saves, as a plain one.
    device : None, default=None
        The accelerator places the network; anything else is refused.
    mixed_precision : False, default=False
        The accelerator's mixed precision is used; anything else is refused.
    **kwargs
        The other parameters of :class:`~sklearn_leukemia.SECNNClassifier`.

    See Also
    --------
    make_accelerator : The accelerator the command line uses.
    AcceleratedSECNNClassifier.to_classifier : The trained network as a
        plain SECNNClassifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.accelerated import (
    ...     AcceleratedSECNNClassifier, make_accelerator)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(16, 16, 16, 3), dtype=np.uint8)
    >>> y = np.array(["ALL", "normal"] * 8)
    >>> clf = AcceleratedSECNNClassifier(
    ...     accelerator=make_accelerator(cpu=True), max_epochs=1, batch_size=8,
    ...     module__width=4, random_state=0)
    >>> clf.fit(X, y).to_classifier().predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **SECNNClassifier._parameter_constraints,
        "accelerator": "no_validation",
        "unwrap_after_train": ["boolean"],
        "device": [None],
    }

    def __init__(self, *, accelerator, unwrap_after_train=True, device=None,
                 mixed_precision=False, **kwargs):
        super().__init__(
            accelerator=accelerator, unwrap_after_train=unwrap_after_train,
            device=device, mixed_precision=mixed_precision, **kwargs,
        )

    def _get_param_names(self):
        # skorch takes every attribute without a trailing underscore for a
        # parameter; the Mixin's wrapping flag is none.
        return [name for name in super()._get_param_names()
                if name != "_wrapped_with_accelerator"]

    def _check_params(self) -> None:
        super()._check_params()
        n_processes = self.accelerator.num_processes
        if n_processes > 1 and self.random_state is None:
            raise ValueError(
                f"random_state=None on {n_processes} processes: each would draw "
                "its own seed, and so its own validation split and batches; "
                "give every process the same random_state."
            )
        config = getattr(self.accelerator, "dataloader_config", None)
        if n_processes > 1 and getattr(config, "split_batches", False) and (
            self.batch_size == -1 or self.batch_size % n_processes
        ):
            raise ValueError(
                f"batch_size={self.batch_size} cannot be split between "
                f"{n_processes} processes; give a multiple of {n_processes}."
            )
        if self.mixed_precision is not False:
            raise ValueError(
                f"mixed_precision={self.mixed_precision!r}: an accelerated "
                "classifier takes its mixed precision from the accelerator "
                "(accelerate launch --mixed_precision bf16, or "
                "Accelerator(mixed_precision='bf16')); leave it False."
            )

    def _resolve_device(self) -> torch.device:
        device = torch.device(self.accelerator.device)
        # Several CPU processes are each on "cpu:0", a location torch cannot
        # map a pickled tensor back to: the CPU is "cpu".
        return torch.device("cpu") if device.type == "cpu" else device

    def initialize(self):
        """Build the network, loss, optimizer and callbacks; wrap them (``fit``).

        The classifier's own initialize (checks, device), whose parts are
        built by AccelerateMixin's.
        """
        return SECNNClassifier.initialize(self)

    def _initialize_parts(self):
        # AccelerateMixin's initialize: skorch's, then the accelerator's
        # wrapping of the network, loss and optimizer.
        AccelerateMixin.initialize(self)
        self._draw_apart()
        return self

    def _draw_apart(self) -> None:
        """Give this process its own augmentation, mixup and dropout draws.

        Every process builds the same network from the fit's seed (and
        accelerate keeps the shuffling in step), but each augments its own
        share of a batch: drawn from one seed, the i-th image of every share
        would get the same crop and the same dropout mask. The main process
        keeps the fit's draws, so one process trains as a SECNNClassifier.
        """
        run = current_run(self)
        rank = self.accelerator.process_index
        if run is None or not rank or run.seed is None:
            return
        augment, mixup, dropout = np.random.SeedSequence(
            [run.seed, rank]).generate_state(3)
        run.generators["augment"].manual_seed(int(augment))
        run.generators["mixup"].manual_seed(int(mixup))
        run.mixup_rng = np.random.default_rng(int(mixup))
        run.network_generators = FitGenerators(int(dropout))

    def _initialize_accelerator(self):
        # A loss without trainable parameters (the cross-entropy) is left
        # alone: the distributed wrapper refuses a module with none.
        state = vars(self)
        criteria = state.get("_criteria", [])
        state["_criteria"] = [
            name for name in criteria
            if any(p.requires_grad for p in getattr(self, name + "_").parameters())
        ]
        try:
            return super()._initialize_accelerator()
        finally:
            state["_criteria"] = criteria

    def _initialize_callbacks(self):
        # Not the Mixin's, which makes the "auto" sink accelerate's print for
        # good: see initialize_callbacks.
        return SECNNClassifier._initialize_callbacks(self)

    def initialize_callbacks(self):
        """Build the callbacks; the log prints from the main process only.

        ``callbacks__print_log__sink="auto"`` is the accelerator's ``print``
        while the callbacks are built, and stays "auto" as a parameter. With
        ``verbose=0`` nothing is printed (a sink other than ``print`` would
        print whatever ``verbose`` says).
        """
        state = vars(self)
        sink = state.get("callbacks__print_log__sink", "auto")
        if not (isinstance(sink, str) and sink == "auto"):
            return super().initialize_callbacks()
        state["callbacks__print_log__sink"] = (
            getattr(self.accelerator, "print", print) if self.verbose else print
        )
        try:
            return super().initialize_callbacks()
        finally:
            state["callbacks__print_log__sink"] = "auto"

    def _validate_params(self):
        # The Mixin refuses a device when the accelerator places the parts;
        # ours is the accelerator's own device (_resolve_device).
        SECNNClassifier._validate_params(self)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Wait for every process; leave the network wrapped (``fit`` unwraps it).

        The callbacks end training after this, early stopping by reloading
        the best weights it saved from the wrapped network.
        """
        self.accelerator.wait_for_everyone()
        return SECNNClassifier.on_train_end(self, net, X=X, y=y, **kwargs)

    def _fit(self, X, y, **kwargs):
        super()._fit(X, y, **kwargs)
        if self.unwrap_after_train:
            self._unwrap_accelerator()
        return self

    def train_step_single(self, batch, **fit_params):
        """Forward pass under the accelerator's autocast; its backward pass."""
        self._set_training(True)
        with self.accelerator.autocast():
            loss, y_pred = self._training_loss(batch, **fit_params)
        self.accelerator.backward(loss)
        return {"loss": loss, "y_pred": y_pred}

    def to_classifier(self) -> SECNNClassifier:
        """Return the network as a plain :class:`SECNNClassifier`.

        The same parameters but the accelerator's (``device`` and
        ``mixed_precision`` are "auto", a SECNNClassifier's defaults); when
        fitted, also its fitted attributes and weights, taken out of their
        distributed wrapper (this classifier keeps its own). It is what
        ``save_model`` writes, and what loads and predicts on any machine,
        without accelerate. It shares this classifier's network.

        Returns
        -------
        SECNNClassifier
        """
        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k not in _ACCELERATOR_STATE}
        params.update(device="auto", mixed_precision="auto")
        plain = SECNNClassifier(**params)
        if not hasattr(self, "module_"):
            return plain
        state = {k: v for k, v in vars(self).items()
                 if k not in _ACCELERATOR_STATE and k not in params}
        for name in self._modules + self._criteria:
            part = state.get(name + "_")
            if isinstance(part, torch.nn.Module):
                state[name + "_"] = self.accelerator.unwrap_model(
                    part, keep_fp32_wrapper=False)
        optimizer = state.get("optimizer_")
        # accelerate's optimizer wrapper holds the torch optimizer.
        state["optimizer_"] = getattr(optimizer, "optimizer", optimizer)
        state["_params_to_validate"] = set(state.get("_params_to_validate", ())) - set(
            _ACCELERATOR_STATE
        )
        vars(plain).update(state)
        # Its own callbacks: the log printed through the accelerator's print.
        plain.initialize_callbacks()
        return plain


def make_accelerator(**kwargs):
    """Return the ``accelerate.Accelerator`` of this process, splitting batches.

    ``Accelerator(dataloader_config=DataLoaderConfiguration(split_batches=
    True), **kwargs)``: a batch of ``batch_size`` images is shared by the
    processes, so that a fit on N processes takes the steps of a fit on
    one. The rest (processes, devices, mixed precision) comes from
    ``accelerate launch`` or ``kwargs``.

    Parameters
    ----------
    **kwargs
        More arguments of :class:`accelerate.Accelerator` (``cpu=True``,
        ``mixed_precision="bf16"``).

    Returns
    -------
    accelerate.Accelerator

    Raises
    ------
    ImportError
        When accelerate is not installed, saying how to install it.
    """
    try:
        from accelerate import Accelerator
        from accelerate.utils import DataLoaderConfiguration
    except ImportError:
        raise ImportError(
            "data-parallel training needs Hugging Face accelerate: python -m pip "
            "install 'accelerate>=1.0'."
        ) from None
    kwargs.setdefault("dataloader_config", DataLoaderConfiguration(split_batches=True))
    return Accelerator(**kwargs)
