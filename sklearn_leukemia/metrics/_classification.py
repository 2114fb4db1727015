"""Clinical metrics computed from one-vs-rest confusion counts.

Functions named ``*_score`` are higher-is-better, ``*_rate`` lower-is-better.
All of them share one code path: the true/false positive/negative counts of
each class one against the rest (sums of ``sample_weight`` when given), each
summed over its own samples, and each metric is one ratio of those counts.

imbalanced-learn's ``sensitivity_specificity_support`` is not reused: it has no
``zero_division`` and, in version 0.14, mixes a sample count with weighted sums
when forming the true negatives, so its specificity is wrong (it can exceed 1)
with ``sample_weight`` (imbalanced-learn issue #1180). Without weights both
agree, which the tests check.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils.multiclass import type_of_target, unique_labels

from sklearn_leukemia.utils._validation import check_no_missing_labels

_AVERAGES = ("binary", "micro", "macro", "weighted", None)

# metric -> (numerator, denominator, what is missing when the denominator is 0)
_RATIOS = {
    "sensitivity": ("tp", ("tp", "fn"), "true samples"),
    "specificity": ("tn", ("tn", "fp"), "negative samples"),
    "false positive rate": ("fp", ("fp", "tn"), "negative samples"),
    "false negative rate": ("fn", ("fn", "tp"), "true samples"),
    "negative predictive value": ("tn", ("tn", "fn"), "predicted negatives"),
}


def _check_zero_division(zero_division) -> float:
    """Return the value used for an undefined ratio; raise if not allowed."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, numbers.Real) and not isinstance(
        zero_division, bool
    ):
        if np.isnan(zero_division):
            return np.nan
        if zero_division in (0, 1):
            return float(zero_division)
    raise ValueError(
        f"zero_division={zero_division!r} is not valid; expected 'warn', 0.0, "
        "1.0 or np.nan."
    )


def _check_average(average, allowed=_AVERAGES) -> None:
    if average not in allowed:
        raise ValueError(
            f"average={average!r} is not valid; expected one of {list(allowed)}."
        )


def _as_label_array(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{name} has shape {y.shape}; expected a 1-D array of class labels."
        )
    return y


def _check_labels_and_targets(y_true, y_pred, sample_weight):
    """Validate the targets; return them as 1-D arrays with the weights."""
    check_no_missing_labels(y_true, name="y_true")
    check_no_missing_labels(y_pred, name="y_pred")
    y_true = _as_label_array(y_true, "y_true")
    y_pred = _as_label_array(y_pred, "y_pred")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"y_true has {y_true.shape[0]} samples but y_pred has "
            f"{y_pred.shape[0]}; they must have the same length."
        )
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; at least one sample needed.")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        kind = type_of_target(y, input_name=name)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"{name} holds {kind} values; expected class labels "
                "(binary or multiclass)."
            )
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=float)
        if sample_weight.shape != y_true.shape:
            raise ValueError(
                f"sample_weight has shape {sample_weight.shape}; expected "
                f"({y_true.shape[0]},), one weight per sample."
            )
        if not np.isfinite(sample_weight).all() or (sample_weight < 0).any():
            raise ValueError("sample_weight must hold finite, non-negative values.")
    return y_true, y_pred, sample_weight


def _same_kind(value, values: list) -> bool:
    """Whether ``value`` can be compared with the labels (str vs number)."""
    return all(isinstance(v, str) == isinstance(value, str) for v in values)


def _check_pos_label(pos_label, candidates: list, where: str) -> None:
    if pos_label not in candidates or not _same_kind(pos_label, candidates):
        raise ValueError(
            f"pos_label={pos_label!r} is not a valid label; the labels {where} "
            f"are {candidates}. Pass the positive class as pos_label."
        )


def _resolve_labels(y_true, y_pred, labels, pos_label, average) -> np.ndarray:
    """Return the labels whose one-vs-rest counts are needed, in output order."""
    present = unique_labels(y_true, y_pred)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] == 0:
            raise ValueError(
                f"labels={labels.tolist()!r} is not valid; expected a non-empty "
                "1-D list of class labels."
            )
        if np.unique(labels).shape[0] != labels.shape[0]:
            raise ValueError(f"labels={labels.tolist()!r} holds duplicates.")

    if average == "binary":
        classes = present.tolist()
        if labels is not None:
            classes = labels.tolist() + [c for c in classes if c not in labels.tolist()]
        if len(classes) > 2:
            raise ValueError(
                f"average='binary' needs at most two classes, found {classes}. "
                "Use average='macro', 'weighted', 'micro' or None for "
                "multi-class targets."
            )
        if labels is not None:
            _check_pos_label(pos_label, labels.tolist(), "passed as labels")
        elif len(classes) == 2 or not _same_kind(pos_label, classes):
            _check_pos_label(pos_label, classes, "in y_true and y_pred")
        # A single class present without labels= is a fold that only holds
        # one class; as in scikit-learn, pos_label is then taken on trust.
        return np.asarray([pos_label])

    if pos_label not in (None, 1):
        warnings.warn(
            f"pos_label={pos_label!r} is ignored when average={average!r}; "
            "use labels=[pos_label] to report one class only.",
            UserWarning,
            stacklevel=5,
        )
    return present if labels is None else labels


