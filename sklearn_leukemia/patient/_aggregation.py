"""How the cell predictions of one patient become that patient's features.

Each aggregation is a function of one patient's cell scores, an array of
shape ``(n_cells, n_columns)`` (the cell model's probabilities), returning a
1-D feature vector, and says what the cell model learns:

- ``"mean"``: the mean of the cells' probabilities of each diagnosis, every
  cell labelled with its patient's diagnosis (the multiple-instance view of
  DeepAPL, Sidhom et al. 2021). The features are the patient's
  probabilities: no second stage.
- ``"quantile"``: the same cell model; the mean and the 10th, 25th, 50th,
  75th and 90th percentiles of the cells' probability of each diagnosis (of
  the positive one for two), fed to a second-stage classifier.
- ``"count"``: the cell model learns cell types; the differential count,
  the share of the patient's cells predicted as each type (what a
  hematologist reads), fed to a second-stage classifier.
"""

from __future__ import annotations

import numpy as np

AGGREGATIONS = ("mean", "quantile", "count")

#: The percentiles of the ``"quantile"`` aggregation.
QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)

#: Whether the cell model learns cell types (else the patient's label).
LEARNS_CELL_TYPES = {"mean": False, "quantile": False, "count": True}

#: Whether the features go through a second-stage classifier.
HAS_SECOND_STAGE = {"mean": False, "quantile": True, "count": True}


def _mean(scores: np.ndarray) -> np.ndarray:
    return scores.mean(axis=0)


def _quantile(scores: np.ndarray) -> np.ndarray:
    # With two diagnoses the second column says everything the first does.
    columns = scores[:, 1:] if scores.shape[1] == 2 else scores
    summary = [columns.mean(axis=0), *np.quantile(columns, QUANTILES, axis=0)]
    return np.concatenate(summary)


def _count(scores: np.ndarray) -> np.ndarray:
    predicted = scores.argmax(axis=1)
    return np.bincount(predicted, minlength=scores.shape[1]) / len(scores)


_FEATURES = {"mean": _mean, "quantile": _quantile, "count": _count}


def patient_features(aggregation: str, scores: np.ndarray) -> np.ndarray:
    """Return one patient's feature vector from its cells' scores."""
    return _FEATURES[aggregation](scores)


def left_out_features(aggregation: str, scores: np.ndarray) -> np.ndarray:
    """Return the patient's features with each cell left out in turn.

    Row ``i`` holds the features of the patient's other cells: what the
    patient would look like without cell ``i``.
    """
    n = len(scores)
    if aggregation == "mean":
        # The mean of the others, without n copies of the scores.
        return (scores.sum(axis=0) - scores) / (n - 1)
    if aggregation == "count":
        counts = np.bincount(scores.argmax(axis=1), minlength=scores.shape[1])
        others = counts - np.eye(scores.shape[1])[scores.argmax(axis=1)]
        return others / (n - 1)
    keep = ~np.eye(n, dtype=bool)
    return np.stack([_FEATURES[aggregation](scores[row]) for row in keep])


def feature_names(aggregation: str, columns: list[str]) -> list[str]:
    """Name each feature of an aggregation, from the cell model's classes."""
    if aggregation == "mean":
        return [f"mean_proba_{c}" for c in columns]
    if aggregation == "count":
        return [f"share_{c}" for c in columns]
    kept = columns[1:] if len(columns) == 2 else columns
    stats = ["mean"] + [f"q{round(q * 100):02d}" for q in QUANTILES]
    return [f"{stat}_proba_{c}" for stat in stats for c in kept]
