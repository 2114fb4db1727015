import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.svm import LinearSVC

from sklearn_leukemia.metrics import (
    clinical_scorers,
    false_negative_rate,
    false_positive_rate,
    negative_predictive_value,
    specificity_score,
)

KEYS = {
    "accuracy",
    "precision",
    "recall",
    "f1",
    "specificity",
    "npv",
    "roc_auc",
    "neg_fpr",
    "neg_fnr",
}


@pytest.fixture(scope="module")
def binary_data():
    X, y = make_classification(n_samples=120, n_features=6, flip_y=0.1, random_state=0)
    # "ALL" sorts before "hem": the positive class is classes_[0], the case
    # where taking predict_proba[:, 1] would silently score the wrong class.
    return X, np.array(["hem", "ALL"])[y]


@pytest.fixture(scope="module")
def multiclass_data():
    X, y = make_classification(
        n_samples=150,
        n_features=6,
        n_informative=4,
        n_classes=3,
        flip_y=0.1,
        random_state=0,
    )
    return X, np.array(["AML", "ALL", "healthy"])[y]


def test_keys():
    assert set(clinical_scorers()) == KEYS
    assert set(clinical_scorers(average="macro")) == KEYS


def test_binary_scorers_equal_metrics(binary_data):
    X, y = binary_data
    model = LogisticRegression().fit(X[:80], y[:80])
    X_test, y_test = X[80:], y[80:]
    y_pred = model.predict(X_test)
    proba_all = model.predict_proba(X_test)[:, list(model.classes_).index("ALL")]
    expected = {
        "accuracy": accuracy_score(y_test, y_pred),
        "precision": precision_score(y_test, y_pred, pos_label="ALL"),
        "recall": recall_score(y_test, y_pred, pos_label="ALL"),
        "f1": f1_score(y_test, y_pred, pos_label="ALL"),
        "specificity": specificity_score(y_test, y_pred, pos_label="ALL"),
        "npv": negative_predictive_value(y_test, y_pred, pos_label="ALL"),
        "roc_auc": roc_auc_score(y_test == "ALL", proba_all),
        "neg_fpr": -false_positive_rate(y_test, y_pred, pos_label="ALL"),
        "neg_fnr": -false_negative_rate(y_test, y_pred, pos_label="ALL"),
    }
    for labels in (None, ["hem", "ALL"]):
        scorers = clinical_scorers(pos_label="ALL", labels=labels)
        for key, scorer in scorers.items():
            assert scorer(model, X_test, y_test) == pytest.approx(expected[key]), key
    # The AUC of the other class's column would be its complement.
    assert expected["roc_auc"] > 0.5


def test_binary_roc_auc_with_decision_function(binary_data):
    X, y = binary_data
    model = LinearSVC().fit(X[:80], y[:80])
    scorers = clinical_scorers(pos_label="ALL")
    decision = model.decision_function(X[80:])
    # decision_function is oriented towards classes_[1] = "hem".
    expected = roc_auc_score(y[80:] == "ALL", -decision)
    assert scorers["roc_auc"](model, X[80:], y[80:]) == pytest.approx(expected)
    assert expected > 0.5


def test_cross_validate_binary_signs(binary_data):
    X, y = binary_data
    scores = cross_validate(
        LogisticRegression(),
        X,
        y,
        cv=StratifiedKFold(4),
        scoring=clinical_scorers(pos_label="ALL"),
        error_score="raise",
    )
    for key in KEYS:
        values = scores[f"test_{key}"]
        assert np.isfinite(values).all()
        if key.startswith("neg_"):
            assert (values <= 0).all() and (values >= -1).all()
        else:
            assert ((values >= 0) & (values <= 1)).all()
    # The rates and their scores add up to one in every fold.
    assert_allclose(-scores["test_neg_fpr"], 1 - scores["test_specificity"])
    assert_allclose(-scores["test_neg_fnr"], 1 - scores["test_recall"])


def test_sample_weight_is_passed(binary_data):
    X, y = binary_data
    model = LogisticRegression().fit(X, y)
    weights = np.linspace(0.1, 2, y.shape[0])
    scorer = clinical_scorers(pos_label="ALL")["specificity"]
    expected = specificity_score(
        y, model.predict(X), pos_label="ALL", sample_weight=weights
    )
    assert scorer(model, X, y, sample_weight=weights) == pytest.approx(expected)
    assert expected != pytest.approx(
        specificity_score(y, model.predict(X), pos_label="ALL")
    )


