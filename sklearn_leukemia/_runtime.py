"""Where and how the classifier computes: device, threads, seeds, mixed precision.

Every fit and prediction of :class:`~sklearn_leukemia.SECNNClassifier` runs
inside :func:`net_run` (:func:`run_context`), which applies these settings
for the duration of the call and records them in a :class:`Run` that the
rest of the call reads (``current_run``). The rules themselves are plain
functions, testable on their own:

- :func:`resolve_device`: ``"auto"`` is CUDA, then MPS, then the CPU;
- :func:`resolve_n_threads`: the cores this process may use, a joblib
  worker's share of them, or one for a task of a Dask worker;
- :func:`draw_seed`: the seed of one fit, from its ``random_state``;
- :func:`amp_config`: autocast dtype and gradient scaling per device.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import joblib
import numpy as np
import torch

from sklearn_leukemia._generators import FitGenerators

__all__ = [
    "AmpConfig",
    "OutOfMemoryError",
    "Run",
    "amp_config",
    "current_run",
    "dask_worker_threads",
    "draw_seed",
    "joblib_worker_threads",
    "net_run",
    "oom_message",
    "resolve_device",
    "resolve_n_threads",
    "run_context",
    "scaled_train_step",
    "skorch_sees_device",
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
    >>> from sklearn_leukemia._runtime import resolve_device
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
    >>> from sklearn_leukemia._runtime import joblib_worker_threads
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


def dask_worker_threads() -> int | None:
    """Threads a task may use in a Dask worker, or None outside one.

    A ``dask.distributed`` worker runs as many tasks at once as it has
    threads (``--nthreads``), so each task gets one core: the worker's torch
    threads in all follow its thread count. A worker started with
    ``--nthreads 1`` and ``--nworkers K`` runs K one-thread fits; give a fit
    more with the classifier's ``n_threads``. Nothing is imported here when
    ``distributed`` is not already loaded.

    Returns
    -------
    int or None
        1 inside a task of a Dask worker, None elsewhere.

    Examples
    --------
    >>> from sklearn_leukemia._runtime import dask_worker_threads
    >>> dask_worker_threads() is None  # not a Dask task
    True
    """
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return None
    return 1


def _in_main_process() -> bool:
    import multiprocessing

    return multiprocessing.parent_process() is None


def resolve_n_threads(n_threads: int | None = None) -> int:
    """Return the number of torch threads to compute with.

    The rule: ``n_threads`` when given; otherwise the smallest of torch's
    current setting (``torch.get_num_threads()``, which a user or a test may
    have lowered) and the cores this process may use: inside a Dask task one
    (see :func:`dask_worker_threads`), inside a joblib worker its share (see
    :func:`joblib_worker_threads`), elsewhere
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
    >>> from sklearn_leukemia._runtime import resolve_n_threads
    >>> resolve_n_threads(3)
    3
    >>> resolve_n_threads() >= 1
    True
    """
    if n_threads is not None:
        return int(n_threads)
    budget = dask_worker_threads()
    if budget is None:
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
    >>> from sklearn_leukemia._runtime import torch_num_threads
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


def draw_seed(random_state) -> int:
    """Return the seed of one fit, in ``[0, 2**31 - 1)``.

    An int gives the same seed every time; a ``RandomState`` instance gives
    its next draw. None gives a fresh seed from the operating system's
    entropy: NumPy's global generator, which scikit-learn's
    ``check_random_state(None)`` would draw from, is neither read nor
    advanced.

    Examples
    --------
    >>> from sklearn_leukemia._runtime import draw_seed
    >>> draw_seed(0) == draw_seed(0)
    True
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0]) % (2**31 - 1)
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(2**31 - 1))


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
    >>> from sklearn_leukemia._runtime import amp_config
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


def scaled_train_step(net, scaler, batch, **fit_params) -> dict:
    """One float16 optimisation step of a skorch ``net`` through ``scaler``.

    The backward pass is scaled (``net.train_step_single`` uses the run's
    scaler), the gradients are unscaled before the ``on_grad_computed``
    callbacks see them, and the optimizers step through the scaler, which
    skips the steps whose gradients overflowed: what skorch's closure-based
    ``train_step`` lacks.
    """
    from skorch.utils import TeeGenerator

    net._zero_grad_optimizer()
    step = net.train_step_single(batch, **fit_params)
    optimizers = [getattr(net, name + "_") for name in net._optimizers]
    for optimizer in optimizers:
        scaler.unscale_(optimizer)
    net.notify(
        "on_grad_computed",
        named_parameters=TeeGenerator(net.get_all_learnable_params()),
        batch=batch, training=True,
    )
    for optimizer in optimizers:
        scaler.step(optimizer)
    scaler.update()
    return step


#: What torch raises when a device runs out of memory.
OutOfMemoryError = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def oom_message(net, exc, *, training: bool) -> str:
    """Say how to fit in memory, after ``net`` ran out of it."""
    where = "training" if training else "predicting"
    size = net.batch_size
    smaller = f" (e.g. batch_size={max(1, size // 2)})" if size > 1 else ""
    moved = training and net.data_on_device in ("auto", True)
    return (
        f"{type(net).__name__} ran out of memory on {net.device_} while "
        f"{where} with batch_size={size}; use a smaller batch_size{smaller}, "
        "smaller images, a smaller network (module__width)"
        + (", data_on_device=False" if moved else "")
        + f" or mixed_precision=True. Original error: {exc}"
    )


# --------------------------------------------------------------------------
# The settings of one fit or prediction
# --------------------------------------------------------------------------