def _one_vs_rest_counts(y_true, y_pred, *, labels, pos_label, average, sample_weight):
    """One-vs-rest ``tp, fp, fn, tn`` per label (floats) and the labels used."""
    y_true, y_pred, sample_weight = _check_labels_and_targets(
        y_true, y_pred, sample_weight
    )
    labels = _resolve_labels(y_true, y_pred, labels, pos_label, average)
    # Each count sums the weights of its own samples. scikit-learn's
    # multilabel_confusion_matrix takes tn as the total weight less the
    # other three, which leaves a rounding residue (~1e-16) where no sample
    # is a true negative: a defined NPV of 1.0 beside an empty column.
    true = y_true[:, None] == np.asarray(labels, dtype=object)[None, :]
    pred = y_pred[:, None] == np.asarray(labels, dtype=object)[None, :]
    weights = (
        np.ones(len(y_true)) if sample_weight is None
        else np.asarray(sample_weight, dtype=float)
    )
    counts = {
        "tn": weights @ (~true & ~pred),
        "fp": weights @ (~true & pred),
        "fn": weights @ (true & ~pred),
        "tp": weights @ (true & pred),
    }
    return counts, labels


def _nanaverage(values: np.ndarray, weights=None) -> float:
    """Average ignoring NaN (undefined classes with ``zero_division=np.nan``)."""
    mask = ~np.isnan(values)
    if not mask.any():
        return np.nan
    if weights is None or weights[mask].sum() == 0:
        return float(np.mean(values[mask]))
    return float(np.average(values[mask], weights=weights[mask]))


def _clinical_ratio(
    metric, y_true, y_pred, *, labels, pos_label, average, sample_weight, zero_division
):
    _check_average(average)
    fill = _check_zero_division(zero_division)
    counts, _ = _one_vs_rest_counts(
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
    )
    support = counts["tp"] + counts["fn"]
    if average == "micro":
        counts = {key: np.atleast_1d(value.sum()) for key, value in counts.items()}

    numerator_key, denominator_keys, missing = _RATIOS[metric]
    numerator = counts[numerator_key]
    denominator = sum(counts[key] for key in denominator_keys)
    undefined = denominator == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(
            undefined, fill, numerator / np.where(undefined, 1, denominator)
        )

    if undefined.any() and isinstance(zero_division, str):
        where = "due to" if result.shape[0] == 1 else "in labels with"
        warnings.warn(
            f"{metric.capitalize()} is ill-defined and being set to 0.0 {where} "
            f"no {missing}. Use `zero_division` parameter to control this "
            "behavior.",
            UndefinedMetricWarning,
            stacklevel=3,
        )

    if average is None:
        return result
    if average in ("binary", "micro"):
        return float(result[0])
    return _nanaverage(result, weights=support if average == "weighted" else None)


_PARAMETERS_DOC = """Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.
    labels : array-like of shape (n_labels,), default=None
        The classes and their order. With ``average=None`` the result follows
        this order; with ``average='binary'`` it checks ``pos_label``. A class
        listed here but absent from ``y_true`` and ``y_pred`` still gets its
        value (``zero_division`` where the ratio is undefined), so that a
        cross-validation fold missing a class cannot shift the others. As in
        scikit-learn, a class present in the data but not listed is left out of
        the per-class results and counts as "rest" for the others. By default,
        the sorted labels of ``y_true`` and ``y_pred``.
    pos_label : int, float, bool or str, default=1
        The positive class when ``average='binary'``: an unknown value raises
        ValueError listing the labels. Ignored (with a warning) otherwise.
    average : {{'binary', 'micro', 'macro', 'weighted'}} or None, \
default='binary'
        ``'binary'``: the value for ``pos_label``. ``None``: one one-vs-rest
        value per class, in ``labels`` order. ``'macro'``: unweighted mean of
        the per-class values. ``'weighted'``: mean weighted by the support
        (true samples) of each class. ``'micro'``: the ratio of the counts
        summed over classes.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights; the counts become sums of weights.
    zero_division : {{'warn', 0.0, 1.0}} or np.nan, default='warn'
        The value returned {where_undefined}.
        ``'warn'`` returns 0.0 and raises an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`. With np.nan, the
        undefined classes are left out of the macro and weighted averages, as
        in scikit-learn.{note}

    Returns
    -------
    {name} : float or ndarray of shape (n_labels,)
        A float, or an array when ``average=None``.
"""


def _doc(name, where_undefined, note=""):
    text = _PARAMETERS_DOC.format(name=name, where_undefined=where_undefined, note=note)
    return text.rstrip()


