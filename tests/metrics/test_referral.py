"""The risk-coverage curve and the referral table."""

import numpy as np
import pytest

from sklearn_leukemia.metrics import referral_summary, risk_coverage_curve


def _cases(seed=0, n=500):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, n)
    uncertainty = rng.random(n)
    # The less sure, the likelier wrong.
    wrong = rng.random(n) < uncertainty**4
    y_pred = np.where(wrong, (y_true + 1) % 3, y_true)
    return y_true, y_pred, uncertainty


def test_curve_ends_at_the_error_of_all_and_falls_with_referral():
    y_true, y_pred, u = _cases()
    coverage, risk, thresholds = risk_coverage_curve(y_true, y_pred, u)
    assert coverage[-1] == 1.0 and risk[-1] == pytest.approx(np.mean(y_true != y_pred))
    assert np.all(np.diff(coverage) > 0) and np.all(np.diff(thresholds) > 0)
    # Keeping the surest half halves the error at least, here.
    half = np.searchsorted(coverage, 0.5)
    assert risk[half] < risk[-1] / 2


def test_ties_are_kept_together():
    coverage, risk, thresholds = risk_coverage_curve(
        [0, 0, 1, 1], [0, 1, 1, 1], [0.5, 0.5, 0.1, 0.5])
    assert coverage.tolist() == [0.25, 1.0]
    assert risk.tolist() == [0.0, 0.25]


def test_summary_counts_the_errors_referred():
    y_true, y_pred, u = _cases(1)
    wrong = y_true != y_pred
    rows = referral_summary(y_true, y_pred, u, rates=[0.0, 0.02, 0.1])
    assert [row["referred"] for row in rows] == [0, 10, 50]
    for row in rows:
        top = np.argsort(-u, kind="stable")[:row["referred"]]
        assert row["errors_referred"] == wrong[top].sum()
        kept = np.setdiff1d(np.arange(len(u)), top)
        assert row["error_kept"] == pytest.approx(wrong[kept].mean())
        assert row["errors_removed"] == pytest.approx(wrong[top].sum() / wrong.sum())


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="one of each per sample"):
        risk_coverage_curve([0, 1], [0, 1], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        referral_summary([0, 1], [0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        referral_summary([0, 1], [0, 1], [0.1, 0.2], rates=[1.0])
