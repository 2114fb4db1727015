import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from sklearn_leukemia.metrics import (
    ClinicalReport,
    clinical_report,
    false_negative_rate,
    false_positive_rate,
    negative_predictive_value,
    specificity_score,
)

NAMES = [
    "Accuracy",
    "Precision",
    "Recall (sensitivity)",
    "F1 score",
    "Specificity",
    "AUC-ROC",
    "False positive rate",
    "False negative rate",
    "Negative predictive value",
]
KEYS = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "specificity",
    "roc_auc",
    "false_positive_rate",
    "false_negative_rate",
    "negative_predictive_value",
]


def _binary(rng, n, names=(0, 1)):
    """A noisy binary problem: labels, predictions, positive-class scores."""
    y = rng.integers(0, 2, size=n)
    score = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    names = np.asarray(names)
    return names[y], names[(score > 0.5).astype(int)], score


def _multiclass(rng, n, names=("ALL", "AML", "healthy")):
    y = rng.integers(0, 3, size=n)
    proba = rng.dirichlet(np.ones(3), size=n)
    proba[np.arange(n), y] += 0.4
    proba /= proba.sum(axis=1, keepdims=True)
    names = np.asarray(names)
    return names[y], names[proba.argmax(axis=1)], proba


def _expected_binary(y_true, y_pred, score, pos_label, sample_weight=None):
    kwargs = {"pos_label": pos_label, "sample_weight": sample_weight}
    nan = {"zero_division": np.nan}
    return {
        "accuracy": accuracy_score(y_true, y_pred, sample_weight=sample_weight),
        "precision": precision_score(y_true, y_pred, **kwargs, **nan),
        "recall": recall_score(y_true, y_pred, **kwargs, **nan),
        "f1": f1_score(y_true, y_pred, **kwargs, **nan),
        "specificity": specificity_score(y_true, y_pred, **kwargs, **nan),
        "roc_auc": roc_auc_score(
            np.asarray(y_true) == pos_label, score, sample_weight=sample_weight
        ),
        "false_positive_rate": false_positive_rate(y_true, y_pred, **kwargs, **nan),
        "false_negative_rate": false_negative_rate(y_true, y_pred, **kwargs, **nan),
        "negative_predictive_value": negative_predictive_value(
            y_true, y_pred, **kwargs, **nan
        ),
    }


def test_binary_values_equal_metric_functions(rng):
    y_true, y_pred, score = _binary(rng, 300)
    report = clinical_report(y_true, y_pred, score, n_bootstraps=50, random_state=0)
    assert isinstance(report, ClinicalReport)
    assert list(report.metrics) == KEYS
    expected = _expected_binary(y_true, y_pred, score, pos_label=1)
    for key in KEYS:
        assert report.metrics[key][0] == pytest.approx(expected[key]), key
    assert_array_equal(report.confusion_matrix, confusion_matrix(y_true, y_pred))
    assert report.confusion_matrix.dtype.kind == "i"
    assert_array_equal(report.support, np.bincount(y_true))
    assert report.labels == [0, 1]
    assert report.pos_label == 1
    assert report.per_class is None
    assert report.n_samples == 300


@pytest.mark.parametrize(
    ("labels", "expected"),
    [([0, 1], 1), ([1, 0], 1), ([-1, 1], 1), ([False, True], True)],
)
def test_default_pos_label(labels, expected):
    y_true = np.array(labels * 3)
    report = clinical_report(y_true, y_true[::-1], labels=labels, n_bootstraps=0)
    assert report.pos_label == expected
    assert report.labels == labels


def test_binary_string_labels_need_pos_label(rng):
    # sorted(["ALL", "hem"])[-1] is the healthy class: never guessed.
    y_true, y_pred, score = _binary(rng, 200, names=("hem", "ALL"))
    with pytest.raises(ValueError, match=r"\['ALL', 'hem'\].*pass the positive"):
        clinical_report(y_true, y_pred, score)
    report = clinical_report(
        y_true, y_pred, score, pos_label="ALL", n_bootstraps=20, random_state=0
    )
    expected = _expected_binary(y_true, y_pred, score, pos_label="ALL")
    for key in KEYS:
        assert report.metrics[key][0] == pytest.approx(expected[key]), key
    assert report.labels == ["ALL", "hem"]
    assert_array_equal(
        report.confusion_matrix, confusion_matrix(y_true, y_pred, labels=["ALL", "hem"])
    )


