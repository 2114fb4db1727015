"""Random image augmentation: a fit-time sampler and batched torch augmentation.

:class:`AugmentationPolicy` describes the random rotation, flips, zoom, shift,
shear, brightness and contrast changes. :class:`ImageAugmenter` is an
imbalanced-learn sampler that adds augmented copies of the training images in
``fit`` only; :func:`augment_images` is its function twin and
:func:`augment_batch` applies the same transforms to torch batches, for
per-epoch augmentation inside the classifier. ``augment_batch`` imports torch
on first use.
"""

import importlib

from sklearn_leukemia.augmentation._numpy import augment_images
from sklearn_leukemia.augmentation._policy import AugmentationPolicy
from sklearn_leukemia.augmentation._sampler import ImageAugmenter

__all__ = [
    "AugmentationPolicy",
    "ImageAugmenter",
    "augment_batch",
    "augment_images",
]


def __getattr__(name):
    # torch is heavy: only the classifier's training loop needs augment_batch.
    if name == "augment_batch":
        module = importlib.import_module("sklearn_leukemia.augmentation._torch")
        return module.augment_batch
    raise AttributeError(
        f"module 'sklearn_leukemia.augmentation' has no attribute {name!r}"
    )


def __dir__():
    return sorted(set(globals()) | set(__all__))
