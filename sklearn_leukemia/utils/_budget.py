"""The training budget behind the ``"auto"`` defaults.

A default fit is meant to take minutes on a laptop CPU: the goal is about
2,000 images in at most 10 minutes on 2 cores. ``"auto"`` settings spend a
fixed budget, which a large training set uses up at the cheapest recipe,
while a smaller one can afford more of it per image:

- ``max_epochs="auto"``: 150 epochs from 1,500 training images up; a smaller
  set gets the same number of image passes (225,000), up to 250 epochs;
- ``image_size="auto"`` (:class:`~sklearn_leukemia.preprocessing.ImageReader`,
  :class:`~sklearn_leukemia.preprocessing.ImageResizer`): 96 pixels from
  1,500 images up, 128 below;
- ``progressive_resizing="auto"``
  (:class:`~sklearn_leukemia.SECNNClassifier`): none from 1,500 images up,
  0.5 below (the early epochs train on smaller copies of the images);
- ``augment="auto"`` (:func:`~sklearn_leukemia.make_leukemia_pipeline`,
  ``augmentation="auto"`` of :class:`~sklearn_leukemia.SECNNClassifier`):
  the flips and random erasing from 1,500 images up, the flips alone below.
  Erasing costs no time; it follows the same threshold because the two sets
  the defaults were tuned on lie on either side of it and each wins with
  its own recipe (smear fields from 1,500 images up, single-cell crops
  below; see the benchmarks page).

Below 1,500 images a fit thus makes at most 225,000 image passes at 128
pixels trained progressively, which cost about as much as 106 pixels at
full size (1.3 times 96 pixels, measured on a CPU): at most as much as 150
epochs of 1,938 images at 96 pixels, the all-taleqani fit that meets the
time goal. Each estimator applies the rule to the number of images it is
fitted on.
"""

from __future__ import annotations

#: Training sets of at least this many images get the cheapest recipe.
LARGE_SET = 1500
#: ``max_epochs="auto"``.
AUTO_EPOCHS = {"min": 150, "max": 250, "image_passes": 225_000}
#: ``image_size="auto"``: the side for large and for smaller sets.
AUTO_IMAGE_SIZE = {"large": 96, "small": 128}
#: ``progressive_resizing="auto"``: the first epoch's scale, by set size.
AUTO_PROGRESSIVE_RESIZING = {"large": None, "small": 0.5}
#: ``augment="auto"``: the preset of :class:`AugmentationPolicy`, by set size.
AUTO_AUGMENT = {"large": "erase", "small": "flips"}


def _is_large(n_samples: int) -> bool:
    return n_samples >= LARGE_SET


def is_auto(value) -> bool:
    """Return True if ``value`` is the string ``"auto"``."""
    return isinstance(value, str) and value == "auto"


def auto_max_epochs(n_samples: int) -> int:
    """Return the number of epochs ``max_epochs="auto"`` trains ``n_samples`` for."""
    epochs = round(AUTO_EPOCHS["image_passes"] / max(1, n_samples))
    return int(min(AUTO_EPOCHS["max"], max(AUTO_EPOCHS["min"], epochs)))


def auto_image_size(n_samples: int) -> int:
    """Return the side in pixels ``image_size="auto"`` gives ``n_samples`` images."""
    return AUTO_IMAGE_SIZE["large" if _is_large(n_samples) else "small"]


def auto_progressive_resizing(n_samples: int) -> float | None:
    """Return the first scale ``progressive_resizing="auto"`` gives ``n_samples``."""
    return AUTO_PROGRESSIVE_RESIZING["large" if _is_large(n_samples) else "small"]


def auto_augment(n_samples: int) -> str:
    """Return the augmentation preset ``augment="auto"`` gives ``n_samples``."""
    return AUTO_AUGMENT["large" if _is_large(n_samples) else "small"]
