"""
Three classes: normal cells, ALL and AML blasts
===============================================

Leukemia diagnosis is often more than yes or no: lymphoblasts (acute
lymphoblastic leukemia, ALL) and myeloblasts (acute myeloid leukemia, AML)
call for different treatments. With more than two classes there is no
single positive class, so every clinical metric is computed one-vs-rest for
each class and macro-averaged, and the ROC plot has one curve per class.
"""

# %%
# Data and a patient-level split
# ------------------------------
import os
from pathlib import Path

import matplotlib.pyplot as plt
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
    540, image_size=48, classes=("normal", "ALL", "AML"), n_patients=108,
    random_state=0,
)
train, test = next(GroupShuffleSplit(test_size=0.25, random_state=0).split(
    X, y, groups))

fig, axes = plt.subplots(3, 6, figsize=(9, 5), layout="constrained")
for ax, label in zip(axes, ["normal", "ALL", "AML"]):
    for a, image in zip(ax, X[y == label][:6]):
        a.imshow(image)
        a.set_axis_off()
    ax[0].set_title(label, loc="left")
fig.savefig(OUTPUT / "multiclass_samples.png")

# %%
# Fit
# ---
pipe = make_leukemia_pipeline(
    n_images=len(train), image_size=48, max_epochs=20, random_state=0
)
pipe.fit(X[train], y[train])
labels = list(pipe.classes_)
proba = pipe.predict_proba(X[test])
y_pred = pipe.predict(X[test])

# %%
# The per-class report
# --------------------
# No ``pos_label`` for a multi-class report. The headline table holds the
# macro averages; the per-class table shows, for instance, the sensitivity
# for AML (the share of myeloblasts found) next to the one for ALL.
report = clinical_report(y[test], y_pred, proba, labels=labels, random_state=0)
print(report)
aml = report.per_class["AML"]
print(f"AML sensitivity: {aml['recall'][0]:.1%} "
      f"[{aml['recall'][1]:.1%}, {aml['recall'][2]:.1%}]")

# %%
# The same model on the binary question
# -------------------------------------
# Leukemic or not is still the first question. The three-class model
# answers it without another fit: ``positive_classes`` counts a cell as
# leukemic when its class is ALL or AML, and scores it by the sum of their
# probabilities. ``clinical_scorers(positive_classes=...)`` does the same in
# ``cross_validate`` and ``GridSearchCV``.
binary = clinical_report(
    y[test], y_pred, proba, labels=labels, positive_classes=["ALL", "AML"],
    random_state=0,
)
print(binary)

# %%
# Confusion matrix and one-vs-rest ROC curves
# -------------------------------------------
# Confusions between the two blast types are less harmful than a blast
# called normal; the matrix shows which errors the model makes.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot_confusion_matrix(y[test], y_pred, labels=labels, ax=ax1)
plot_roc_curve(y[test], proba, labels=labels, ax=ax2)
fig.savefig(OUTPUT / "multiclass_evaluation.png")

# %%
# Misclassified cells
# -------------------
fig = plot_misclassified(X[test], y[test], y_pred, proba, labels, max_images=8)
fig.savefig(OUTPUT / "multiclass_misclassified.png")
plt.show()