def test_unknown_pos_label_raises(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="pos_label=leukemia"):
        cross_validate(
            LogisticRegression(),
            X,
            y,
            cv=3,
            scoring=clinical_scorers(pos_label="leukemia"),
            error_score="raise",
        )


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_multiclass_scorers_equal_metrics(multiclass_data, average):
    X, y = multiclass_data
    model = LogisticRegression().fit(X[:100], y[:100])
    X_test, y_test = X[100:], y[100:]
    y_pred = model.predict(X_test)
    proba = model.predict_proba(X_test)
    expected = {
        "accuracy": accuracy_score(y_test, y_pred),
        "precision": precision_score(y_test, y_pred, average=average),
        "recall": recall_score(y_test, y_pred, average=average),
        "f1": f1_score(y_test, y_pred, average=average),
        "specificity": specificity_score(y_test, y_pred, average=average),
        "npv": negative_predictive_value(y_test, y_pred, average=average),
        "roc_auc": roc_auc_score(y_test, proba, multi_class="ovr", average=average),
        "neg_fpr": -false_positive_rate(y_test, y_pred, average=average),
        "neg_fnr": -false_negative_rate(y_test, y_pred, average=average),
    }
    # labels in any order: the predict_proba columns follow sorted classes_.
    for labels in (None, ["healthy", "AML", "ALL"]):
        scorers = clinical_scorers(average=average, labels=labels)
        for key, scorer in scorers.items():
            assert scorer(model, X_test, y_test) == pytest.approx(expected[key]), key


def test_multiclass_cross_validate(multiclass_data):
    X, y = multiclass_data
    scores = cross_validate(
        LogisticRegression(),
        X,
        y,
        cv=StratifiedKFold(3),
        scoring=clinical_scorers(average="macro"),
        error_score="raise",
    )
    for key in KEYS:
        assert np.isfinite(scores[f"test_{key}"]).all()
    assert (scores["test_neg_fpr"] <= 0).all()
    assert (scores["test_neg_fnr"] <= 0).all()


def _fold_without(y, label, size=30):
    """A train/test split whose test fold has no sample of ``label``."""
    index = np.arange(y.shape[0])
    test = index[y != label][:size]
    return [(np.setdiff1d(index, test), test)]


# scikit-learn's recall also warns about the absent class.
@pytest.mark.filterwarnings("ignore:Recall is ill-defined")
@pytest.mark.filterwarnings("ignore:False negative rate is ill-defined")
def test_multiclass_fold_missing_a_class_with_labels(multiclass_data):
    X, y = multiclass_data
    labels = ["ALL", "AML", "healthy"]
    cv = _fold_without(y, "healthy")
    with pytest.warns(UndefinedMetricWarning, match=r"classes \['healthy'\]"):
        scores = cross_validate(
            LogisticRegression(),
            X,
            y,
            cv=cv,
            scoring=clinical_scorers(average="macro", labels=labels),
            error_score="raise",
        )
    train, test = cv[0]
    model = LogisticRegression().fit(X[train], y[train])
    proba = model.predict_proba(X[test])
    # The AUC averages the classes present in the fold, in their own columns.
    expected = np.mean(
        [roc_auc_score(y[test] == c, proba[:, i]) for i, c in enumerate(labels[:2])]
    )
    assert scores["test_roc_auc"][0] == pytest.approx(expected)
    # The class-wise metrics give the absent class its zero_division value.
    y_pred = model.predict(X[test])
    assert scores["test_recall"][0] == pytest.approx(
        recall_score(y[test], y_pred, labels=labels, average="macro", zero_division=0)
    )
    assert scores["test_specificity"][0] == pytest.approx(
        specificity_score(y[test], y_pred, labels=labels, average="macro")
    )


@pytest.mark.filterwarnings("ignore:Recall is ill-defined")
def test_multiclass_fold_missing_a_class_without_labels(multiclass_data):
    X, y = multiclass_data
    with pytest.raises(ValueError, match="Pass labels="):
        cross_validate(
            LogisticRegression(),
            X,
            y,
            cv=_fold_without(y, "healthy"),
            scoring=clinical_scorers(average="macro"),
            error_score="raise",
        )


def test_multiclass_training_fold_missing_a_class(multiclass_data):
    X, y = multiclass_data
    keep = y != "healthy"
    model = LogisticRegression().fit(X[keep], y[keep])
    scorer = clinical_scorers(average="macro", labels=["ALL", "AML", "healthy"])
    with pytest.raises(ValueError, match=r"shape \(150,\); expected \(150, 3\)"):
        scorer["roc_auc"](model, X, y)