def test_binary_two_column_scores_use_pos_label_column(rng):
    y_true, y_pred, score = _binary(rng, 200, names=("hem", "ALL"))
    # Columns in labels order ["ALL", "hem"]: the first one is P(ALL).
    proba = np.column_stack([score, 1 - score])
    one_column = clinical_report(
        y_true, y_pred, score, pos_label="ALL", n_bootstraps=30, random_state=1
    )
    two_columns = clinical_report(
        y_true, y_pred, proba, pos_label="ALL", n_bootstraps=30, random_state=1
    )
    assert two_columns.metrics["roc_auc"] == one_column.metrics["roc_auc"]
    assert two_columns.metrics["roc_auc"][0] > 0.5
    # With labels reordered, the columns follow labels.
    reordered = clinical_report(
        y_true,
        y_pred,
        proba[:, ::-1],
        labels=["hem", "ALL"],
        pos_label="ALL",
        n_bootstraps=0,
    )
    assert reordered.metrics["roc_auc"][0] == pytest.approx(
        one_column.metrics["roc_auc"][0]
    )
    assert_array_equal(
        reordered.confusion_matrix, one_column.confusion_matrix[::-1, ::-1]
    )


def test_no_scores_no_auc(rng):
    y_true, y_pred, _ = _binary(rng, 50)
    report = clinical_report(y_true, y_pred, n_bootstraps=10, random_state=0)
    assert "roc_auc" not in report.metrics
    assert "AUC-ROC" not in report.to_text()


def test_multiclass_per_class_and_macro(rng):
    y_true, y_pred, proba = _multiclass(rng, 300)
    report = clinical_report(y_true, y_pred, proba, n_bootstraps=50, random_state=0)
    labels = ["ALL", "AML", "healthy"]
    assert report.labels == labels
    assert report.pos_label is None
    assert list(report.per_class) == labels
    per_class = {
        "precision": precision_score(y_true, y_pred, average=None),
        "recall": recall_score(y_true, y_pred, average=None),
        "f1": f1_score(y_true, y_pred, average=None),
        "specificity": specificity_score(y_true, y_pred, average=None),
        "roc_auc": [
            roc_auc_score(y_true == c, proba[:, i]) for i, c in enumerate(labels)
        ],
        "false_positive_rate": false_positive_rate(y_true, y_pred, average=None),
        "false_negative_rate": false_negative_rate(y_true, y_pred, average=None),
        "negative_predictive_value": negative_predictive_value(
            y_true, y_pred, average=None
        ),
    }
    for key, values in per_class.items():
        for i, label in enumerate(labels):
            assert report.per_class[label][key][0] == pytest.approx(values[i]), key
        assert report.metrics[key][0] == pytest.approx(np.mean(values)), key
    assert report.metrics["roc_auc"][0] == pytest.approx(
        roc_auc_score(y_true, proba, multi_class="ovr")
    )
    assert report.metrics["accuracy"][0] == pytest.approx(
        accuracy_score(y_true, y_pred)
    )
    assert_array_equal(report.confusion_matrix, confusion_matrix(y_true, y_pred))
    assert_array_equal(report.support, [np.sum(y_true == c) for c in labels])
    for label in labels:
        assert "accuracy" not in report.per_class[label]
        value, low, high = report.per_class[label]["recall"]
        assert low <= value <= high


