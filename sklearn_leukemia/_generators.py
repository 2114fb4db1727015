"""The random numbers of one fit come from its own generators.

torch draws from a global generator whenever a random function is called
without one: weight initialisation (``nn.init``, every layer's
``reset_parameters``), dropout. Seeding that generator for a fit would
change it for the whole process: two fits in threads would draw each
other's numbers, and a fit would replace the caller's. A
:class:`FitGenerators` holds a fit's own generator for each device and two
modes, both per thread, that hand it to every random call made without one:

- :meth:`FitGenerators.building`, while the network is built: a
  :class:`~torch.utils._python_dispatch.TorchDispatchMode`, which sees every
  ATen operation, so initialisation written in Python or C++ is covered;
- :meth:`FitGenerators.training`, around the network's training forward: a
  :class:`~torch.overrides.TorchFunctionMode`, cheaper per call, which
  covers torch's random functions and samplers called directly and the
  dropout and RReLU functionals, which take no generator: dropout is
  computed here by ATen's own formulas with ``bernoulli_`` (on the CPU the
  very draws and arithmetic of torch's kernels), RReLU draws its slopes
  with ``uniform_`` (other numbers than torch's kernel draws).

A fit is thereby a function of its seed only, in any thread, and the global
generators are neither read nor written. Random draws inside a Python
function that reaches torch's samplers only through another layer of
``torch.nn.functional`` (``gumbel_softmax``), or inside a fused kernel that
takes no generator (the dropout of ``scaled_dot_product_attention``), are
not redirected: none of the package's networks makes any.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["FitGenerators"]

# In-place samplers and functions that take ``generator=``.
_TENSOR_SAMPLERS = (
    torch.Tensor.uniform_,
    torch.Tensor.normal_,
    torch.Tensor.bernoulli_,
    torch.Tensor.bernoulli,
    torch.Tensor.random_,
    torch.Tensor.exponential_,
    torch.Tensor.geometric_,
    torch.Tensor.log_normal_,
    torch.Tensor.cauchy_,
    torch.Tensor.multinomial,
)
_FUNCTIONS = [
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
    torch.normal,
    torch.bernoulli,
    torch.multinomial,
    torch.poisson,
]
for _like in (torch.rand_like, torch.randn_like):
    try:  # ``generator=`` came to the *_like functions in later torch
        _like(torch.empty(0), generator=torch.Generator())
    except TypeError:
        continue
    _FUNCTIONS.append(_like)
_TAKES_GENERATOR = frozenset(_TENSOR_SAMPLERS) | frozenset(_FUNCTIONS)

# Alpha dropout's constant (SELU's scale times alpha), as ATen has it.
_ALPHA = 1.7580993408473766


def _device_of(args, kwargs) -> torch.device:
    for value in args:
        if isinstance(value, torch.Tensor):
            return value.device
    device = kwargs.get("device")
    if device is not None:
        return torch.device(device)
    return torch.get_default_device()


def _noise(x: torch.Tensor, p: float, per_channel: bool, batched: bool, generator):
    """Bernoulli(1 - p) noise for ``x``: per element, or per channel.

    Per channel is ATen's ``make_feature_noise``: one draw per (sample,
    channel) of a batch, or per channel of an unbatched input (which the
    functionals give it with a leading axis of 1).
    """
    shape = x.shape
    if per_channel:
        if x.dim() < 2:
            raise RuntimeError(
                "Feature dropout requires at least 2 dimensions in the input"
            )
        keep = 2 if batched else 1
        shape = tuple(x.shape[:keep]) + (1,) * (x.dim() - keep)
    noise = torch.empty(shape, dtype=x.dtype, device=x.device)
    return noise.bernoulli_(1 - p, generator=generator)


def _dropout(x, p, training, inplace, *, generator, per_channel=False,
             batched=True, alpha=False):
    """ATen's ``_dropout_impl`` with the noise drawn from ``generator``."""
    if not training or p == 0 or x.numel() == 0:
        return x
    if p == 1:
        return x.mul_(0) if inplace else x * torch.zeros((), dtype=x.dtype)
    noise = _noise(x, p, per_channel, batched, generator)
    if alpha:
        a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
        b = noise.add(-1).mul_(_ALPHA * a).add_(_ALPHA * a * p)
        noise.mul_(a)
        out = x.mul_(noise) if inplace else x * noise
        return out.add_(b)
    noise.div_(1 - p)
    return x.mul_(noise) if inplace else x * noise


def _dropout1d_batched(x) -> bool:
    if x.dim() not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {x.dim()}D "
            "input. Note that dropout1d exists to provide channel-wise dropout "
            "on inputs with 1 spatial dimension, a channel dimension, and an "
            "optional batch dimension (i.e. 2D or 3D inputs)."
        )
    return x.dim() == 3


def _arguments(args, kwargs, names, defaults):
    """Bind positional and keyword arguments of a functional by name."""
    bound = dict(zip(names, args))
    bound.update(kwargs)
    for name, default in zip(names, defaults):
        bound.setdefault(name, default)
    return [bound[name] for name in names]


