import warnings

import numpy as np
import pytest
from imblearn.metrics import sensitivity_score as imblearn_sensitivity
from imblearn.metrics import specificity_score as imblearn_specificity
from numpy.testing import assert_allclose
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import recall_score

from sklearn_leukemia.metrics import (
    false_negative_rate,
    false_positive_rate,
    negative_predictive_value,
    sensitivity_score,
    specificity_score,
)

METRICS = [
    sensitivity_score,
    specificity_score,
    false_positive_rate,
    false_negative_rate,
    negative_predictive_value,
]

# Binary, written out by hand: tp = 3, fn = 1, tn = 4, fp = 2.
Y_TRUE = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
Y_PRED = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 1])
BINARY_EXPECTED = {
    sensitivity_score: 3 / 4,
    specificity_score: 4 / 6,
    false_positive_rate: 2 / 6,
    false_negative_rate: 1 / 4,
    negative_predictive_value: 4 / 5,
}

# Three classes; confusion matrix (rows true, columns predicted):
#   [[2, 1, 0],
#    [0, 1, 1],
#    [2, 0, 2]]
# class 0: tp 2, fn 1, fp 2, tn 4; class 1: tp 1, fn 1, fp 1, tn 6;
# class 2: tp 2, fn 2, fp 1, tn 4. Support [3, 2, 4].
Y3_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y3_PRED = np.array([0, 0, 1, 1, 2, 2, 2, 0, 0])
SUPPORT3 = np.array([3, 2, 4])
PER_CLASS_EXPECTED = {
    sensitivity_score: [2 / 3, 1 / 2, 2 / 4],
    specificity_score: [4 / 6, 6 / 7, 4 / 5],
    false_positive_rate: [2 / 6, 1 / 7, 1 / 5],
    false_negative_rate: [1 / 3, 1 / 2, 2 / 4],
    negative_predictive_value: [4 / 5, 6 / 7, 4 / 6],
}
# micro: summed counts tp 5, fn 4, fp 4, tn 14.
MICRO_EXPECTED = {
    sensitivity_score: 5 / 9,
    specificity_score: 14 / 18,
    false_positive_rate: 4 / 18,
    false_negative_rate: 4 / 9,
    negative_predictive_value: 14 / 18,
}


@pytest.mark.parametrize("metric", METRICS)
def test_binary_matches_hand_counts(metric):
    assert metric(Y_TRUE, Y_PRED) == pytest.approx(BINARY_EXPECTED[metric])


@pytest.mark.parametrize("metric", METRICS)
def test_binary_string_labels_with_pos_label(metric):
    names = np.array(["hem", "ALL"])
    value = metric(names[Y_TRUE], names[Y_PRED], pos_label="ALL")
    assert value == pytest.approx(BINARY_EXPECTED[metric])
    # labels= in either order does not change the binary value.
    for labels in (["ALL", "hem"], ["hem", "ALL"]):
        assert metric(
            names[Y_TRUE], names[Y_PRED], pos_label="ALL", labels=labels
        ) == pytest.approx(BINARY_EXPECTED[metric])