def test_multiclass_absent_class_keeps_its_row(rng):
    y_true, y_pred, proba = _multiclass(rng, 200, names=(0, 1, 2))
    keep = (y_true != 2) & (y_pred != 2)
    y_true, y_pred, proba = y_true[keep], y_pred[keep], proba[keep]
    labels = [2, 0, 1]
    report = clinical_report(
        y_true, y_pred, proba[:, labels], labels=labels, n_bootstraps=20, random_state=0
    )
    assert report.labels == labels
    assert report.support[0] == 0
    assert np.isnan(report.per_class[2]["recall"][0])
    assert report.per_class[2]["recall"][1:] == (None, None)
    assert report.per_class[2]["specificity"][0] == 1.0
    # NaN classes are left out of the macro averages (zero_division=np.nan).
    assert report.metrics["recall"][0] == pytest.approx(
        recall_score(
            y_true, y_pred, labels=labels, average="macro", zero_division=np.nan
        )
    )
    # The AUC averages the classes present in y_true.
    assert report.metrics["roc_auc"][0] == pytest.approx(
        np.mean([report.per_class[c]["roc_auc"][0] for c in (0, 1)])
    )
    assert report.per_class_n_valid[2]["recall"] == 0


def test_sample_weight(rng):
    y_true, y_pred, score = _binary(rng, 300)
    weights = rng.random(300) * 3
    report = clinical_report(
        y_true, y_pred, score, sample_weight=weights, n_bootstraps=30, random_state=0
    )
    expected = _expected_binary(y_true, y_pred, score, 1, sample_weight=weights)
    for key in KEYS:
        assert report.metrics[key][0] == pytest.approx(expected[key]), key
    assert_allclose(
        report.confusion_matrix,
        confusion_matrix(y_true, y_pred, sample_weight=weights),
    )
    assert_allclose(report.support, [weights[y_true == c].sum() for c in (0, 1)])


def test_tied_scores_auc_matches_sklearn(rng):
    y_true, y_pred, score = _binary(rng, 200)
    coarse = np.round(score, 1)
    weights = rng.random(200)
    report = clinical_report(
        y_true, y_pred, coarse, sample_weight=weights, n_bootstraps=0
    )
    assert report.metrics["roc_auc"][0] == pytest.approx(
        roc_auc_score(y_true, coarse, sample_weight=weights)
    )


def test_bootstrap_equals_naive_percentile_bootstrap(rng):
    y_true, y_pred, score = _binary(rng, 60)
    n_bootstraps = 40
    report = clinical_report(
        y_true, y_pred, score, n_bootstraps=n_bootstraps, random_state=3
    )
    # The same replicates, drawn and scored one at a time with scikit-learn.
    draws = np.random.RandomState(3).randint(0, 60, size=(n_bootstraps, 60))
    values = {"recall": [], "specificity": [], "roc_auc": []}
    for rows in draws:
        t, p, s = y_true[rows], y_pred[rows], score[rows]
        values["recall"].append(recall_score(t, p, zero_division=np.nan))
        values["specificity"].append(specificity_score(t, p, zero_division=np.nan))
        values["roc_auc"].append(
            roc_auc_score(t, s) if len(np.unique(t)) == 2 else np.nan
        )
    for key, replicate_values in values.items():
        replicate_values = np.array(replicate_values)
        replicate_values = replicate_values[~np.isnan(replicate_values)]
        low, high = np.quantile(replicate_values, [0.025, 0.975])
        assert report.metrics[key][1:] == pytest.approx((low, high)), key
        assert report.n_valid_bootstraps[key] == replicate_values.size


def test_interval_contains_estimate_and_narrows_with_samples(rng):
    small = clinical_report(*_binary(rng, 100), random_state=0)
    large = clinical_report(*_binary(rng, 3000), random_state=0)
    for report in (small, large):
        for key, (value, low, high) in report.metrics.items():
            assert low <= value <= high, key
    for key in KEYS:
        small_width = small.metrics[key][2] - small.metrics[key][1]
        large_width = large.metrics[key][2] - large.metrics[key][1]
        assert large_width < small_width / 2, key


def test_confidence_level_changes_width(rng):
    data = _binary(rng, 200)
    wide = clinical_report(*data, confidence=0.99, n_bootstraps=300, random_state=0)
    narrow = clinical_report(*data, confidence=0.8, n_bootstraps=300, random_state=0)
    for key in KEYS:
        assert wide.metrics[key][1] <= narrow.metrics[key][1]
        assert wide.metrics[key][2] >= narrow.metrics[key][2]
    assert "99% CI" in wide.to_text()
    assert "80% CI" in narrow.to_text()


