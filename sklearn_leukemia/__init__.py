"""Leukemia detection in blood-smear images with scikit-learn estimators.

The heavy parts (torch, skorch) are imported on first use, so that
``import sklearn_leukemia`` stays cheap for the data loaders and the command
line.
"""

import importlib

__version__ = "0.1.0.dev0"

# Public name -> module that defines it; resolved lazily by ``__getattr__``.
_LAZY = {
    "SECNNClassifier": "sklearn_leukemia.classifier",
    "make_leukemia_pipeline": "sklearn_leukemia.pipeline",
    "save_model": "sklearn_leukemia.persistence",
    "load_model": "sklearn_leukemia.persistence",
}

__all__ = [
    "SECNNClassifier",
    "__version__",
    "load_model",
    "make_leukemia_pipeline",
    "save_model",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sklearn_leukemia' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
