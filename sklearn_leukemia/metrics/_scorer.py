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
from sklearn_leukemia.metrics._grouping import (
    check_positive_classes,
    merge_labels,
    merge_scores,
    unknown_classes,
)

_SCORER_AVERAGES = ("binary", "macro", "weighted")
_LABELS_HINT = (
    " Pass labels= (all classes) to clinical_scorers so that a fold "
    "missing a class can still be scored."
)


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
        hint = _LABELS_HINT if labels is None else ""
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


def _fold_classes(y_true, y_pred, positive_classes, labels) -> list:
    """Return the classes of a fold, with ``positive_classes`` checked."""
    if labels is not None:
        return sorted(labels)
    classes = np.unique(
        y_true if y_pred is None else np.concatenate([y_true, y_pred])
    ).tolist()
    where = "y_true" if y_pred is None else "y_true or y_pred"
    missing = unknown_classes(positive_classes, classes)
    if missing:
        raise ValueError(
            f"positive_classes names {missing}, which are not in {where} "
            f"(classes {classes}). Check the names; if a test fold can lack a "
            "class, pass labels= with every class to clinical_scorers."
        )
    return classes


def _merged_metric(
    y_true, y_pred, *, metric, positive_classes, labels=None, **kwargs
) -> float:
    """``metric`` of the binary task: is the class one of ``positive_classes``.

    The sides are 0 and 1, so that the metrics' default ``pos_label=1`` is the
    positive one: a ``pos_label`` among the scorer's arguments would be checked
    by scikit-learn against the estimator's classes.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    _fold_classes(y_true, y_pred, positive_classes, labels)
    return metric(
        merge_labels(y_true, positive_classes).astype(int),
        merge_labels(y_pred, positive_classes).astype(int),
        **kwargs,
    )


def _merged_roc_auc(
    y_true, y_score, *, positive_classes, labels=None, sample_weight=None
) -> float:
    """ROC AUC of the summed ``predict_proba`` of ``positive_classes``."""
    y_true = np.asarray(y_true)
    classes = _fold_classes(y_true, None, positive_classes, labels)
    try:
        score = merge_scores(y_score, classes, positive_classes)
    except ValueError as error:
        hint = _LABELS_HINT if labels is None else ""
        raise ValueError(
            f"predict_proba does not match the classes: {error} An estimator "
            f"fitted on fewer classes (a training fold missing one) gives fewer "
            f"columns.{hint}"
        ) from None
    return roc_auc_score(
        merge_labels(y_true, positive_classes), score, sample_weight=sample_weight
    )


def _merged_scorers(positive_classes, labels) -> dict[str, object]:
    common = {"positive_classes": positive_classes, "labels": labels}

    def scorer(metric, greater_is_better=True):
        return make_scorer(
            _merged_metric,
            greater_is_better=greater_is_better,
            metric=metric,
            **common,
        )

    return {
        "accuracy": scorer(accuracy_score),
        "precision": scorer(precision_score),
        "recall": scorer(recall_score),
        "f1": scorer(f1_score),
        "specificity": scorer(specificity_score),
        "npv": scorer(negative_predictive_value),
        "roc_auc": make_scorer(
            _merged_roc_auc, response_method="predict_proba", **common
        ),
        "neg_fpr": scorer(false_positive_rate, greater_is_better=False),
        "neg_fnr": scorer(false_negative_rate, greater_is_better=False),
    }


def clinical_scorers(
    *, pos_label=1, average: str = "binary", labels=None, positive_classes=None
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
    positive_classes : list of labels, default=None
        Score the binary task of these classes against all others on an
        estimator fitted on the finer classes, e.g. ``["Early", "Pre", "Pro"]``
        against ``"Benign"`` for a model of the four all-taleqani classes. A
        sample is positive when its class is one of them (its true class for
        ``y_true``, its predicted class for the predictions), and
        ``roc_auc`` ranks by the sum of their ``predict_proba`` columns. The
        estimator keeps predicting the finer classes; only the scores are
        binary. ``pos_label`` and ``average`` must be left to their defaults;
        ``labels``, when given, lists every finer class (the
        ``predict_proba`` columns follow them sorted), and otherwise a test
        fold must hold every class for ``roc_auc``. A name that is not a class
        of the data raises ValueError.

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

    A model fitted on three classes, scored on "class 1 or 2" against class 0:

    >>> X, y = make_classification(
    ...     n_samples=90, n_classes=3, n_informative=4, random_state=0
    ... )
    >>> scores = cross_validate(
    ...     LogisticRegression(), X, y, cv=3,
    ...     scoring=clinical_scorers(positive_classes=[1, 2]),
    ... )
    >>> bool((scores["test_specificity"] >= 0).all())
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

    if positive_classes is not None:
        if average != "binary" or pos_label != 1:
            raise ValueError(
                "positive_classes defines the binary task; leave pos_label and "
                f"average to their defaults (got pos_label={pos_label!r}, "
                f"average={average!r})."
            )
        positive_classes = check_positive_classes(positive_classes, labels)
        return _merged_scorers(positive_classes, labels)

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
        # pos_label=None, as scikit-learn's own multi-class scorers say: the
        # metrics' default of 1 would be checked against the classes.
        options = {"average": average, "labels": labels, "pos_label": None}
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
