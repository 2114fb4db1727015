"""The decision rules, held against scikit-learn where it has them."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import make_scorer, recall_score
from sklearn.model_selection import TunedThresholdClassifierCV

from sklearn_leukemia.decision import (
    decision_uncertainty,
    referral_cut,
    threshold_for_sensitivity,
    threshold_for_specificity,
)
from sklearn_leukemia.metrics import specificity_score


class _Scores(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose input is its own positive-class score."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _constrained(kind, target):
    """Specificity where sensitivity keeps the target (or the reverse)."""

    def score(y_true, y_pred):
        sens = recall_score(y_true, y_pred)
        spec = specificity_score(y_true, y_pred, pos_label=1)
        kept, other = (sens, spec) if kind == "sensitivity" else (spec, sens)
        # Thresholds missing the target rank below any that keep it; ties
        # go to the one that keeps more of the target.
        return other + 1e-6 * kept if kept >= target else kept - 1.0

    return make_scorer(score)


def _cases(seed, n=200):
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.6
    score = np.clip(rng.normal(np.where(positive, 0.7, 0.35), 0.15), 0, 1)
    return np.round(score, 3), positive  # rounding makes ties


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(("kind", "target"), [
    ("sensitivity", 0.95), ("sensitivity", 0.997), ("specificity", 0.9),
    ("specificity", 0.99),
])
def test_threshold_is_the_one_tuned_threshold_picks(seed, kind, target):
    score, positive = _cases(seed)
    choose = threshold_for_sensitivity if kind == "sensitivity" else (
        threshold_for_specificity
    )
    ours = choose(score, positive, target)
    values = np.unique(score)
    candidates = np.unique(np.r_[values, np.nextafter(values, np.inf)])
    # A fitted model scored on the data as they are: no cross-validation.
    tuned = TunedThresholdClassifierCV(
        _Scores().fit(None, None), scoring=_constrained(kind, target),
        thresholds=candidates, cv="prefit", refit=False,
    )
    tuned.fit(score[:, None], positive.astype(int))
    called = score >= ours
    sensitivity, specificity = called[positive].mean(), (~called[~positive]).mean()
    theirs = tuned.best_threshold_
    called_theirs = score >= theirs
    # The same operating point: the same calls on every case.
    np.testing.assert_array_equal(called, called_theirs)
    assert (sensitivity if kind == "sensitivity" else specificity) >= target


@pytest.mark.parametrize("target", [0.5, 0.9, 0.99, 1.0])
def test_sensitivity_threshold_keeps_the_target_with_most_specificity(target):
    score, positive = _cases(5)
    t = threshold_for_sensitivity(score, positive, target)
    assert (score[positive] >= t).mean() >= target
    # Any threshold calling fewer negatives positive misses the target.
    higher = np.unique(score[~positive & (score >= t)])
    if higher.size:
        above = np.nextafter(higher[0], np.inf)
        assert (score[positive] >= above).mean() < target


@pytest.mark.parametrize("target", [0.5, 0.9, 0.99, 1.0])
def test_specificity_threshold_keeps_the_target_with_most_sensitivity(target):
    score, positive = _cases(6)
    t = threshold_for_specificity(score, positive, target)
    assert (score[~positive] < t).mean() >= target
    # Any threshold calling more positives positive misses the target.
    lower = np.unique(score[positive & (score < t)])
    if lower.size:
        assert (score[~positive] < lower[-1]).mean() < target


def test_threshold_needs_both_sides():
    with pytest.raises(ValueError, match="both sides"):
        threshold_for_sensitivity([0.2, 0.8], [True, True], 0.9)
    with pytest.raises(ValueError, match="2 values but positive 3"):
        threshold_for_specificity([0.2, 0.8], [True, False, True], 0.9)


def test_uncertainty_is_least_confidence_at_one_half():
    rng = np.random.default_rng(0)
    p = rng.random(50)
    proba = np.column_stack([1 - p, p])
    np.testing.assert_allclose(
        decision_uncertainty(proba, positive=[False, True]),
        decision_uncertainty(proba), atol=1e-6,
    )


def test_uncertainty_peaks_at_the_threshold_and_ranks_by_distance():
    p = np.array([0.001, 0.01, 0.02, 0.05, 0.5])
    proba = np.column_stack([1 - p, p])
    u = decision_uncertainty(proba, positive=[False, True], threshold=0.02)
    assert u[2] == pytest.approx(0.5)
    assert u[1] < u[2] and u[3] < u[2] and u[0] < u[1] and u[4] < u[3]


def test_uncertainty_of_a_multiclass_side():
    proba = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    # Positive side: classes 1 and 2; the first case sits at 0.5 of 0.5.
    u = decision_uncertainty(proba, positive=[False, True, True])
    np.testing.assert_allclose(u, [0.5, 0.1], atol=1e-6)


@pytest.mark.parametrize(("rate", "referred"), [(0.0, 0), (0.02, 2), (0.1, 10),
                                                (0.5, 50)])
def test_referral_cut_refers_the_share(rate, referred):
    u = np.random.default_rng(0).random(100)
    cut = referral_cut(u, rate)
    assert (u >= cut).sum() == referred


def test_any_positive_rate_refers_some():
    assert referral_cut([0.1, 0.3, 0.2], 0.01) == 0.3
