"""A registry of network architectures, extensible through entry points.

Three sources of architectures, looked up in this order:

1. names registered in this process with :func:`register_architecture`,
   which includes the built-ins ``"secnn"`` and ``"se_resnet"``;
2. plugins: third-party distributions that declare an entry point in the
   group ``sklearn_leukemia.architectures``, discovered lazily the first
   time a name is not found in 1. (or :func:`list_architectures` is called)
   and cached for the rest of the process;
3. ``"timm:<model name>"``: any model of the optional timm package.

A plugin that cannot be loaded only emits a :class:`UserWarning` and is left
out, so one broken third-party package never stops the library from working.
"""

from __future__ import annotations

import difflib
import threading
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points

from torch import nn

__all__ = ["get_architecture", "list_architectures", "register_architecture"]

ENTRY_POINT_GROUP = "sklearn_leukemia.architectures"
TIMM_PREFIX = "timm:"

Builder = Callable[..., nn.Module]

_REGISTRY: dict[str, Builder] = {}
# None until the entry points have been read; see _plugins().
_PLUGINS: dict[str, Builder] | None = None
# re-entrant: a plugin may look up an architecture while it is being imported
_PLUGINS_LOCK = threading.RLock()


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"architecture name must be a str; got {name!r} of type "
            f"{type(name).__name__}."
        )
    if not name or name != name.strip():
        raise ValueError(
            f"architecture name must be a non-empty string without leading or "
            f"trailing spaces; got {name!r}."
        )
    return name


def register_architecture(
    name: str, func: Builder | None = None, *, overwrite: bool = False
):
    """Register a builder of a network under a name.

    A builder is any callable (a function or an :class:`torch.nn.Module`
    subclass) called as ``builder(n_classes=..., in_channels=..., **kwargs)``
    that returns a module mapping a float tensor ``(N, in_channels, H, W)``
    to logits ``(N, n_classes)``, without softmax.

    Use it as a decorator, ``@register_architecture("name")``, or call it,
    ``register_architecture("name", builder)``. Third-party packages should
    rather declare an entry point (see :func:`get_architecture`) so that
    their architecture is found without being imported first.

    Parameters
    ----------
    name : str
        The name the builder is looked up by. Names starting with ``"timm:"``
        are reserved for the timm backend.
    func : callable, default=None
        The builder. When omitted, a decorator is returned.
    overwrite : bool, default=False
        Replace a builder already registered under ``name``. Without it,
        registering a taken name raises ``ValueError``.

    Returns
    -------
    callable
        ``func`` itself, or, when ``func`` is None, a decorator that
        registers its argument and returns it unchanged.

    Raises
    ------
    ValueError
        If ``name`` is taken and ``overwrite`` is False, or is reserved.
    TypeError
        If ``name`` is not a string or ``func`` is not callable.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_leukemia.nn import get_architecture, register_architecture
    >>> @register_architecture("linear_probe_example")
    ... def linear_probe(n_classes, in_channels=3):
    ...     return nn.Sequential(
    ...         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, n_classes)
    ...     )
    >>> get_architecture("linear_probe_example")(n_classes=2)
    Sequential(
      (0): AdaptiveAvgPool2d(output_size=1)
      (1): Flatten(start_dim=1, end_dim=-1)
      (2): Linear(in_features=3, out_features=2, bias=True)
    )
    """
    name = _check_name(name)
    if name.startswith(TIMM_PREFIX):
        raise ValueError(
            f"architecture names starting with {TIMM_PREFIX!r} are reserved for "
            f"the timm backend; got {name!r}."
        )

    def decorator(builder: Builder) -> Builder:
        if not callable(builder):
            raise TypeError(
                f"the builder registered as {name!r} must be callable; got "
                f"{builder!r} of type {type(builder).__name__}."
            )
        if name in _REGISTRY and not overwrite:
            raise ValueError(
                f"an architecture is already registered as {name!r} "
                f"({_REGISTRY[name]!r}); pass overwrite=True to replace it."
            )
        _REGISTRY[name] = builder
        return builder

    if func is None:
        return decorator
    return decorator(func)


def _load_plugins() -> dict[str, Builder]:
    """Read the entry points of the group; warn about, and skip, bad ones."""
    plugins: dict[str, Builder] = {}
    sources: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        where = f"architecture plugin {ep.name!r} ({ep.value})"
        if ep.name in plugins:
            warnings.warn(
                f"{where} is skipped: the name is already provided by "
                f"{sources[ep.name]}.",
                UserWarning,
                stacklevel=4,
            )
            continue
        if ep.name.startswith(TIMM_PREFIX) or not ep.name.strip():
            warnings.warn(
                f"{where} is skipped: the name is empty or uses the reserved "
                f"prefix {TIMM_PREFIX!r}.",
                UserWarning,
                stacklevel=4,
            )
            continue
        if ep.name in _REGISTRY:
            warnings.warn(
                f"{where} is skipped: {ep.name!r} is already registered as "
                f"{_REGISTRY[ep.name]!r}, which is kept.",
                UserWarning,
                stacklevel=4,
            )
            continue
        try:
            builder = ep.load()
        except Exception as exc:  # a plugin may raise anything while importing
            warnings.warn(
                f"{where} failed to load and is skipped: {type(exc).__name__}: {exc}",
                UserWarning,
                stacklevel=4,
            )
            continue
        if not callable(builder):
            warnings.warn(
                f"{where} is skipped: it refers to {builder!r} of type "
                f"{type(builder).__name__}, which is not callable.",
                UserWarning,
                stacklevel=4,
            )
            continue
        plugins[ep.name] = builder
        sources[ep.name] = where
    return plugins


