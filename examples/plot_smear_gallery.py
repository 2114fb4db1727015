"""
=====================================
Synthetic and real blood-smear images
=====================================

:func:`~sklearn_leukemia.datasets.make_blood_smear` draws blood-smear crops
procedurally: a pale background, pink red blood cells with a lighter centre
and one white cell in the middle whose morphology depends on the class.
Normal smears show small lymphocytes with dense clumped nuclei and segmented
neutrophils; acute lymphoblastic leukemia (ALL) shows lymphoblasts with a
large fine-chromatin nucleus and a thin rim of blue cytoplasm; acute myeloid
leukemia (AML) shows myeloblasts with more cytoplasm, several nucleoli and
sometimes an Auer rod.

This example shows a few generated images per class, how ``difficulty``
degrades them, and, when the real images of ``../shared/data`` are present,
real smears next to them. Figures are saved as PNG files in
``examples/output/`` (or in the folder named by ``SKLEARN_LEUKEMIA_OUTPUT``).
"""

# %%
import os
from pathlib import Path

import matplotlib

if not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from sklearn_leukemia.datasets import make_blood_smear

try:
    EXAMPLES_DIR = Path(__file__).resolve().parent
except NameError:  # run interactively, without __file__
    EXAMPLES_DIR = Path.cwd()

OUTPUT_DIR = Path(os.environ.get("SKLEARN_LEUKEMIA_OUTPUT", EXAMPLES_DIR / "output"))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)

DATA_DIR = Path(
    os.environ.get(
        "SKLEARN_LEUKEMIA_DATA", EXAMPLES_DIR.parent.parent / "shared" / "data"
    )
)


def show_per_class(images, target, class_names, title, n_per_class=6):
    """One row of images per class, labelled with the class name."""
    fig, axes = plt.subplots(
        len(class_names),
        n_per_class,
        figsize=(1.5 * n_per_class, 1.6 * len(class_names)),
        squeeze=False,
    )
    for row, name in zip(axes, class_names):
        chosen = np.flatnonzero(target == name)[:n_per_class]
        for ax, index in zip(row, chosen):
            ax.imshow(images[index])
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        row[0].set_ylabel(name, fontsize=11)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# %%
# Generated cells, one row per class
# ----------------------------------
#
# Each image belongs to a synthetic patient with its own stain, brightness,
# focus and noise, which is why backgrounds and hues vary from image to image.

classes = ("normal", "ALL", "AML")
images, target, groups = make_blood_smear(
    60, image_size=96, classes=classes, n_patients=18, difficulty=0.0, random_state=0
)
fig = show_per_class(images, target, classes, "make_blood_smear, difficulty=0")
fig.savefig(OUTPUT_DIR / "synthetic_smears.png", dpi=100)

# %%
# What ``difficulty`` does
# ------------------------
#
# At ``difficulty=1`` morphology ranges of the classes overlap, 40% of the
# cells take the look of another class while keeping their label, and many
# images are blurred and noisy. The same seed gives the same patients and
# layouts, so the two figures can be compared row by row.

hard, hard_target, _ = make_blood_smear(
    60, image_size=96, classes=classes, n_patients=18, difficulty=1.0, random_state=0
)
fig = show_per_class(hard, hard_target, classes, "make_blood_smear, difficulty=1")
fig.savefig(OUTPUT_DIR / "synthetic_smears_difficult.png", dpi=100)

# %%
# Real smears
# -----------
#
# The ALL image set of Taleqani Hospital (benign cases and three B-ALL
# subtypes), read and resized by
# :func:`~sklearn_leukemia.datasets.load_image_folder`. These are whole
# fields with several cells, not single-cell crops. This part is skipped when
# the data folder is absent.

real_dir = DATA_DIR / "all-taleqani"
if real_dir.is_dir():
    from sklearn_leukemia.datasets import load_image_folder

    real = load_image_folder(real_dir, load_images=True, image_size=96)
    real_target = np.asarray(real.target_names)[real.target]
    fig = show_per_class(
        real.images, real_target, list(real.target_names), "all-taleqani (real)"
    )
    fig.savefig(OUTPUT_DIR / "real_smears.png", dpi=100)
else:
    print(f"No real images at {real_dir}; set SKLEARN_LEUKEMIA_DATA to show them.")

plt.show()
