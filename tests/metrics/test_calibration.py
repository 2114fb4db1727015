"""ECE, Brier score and the calibration report."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from sklearn_leukemia.metrics import (
    brier_score,
    calibration_report,
    expected_calibration_error,
)


def _binary(n=2000, seed=0, power=1.0):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = np.where(rng.random(n) < p, "ALL", "normal")
    return y, p**power


def test_ece_by_hand():
    # Bins of width 0.5: {0.2, 0.4} came true 0 of 2, {0.7, 0.9} 2 of 2.
    y = ["normal", "normal", "ALL", "ALL"]
    ece = expected_calibration_error(y, [0.2, 0.4, 0.7, 0.9], pos_label="ALL",
                                     n_bins=2)
    assert ece == pytest.approx((2 * 0.3 + 2 * 0.2) / 4)


def test_bins_are_those_of_calibration_curve():
    y, p = _binary(power=2)
    report = calibration_report(y, p, pos_label="ALL", n_bins=10, n_bootstraps=0)
    frequency, mean_p = calibration_curve(y == "ALL", p, n_bins=10)
    filled = report.bin_count > 0
    np.testing.assert_allclose(report.bin_frequency[filled], frequency)
    np.testing.assert_allclose(report.bin_confidence[filled], mean_p)


def test_brier_is_scikit_learns():
    y, p = _binary()
    assert brier_score(y, p, pos_label="ALL") == pytest.approx(
        brier_score_loss(y == "ALL", p)
    )
    proba = np.column_stack([p, 1 - p])
    assert brier_score(y, proba, labels=["ALL", "normal"]) == pytest.approx(
        brier_score_loss(y == "ALL", p)
    )


def test_multiclass_is_judged_on_the_top_label():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    y = np.array(["a", "a", "c"])  # right, wrong, right
    report = calibration_report(y, proba, labels=["a", "b", "c"], n_bins=10,
                                n_bootstraps=0)
    assert report.kind == "top label"
    # Bins 0.6 (two cases: 0.6 wrong, 0.6 right) and 0.7 (right).
    assert report.ece[0] == pytest.approx((2 * abs(0.6 - 0.5) + abs(0.7 - 1)) / 3)
    onehot = np.eye(3)[[0, 0, 2]]
    assert report.brier[0] == pytest.approx(((proba - onehot) ** 2).sum(1).mean())


def test_calibrated_scores_small_overconfident_large():
    y, p = _binary()
    good = calibration_report(y, p, pos_label="ALL", random_state=0)
    bad = calibration_report(y, p**3, pos_label="ALL", random_state=0)
    assert good.ece[2] < 0.04 < 0.2 < bad.ece[1]
    assert good.brier[1] <= good.brier[0] <= good.brier[2]
    assert "Expected calibration error (positive class)" in good.to_text()
    as_dict = good.to_dict()
    assert as_dict["bins"]["count"] == good.bin_count.tolist()


def test_ece_interval_is_the_basic_bootstrap():
    # Resampling noise reads as miscalibration, so the replicates' ECE sits
    # above the set's; the basic interval mirrors them around the value.
    y, p = _binary(n=300)
    report = calibration_report(y, p, pos_label="ALL", n_bootstraps=200,
                                random_state=0)
    value, low, high = report.ece
    assert low < value and high < value + 0.02
    assert low == 0.0 or low < value - 0.03


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"y_prob": [0.2, 1.5]}, r"\[0, 1\]"),
    ({"y_prob": [0.2]}, "2 samples but y_prob has 1"),
    ({"y_prob": [[0.2, 0.8], [0.5, 0.5]], "pos_label": None}, "labels"),
    ({"y_prob": [0.2, 0.4], "pos_label": None}, "pos_label"),
    ({"y_prob": [0.2, 0.4], "n_bins": 0}, "n_bins"),
])
def test_bad_input_is_named(kwargs, match):
    params = {"pos_label": "ALL", **kwargs}
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(["ALL", "normal"], **params)


def test_float32_probabilities_summed_past_one_are_accepted():
    # A confident float32 softmax, its positive classes summed in float64.
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 8, size=(5000, 4)).astype(np.float32)
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba = (proba / proba.sum(axis=1, keepdims=True)).astype(np.float32)
    score = proba[:, 1:].astype(float).sum(axis=1)
    assert score.max() > 1.0  # the case this guards
    y = np.where(rng.random(5000) < score.clip(0, 1), "leukemia", "benign")
    two = np.column_stack([1 - score, score])
    report = calibration_report(y, two, labels=["benign", "leukemia"],
                                pos_label="leukemia", n_bootstraps=10)
    assert 0 <= report.ece[0] < 0.05