def _plugins() -> dict[str, Builder]:
    global _PLUGINS
    with _PLUGINS_LOCK:
        if _PLUGINS is None:
            _PLUGINS = _load_plugins()
        return _PLUGINS


def _reset_plugin_cache() -> None:
    """Forget the discovered plugins; the next lookup reads the entry points."""
    global _PLUGINS
    with _PLUGINS_LOCK:
        _PLUGINS = None


def _timm_available() -> bool:
    from sklearn_leukemia.nn._timm import _import_timm

    try:
        _import_timm()
    except ImportError:
        return False
    return True


def list_architectures() -> list[str]:
    """Return the names of the available architectures, sorted.

    The list holds the registered architectures (the built-ins ``"secnn"``
    and ``"se_resnet"`` among them) and those of installed plugins. When the
    optional timm package is installed, any of its models can also be used as
    ``"timm:<model name>"`` (for instance ``"timm:resnet18"``); those are not
    listed, see ``timm.list_models()``.

    Returns
    -------
    list of str
        Sorted architecture names.

    Examples
    --------
    >>> from sklearn_leukemia.nn import list_architectures
    >>> {"secnn", "se_resnet"} <= set(list_architectures())
    True
    """
    return sorted(set(_REGISTRY) | set(_plugins()))


def get_architecture(name: str) -> Builder:
    """Return the builder of the architecture called ``name``.

    The builder is called as ``builder(n_classes=..., in_channels=...,
    **kwargs)`` and returns a :class:`torch.nn.Module` mapping a float tensor
    ``(N, in_channels, H, W)`` to logits ``(N, n_classes)``.

    Names are looked up among the registered architectures first (see
    :func:`register_architecture`), then among plugins, and finally, for
    names of the form ``"timm:<model name>"``, in the optional timm package.

    **Plugins.** A third-party distribution adds an architecture by declaring
    an entry point in the group ``sklearn_leukemia.architectures``; the entry
    point's name is the architecture's name and its value the builder, e.g.
    in ``pyproject.toml``::

        [project.entry-points."sklearn_leukemia.architectures"]
        my_net = "my_package.models:build_my_net"

    Plugins are discovered the first time a name is not found among the
    registered ones, and cached. A plugin that fails to load (or is not
    callable, or reuses a registered name) is skipped with a
    :class:`UserWarning`.

    **timm.** ``"timm:<model name>"`` returns a builder that calls
    ``timm.create_model(model_name, pretrained=False, num_classes=n_classes,
    in_chans=in_channels, **kwargs)``. Pass ``pretrained=True`` to the builder
    to load ImageNet weights; they are downloaded from the Hugging Face Hub
    on first use, which fails without internet access unless they are
    already cached. Names with a timm source prefix, such as
    ``"timm:hf-hub:<org>/<repo>"``, are handed to timm unchecked.

    Parameters
    ----------
    name : str
        Architecture name, as listed by :func:`list_architectures`, or
        ``"timm:<model name>"``.

    Returns
    -------
    callable
        The builder.

    Raises
    ------
    ValueError
        If no architecture has that name; the message lists the known ones.
    ImportError
        If ``name`` starts with ``"timm:"`` and timm is not installed.

    Examples
    --------
    >>> import torch
    >>> from sklearn_leukemia.nn import get_architecture
    >>> build = get_architecture("secnn")
    >>> model = build(n_classes=2, in_channels=3, width=8, depth=2)
    >>> model(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 2])
    """
    name = _check_name(name)
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith(TIMM_PREFIX):
        from sklearn_leukemia.nn._timm import timm_builder

        return timm_builder(name[len(TIMM_PREFIX) :])
    plugins = _plugins()
    if name in plugins:
        return plugins[name]

    known = sorted(set(_REGISTRY) | set(plugins))
    message = f"unknown architecture {name!r}; known architectures: {known}"
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        message += f". Did you mean {close[0]!r}?"
    if _timm_available():
        message += (
            f" Any timm model can also be used as '{TIMM_PREFIX}<model name>', "
            f"e.g. '{TIMM_PREFIX}resnet18' (see timm.list_models())."
        )
    raise ValueError(message)