# C=1e-4 predicts a single class in some folds: precision is then undefined.
@pytest.mark.filterwarnings("ignore:Precision is ill-defined")
@pytest.mark.parametrize("refit", ["roc_auc", "recall", "neg_fnr"])
def test_grid_search_refit(binary_data, refit):
    X, y = binary_data
    search = GridSearchCV(
        LogisticRegression(),
        {"C": [1e-4, 1.0]},
        scoring=clinical_scorers(pos_label="ALL"),
        refit=refit,
        cv=StratifiedKFold(3),
        error_score="raise",
    ).fit(X, y)
    means = search.cv_results_[f"mean_test_{refit}"]
    assert search.best_index_ == int(np.argmax(means))
    assert search.best_score_ == pytest.approx(means.max())
    assert hasattr(search, "best_estimator_")
    assert (search.cv_results_["mean_test_neg_fpr"] <= 0).all()


def test_grid_search_multiclass_refit_roc_auc(multiclass_data):
    X, y = multiclass_data
    search = GridSearchCV(
        LogisticRegression(),
        {"C": [1e-3, 1.0]},
        scoring=clinical_scorers(average="weighted", labels=np.unique(y)),
        refit="roc_auc",
        cv=StratifiedKFold(3),
        error_score="raise",
    ).fit(X, y)
    means = search.cv_results_["mean_test_roc_auc"]
    assert search.best_index_ == int(np.argmax(means))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"average": None}, "average=None is not valid for scorers"),
        ({"average": "micro"}, "average='micro' is not valid"),
        ({"average": "macro", "pos_label": "ALL"}, "only applies to average='binary'"),
        ({"labels": [0, 1, 2]}, "needs two labels"),
        ({"labels": [0, 2]}, r"pos_label=1 is not one of the labels \[0, 2\]"),
        ({"labels": ["ALL"], "average": "macro"}, "at least two"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        clinical_scorers(**kwargs)


def test_multiclass_label_outside_labels_raises(multiclass_data):
    X, y = multiclass_data
    model = LogisticRegression().fit(X, y)
    scorer = clinical_scorers(average="macro", labels=["ALL", "AML", "CLL"])
    with pytest.raises(ValueError, match=r"y_true holds \['healthy'\], not in labels"):
        scorer["roc_auc"](model, X, y)


# -- positive_classes: the binary task read from a model of finer classes ------
@pytest.fixture(scope="module")
def subtype_data():
    X, y = make_classification(
        n_samples=200,
        n_features=8,
        n_informative=5,
        n_classes=4,
        flip_y=0.05,
        random_state=1,
    )
    return X, np.array(["Benign", "Early", "Pre", "Pro"])[y]


LEUKEMIC = ["Early", "Pre", "Pro"]


def test_positive_classes_equal_metrics_of_merged_labels(subtype_data):
    X, y = subtype_data
    model = LogisticRegression(max_iter=1000).fit(X, y)
    true = y != "Benign"
    pred = model.predict(X) != "Benign"
    score = 1 - model.predict_proba(X)[:, list(model.classes_).index("Benign")]
    expected = {
        "accuracy": accuracy_score(true, pred),
        "precision": precision_score(true, pred),
        "recall": recall_score(true, pred),
        "f1": f1_score(true, pred),
        "specificity": specificity_score(true, pred),
        "npv": negative_predictive_value(true, pred),
        "roc_auc": roc_auc_score(true, score),
        "neg_fpr": -false_positive_rate(true, pred),
        "neg_fnr": -false_negative_rate(true, pred),
    }
    scorers = clinical_scorers(positive_classes=LEUKEMIC)
    assert set(scorers) == KEYS
    got = {key: scorer(model, X, y) for key, scorer in scorers.items()}
    assert got == pytest.approx(expected)
    # Not the macro averages of the four classes: a different number.
    assert got["specificity"] != pytest.approx(
        clinical_scorers(average="macro")["specificity"](model, X, y)
    )
    with_labels = clinical_scorers(
        positive_classes=LEUKEMIC, labels=["Pro", "Benign", "Pre", "Early"]
    )
    assert with_labels["roc_auc"](model, X, y) == pytest.approx(expected["roc_auc"])


def test_positive_classes_cross_validate_and_grid_search(subtype_data):
    X, y = subtype_data
    scoring = clinical_scorers(positive_classes=LEUKEMIC)
    scores = cross_validate(
        LogisticRegression(max_iter=1000),
        X,
        y,
        cv=StratifiedKFold(3),
        scoring=scoring,
        error_score="raise",
    )
    assert np.isfinite(scores["test_roc_auc"]).all()
    assert (scores["test_neg_fnr"] <= 0).all()
    search = GridSearchCV(
        LogisticRegression(max_iter=1000),
        {"C": [0.01, 1.0]},
        scoring=scoring,
        refit="specificity",
        cv=StratifiedKFold(3),
        error_score="raise",
    ).fit(X, y)
    # The refitted model still predicts the four classes.
    assert set(search.predict(X)) <= {"Benign", *LEUKEMIC}


def test_positive_classes_sample_weight(subtype_data):
    X, y = subtype_data
    model = LogisticRegression(max_iter=1000).fit(X, y)
    weights = np.linspace(0.1, 2, y.shape[0])
    scorer = clinical_scorers(positive_classes=LEUKEMIC)["specificity"]
    expected = specificity_score(
        y != "Benign", model.predict(X) != "Benign", sample_weight=weights
    )
    assert scorer(model, X, y, sample_weight=weights) == pytest.approx(expected)


def test_positive_classes_unknown_name_raises(subtype_data):
    X, y = subtype_data
    model = LogisticRegression(max_iter=1000).fit(X, y)
    scorers = clinical_scorers(positive_classes=["Early", "Pree"])
    for key in ("recall", "roc_auc"):
        with pytest.raises(ValueError, match=r"positive_classes names \['Pree'\]"):
            scorers[key](model, X, y)


def test_positive_classes_fold_missing_a_class(subtype_data):
    X, y = subtype_data
    model = LogisticRegression(max_iter=1000).fit(X, y)
    keep = y != "Pro"
    with pytest.raises(ValueError, match="pass labels="):
        clinical_scorers(positive_classes=LEUKEMIC)["roc_auc"](
            model, X[keep], y[keep]
        )
    scorer = clinical_scorers(
        positive_classes=LEUKEMIC, labels=["Benign", *LEUKEMIC]
    )["roc_auc"]
    score = 1 - model.predict_proba(X[keep])[:, 0]
    assert scorer(model, X[keep], y[keep]) == pytest.approx(
        roc_auc_score(y[keep] != "Benign", score)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positive_classes": []}, "non-empty list"),
        ({"positive_classes": ["Pre", "Pre"]}, "more than once"),
        ({"positive_classes": ["Pre"], "pos_label": "Pre"}, "leave pos_label"),
        ({"positive_classes": ["Pre"], "average": "macro"}, "leave pos_label"),
        (
            {"positive_classes": ["Pre", "CLL"], "labels": ["Benign", "Pre"]},
            r"names \['CLL'\], which are not among the classes",
        ),
        (
            {"positive_classes": ["Pre", "Benign"], "labels": ["Benign", "Pre"]},
            "covers every one of the classes",
        ),
    ],
)
def test_positive_classes_invalid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        clinical_scorers(**kwargs)


