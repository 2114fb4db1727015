"""
Quick start: detect leukemic cells in blood smears
==================================================

This example trains the squeeze-and-excitation CNN pipeline of
sklearn-leukemia to tell normal white blood cells from acute lymphoblastic
leukemia (ALL) blasts, then judges it the way a hematologist would: with
sensitivity, specificity, the false positive and false negative rates and
their confidence intervals.

The images come from the built-in synthetic smear generator, so the example
runs anywhere in well under a minute. With real images, replace the data by
:func:`~sklearn_leukemia.datasets.load_image_folder` (or one of the dataset
loaders) and pass the file paths: the pipeline reads them itself.
"""

# %%
# Synthetic smears from synthetic patients
# ----------------------------------------
# :func:`~sklearn_leukemia.datasets.make_blood_smear` draws 48x48 RGB crops,
# each centred on one white cell, from synthetic patients. Each patient has
# its own stain, focus and cell sizes, like real slides, so ``groups`` (the
# patient of each image) matters for a fair split.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from sklearn_leukemia import make_leukemia_pipeline
from sklearn_leukemia.datasets import make_blood_smear
from sklearn_leukemia.metrics import clinical_report
from sklearn_leukemia.report import (
    plot_confusion_matrix,
    plot_misclassified,
    plot_roc_curve,
)

# Figures are also saved as PNG files in examples/output (or the folder named
# by SKLEARN_LEUKEMIA_OUTPUT), never next to any data.
try:
    EXAMPLES_DIR = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the script without __file__
    EXAMPLES_DIR = Path.cwd()
OUTPUT = Path(os.environ.get("SKLEARN_LEUKEMIA_OUTPUT", EXAMPLES_DIR / "output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

X, y, groups = make_blood_smear(
    600, image_size=48, classes=("normal", "ALL"), n_patients=120, random_state=0
)
classes, counts = np.unique(y, return_counts=True)
print(X.shape, X.dtype, dict(zip(classes.tolist(), counts.tolist())),
      f"{len(np.unique(groups))} patients")

fig, axes = plt.subplots(2, 6, figsize=(9, 3.4), layout="constrained")
for ax, label in zip(axes, ["normal", "ALL"]):
    for a, image in zip(ax, X[y == label][:6]):
        a.imshow(image)
        a.set_axis_off()
    ax[0].set_title(label, loc="left")
fig.savefig(OUTPUT / "quickstart_samples.png")

# %%
# A patient-level train/test split
# --------------------------------
# All images of one patient go to the same side: otherwise the network could
# recognise the patient's stain instead of the disease, and the test score
# would be optimistic.
train, test = next(GroupShuffleSplit(test_size=0.25, random_state=0).split(
    X, y, groups))
print(f"{len(train)} training and {len(test)} test images; patients shared: "
      f"{len(set(groups[train]) & set(groups[test]))}")

# %%
# The pipeline
# ------------
# :func:`~sklearn_leukemia.make_leukemia_pipeline` chains reading, resizing,
# optional contrast and denoising steps, normalization, training-time
# augmentation and the SE-CNN. ``n_images`` gives it the defaults for a
# training set of that size; small images and a few epochs are enough here.
# On real microscope images leave ``image_size`` and ``max_epochs`` at those
# defaults (96 or 128 pixels, 150 to 250 epochs), which train in minutes on a
# laptop CPU.
pipe = make_leukemia_pipeline(
    n_images=len(train), image_size=48, max_epochs=15, random_state=0
)
pipe.fit(X[train], y[train])
print([name for name, _ in pipe.steps])

# %%
# Clinical metrics with confidence intervals
# ------------------------------------------
# ``ALL`` is the positive class: sensitivity is the share of ALL cells found,
# specificity the share of normal cells cleared. The 95% intervals come from
# a percentile bootstrap over the test images; with 150 test images they are
# wide, which is the honest answer.
proba = pipe.predict_proba(X[test])
y_pred = pipe.predict(X[test])
labels = list(pipe.classes_)
report = clinical_report(
    y[test], y_pred, proba[:, labels.index("ALL")], pos_label="ALL",
    random_state=0,
)
print(report)

# %%
# Confusion matrix and ROC curve
# ------------------------------
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
plot_confusion_matrix(y[test], y_pred, labels=["normal", "ALL"], ax=ax1)
plot_roc_curve(y[test], proba, labels=labels, pos_label="ALL", ax=ax2)
fig.savefig(OUTPUT / "quickstart_evaluation.png")

# %%
# What did it get wrong?
# ----------------------
# The misclassified cells, most confidently wrong first: the first place to
# look for label errors or staining artefacts.
fig = plot_misclassified(X[test], y[test], y_pred, proba, labels, max_images=8)
fig.savefig(OUTPUT / "quickstart_misclassified.png")
plt.show()