# Per-thread registry of the runs in progress, keyed by id(owner): threads
# predicting with one fitted classifier at the same time each get their own.
_RUNS = threading.local()


@dataclass
class Run:
    """What one fit or prediction of the classifier computes with.

    Attributes
    ----------
    device : torch.device
        Where the network and the batches are.
    n_threads : int
        torch threads of the call.
    amp : AmpConfig
        Mixed precision.
    training : bool
        Whether the call trains.
    seed : int or None
        The seed drawn from ``random_state`` (training only); every
        generator of the fit is seeded from it.
    generators : dict of str to torch.Generator
        ``"shuffle"``, ``"augment"`` and ``"mixup"`` (training only).
    network_generators : FitGenerators or None
        The network's initialisation and dropout draw from these (training
        only; see ``_generators``).
    mixup_rng : numpy.random.Generator or None
        Draws the mixup weights (training only).
    scaler : torch.amp.GradScaler or None
        Gradient scaling of float16 training.
    fit_datasets : list
        The training and validation datasets of the fit, which
        ``data_on_device`` may copy to the device.
    on_device : dict
        Those copies, by ``id`` of the dataset.
    """

    device: torch.device
    n_threads: int
    amp: AmpConfig
    training: bool = False
    seed: int | None = None
    generators: dict = field(default_factory=dict)
    network_generators: FitGenerators | None = None
    mixup_rng: np.random.Generator | None = None
    scaler: torch.amp.GradScaler | None = None
    fit_datasets: list = field(default_factory=list)
    on_device: dict = field(default_factory=dict)


def current_run(owner) -> Run | None:
    """Return the :class:`Run` of ``owner`` in progress in this thread, or None."""
    return getattr(_RUNS, "runs", {}).get(id(owner))


@contextmanager
def run_context(
    owner,
    *,
    device,
    n_threads: int | None,
    mixed_precision,
    training: bool,
    random_state=None,
) -> Iterator[Run]:
    """Apply the settings of one call of ``owner`` for the duration of the block.

    Sets torch's thread count (restored afterwards); when training, also
    makes the fit's own generators from ``random_state``; the global random
    states (torch's, NumPy's, ``random``'s) are neither read nor written. A
    call
    made inside another call of the same owner in the same thread (``fit``
    predicting for its validation scores) reuses the outer run.

    Parameters
    ----------
    owner : object
        The estimator; the run is registered under its ``id``.
    device : str or torch.device
        The resolved device.
    n_threads : int or None
        See :func:`resolve_n_threads`.
    mixed_precision : {"auto", True, False}
        See :func:`amp_config`.
    training : bool
        Whether the call trains.
    random_state : int, RandomState instance or None, default=None
        Seeds the training run.

    Yields
    ------
    Run
        The settings, also returned by :func:`current_run` inside the block.
    """
    runs = _RUNS.__dict__.setdefault("runs", {})
    if id(owner) in runs:
        yield runs[id(owner)]
        return
    device = torch.device(device)
    run = Run(
        device=device,
        n_threads=resolve_n_threads(n_threads),
        amp=amp_config(mixed_precision, device),
        training=training,
    )
    with ExitStack() as stack:
        stack.enter_context(torch_num_threads(run.n_threads))
        if training:
            seed = draw_seed(random_state)
            run.seed = seed
            run.network_generators = FitGenerators(seed)
            run.generators = {
                name: torch.Generator().manual_seed(seed + offset)
                for offset, name in enumerate(("shuffle", "augment", "mixup"), 1)
            }
            run.mixup_rng = np.random.default_rng(seed + 3)
            if run.amp.grad_scaling:
                run.scaler = torch.amp.GradScaler(device.type)
        runs[id(owner)] = run
        try:
            yield run
        finally:
            del runs[id(owner)]


@contextmanager
def skorch_sees_device(net) -> Iterator[None]:
    """Let skorch's internals see the resolved device as ``net.device``.

    skorch moves modules to ``net.device`` when it builds or rebuilds them,
    and ``device`` may be ``"auto"``, which torch does not know. Inside this
    block the attribute holds the resolved ``net.device_``; the parameter is
    restored on exit, so that ``get_params`` and ``clone`` see what the user
    gave. Without a resolved device, or inside another such block, it does
    nothing.
    """
    state = vars(net)
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


@contextmanager
def net_run(net, *, training: bool) -> Iterator[Run]:
    """Run a call of the classifier ``net`` in its :func:`run_context`.

    Its settings come from ``net``'s parameters and resolved ``device_``;
    while training, skorch sees the resolved device
    (:func:`skorch_sees_device`) and ``net.n_threads_`` records the threads.
    Running out of device memory re-raises with advice
    (:func:`oom_message`); callbacks holding the optimizer or the network's
    tensors (``drop_state``) let go of them, also after a failed fit.
    """
    outer = current_run(net)
    if outer is not None:
        # A call inside a call (fit's validation scores): the outer one has
        # the settings, and the advice on memory.
        yield outer
        return
    with ExitStack() as stack:
        if training:
            stack.enter_context(skorch_sees_device(net))
        run = stack.enter_context(
            run_context(
                net, device=net.device_, n_threads=net.n_threads,
                mixed_precision=net.mixed_precision, training=training,
                random_state=net.random_state,
            )
        )
        if training:
            net.n_threads_ = run.n_threads
        try:
            yield run
        except OutOfMemoryError as exc:
            raise type(exc)(oom_message(net, exc, training=training)) from exc
        finally:
            if training:
                for _, callback in getattr(net, "callbacks_", []):
                    if hasattr(callback, "drop_state"):
                        callback.drop_state()