# functional -> (per channel?, whether an input is a batch, alpha?, default
# of ``training``), as torch.nn.functional has them.
_DROPOUTS = {
    F.dropout: (False, lambda x: True, False, True),
    F.alpha_dropout: (False, lambda x: True, True, False),
    F.dropout1d: (True, _dropout1d_batched, False, True),
    F.dropout2d: (True, lambda x: True, False, True),
    F.dropout3d: (True, lambda x: x.dim() == 5, False, True),
    F.feature_alpha_dropout: (True, lambda x: True, True, False),
}


class FitGenerators:
    """The torch generators of one fit, one per device, and their modes.

    Parameters
    ----------
    seed : int
        Seeds the generator of each device.

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia._generators import FitGenerators
    >>> before = torch.random.get_rng_state()
    >>> with FitGenerators(0).building():
    ...     a = torch.nn.Linear(3, 2).weight
    >>> with FitGenerators(0).building():
    ...     b = torch.nn.Linear(3, 2).weight
    >>> bool(torch.equal(a, b))
    True
    >>> bool(torch.equal(before, torch.random.get_rng_state()))
    True
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device) -> torch.Generator | None:
        """Return the fit's generator for ``device`` (None on 'meta')."""
        device = torch.device(device)
        if device.type == "meta":
            return None
        if device.type != "cpu" and device.index is None:
            device = torch.empty(0, device=device).device
        if device not in self.generators:
            self.generators[device] = torch.Generator(device=device).manual_seed(
                self.seed
            )
        return self.generators[device]

    def building(self) -> TorchDispatchMode:
        """Return the mode to build a network in (every ATen operation)."""
        return _BuildingMode(self)

    def training(self) -> TorchFunctionMode:
        """Return the mode of the training forward (random functions, dropout)."""
        return _TrainingMode(self)


_SAMPLERS: dict = {}


def _with_generator(func):
    """Return the overload of an ATen operation that takes a generator, or None.

    The operation itself when it takes one (``uniform_``, ``normal_``); for
    ``rand``, ``randn``, ``randint``, ``randperm`` the overload with the same
    arguments plus ``generator`` (``randint.low`` -> ``randint.low_generator``).
    """
    if func not in _SAMPLERS:
        names = {a.name for a in func._schema.arguments}
        found = func if "generator" in names else None
        if found is None:
            packet = func.overloadpacket
            for overload in packet.overloads():
                candidate = getattr(packet, overload)
                others = {a.name for a in candidate._schema.arguments}
                if "generator" in others and others - {"generator"} == names:
                    found = candidate
                    break
        _SAMPLERS[func] = found
    return _SAMPLERS[func]


class _BuildingMode(TorchDispatchMode):
    def __init__(self, owner: FitGenerators):
        super().__init__()
        self.owner = owner

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        sampler = _with_generator(func)
        if sampler is None:
            return func(*args, **kwargs)
        func = sampler
        if kwargs.get("generator") is None:
            generator = self.owner.generator(_device_of(args, kwargs))
            if generator is not None:
                kwargs["generator"] = generator
        return func(*args, **kwargs)


class _TrainingMode(TorchFunctionMode):
    def __init__(self, owner: FitGenerators):
        super().__init__()
        self.owner = owner

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _TAKES_GENERATOR:
            if kwargs.get("generator") is None and not any(
                isinstance(a, torch.Generator) for a in args
            ):
                generator = self.owner.generator(_device_of(args, kwargs))
                if generator is not None:
                    kwargs["generator"] = generator
            return func(*args, **kwargs)
        if func in _DROPOUTS:
            per_channel, is_batch, alpha, train_default = _DROPOUTS[func]
            x, p, training, inplace = _arguments(
                args, kwargs, ("input", "p", "training", "inplace"),
                (None, 0.5, train_default, False),
            )
            if not 0.0 <= p <= 1.0:
                raise ValueError(
                    f"dropout probability has to be between 0 and 1, but got {p}"
                )
            return _dropout(
                x, p, training, inplace, generator=self.owner.generator(x.device),
                per_channel=per_channel, batched=is_batch(x), alpha=alpha,
            )
        if func is F.rrelu or func is F.rrelu_:
            inplace_default = func is F.rrelu_
            x, lower, upper, training, inplace = _arguments(
                args, kwargs, ("input", "lower", "upper", "training", "inplace"),
                (None, 1.0 / 8, 1.0 / 3, False, inplace_default),
            )
            if not training:  # a leaky ReLU of the mean slope: no draw
                return F.leaky_relu(x, (lower + upper) / 2, inplace=inplace)
            # One slope per element where x <= 0, as torch's kernel; drawn
            # for every element (the draws differ from torch's own).
            slope = torch.empty_like(x).uniform_(
                lower, upper, generator=self.owner.generator(x.device)
            )
            slope = torch.where(x > 0, torch.ones_like(x), slope)
            return x.mul_(slope) if inplace else x * slope
        return func(*args, **kwargs)
