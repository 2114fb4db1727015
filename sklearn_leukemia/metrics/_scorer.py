"""Scorers for ``cross_validate`` and ``GridSearchCV``: the clinical table."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    make_scorer,
    precision_score,
    recall_score,
    roc_auc_score,
)

from sklearn_leukemia.metrics._classification import (
    false_negative_rate,
    false_positive_rate,
    negative_predictive_value,
    specificity_score,
)

_SCORER_AVERAGES = ("binary", "macro", "weighted")


def _binary_roc_auc(y_true, y_score, *, pos_label, sample_weight=None) -> float:
    """ROC AUC of the scores of ``pos_label`` (``roc_auc_score`` has no pos_label).

    The scorer passes ``pos_label`` to scikit-learn's response machinery, which
    hands over the ``predict_proba`` column of that class (or a
    ``decision_function`` oriented towards it); here it marks the positives.
    """
    y_true = np.asarray(y_true)
    return roc_auc_score(y_true == pos_label, y_score, sample_weight=sample_weight)


def _one_vs_rest_roc_auc(
    y_true, y_score, *, labels=None, average="macro", sample_weight=None
) -> float:
    """Macro/weighted one-vs-rest ROC AUC that survives a fold missing a class.

    The columns of ``y_score`` are taken to follow the sorted ``labels`` (a
    scikit-learn classifier's ``classes_`` is sorted). A class absent from
    ``y_true`` has no AUC: it is left out of the average with an
    :class:`~sklearn.exceptions.UndefinedMetricWarning`, where
    :func:`sklearn.metrics.roc_auc_score` would return NaN for the whole fold.
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    classes = np.unique(y_true) if labels is None else np.sort(np.asarray(labels))
    if y_score.ndim != 2 or y_score.shape[1] != classes.shape[0]:
        hint = (
            " Pass labels= (all classes) to clinical_scorers so that a fold "
            "missing a class can still be scored."
            if labels is None
            else ""
        )
        raise ValueError(
            f"predict_proba gave shape {y_score.shape}; expected "
            f"({y_true.shape[0]}, {classes.shape[0]}), one column per class of "
            f"{classes.tolist()}; an estimator fitted on fewer classes (a "
            f"training fold missing one) gives fewer columns.{hint}"
        )
    unknown = np.setdiff1d(y_true, classes)
    if unknown.size:
        raise ValueError(
            f"y_true holds {unknown.tolist()}, not in labels {classes.tolist()}."
        )
    weights = np.ones(y_true.shape[0]) if sample_weight is None else sample_weight
    weights = np.asarray(weights, dtype=float)
    aucs, supports, missing = [], [], []
    for column, label in enumerate(classes.tolist()):
        positive = y_true == label
        if positive.all() or not positive.any():
            missing.append(label)
            continue
        aucs.append(
            roc_auc_score(positive, y_score[:, column], sample_weight=sample_weight)
        )
        supports.append(weights[positive].sum())
    if missing:
        warnings.warn(
            f"No one-vs-rest ROC AUC for classes {missing}: they are "
            "the only class or absent in y_true. The average leaves them out.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    if not aucs:
        return np.nan
    if average == "weighted" and sum(supports) > 0:
        return float(np.average(aucs, weights=supports))
    return float(np.mean(aucs))


def clinical_scorers(
    *, pos_label=1, average: str = "binary", labels=None
) -> dict[str, object]:
    """Scorers for the clinical metrics, for ``scoring=`` in model selection.

    The keys are ``accuracy``, ``precision``, ``recall`` (sensitivity),
    ``f1``, ``specificity``, ``npv`` (negative predictive value), ``roc_auc``
    and the lower-is-better rates negated as scikit-learn does for losses:
    ``neg_fpr`` (false positive rate) and ``neg_fnr`` (false negative rate),
    whose values are ``<= 0``; greater is better for every key, so any of them
    can be ``refit=``.

    Parameters
    ----------
    pos_label : int, float, bool or str, default=1
        The positive (disease) class for ``average='binary'``, e.g. ``"ALL"``.
        ``roc_auc`` scores the ``predict_proba`` column of that class
        (``decision_function`` when there is no ``predict_proba``). A class
        the fitted estimator does not know raises ValueError. Must be left to
        its default with another ``average``.
    average : {'binary', 'macro', 'weighted'}, default='binary'
        ``'binary'`` for two classes; ``'macro'`` or ``'weighted'`` for
        multi-class targets, where every metric is the one-vs-rest average
        and ``roc_auc`` the one-vs-rest average over ``predict_proba``.
    labels : array-like, default=None
        All the classes. For multi-class scoring, pass them so that a test
        fold missing a class keeps the others in place: the class-wise metrics
        then give it their ``zero_division`` value (0 with a warning), and
        ``roc_auc`` leaves it out of the average with a warning. Without
        ``labels``, such a fold's ``roc_auc`` raises, and cross-validation
        records ``error_score``. The ``predict_proba`` columns are matched to
        the sorted labels, as scikit-learn classifiers sort ``classes_``.

    Returns
    -------
    scorers : dict of str to scorer
        Made with :func:`sklearn.make_scorer`, so they take part in metadata
        routing (e.g. ``sample_weight``) and share one ``predict_proba`` call
        in a multi-metric evaluation.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from sklearn_leukemia.metrics import clinical_scorers
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> scores = cross_validate(
    ...     LogisticRegression(), X, y, cv=3, scoring=clinical_scorers()
    ... )
    >>> sorted(key for key in scores if key.startswith("test_"))
    ['test_accuracy', 'test_f1', 'test_neg_fnr', 'test_neg_fpr', 'test_npv', \
'test_precision', 'test_recall', 'test_roc_auc', 'test_specificity']
    >>> bool((scores["test_neg_fpr"] <= 0).all())
    True
    """
    if average not in _SCORER_AVERAGES:
        raise ValueError(
            f"average={average!r} is not valid for scorers; expected one of "
            f"{list(_SCORER_AVERAGES)} (a scorer returns one number)."
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] < 2:
            raise ValueError(
                f"labels={labels.tolist()!r} is not valid; expected a 1-D list "
                "of at least two class labels."
            )
        labels = labels.tolist()

    if average == "binary":
        if labels is not None and len(labels) != 2:
            raise ValueError(
                f"average='binary' needs two labels, got {labels}; use "
                "average='macro' or 'weighted' for multi-class targets."
            )
        if labels is not None and pos_label not in labels:
            raise ValueError(
                f"pos_label={pos_label!r} is not one of the labels {labels}."
            )
        options = {"pos_label": pos_label, "average": "binary"}
        roc_auc = make_scorer(
            _binary_roc_auc,
            response_method=("predict_proba", "decision_function"),
            pos_label=pos_label,
        )
    else:
        if pos_label not in (None, 1):
            raise ValueError(
                f"pos_label={pos_label!r} only applies to average='binary'; "
                f"got average={average!r}. Use labels= to fix the classes."
            )
        options = {"average": average, "labels": labels}
        roc_auc = make_scorer(
            _one_vs_rest_roc_auc,
            response_method="predict_proba",
            labels=labels,
            average=average,
        )
    if labels is not None and average == "binary":
        # The clinical metrics check pos_label against labels; sklearn's
        # binary metrics ignore labels, so it only goes to ours.
        ours = {**options, "labels": labels}
    else:
        ours = options
    return {
        "accuracy": make_scorer(accuracy_score),
        "precision": make_scorer(precision_score, **options),
        "recall": make_scorer(recall_score, **options),
        "f1": make_scorer(f1_score, **options),
        "specificity": make_scorer(specificity_score, **ours),
        "npv": make_scorer(negative_predictive_value, **ours),
        "roc_auc": roc_auc,
        "neg_fpr": make_scorer(false_positive_rate, greater_is_better=False, **ours),
        "neg_fnr": make_scorer(false_negative_rate, greater_is_better=False, **ours),
    }
