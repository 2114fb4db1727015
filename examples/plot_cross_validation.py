"""
Cross-validation by patient, and what a random split hides
==========================================================

Blood-smear datasets hold many images per patient, and images of one patient
share its stain, focus and cell sizes. If the images are split at random,
the same patients appear in training and in test folds and the network can
score well by recognising them. This example cross-validates the same
pipeline twice, with :class:`~sklearn.model_selection.StratifiedKFold`
(random, leaky) and with
:class:`~sklearn.model_selection.StratifiedGroupKFold` (patient-level), using
the clinical scorers of :func:`~sklearn_leukemia.metrics.clinical_scorers`,
and plots the training curves of each fold.
"""

# %%
# Data with a strong patient effect
# ---------------------------------
# Few patients with many images each: the situation where leakage matters
# most, and a common one (a few dozen patients, hundreds of cells each).
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_validate,
)

from sklearn_leukemia import make_leukemia_pipeline
from sklearn_leukemia.datasets import make_blood_smear
from sklearn_leukemia.metrics import clinical_scorers
from sklearn_leukemia.report import plot_training_curves

# Figures are also saved as PNG files in examples/output (or the folder named
# by SKLEARN_LEUKEMIA_OUTPUT), never next to any data.
try:
    EXAMPLES_DIR = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the script without __file__
    EXAMPLES_DIR = Path.cwd()
OUTPUT = Path(os.environ.get("SKLEARN_LEUKEMIA_OUTPUT", EXAMPLES_DIR / "output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

X, y, groups = make_blood_smear(
    300, image_size=32, classes=("normal", "ALL"), n_patients=18,
    difficulty=0.5, random_state=0,
)
print(f"{len(y)} images from {len(np.unique(groups))} patients")

# %%
# The same pipeline, two splitters
# --------------------------------
# ``clinical_scorers(pos_label="ALL")`` gives sensitivity (``recall``),
# specificity, AUC and the negated error rates (``neg_fpr``, ``neg_fnr``:
# greater is better for every scorer, as scikit-learn expects).
# ``return_estimator=True`` keeps each fold's fitted pipeline, whose
# classifier holds the skorch training history.
pipe = make_leukemia_pipeline(
    n_images=len(y), image_size=32, max_epochs=8, random_state=0
)
scoring = clinical_scorers(pos_label="ALL")
splitters = {
    "random split\n(StratifiedKFold)": StratifiedKFold(
        3, shuffle=True, random_state=0),
    "patient-level split\n(StratifiedGroupKFold)": StratifiedGroupKFold(
        3, shuffle=True, random_state=0),
}
results = {
    name: cross_validate(pipe, X, y, groups=groups if "patient" in name else None,
                         cv=cv, scoring=scoring, return_estimator=True)
    for name, cv in splitters.items()
}

metrics = ["accuracy", "recall", "specificity", "roc_auc"]
for name, result in results.items():
    print(name.replace("\n", " "))
    for metric in metrics:
        values = result[f"test_{metric}"]
        print(f"  {metric:12s} {values.mean():.3f} +/- {values.std():.3f}")

# %%
# Comparing the two estimates
# ---------------------------
# The random split looks better; only the patient-level one estimates how
# the model does on a new patient. The gap is the optimism of the leak.
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
width = 0.38
positions = np.arange(len(metrics))
for i, (name, result) in enumerate(results.items()):
    means = [result[f"test_{m}"].mean() for m in metrics]
    stds = [result[f"test_{m}"].std() for m in metrics]
    ax.bar(positions + (i - 0.5) * width, means, width, yerr=stds, capsize=3,
           label=name.replace("\n", " "))
ax.set_xticks(positions, ["accuracy", "sensitivity", "specificity", "AUC"])
ax.set_ylim(0, 1.05)
ax.set_ylabel("mean over 3 folds")
ax.legend(loc="lower right")
ax.set_title("Same model, same data, two ways to split")
fig.savefig(OUTPUT / "cross_validation_scores.png")

# %%
# Training curves of the patient-level folds
# ------------------------------------------
# One line per fold, from the skorch history of each fitted classifier.
patient_level = results["patient-level split\n(StratifiedGroupKFold)"]
histories = [est[-1].history for est in patient_level["estimator"]]
fig = plot_training_curves(histories)
fig.savefig(OUTPUT / "cross_validation_training_curves.png")
plt.show()
