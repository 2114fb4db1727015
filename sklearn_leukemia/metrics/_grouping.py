"""A binary task read from a model of finer classes: ``positive_classes``.

A model fitted on the subtypes (Benign, Early, Pre, Pro) answers the binary
question (leukemic or not) too: a sample is positive when its class is one of
``positive_classes``, and its positive score is the sum of the probabilities
of those classes. The scorers and the clinical report share these helpers so
that both read the binary task the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BinarySides",
    "binary_sides",
    "check_positive_classes",
    "merge_labels",
    "merge_scores",
    "merge_to_binary",
    "unknown_classes",
]

# A side of more classes than this is named "negative" or "positive".
_MAX_NAMED_CLASSES = 3


def check_positive_classes(
    positive_classes, classes=None, *, name="positive_classes", where="the classes"
) -> list:
    """Validate ``positive_classes``; with ``classes``, check them against it.

    Parameters
    ----------
    positive_classes : list of labels or a label
        The classes that make up the positive side.
    classes : list, default=None
        Every class. When given, each positive class must be one of them and
        at least one class must be left for the negative side.
    name : str, default="positive_classes"
        How the messages name the argument (the command line: its option).
    where : str, default="the classes"
        How the messages name ``classes``.

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
            f"{name}={positive_classes!r} is not valid; expected a "
            "non-empty list of class labels, e.g. ['Early', 'Pre', 'Pro']."
        )
    positive = positive.tolist()
    if len(set(positive)) != len(positive):
        repeated = sorted({p for p in positive if positive.count(p) > 1}, key=str)
        raise ValueError(f"{name} names {repeated} more than once.")
    if classes is not None:
        classes = list(classes)
        unknown = unknown_classes(positive, classes)
        if unknown:
            raise ValueError(
                f"{name} names {unknown}, which are not among {where} {classes}."
            )
        if len(positive) == len(classes):
            raise ValueError(
                f"{name} covers every one of {where} {classes}; leave at least "
                "one for the negative side."
            )
    return positive


@dataclass(frozen=True)
class BinarySides:
    """The two sides that ``positive_classes`` makes of a set of classes.

    Both list their classes in the order of the classes (the model's
    ``classes_``, the sorted class folders), whatever the order the positive
    ones were given in.

    Attributes
    ----------
    negative, positive : list
        The classes of each side.
    """

    negative: list
    positive: list

    @property
    def names(self) -> tuple[str, str]:
        """Names of the negative and positive side: the one naming rule.

        A side is named by its classes joined with ``+`` (``"Early+Pre+Pro"``)
        when it has at most three, else ``"negative"`` or ``"positive"``.
        """
        names = [
            "+".join(map(str, side)) if len(side) <= _MAX_NAMED_CLASSES else fallback
            for side, fallback in ((self.negative, "negative"),
                                   (self.positive, "positive"))
        ]
        if names[0] == names[1]:
            names = ["negative", "positive"]
        return names[0], names[1]


def binary_sides(positive_classes, classes, **kwargs) -> BinarySides:
    """Check ``positive_classes`` against ``classes`` and make the two sides.

    Parameters
    ----------
    positive_classes : list
        The classes of the positive side.
    classes : list
        Every class, in its order.
    **kwargs
        ``name`` and ``where`` of :func:`check_positive_classes`.

    Returns
    -------
    BinarySides

    Examples
    --------
    >>> from sklearn_leukemia.metrics._grouping import binary_sides
    >>> binary_sides(["Pro", "Early"], ["Benign", "Early", "Pre", "Pro"]).names
    ('Benign+Pre', 'Early+Pro')
    """
    classes = list(classes)
    positive = check_positive_classes(positive_classes, classes, **kwargs)
    return BinarySides(
        negative=[c for c in classes if c not in positive],
        positive=[c for c in classes if c in positive],
    )


def merge_to_binary(y, y_score, classes, sides: BinarySides):
    """Read labels and scores of ``classes`` as the binary question of ``sides``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels among ``classes`` (true or predicted).
    y_score : array-like of shape (n_samples, n_classes) or None
        Probabilities of ``classes``, in that order.
    classes : list
        The classes.
    sides : BinarySides
        The two sides.

    Returns
    -------
    y : ndarray of shape (n_samples,), dtype object
        The name of each label's side (:attr:`BinarySides.names`).
    score : ndarray of shape (n_samples,) or None
        The summed probability of the positive classes.
    """
    names = np.asarray(sides.names, dtype=object)
    merged = names[merge_labels(y, sides.positive).astype(int)]
    if y_score is None:
        return merged, None
    return merged, merge_scores(y_score, list(classes), sides.positive)


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
