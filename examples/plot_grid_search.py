"""
Tuning the pipeline with a patient-level grid search
====================================================

The pipeline is an ordinary scikit-learn estimator, so
:class:`~sklearn.model_selection.GridSearchCV` tunes any of its steps: here
the learning rate of the network and whether a CLAHE contrast step comes
before it. The search scores every candidate with the clinical scorers,
splits by patient, and refits the candidate with the best AUC. The chosen
model is then checked once on patients that the search never saw.
"""

# %%
# Held-out patients first
# -----------------------
# The final check needs patients that took no part in the search, so they
# are set aside before anything is tuned.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import (
    GridSearchCV,
    GroupShuffleSplit,
    StratifiedGroupKFold,
)

from sklearn_leukemia import make_leukemia_pipeline
from sklearn_leukemia.datasets import make_blood_smear
from sklearn_leukemia.metrics import clinical_report, clinical_scorers
from sklearn_leukemia.preprocessing import ContrastAdjuster

# Figures are also saved as PNG files in examples/output (or the folder named
# by SKLEARN_LEUKEMIA_OUTPUT), never next to any data.
try:
    EXAMPLES_DIR = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the script without __file__
    EXAMPLES_DIR = Path.cwd()
OUTPUT = Path(os.environ.get("SKLEARN_LEUKEMIA_OUTPUT", EXAMPLES_DIR / "output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

X, y, groups = make_blood_smear(
    360, image_size=40, classes=("normal", "ALL"), n_patients=72, random_state=0
)
search_idx, final_idx = next(
    GroupShuffleSplit(test_size=0.25, random_state=0).split(X, y, groups)
)
print(f"search: {len(search_idx)} images, final check: {len(final_idx)} images")

# %%
# The grid
# --------
# Step names make every part reachable: ``classifier__lr`` is a parameter of
# the SE-CNN, ``contrast`` the whole contrast step, switched between
# ``"passthrough"`` and a :class:`~sklearn_leukemia.preprocessing.
# ContrastAdjuster`.
pipe = make_leukemia_pipeline(
    n_images=len(y), image_size=40, max_epochs=10, random_state=0
)
param_grid = {
    "classifier__lr": [1e-3, 5e-3],
    "contrast": ["passthrough", ContrastAdjuster(method="clahe")],
}
search = GridSearchCV(
    pipe,
    param_grid,
    scoring=clinical_scorers(pos_label="ALL"),
    refit="roc_auc",
    cv=StratifiedGroupKFold(3, shuffle=True, random_state=0),
)
search.fit(X[search_idx], y[search_idx], groups=groups[search_idx])
print("best:", search.best_params_, f"AUC {search.best_score_:.3f}")

# %%
# Every candidate, with its spread over folds
# -------------------------------------------
results = search.cv_results_
names = [
    f"lr={p['classifier__lr']:g}\n"
    + ("CLAHE" if p["contrast"] != "passthrough" else "no contrast step")
    for p in results["params"]
]
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
positions = np.arange(len(names))
for offset, (key, label) in zip(
    (-0.2, 0.2), [("roc_auc", "AUC"), ("recall", "sensitivity")]
):
    ax.bar(positions + offset, results[f"mean_test_{key}"], 0.4,
           yerr=results[f"std_test_{key}"], capsize=3, label=label)
ax.set_xticks(positions, names)
ax.set_ylim(0, 1.05)
ax.set_ylabel("mean over 3 patient-level folds")
ax.legend(loc="lower right")
ax.set_title("Grid search candidates")
fig.savefig(OUTPUT / "grid_search_candidates.png")

# %%
# One honest check of the chosen model
# ------------------------------------
# The best cross-validated score is slightly optimistic, since it was picked
# as the maximum of several. The report on the held-out patients is not.
best = search.best_estimator_
proba = best.predict_proba(X[final_idx])[:, list(best.classes_).index("ALL")]
report = clinical_report(y[final_idx], best.predict(X[final_idx]), proba,
                         pos_label="ALL", random_state=0)
print(report)
plt.show()