def test_reproducible_with_random_state(rng):
    data = _binary(rng, 150)
    first = clinical_report(*data, n_bootstraps=100, random_state=7)
    second = clinical_report(*data, n_bootstraps=100, random_state=7)
    other = clinical_report(*data, n_bootstraps=100, random_state=8)
    assert first.to_dict() == second.to_dict()
    assert first.to_dict() != other.to_dict()
    assert first.metrics["recall"][0] == other.metrics["recall"][0]


def test_large_sample_in_several_chunks(rng):
    # 1000 replicates of 5000 samples are drawn in chunks; all are used.
    report = clinical_report(*_binary(rng, 5000), random_state=0)
    assert report.n_bootstraps == 1000
    assert set(report.n_valid_bootstraps.values()) == {1000}


def test_replicates_with_one_class_are_skipped_for_auc():
    y_true = np.array([1] + [0] * 9)
    y_pred = np.array([1, 1] + [0] * 8)
    score = np.linspace(1, 0, 10)
    report = clinical_report(y_true, y_pred, score, n_bootstraps=200, random_state=0)
    n_valid = report.n_valid_bootstraps["roc_auc"]
    # A replicate misses the single positive with probability 0.9 ** 10.
    assert 80 < n_valid < 200
    assert report.n_valid_bootstraps["accuracy"] == 200
    assert report.to_dict()["metrics"]["roc_auc"]["n_valid_bootstraps"] == n_valid
    assert f"AUC-ROC: interval from the {n_valid} replicates" in report.to_text()


def test_no_bootstrap():
    report = clinical_report([0, 1, 1, 0], [0, 1, 0, 0], n_bootstraps=0)
    assert report.metrics["recall"] == (0.5, None, None)
    assert report.n_valid_bootstraps["recall"] == 0
    assert report.to_dict()["metrics"]["recall"]["ci_low"] is None
    assert "CI" not in report.to_text().split("Metrics")[1]


def test_json_round_trip(rng, tmp_path):
    # Precision is undefined (no positive prediction): NaN becomes null.
    y_true = np.array([0, 1, 1, 0, 1])
    report = clinical_report(
        y_true, np.zeros(5, int), rng.random(5), n_bootstraps=20, random_state=0
    )
    assert np.isnan(report.metrics["precision"][0])
    text = report.to_json()
    assert "NaN" not in text
    loaded = json.loads(text)
    assert loaded == report.to_dict()
    assert loaded["metrics"]["precision"]["value"] is None
    assert loaded["confusion_matrix"] == [[2, 0], [3, 0]]
    assert loaded["labels"] == [0, 1]
    assert loaded["task"] == "binary"
    path = tmp_path / "report.json"
    assert report.to_json(path, indent=None) == path.read_text().strip()
    assert json.loads(path.read_text()) == loaded


def test_json_multiclass_with_string_labels(rng):
    report = clinical_report(*_multiclass(rng, 90), n_bootstraps=10, random_state=0)
    loaded = json.loads(report.to_json())
    assert loaded["task"] == "multiclass"
    assert loaded["average"] == "macro"
    assert [row["label"] for row in loaded["per_class"]] == ["ALL", "AML", "healthy"]
    assert sum(row["support"] for row in loaded["per_class"]) == 90
    assert set(loaded["per_class"][0]["metrics"]) == set(KEYS) - {"accuracy"}
    assert loaded == report.to_dict()


def test_text_table(rng):
    report = clinical_report(
        *_binary(rng, 200, names=("hem", "ALL")), pos_label="ALL", random_state=0
    )
    text = str(report)
    assert text == report.to_text()
    for name in NAMES:
        assert name in text
    assert "positive class 'ALL'" in text
    assert "95% CI" in text
    value, low, high = report.metrics["false_negative_rate"]
    line = next(row for row in text.splitlines() if row.startswith("False negative"))
    assert f"{100 * value:.1f}%" in line
    assert f"[{100 * low:.1f}%, {100 * high:.1f}%]" in line
    auc_line = next(row for row in text.splitlines() if row.startswith("AUC-ROC"))
    assert f"{report.metrics['roc_auc'][0]:.3f}" in auc_line
    # The values start in one column.
    rows = {
        name: row
        for row in text.splitlines()
        for name in NAMES
        if row.startswith(name + "  ")
    }
    assert len(rows) == len(NAMES)
    starts = {len(row) - len(row[len(name) :].lstrip()) for name, row in rows.items()}
    assert len(starts) == 1


