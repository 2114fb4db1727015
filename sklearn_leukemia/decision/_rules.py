"""The rules a ClinicalClassifier learns from held-back predictions.

- a threshold on the probability of the positive side for a target
  sensitivity (or specificity), the one that keeps the most of the other;
- an uncertainty score of each decision, and the cut that refers a share of
  the cases.

Plain functions of scores and labels, so that the tests can hold them
against scikit-learn's :class:`~sklearn.model_selection.TunedThresholdClassifierCV`
and the benchmarks can replay them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, logit

__all__ = [
    "decision_uncertainty",
    "referral_cut",
    "threshold_for_sensitivity",
    "threshold_for_specificity",
]

# Probabilities are clipped to (eps, 1 - eps) before a logit.
_EPS = 1e-7


def _check_scores(score, positive) -> tuple[np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=float).ravel()
    positive = np.asarray(positive, dtype=bool).ravel()
    if score.shape != positive.shape:
        raise ValueError(
            f"score has {score.shape[0]} values but positive {positive.shape[0]}."
        )
    if not positive.any() or positive.all():
        raise ValueError(
            "choosing a threshold needs held-back cases of both sides; got "
            f"{int(positive.sum())} positive of {positive.shape[0]}."
        )
    return score, positive


def _between(score, positive, top: float) -> float:
    """Return the middle of the best thresholds calling negatives as ``top`` does.

    ``top`` is a positive case's score. The thresholds above the highest
    negative score below it call every negative alike; of them, those up to
    the lowest positive score above that negative call the most positives.
    The middle of that range keeps the widest margin on both sides.
    """
    below = score[~positive & (score < top)]
    if not below.size:
        return float(score[positive & (score <= top)].min())
    lowest = score[positive & (score > below.max())].min()
    return float((below.max() + lowest) / 2)


def threshold_for_sensitivity(score, positive, target: float) -> float:
    """Return a threshold whose sensitivity on ``score`` is at least ``target``.

    A case is called positive when its score is at or above the threshold
    (scikit-learn's rule). Of the thresholds that keep the target, those
    with the most specificity are chosen, then of them those with the most
    sensitivity: the held-back cases are called as
    :class:`~sklearn.model_selection.TunedThresholdClassifierCV` would call
    them with that objective. The threshold returned lies halfway between
    the scores on either side of that range.

    Parameters
    ----------
    score : array-like of shape (n_samples,)
        Held-back probability of the positive side.
    positive : array-like of bool, shape (n_samples,)
        Whether each case is positive.
    target : float
        Sensitivity wanted, in (0, 1].

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> from sklearn_leukemia.decision import threshold_for_sensitivity
    >>> threshold_for_sensitivity([0.1, 0.3, 0.35, 0.8, 0.9],
    ...                           [False, False, True, True, True], 0.9)
    0.325
    """
    score, positive = _check_scores(score, positive)
    ranked = np.sort(score[positive])
    # At most this many positives may fall below the threshold.
    misses = math.floor((1.0 - target) * ranked.shape[0] + 1e-9)
    return _between(score, positive, ranked[min(misses, ranked.shape[0] - 1)])


def threshold_for_specificity(score, positive, target: float) -> float:
    """Return a threshold whose specificity on ``score`` is at least ``target``.

    Of the thresholds that keep the target, those with the most sensitivity
    are chosen, then of them those with the most specificity; the threshold
    returned lies halfway between the scores on either side of that range.

    Parameters
    ----------
    score : array-like of shape (n_samples,)
        Held-back probability of the positive side.
    positive : array-like of bool, shape (n_samples,)
        Whether each case is positive.
    target : float
        Specificity wanted, in (0, 1].

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> from sklearn_leukemia.decision import threshold_for_specificity
    >>> threshold_for_specificity([0.1, 0.4, 0.35, 0.8, 0.9],
    ...                           [False, False, True, True, True], 1.0)
    0.6
    """
    score, positive = _check_scores(score, positive)
    ranked = np.sort(score[~positive])
    # At least this many negatives must fall below the threshold.
    kept = math.ceil(target * ranked.shape[0] - 1e-9)
    lowest = -np.inf if kept <= 0 else np.nextafter(ranked[kept - 1], np.inf)
    above = score[positive & (score >= lowest)]
    if not above.size:  # no positive can be called: the lowest that keeps it
        return float(lowest)
    return _between(score, positive, above.min())


def decision_uncertainty(proba, *, positive=None, threshold=None) -> np.ndarray:
    """Return how unsure each decision is, from 0 (certain) up.

    - Without a positive side: one minus the probability of the predicted
      class (the least confidence of the top label), from 0 to
      ``1 - 1/n_classes``.
    - With a positive side (a binary decision at ``threshold``): the
      probability of the side called, re-centred on the threshold, taken
      from one: ``1 - max(q, 1 - q)`` with ``q = sigmoid(logit(p) -
      logit(threshold))``, from 0 to 0.5. At the threshold it is 0.5; with a
      threshold of 0.5 it is the least confidence of the binary model.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Probabilities (calibrated where the model calibrates).
    positive : array-like of bool, shape (n_classes,), default=None
        The classes of the positive side.
    threshold : float, default=None
        The decision threshold on the positive side's probability; None:
        0.5.

    Returns
    -------
    uncertainty : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from sklearn_leukemia.decision import decision_uncertainty
    >>> decision_uncertainty([[0.9, 0.1], [0.6, 0.4]]).round(2).tolist()
    [0.1, 0.4]
    >>> decision_uncertainty([[0.9, 0.1]], positive=[False, True],
    ...                      threshold=0.1).round(2).tolist()
    [0.5]
    """
    proba = np.asarray(proba, dtype=float)
    if positive is None:
        return 1.0 - proba.max(axis=1)
    p = np.clip(proba[:, np.asarray(positive, bool)].sum(axis=1), _EPS, 1 - _EPS)
    t = 0.5 if threshold is None else float(np.clip(threshold, _EPS, 1 - _EPS))
    q = expit(logit(p) - logit(t))
    return 1.0 - np.maximum(q, 1.0 - q)


def referral_cut(uncertainty, rate: float) -> float:
    """Return the uncertainty from which the ``rate`` most unsure cases are referred.

    Cases whose uncertainty is at or above the cut are referred: the
    ``ceil(rate * n)`` most uncertain of the held-back ones (more when
    several tie at the cut), so that any positive rate refers some. A rate
    of 0 refers none (an infinite cut).

    Parameters
    ----------
    uncertainty : array-like of shape (n_samples,)
        Held-back uncertainties (:func:`decision_uncertainty`).
    rate : float
        Share of cases to refer, in [0, 1).

    Returns
    -------
    cut : float

    Examples
    --------
    >>> from sklearn_leukemia.decision import referral_cut
    >>> referral_cut([0.0, 0.1, 0.4, 0.2, 0.3], 0.4)
    0.3
    """
    ranked = np.sort(np.asarray(uncertainty, dtype=float).ravel())[::-1]
    n_referred = math.ceil(rate * ranked.shape[0] - 1e-9)
    if n_referred == 0:
        return math.inf
    return float(ranked[n_referred - 1])