def test_pos_label_swaps_roles():
    # The sensitivity of class 0 is the specificity of class 1, and so on.
    assert sensitivity_score(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(
        specificity_score(Y_TRUE, Y_PRED, pos_label=1)
    )
    assert false_negative_rate(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(
        false_positive_rate(Y_TRUE, Y_PRED, pos_label=1)
    )
    # With 0 as the positive class, the NPV is the precision of class 1:
    # 3 true 1s among 5 predicted 1s.
    assert negative_predictive_value(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(
        3 / 5
    )


@pytest.mark.parametrize("metric", METRICS)
def test_multiclass_per_class_and_averages(metric):
    expected = np.array(PER_CLASS_EXPECTED[metric])
    assert_allclose(metric(Y3_TRUE, Y3_PRED, average=None), expected)
    assert metric(Y3_TRUE, Y3_PRED, average="macro") == pytest.approx(expected.mean())
    assert metric(Y3_TRUE, Y3_PRED, average="weighted") == pytest.approx(
        np.average(expected, weights=SUPPORT3)
    )
    assert metric(Y3_TRUE, Y3_PRED, average="micro") == pytest.approx(
        MICRO_EXPECTED[metric]
    )
    for average in ("macro", "weighted", "micro"):
        assert isinstance(metric(Y3_TRUE, Y3_PRED, average=average), float)


@pytest.mark.parametrize("metric", METRICS)
def test_labels_fix_order_of_per_class_values(metric):
    expected = np.array(PER_CLASS_EXPECTED[metric])
    names = np.array(["AML", "ALL", "healthy"])
    values = metric(
        names[Y3_TRUE], names[Y3_PRED], labels=["healthy", "AML", "ALL"], average=None
    )
    assert_allclose(values, expected[[2, 0, 1]])


def test_fold_missing_a_class_keeps_counts_in_place():
    # Class 1 is absent from this fold: y_true = [0, 0, 2, 2].
    y_true, y_pred = [0, 0, 2, 2], [0, 2, 2, 2]
    sensitivity = sensitivity_score(
        y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=np.nan
    )
    assert_allclose(sensitivity, [1 / 2, np.nan, 1.0])
    # Specificity of the absent class is defined: 4 negatives, no false positive.
    assert_allclose(
        specificity_score(y_true, y_pred, labels=[0, 1, 2], average=None),
        [1.0, 1.0, 1 / 2],
    )
    # Without labels= the absent class is simply not there.
    assert_allclose(sensitivity_score(y_true, y_pred, average=None), [1 / 2, 1.0])
    # Reordered labels reorder the values, they never swap counts.
    assert_allclose(
        sensitivity_score(
            y_true, y_pred, labels=[2, 1, 0], average=None, zero_division=np.nan
        ),
        [1.0, np.nan, 1 / 2],
    )
    # NaN classes are left out of the macro average, as in scikit-learn.
    assert sensitivity_score(
        y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=np.nan
    ) == pytest.approx(3 / 4)
    assert sensitivity_score(
        y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=0.0
    ) == pytest.approx(1 / 2)


def test_label_in_data_but_not_in_labels_follows_sklearn():
    # Class 2 is left out of the output but still counts as "rest".
    values = sensitivity_score(Y3_TRUE, Y3_PRED, labels=[0, 1], average=None)
    assert_allclose(values, PER_CLASS_EXPECTED[sensitivity_score][:2])
    assert_allclose(values, recall_score(Y3_TRUE, Y3_PRED, labels=[0, 1], average=None))
    assert_allclose(
        specificity_score(Y3_TRUE, Y3_PRED, labels=[0, 1], average=None),
        PER_CLASS_EXPECTED[specificity_score][:2],
    )


def test_binary_fold_with_only_negatives():
    # No positive in the fold: sensitivity is undefined, specificity is not.
    with pytest.warns(UndefinedMetricWarning, match="Sensitivity is ill-defined"):
        assert sensitivity_score([0, 0, 0], [0, 1, 0]) == 0.0
    assert specificity_score([0, 0, 0], [0, 1, 0]) == pytest.approx(2 / 3)
    names = ["hem", "hem"]
    assert np.isnan(
        sensitivity_score(names, names, pos_label="ALL", zero_division=np.nan)
    )


@pytest.mark.parametrize(
    ("metric", "y_true", "y_pred", "message"),
    [
        (sensitivity_score, [0, 0], [0, 1], "Sensitivity is ill-defined"),
        (false_negative_rate, [0, 0], [0, 1], "False negative rate is ill-defined"),
        (specificity_score, [1, 1], [0, 1], "Specificity is ill-defined"),
        (false_positive_rate, [1, 1], [0, 1], "False positive rate is ill-defined"),
        (negative_predictive_value, [0, 1], [1, 1], "predictive value is ill"),
    ],
)
def test_zero_division(metric, y_true, y_pred, message):
    with pytest.warns(UndefinedMetricWarning, match=message):
        assert metric(y_true, y_pred) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metric(y_true, y_pred, zero_division=0.0) == 0.0
        # The value is that of the metric itself: an undefined rate is not
        # turned into 1 - zero_division.
        assert metric(y_true, y_pred, zero_division=1.0) == 1.0
        assert np.isnan(metric(y_true, y_pred, zero_division=np.nan))


def test_zero_division_per_class_warning_and_average():
    with pytest.warns(UndefinedMetricWarning, match="in labels with no true"):
        values = sensitivity_score([0, 0], [0, 1], labels=[0, 1, 2], average=None)
    assert_allclose(values, [0.5, 0.0, 0.0])
    assert sensitivity_score(
        [0, 0], [0, 1], labels=[0, 1, 2], average="macro", zero_division=1.0
    ) == pytest.approx((0.5 + 1 + 1) / 3)
    assert np.isnan(
        sensitivity_score(
            [0, 0], [0, 0], labels=[1, 2], average="macro", zero_division=np.nan
        )
    )


@pytest.mark.parametrize("zero_division", ["error", 2, -1, None, True])
def test_invalid_zero_division(zero_division):
    with pytest.raises(ValueError, match="zero_division"):
        sensitivity_score(Y_TRUE, Y_PRED, zero_division=zero_division)


@pytest.mark.parametrize("metric", METRICS)
def test_complements_where_defined(metric, rng):
    y_true = rng.integers(0, 3, size=60)
    y_pred = rng.integers(0, 3, size=60)
    sensitivity = sensitivity_score(y_true, y_pred, average=None)
    specificity = specificity_score(y_true, y_pred, average=None)
    assert_allclose(false_negative_rate(y_true, y_pred, average=None), 1 - sensitivity)
    assert_allclose(false_positive_rate(y_true, y_pred, average=None), 1 - specificity)


@pytest.mark.parametrize("average", ["binary", None, "macro", "weighted", "micro"])
def test_agrees_with_imblearn_and_sklearn(average, rng):
    n_classes = 2 if average == "binary" else 4
    y_true = rng.integers(0, n_classes, size=80)
    y_pred = np.where(rng.random(80) < 0.6, y_true, rng.integers(0, n_classes, 80))
    assert_allclose(
        sensitivity_score(y_true, y_pred, average=average),
        imblearn_sensitivity(y_true, y_pred, average=average),
    )
    assert_allclose(
        specificity_score(y_true, y_pred, average=average),
        imblearn_specificity(y_true, y_pred, average=average),
    )
    assert_allclose(
        sensitivity_score(y_true, y_pred, average=average),
        recall_score(y_true, y_pred, average=average),
    )
    weights = rng.random(80)
    assert_allclose(
        sensitivity_score(y_true, y_pred, average=average, sample_weight=weights),
        recall_score(y_true, y_pred, average=average, sample_weight=weights),
    )


def test_agrees_with_imblearn_on_string_labels():
    names = np.array(["hem", "ALL"])
    for metric, theirs in (
        (sensitivity_score, imblearn_sensitivity),
        (specificity_score, imblearn_specificity),
    ):
        assert metric(names[Y_TRUE], names[Y_PRED], pos_label="ALL") == pytest.approx(
            theirs(names[Y_TRUE], names[Y_PRED], pos_label="ALL")
        )
    assert sensitivity_score(
        names[Y_TRUE], names[Y_PRED], pos_label="ALL"
    ) == pytest.approx(recall_score(names[Y_TRUE], names[Y_PRED], pos_label="ALL"))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
def test_integer_weights_equal_repeated_samples(metric, average, rng):
    y_true = rng.integers(0, 3, size=40)
    y_pred = rng.integers(0, 3, size=40)
    weights = rng.integers(0, 4, size=40)
    weighted = metric(y_true, y_pred, average=average, sample_weight=weights)
    repeated = metric(
        np.repeat(y_true, weights), np.repeat(y_pred, weights), average=average
    )
    assert_allclose(weighted, repeated)


def test_weighted_binary_by_hand():
    # Weights 2 on the first positive and 3 on the last (false positive) row:
    # tp 4, fn 1, tn 4, fp 4.
    weights = np.ones(10)
    weights[0], weights[-1] = 2, 3
    assert sensitivity_score(Y_TRUE, Y_PRED, sample_weight=weights) == pytest.approx(
        4 / 5
    )
    assert specificity_score(Y_TRUE, Y_PRED, sample_weight=weights) == pytest.approx(
        4 / 8
    )
    assert negative_predictive_value(
        Y_TRUE, Y_PRED, sample_weight=weights
    ) == pytest.approx(4 / 5)


@pytest.mark.parametrize("metric", METRICS)
def test_unknown_pos_label_names_it_and_lists_labels(metric):
    names = np.array(["hem", "ALL"])
    with pytest.raises(ValueError, match=r"pos_label='all'.*\['ALL', 'hem'\]"):
        metric(names[Y_TRUE], names[Y_PRED], pos_label="all")
    with pytest.raises(ValueError, match=r"pos_label='leukemia'.*\['hem', 'ALL'\]"):
        metric(
            names[Y_TRUE], names[Y_PRED], pos_label="leukemia", labels=["hem", "ALL"]
        )
    # The default pos_label=1 with string labels is a mistake, not a fold
    # without positives.
    with pytest.raises(ValueError, match=r"pos_label=1 .*\['hem'\]"):
        metric(["hem", "hem"], ["hem", "hem"])
    with pytest.raises(ValueError, match="pos_label=2"):
        metric(Y_TRUE, Y_PRED, pos_label=2)


def test_binary_average_on_multiclass_raises():
    with pytest.raises(ValueError, match=r"average='binary'.*\[0, 1, 2\].*macro"):
        sensitivity_score(Y3_TRUE, Y3_PRED)
    with pytest.raises(ValueError, match="average='binary'"):
        specificity_score([0, 1], [0, 1], labels=[0, 1, 2])


def test_pos_label_ignored_with_average_warns():
    with pytest.warns(UserWarning, match="pos_label='ALL' is ignored"):
        sensitivity_score(["a", "b"], ["a", "b"], pos_label="ALL", average="macro")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_pred": [0, 1]}, r"y_true has 10 samples but y_pred has 2"),
        ({"average": "samples"}, "average='samples' is not valid"),
        ({"labels": [0, 0, 1], "average": None}, "duplicates"),
        ({"labels": [], "average": None}, "non-empty"),
        ({"sample_weight": [1.0, 2.0]}, r"sample_weight has shape \(2,\)"),
        ({"sample_weight": -np.ones(10)}, "non-negative"),
        ({"y_pred": np.linspace(0, 1, 10)}, "y_pred holds continuous"),
        ({"y_pred": np.zeros((10, 2))}, r"y_pred has shape \(10, 2\)"),
    ],
)
def test_invalid_input(kwargs, message):
    arguments = {"y_true": Y_TRUE, "y_pred": Y_PRED, **kwargs}
    with pytest.raises(ValueError, match=message):
        sensitivity_score(**arguments)


def test_empty_input():
    with pytest.raises(ValueError, match="empty"):
        specificity_score([], [])


def test_weighted_counts_leave_no_residue_where_a_column_is_empty():
    # Everything predicted positive: NPV, specificity and FPR are undefined or
    # exact, whatever the weights (scikit-learn's tn = total - tp - fp - fn
    # left ~1e-16 in 140 of these 200 weightings of 50 samples).
    rng = np.random.default_rng(1)
    for _ in range(200):
        y_true = rng.integers(0, 2, 50)
        y_pred = np.ones(50, dtype=int)
        w = rng.random(50)
        with pytest.warns(UndefinedMetricWarning, match="predicted negatives"):
            assert negative_predictive_value(y_true, y_pred, sample_weight=w) == 0.0
        assert np.isnan(negative_predictive_value(
            y_true, y_pred, sample_weight=w, zero_division=np.nan))
        assert specificity_score(y_true, y_pred, sample_weight=w) == 0.0
        assert false_positive_rate(y_true, y_pred, sample_weight=w) == 1.0


@pytest.mark.parametrize("metric", METRICS)
def test_a_missing_label_is_named_by_its_position(metric):
    y_true = np.array(["ALL", None, "normal"], dtype=object)
    with pytest.raises(ValueError, match=r"y_true has a missing label \(None\) at "
                       "position 1"):
        metric(y_true, ["ALL", "ALL", "normal"], pos_label="ALL")
    with pytest.raises(ValueError, match=r"y_pred has a missing label \(NaN\)"):
        metric(["ALL", "ALL", "normal"], ["ALL", np.nan, "normal"], pos_label="ALL")