def test_text_multiclass_per_class_table(rng):
    report = clinical_report(*_multiclass(rng, 120), random_state=0)
    text = report.to_text()
    assert "Per class (one-vs-rest)" in text
    assert "macro-averaged" in text
    header = next(
        row
        for row in text.splitlines()
        if row.startswith("Metric") and "healthy" in row
    )
    assert header.split() == ["Metric", "ALL", "AML", "healthy"]
    support = next(row for row in text.splitlines() if row.startswith("Support"))
    assert support.split()[1:] == [str(n) for n in report.support]


def test_markdown_and_html(rng):
    report = clinical_report(
        *_multiclass(rng, 90, names=("a<b", "c|d", "e")), random_state=0
    )
    markdown = report.to_markdown()
    assert "| Metric | Value | 95% CI |" in markdown
    assert "c\\|d" in markdown
    for name in NAMES:
        assert f"| {name} |" in markdown
    html = report.to_html()
    assert html.count("<table>") == 3
    assert "a&lt;b" in html and "a<b" not in html
    for name in NAMES:
        assert f">{name}<" in html


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_pred": [0, 1]}, "y_true has 6 samples but y_pred has 2"),
        ({"confidence": 0}, "confidence=0 is not valid"),
        ({"confidence": 1.0}, "confidence=1.0 is not valid"),
        ({"confidence": 95}, "strictly between 0 and 1"),
        ({"confidence": "95%"}, "confidence='95%'"),
        ({"n_bootstraps": -1}, "n_bootstraps=-1"),
        ({"n_bootstraps": 10.5}, "n_bootstraps=10.5"),
        ({"n_bootstraps": True}, "n_bootstraps=True"),
        ({"y_score": np.zeros((6, 3))}, r"y_score has shape \(6, 3\); expected \(6,\)"),
        ({"y_score": np.zeros(5)}, r"y_score has shape \(5,\)"),
        ({"y_score": [0.1, 0.2, np.nan, 0.4, 0.5, 0.6]}, "NaN"),
        ({"y_score": ["a"] * 6}, "numeric scores"),
        ({"labels": [0]}, r"hold \[1\], which are not in labels=\[0\]"),
        ({"labels": [0, 1, 1]}, "duplicates"),
        (
            {"pos_label": 2},
            r"pos_label=2 is not a valid label; the labels are \[0, 1\]",
        ),
        ({"pos_label": "1"}, "pos_label='1' is not a valid label"),
        ({"sample_weight": np.ones(3)}, r"sample_weight has shape \(3,\)"),
    ],
)
def test_invalid_input(kwargs, message):
    arguments = {"y_true": [0, 1, 1, 0, 1, 0], "y_pred": [0, 1, 0, 0, 1, 1], **kwargs}
    with pytest.raises(ValueError, match=message):
        clinical_report(**arguments)


def test_invalid_multiclass_input():
    y = [0, 1, 2, 0, 1, 2]
    with pytest.raises(
        ValueError, match=r"y_score has shape \(6,\); expected \(6, 3\)"
    ):
        clinical_report(y, y, np.zeros(6))
    with pytest.raises(ValueError, match="pos_label=2 applies to binary targets only"):
        clinical_report(y, y, pos_label=2)


def test_single_class_needs_labels():
    with pytest.raises(ValueError, match="at least two"):
        clinical_report([1, 1, 1], [1, 1, 1])
    report = clinical_report(
        [1, 1, 1], [1, 1, 0], labels=[0, 1], n_bootstraps=5, random_state=0
    )
    assert report.metrics["recall"][0] == pytest.approx(2 / 3)
    assert np.isnan(report.metrics["specificity"][0])


