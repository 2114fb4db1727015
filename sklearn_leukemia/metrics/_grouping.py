"""A binary task read from a model of finer classes: ``positive_classes``.

A model fitted on the subtypes (Benign, Early, Pre, Pro) answers the binary
question (leukemic or not) too: a sample is positive when its class is one of
``positive_classes``, and its positive score is the sum of the probabilities
of those classes. The scorers and the clinical report share these helpers so
that both read the binary task the same way.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_positive_classes",
    "merge_labels",
    "merge_scores",
    "unknown_classes",
]


def check_positive_classes(positive_classes, classes=None) -> list:
    """Validate ``positive_classes``; with ``classes``, check them against it.

    Parameters
    ----------
    positive_classes : list of labels or a label
        The classes that make up the positive side.
    classes : list, default=None
        Every class. When given, each positive class must be one of them and
        at least one class must be left for the negative side.

    Returns
    -------
    positive_classes : list
        As a list of distinct labels, in the given order.
    """
    if isinstance(positive_classes, (str, bytes)) or np.ndim(positive_classes) == 0:
        positive_classes = [positive_classes]
    positive = np.asarray(positive_classes)
    if positive.ndim != 1 or positive.shape[0] == 0:
        raise ValueError(
            f"positive_classes={positive_classes!r} is not valid; expected a "
            "non-empty list of class labels, e.g. ['Early', 'Pre', 'Pro']."
        )
    positive = positive.tolist()
    if len(set(positive)) != len(positive):
        raise ValueError(f"positive_classes={positive!r} holds duplicates.")
    if classes is not None:
        classes = list(classes)
        unknown = unknown_classes(positive, classes)
        if unknown:
            raise ValueError(
                f"positive_classes names {unknown}, which are not among the "
                f"classes {classes}."
            )
        if len(positive) == len(classes):
            raise ValueError(
                f"positive_classes={positive!r} covers every class {classes}; "
                "leave at least one class for the negative side."
            )
    return positive


def unknown_classes(positive_classes: list, classes: list) -> list:
    """Return the positive classes that are not among ``classes``.

    A string never matches a number (``"1"`` is not ``1``), as in the labels
    checks of the metrics.
    """
    return [
        label
        for label in positive_classes
        if label not in classes
        or any(isinstance(label, str) != isinstance(c, str) for c in classes)
    ]


def merge_labels(y, positive_classes: list) -> np.ndarray:
    """Return a boolean array: whether each label is one of the positive ones."""
    return np.isin(np.asarray(y), np.asarray(positive_classes))


def merge_scores(y_score, classes: list, positive_classes: list) -> np.ndarray:
    """Sum the score columns of the positive classes.

    Parameters
    ----------
    y_score : array-like of shape (n_samples, n_classes) or (n_samples,)
        Probabilities, one column per class of ``classes`` in that order; a
        1-D array is the column of ``classes[1]`` of a binary model (as
        scikit-learn's scorers hand it over).
    classes : list
        The classes of the columns.
    positive_classes : list
        A subset of ``classes``, already checked.

    Returns
    -------
    score : ndarray of shape (n_samples,)
        The summed probability of the positive classes.
    """
    scores = np.asarray(y_score, dtype=float)
    if scores.ndim == 1 and len(classes) == 2:
        return scores if classes[1] in positive_classes else 1.0 - scores
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise ValueError(
            f"The scores have shape {scores.shape}; expected one column per class "
            f"of {classes} ({len(classes)} columns), in that order."
        )
    columns = [k for k, label in enumerate(classes) if label in positive_classes]
    return scores[:, columns].sum(axis=1)
