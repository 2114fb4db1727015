"""Optional backend: any model of the timm package as ``"timm:<model name>"``.

timm is not a dependency of sklearn-leukemia (``pip install timm``, or the
``timm`` extra); it is imported only when a ``timm:`` name is looked up.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

from torch import nn

from sklearn_leukemia.utils._validation import check_bool, check_int


def _import_timm() -> ModuleType:
    try:
        return importlib.import_module("timm")
    except ImportError as exc:
        raise ImportError(
            "the 'timm:' architectures need the optional timm package: "
            "pip install timm  (or pip install 'sklearn-leukemia[timm]')."
        ) from exc


class TimmBuilder:
    """Build a timm model with the builder signature of the registry.

    An instance (rather than a closure) so that a classifier holding it can
    be pickled and cloned.

    Parameters
    ----------
    model_name : str
        A timm model name, optionally with a pretrained tag
        (``"resnet18.a1_in1k"``).
    """

    def __init__(self, model_name: str):
        self.model_name = model_name

    def __call__(
        self,
        n_classes: int,
        in_channels: int = 3,
        *,
        pretrained: bool = False,
        **kwargs,
    ) -> nn.Module:
        """Return ``timm.create_model(model_name, ...)`` with a fresh head.

        Parameters
        ----------
        n_classes : int
            Number of outputs of the classification head (>= 2).
        in_channels : int, default=3
            Number of input channels.
        pretrained : bool, default=False
            Load timm's pretrained weights. They are downloaded from the
            Hugging Face Hub on first use, which fails offline unless they
            are already in the local cache.
        **kwargs
            Passed on to ``timm.create_model`` (e.g. ``drop_rate``).

        Returns
        -------
        torch.nn.Module
            The model; it returns logits of shape ``(N, n_classes)``.
        """
        n_classes = check_int(n_classes, "n_classes", min_value=2)
        in_channels = check_int(in_channels, "in_channels", min_value=1)
        pretrained = check_bool(pretrained, "pretrained")
        timm = _import_timm()
        return timm.create_model(
            self.model_name,
            pretrained=pretrained,
            num_classes=n_classes,
            in_chans=in_channels,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"TimmBuilder({self.model_name!r})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.model_name == self.model_name

    def __hash__(self) -> int:
        return hash((type(self), self.model_name))


def timm_builder(model_name: str) -> TimmBuilder:
    """Return a builder for the timm model ``model_name``.

    Raises ImportError when timm is missing and ValueError when it has no
    model of that name. The pretrained tag after a dot is not checked, nor
    are names with a timm source prefix (``"hf-hub:org/repo"``,
    ``"local-dir:/path"``), which ``timm.create_model`` resolves itself.
    """
    timm = _import_timm()
    if ":" in model_name:
        return TimmBuilder(model_name)
    arch = model_name.split(".", 1)[0]
    available = timm.list_models()
    if not arch or arch not in available:
        message = f"timm has no model called {model_name!r}"
        close = difflib.get_close_matches(arch, available, n=3)
        if close:
            message += f"; did you mean one of {close}?"
        raise ValueError(message + " See timm.list_models() for the names.")
    return TimmBuilder(model_name)