def test_repr(rng):
    report = clinical_report(*_binary(rng, 30), n_bootstraps=0)
    assert repr(report).startswith("ClinicalReport(binary, pos_label=1, n_samples=30")


def test_undefined_per_class_value_is_shown_once_as_na():
    # Nothing is predicted as "c": its precision is undefined in every table.
    y_true = np.array(["a", "b", "c"] * 10)
    y_pred = np.array(["a", "b", "a"] * 10)
    report = clinical_report(y_true, y_pred, n_bootstraps=50, random_state=0)
    text = report.to_text()
    assert "n/a" in text
    assert "n/a n/a" not in text


# -- positive_classes ----------------------------------------------------------
SUBTYPES = ["Benign", "Early", "Pre", "Pro"]


def test_positive_classes_equal_the_merged_binary_report(rng):
    y_true = rng.choice(SUBTYPES, size=300)
    y_pred = np.where(rng.random(300) < 0.8, y_true, rng.choice(SUBTYPES, size=300))
    proba = rng.dirichlet(np.ones(4), size=300)
    report = clinical_report(
        y_true,
        y_pred,
        proba,
        positive_classes=["Early", "Pre", "Pro"],
        n_bootstraps=200,
        random_state=0,
    )
    assert report.labels == ["Benign", "Early+Pre+Pro"]
    assert report.pos_label == "Early+Pre+Pro"
    assert report.per_class is None
    names = np.array(report.labels)
    expected = clinical_report(
        names[(y_true != "Benign").astype(int)],
        names[(y_pred != "Benign").astype(int)],
        1 - proba[:, 0],
        pos_label="Early+Pre+Pro",
        n_bootstraps=200,
        random_state=0,
    )
    assert report.to_dict() == expected.to_dict()
    true, pred = y_true != "Benign", y_pred != "Benign"
    assert report.metrics["specificity"][0] == pytest.approx(
        specificity_score(true, pred)
    )
    assert report.metrics["roc_auc"][0] == pytest.approx(
        roc_auc_score(true, 1 - proba[:, 0])
    )
    assert_array_equal(report.support, [np.sum(~true), np.sum(true)])


def test_positive_classes_follow_labels_order(rng):
    y_true = rng.choice(SUBTYPES, size=100)
    proba = rng.dirichlet(np.ones(4), size=100)
    order = ["Pro", "Pre", "Early", "Benign"]
    report = clinical_report(
        y_true,
        y_true,
        proba,
        labels=order,
        positive_classes=["Benign"],
        n_bootstraps=0,
    )
    # The negative side keeps the order of labels.
    assert report.labels == ["Pro+Pre+Early", "Benign"]
    assert report.metrics["roc_auc"][0] == pytest.approx(
        roc_auc_score(y_true == "Benign", proba[:, 3])
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positive_classes": ["Pree"]}, r"names \['Pree'\], which are not"),
        ({"positive_classes": SUBTYPES}, "covers every one of the classes"),
        ({"positive_classes": ["Pre"], "pos_label": "Pre"}, "leave pos_label=None"),
        (
            {"positive_classes": ["Pre"], "y_score": np.ones((4, 3))},
            r"y_score does not fit positive_classes.*4 columns",
        ),
    ],
)
def test_positive_classes_invalid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        clinical_report(SUBTYPES, SUBTYPES, n_bootstraps=0, **kwargs)


def test_weighted_report_has_no_npv_where_nothing_is_predicted_negative():
    rng = np.random.default_rng(1)
    for _ in range(50):
        y_true = rng.integers(0, 2, 50)
        y_pred = np.ones(50, dtype=int)
        w = rng.random(50)
        report = clinical_report(y_true, y_pred, labels=[0, 1], pos_label=1,
                                 sample_weight=w, n_bootstraps=0)
        metrics = report.to_dict()["metrics"]
        assert metrics["negative_predictive_value"]["value"] is None  # undefined
        assert metrics["specificity"]["value"] == 0.0
        assert metrics["false_positive_rate"]["value"] == 1.0