def test_positive_classes_single_label_string():
    scorers = clinical_scorers(positive_classes="ALL")
    X = np.arange(8, dtype=float).reshape(-1, 1)
    y = np.array(["ALL", "AML", "healthy", "ALL"] * 2)
    model = LogisticRegression().fit(X, y)
    assert scorers["accuracy"](model, X, y) == pytest.approx(
        accuracy_score(y == "ALL", model.predict(X) == "ALL")
    )


def test_positive_classes_on_a_binary_model_equal_pos_label(binary_data):
    # One class on each side: the same scores as pos_label.
    X, y = binary_data
    model = LogisticRegression().fit(X, y)
    merged = clinical_scorers(positive_classes=["ALL"])
    plain = clinical_scorers(pos_label="ALL")
    for key in KEYS:
        assert merged[key](model, X, y) == pytest.approx(plain[key](model, X, y))


def test_positive_classes_scorers_pickle(subtype_data):
    import pickle

    X, y = subtype_data
    model = LogisticRegression(max_iter=1000).fit(X, y)
    scorers = pickle.loads(pickle.dumps(clinical_scorers(positive_classes=LEUKEMIC)))
    assert scorers["roc_auc"](model, X, y) == pytest.approx(
        roc_auc_score(y != "Benign", 1 - model.predict_proba(X)[:, 0])
    )