def sensitivity_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    """Compute the sensitivity (recall, true positive rate): ``tp / (tp + fn)``.

    The share of the diseased that the test finds. Best 1, worst 0. Equal to
    :func:`sklearn.metrics.recall_score`.

    {params}

    See Also
    --------
    false_negative_rate : ``fn / (fn + tp)``, the sensitivity's complement.
    specificity_score : The same ratio for the negative class.

    Examples
    --------
    >>> from sklearn_leukemia.metrics import sensitivity_score
    >>> y_true = ["ALL", "ALL", "ALL", "hem", "hem"]
    >>> y_pred = ["ALL", "ALL", "hem", "hem", "ALL"]
    >>> sensitivity_score(y_true, y_pred, pos_label="ALL")
    0.666...
    >>> sensitivity_score(y_true, y_pred, average=None, labels=["hem", "ALL"])
    array([0.5       , 0.66666667])
    """
    return _clinical_ratio(
        "sensitivity",
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def specificity_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    """Compute the specificity (true negative rate): ``tn / (tn + fp)``.

    The share of the healthy that the test clears. Best 1, worst 0. For a
    class, the negatives are all samples of the other classes (one-vs-rest).

    {params}

    See Also
    --------
    false_positive_rate : ``fp / (fp + tn)``, the specificity's complement.

    Examples
    --------
    >>> from sklearn_leukemia.metrics import specificity_score
    >>> y_true = [1, 1, 1, 0, 0, 0, 0]
    >>> y_pred = [1, 1, 0, 0, 0, 0, 1]
    >>> specificity_score(y_true, y_pred)
    0.75
    >>> specificity_score([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], average=None)
    array([0.75, 0.5 , 0.75])
    """
    return _clinical_ratio(
        "specificity",
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def false_positive_rate(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    """Compute the false positive rate (fall-out): ``fp / (fp + tn)``.

    The share of the healthy that the test wrongly flags. Best 0, worst 1.
    Equal to ``1 - specificity_score`` whenever both are defined.

    {params}

    See Also
    --------
    specificity_score : ``tn / (tn + fp)``.

    Examples
    --------
    >>> from sklearn_leukemia.metrics import false_positive_rate
    >>> y_true = [1, 1, 1, 0, 0, 0, 0]
    >>> y_pred = [1, 1, 0, 0, 0, 0, 1]
    >>> false_positive_rate(y_true, y_pred)
    0.25
    """
    return _clinical_ratio(
        "false positive rate",
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def false_negative_rate(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    """Compute the false negative rate (miss rate): ``fn / (fn + tp)``.

    The share of the diseased that the test misses. Best 0, worst 1. Equal to
    ``1 - sensitivity_score`` whenever both are defined.

    {params}

    See Also
    --------
    sensitivity_score : ``tp / (tp + fn)``.

    Examples
    --------
    >>> from sklearn_leukemia.metrics import false_negative_rate
    >>> y_true = ["ALL", "ALL", "ALL", "hem", "hem"]
    >>> y_pred = ["ALL", "ALL", "hem", "hem", "ALL"]
    >>> false_negative_rate(y_true, y_pred, pos_label="ALL")
    0.333...
    """
    return _clinical_ratio(
        "false negative rate",
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def negative_predictive_value(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    """Compute the negative predictive value: ``tn / (tn + fn)``.

    The share of negative test results that are truly negative. Best 1,
    worst 0. It depends on the prevalence of the disease in the sample.

    {params}

    See Also
    --------
    sklearn.metrics.precision_score : The positive predictive value.

    Examples
    --------
    >>> from sklearn_leukemia.metrics import negative_predictive_value
    >>> y_true = [1, 1, 1, 0, 0, 0, 0]
    >>> y_pred = [1, 1, 0, 0, 0, 0, 1]
    >>> negative_predictive_value(y_true, y_pred)
    0.75
    """
    return _clinical_ratio(
        "negative predictive value",
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


_RATE_NOTE = (
    "\n        ``zero_division`` is the value of the rate itself, not of the "
    "score\n        it complements: an undefined rate with "
    "``zero_division=0.0`` is 0.0."
)

sensitivity_score.__doc__ = sensitivity_score.__doc__.format(
    params=_doc("sensitivity", "when a class has no true samples (tp + fn = 0)")
)
specificity_score.__doc__ = specificity_score.__doc__.format(
    params=_doc("specificity", "when a class has no negative samples (tn + fp = 0)")
)
false_positive_rate.__doc__ = false_positive_rate.__doc__.format(
    params=_doc("fpr", "when a class has no negative samples (fp + tn = 0)", _RATE_NOTE)
)
false_negative_rate.__doc__ = false_negative_rate.__doc__.format(
    params=_doc("fnr", "when a class has no true samples (fn + tp = 0)", _RATE_NOTE)
)
negative_predictive_value.__doc__ = negative_predictive_value.__doc__.format(
    params=_doc("npv", "when nothing is predicted negative (tn + fn = 0)")
)
