"""Neural networks: the squeeze-and-excitation block and the architectures.

The built-in architectures are :class:`SECNN` (``"secnn"``) and
:class:`SEResNet` (``"se_resnet"``). More can be added with
:func:`register_architecture`, by third-party packages through the entry-point
group ``sklearn_leukemia.architectures``, and, when timm is installed, any
timm model is available as ``"timm:<model name>"``.
"""

from sklearn_leukemia.nn._flops import count_flops
from sklearn_leukemia.nn._registry import (
    get_architecture,
    list_architectures,
    register_architecture,
)
from sklearn_leukemia.nn._se import SEBlock
from sklearn_leukemia.nn._se_resnet import SEBasicBlock, SEResNet
from sklearn_leukemia.nn._secnn import SECNN

__all__ = [
    "SEBasicBlock",
    "SEBlock",
    "SECNN",
    "SEResNet",
    "count_flops",
    "get_architecture",
    "list_architectures",
    "register_architecture",
]
