"""What referring the least sure cases to an expert buys.

The risk-coverage curve of selective classification, and its table at a
few shares of cases referred.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["referral_summary", "risk_coverage_curve"]


def _check(y_true, y_pred, uncertainty):
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    uncertainty = np.asarray(uncertainty, dtype=float).ravel()
    n = y_true.shape[0]
    if n == 0:
        raise ValueError("y_true is empty.")
    if y_pred.shape[0] != n or uncertainty.shape[0] != n:
        raise ValueError(
            f"y_true has {n} samples, y_pred {y_pred.shape[0]} and uncertainty "
            f"{uncertainty.shape[0]}; expected one of each per sample."
        )
    if not np.all(np.isfinite(uncertainty)):
        raise ValueError("uncertainty holds NaN or infinity.")
    return y_true != y_pred, uncertainty


def risk_coverage_curve(y_true, y_pred, uncertainty):
    """Return the error among the cases kept against the share kept.

    The least sure cases are referred: cases are kept from the surest
    (lowest ``uncertainty``) on, and each point keeps every case up to an
    uncertainty, ties together, as :func:`sklearn.metrics.roc_curve` treats
    tied scores.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    uncertainty : array-like of shape (n_samples,)
        Higher means less sure, e.g. the ``uncertainty`` of
        ``ClinicalClassifier.decide(X)``.

    Returns
    -------
    coverage : ndarray
        Share of cases kept, increasing to 1.
    risk : ndarray
        Error rate among the cases kept.
    thresholds : ndarray
        The highest uncertainty kept at each point.

    Examples
    --------
    >>> from sklearn_leukemia.metrics import risk_coverage_curve
    >>> coverage, risk, _ = risk_coverage_curve(
    ...     ["a", "a", "b", "b"], ["a", "b", "b", "b"], [0.1, 0.4, 0.2, 0.3])
    >>> coverage.tolist(), risk.tolist()
    ([0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 0.0, 0.25])
    """
    wrong, uncertainty = _check(y_true, y_pred, uncertainty)
    order = np.argsort(uncertainty, kind="stable")
    sorted_u = uncertainty[order]
    errors = np.cumsum(wrong[order])
    # The last case of each run of tied uncertainties.
    ends = np.r_[np.flatnonzero(sorted_u[1:] != sorted_u[:-1]), len(order) - 1]
    kept = ends + 1
    return kept / len(order), errors[ends] / kept, sorted_u[ends]


def referral_summary(y_true, y_pred, uncertainty, rates=(0.01, 0.02, 0.05)):
    """Return what referring the least sure share of cases buys, at each share.

    For each rate, the ``round(rate * n)`` cases with the highest
    uncertainty are referred (ties in the order given).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    uncertainty : array-like of shape (n_samples,)
        Higher means less sure.
    rates : sequence of float, default=(0.01, 0.02, 0.05)
        Shares of cases to refer, in [0, 1).

    Returns
    -------
    rows : list of dict
        One per rate: ``rate``, ``referred`` (cases), ``errors`` (all
        cases), ``errors_referred``, ``errors_removed`` (their share of the
        errors; NaN without errors), ``error_kept`` and ``error_all`` (error
        rates).

    Examples
    --------
    >>> from sklearn_leukemia.metrics import referral_summary
    >>> row = referral_summary(["a"] * 4 + ["b"] * 4, ["a"] * 3 + ["b"] * 5,
    ...                        [0, 0, 0, 0.9, 0, 0, 0, 0.1], rates=[0.25])[0]
    >>> row["referred"], row["errors_referred"], row["error_kept"]
    (2, 1, 0.0)
    """
    wrong, uncertainty = _check(y_true, y_pred, uncertainty)
    n = wrong.shape[0]
    order = np.argsort(-uncertainty, kind="stable")
    rows = []
    for rate in rates:
        if not 0 <= rate < 1:
            raise ValueError(f"rates must be in [0, 1); got {rate!r}.")
        k = int(math.floor(rate * n + 0.5))
        referred = wrong[order[:k]].sum()
        kept = n - k
        rows.append({
            "rate": float(rate),
            "referred": k,
            "errors": int(wrong.sum()),
            "errors_referred": int(referred),
            "errors_removed": float(referred / wrong.sum()) if wrong.any()
            else float("nan"),
            "error_kept": float((wrong.sum() - referred) / kept) if kept
            else float("nan"),
            "error_all": float(wrong.mean()),
        })
    return rows
