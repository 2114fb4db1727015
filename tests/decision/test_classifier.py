"""ClinicalClassifier: the rules learnt on held-back folds, as scikit-learn would."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from sklearn_leukemia.decision import (
    ClinicalClassifier,
    decision_uncertainty,
    threshold_for_sensitivity,
)


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(300, n_features=6, n_informative=3, flip_y=0.1,
                               random_state=0)
    return X, np.where(y == 1, "ALL", "normal")


@pytest.fixture(scope="module")
def four_classes():
    X, y = make_classification(400, n_features=8, n_informative=5, n_classes=4,
                               n_clusters_per_class=1, flip_y=0.05, random_state=1)
    return X, np.array(["Benign", "Early", "Pre", "Pro"])[y]


def _logistic():
    return LogisticRegression(max_iter=1000)


def test_without_rules_it_is_the_estimator(binary):
    X, y = binary
    model = ClinicalClassifier(estimator=_logistic()).fit(X, y)
    plain = _logistic().fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))
    assert model.threshold_ is None and model.calibrator_ is None
    assert model.refer_cut_ is None
    assert model.cv_results_ == {"n_samples": 300}


def test_threshold_is_chosen_on_held_back_folds(binary):
    X, y = binary
    model = ClinicalClassifier(estimator=_logistic(), positive_classes=["ALL"],
                               target_sensitivity=0.97).fit(X, y)
    held_back = cross_val_predict(_logistic(), X, y, cv=StratifiedKFold(5),
                                  method="predict_proba")
    expected = threshold_for_sensitivity(held_back[:, 0], y == "ALL", 0.97)
    assert model.threshold_ == pytest.approx(expected)
    assert model.cv_results_["sensitivity"] >= 0.97
    # predict calls ALL exactly where its probability reaches the threshold.
    p_all = model.predict_proba(X)[:, 0]
    np.testing.assert_array_equal(model.predict(X) == "ALL",
                                  p_all >= model.threshold_)
    # A high sensitivity costs specificity: more ALL calls than at 0.5.
    assert (model.predict(X) == "ALL").sum() > (p_all >= 0.5).sum()


def test_target_specificity(binary):
    X, y = binary
    model = ClinicalClassifier(estimator=_logistic(), positive_classes=["ALL"],
                               target_specificity=0.99).fit(X, y)
    assert model.cv_results_["specificity"] >= 0.99
    assert model.threshold_ > 0.5


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("data", ["binary", "four_classes"])
def test_calibration_is_calibrated_classifier_cv_without_ensemble(
    request, data, method
):
    # GaussianNB has no decision_function: scikit-learn calibrates its
    # probabilities too.
    from sklearn.naive_bayes import GaussianNB

    X, y = request.getfixturevalue(data)
    model = ClinicalClassifier(estimator=GaussianNB(), calibration=method)
    model.fit(X, y)
    theirs = CalibratedClassifierCV(GaussianNB(), method=method, ensemble=False,
                                    cv=StratifiedKFold(5)).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), theirs.predict_proba(X),
                               atol=1e-5)


def test_temperature_keeps_every_prediction(four_classes):
    X, y = four_classes
    model = ClinicalClassifier(estimator=_logistic(), calibration="temperature")
    model.fit(X, y)
    plain = _logistic().fit(X, y)
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))
    assert model.calibrator_.temperature_ != pytest.approx(1.0)


def test_positive_side_of_a_multiclass_model(four_classes):
    X, y = four_classes
    positive = ["Early", "Pre", "Pro"]
    model = ClinicalClassifier(estimator=_logistic(), positive_classes=positive,
                               target_sensitivity=0.99).fit(X, y)
    decision = model.decide(X)
    side = decision.proba[:, 1:].sum(axis=1) >= model.threshold_
    np.testing.assert_array_equal(decision.positive, side)
    # The class returned is the most probable of the side called.
    best_positive = np.array(positive)[decision.proba[:, 1:].argmax(axis=1)]
    np.testing.assert_array_equal(decision.predicted,
                                  np.where(side, best_positive, "Benign"))
    assert model.cv_results_["sensitivity"] >= 0.99


def test_referral_refers_the_share_and_the_errors(four_classes):
    X, y = four_classes
    model = ClinicalClassifier(estimator=_logistic(), refer_rate=0.1).fit(X, y)
    results = model.cv_results_
    assert results["referred"] == pytest.approx(0.1, abs=0.01)
    assert results["error_kept"] < results["error_all"]
    decision = model.decide(X)
    np.testing.assert_array_equal(decision.refer, model.predict_referral(X))
    np.testing.assert_allclose(decision.uncertainty,
                               decision_uncertainty(decision.proba))
    np.testing.assert_array_equal(decision.refer,
                                  decision.uncertainty >= model.refer_cut_)
    assert 0.02 < decision.refer.mean() < 0.3


class _Spy(ClassifierMixin, BaseEstimator):
    """Records the groups (the first column) of every fit."""

    seen: list = []

    def fit(self, X, y):
        type(self).seen.append(set(np.asarray(X)[:, 0].astype(int)))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


def test_groups_keep_a_patient_on_one_side():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 6)
    y = np.where(groups % 2 == 0, "ALL", "normal")
    X = np.column_stack([groups, rng.random(120)])
    _Spy.seen = []
    ClinicalClassifier(estimator=_Spy(), calibration="sigmoid", cv=4).fit(
        X, y, groups=groups
    )
    folds, final = _Spy.seen[:-1], _Spy.seen[-1]
    assert len(folds) == 4 and final == set(range(20))
    held_back = [set(range(20)) - seen for seen in folds]
    # Every patient is held back exactly once, whole.
    assert sorted(g for part in held_back for g in part) == list(range(20))


@pytest.mark.parametrize(("params", "match"), [
    ({"target_sensitivity": 0.9, "target_specificity": 0.9}, "not both"),
    ({"target_sensitivity": 0.9}, "positive_classes"),
    ({"positive_classes": ["AML"], "target_sensitivity": 0.9}, r"\['AML'\]"),
    ({"positive_classes": ["ALL", "normal"]}, "every class"),
    ({"positive_classes": [], "refer_rate": 0.1}, "is empty"),
    ({"calibration": "platt"}, "calibration"),
    ({"refer_rate": 1.0}, "refer_rate"),
    ({"calibration": "sigmoid", "cv": 500}, "lower cv"),
])
def test_bad_settings_are_named(binary, params, match):
    X, y = binary
    with pytest.raises((ValueError, TypeError), match=match):
        ClinicalClassifier(estimator=_logistic(), **params).fit(X, y)


def test_bad_targets_are_named(binary):
    X, y = binary
    model = ClinicalClassifier(estimator=_logistic())
    with pytest.raises(ValueError, match="one class"):
        model.fit(X, np.full(len(y), "ALL"))
    with pytest.raises(ValueError, match="300 samples but y 299"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="groups"):
        model.fit(X, y, groups=np.zeros(3))


def test_referral_needs_a_cut(binary):
    X, y = binary
    model = ClinicalClassifier(estimator=_logistic()).fit(X, y)
    with pytest.raises(AttributeError, match="refer_rate"):
        model.predict_referral(X)
    assert model.decide(X).refer is None


def test_clone_and_grid_search(binary):
    from sklearn.model_selection import GridSearchCV

    X, y = binary
    model = ClinicalClassifier(estimator=_logistic(), calibration="isotonic", cv=3)
    search = GridSearchCV(model, {"estimator__C": [0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_estimator_.calibrator_ is not None
    assert clone(model).get_params()["calibration"] == "isotonic"


def test_on_images_with_the_library_pipeline(tmp_path):
    from sklearn_leukemia import load_model, make_leukemia_pipeline, save_model
    from sklearn_leukemia.datasets import make_blood_smear

    # Patients of five images and batches of 16: no batch of one image,
    # which batch normalisation refuses in training.
    X, y, groups = make_blood_smear(60, image_size=16, classes=("normal", "ALL"),
                                    n_patients=12, random_state=0)
    pipe = make_leukemia_pipeline(image_size=16, max_epochs=2, tta=None,
                                  module__width=4, batch_size=16, random_state=0)
    model = ClinicalClassifier(
        estimator=pipe, positive_classes=["ALL"], target_sensitivity=0.9,
        calibration="temperature", refer_rate=0.1, cv=3,
    ).fit(X, y, groups=groups)
    path = save_model(model, tmp_path / "m.slk")
    loaded = load_model(path)
    for key in ("predicted", "proba", "positive", "uncertainty", "refer"):
        np.testing.assert_array_equal(loaded.decide(X)[key], model.decide(X)[key])
    assert loaded.threshold_ == model.threshold_
    assert loaded.cv_results_ == model.cv_results_


@pytest.fixture(scope="module")
def saved_clinical(binary, tmp_path_factory):
    from sklearn_leukemia import save_model

    X, y = binary
    model = ClinicalClassifier(
        estimator=_logistic(), positive_classes=["ALL"], target_sensitivity=0.95,
        calibration="isotonic", refer_rate=0.05,
    ).fit(X, y)
    return model, save_model(model, tmp_path_factory.mktemp("m") / "m.slk")


def test_a_clinical_model_of_scikit_learn_parts_round_trips(binary, saved_clinical):
    from sklearn_leukemia import load_model

    X, _ = binary
    model, path = saved_clinical
    loaded = load_model(path)
    for key in ("predicted", "proba", "positive", "uncertainty", "refer"):
        np.testing.assert_array_equal(loaded.decide(X)[key], model.decide(X)[key])


def _fitted(header):
    return header["model"]["fitted"]


TAMPERED = {
    "threshold without a positive side": (
        lambda h: _fitted(h).update(positive_=None), "threshold_",
    ),
    "every class positive": (
        lambda h: _fitted(h).update(positive_=[True, True]), "positive_",
    ),
    "no class positive": (
        lambda h: _fitted(h).update(positive_=[False, False]), "positive_",
    ),
    "threshold above one": (
        lambda h: _fitted(h).update(threshold_={"__float__": "inf"}), "threshold_",
    ),
    "empty isotonic steps": (
        lambda h: _fitted(h)["calibrator_"]["fitted"].update(
            thresholds_x_=[], thresholds_y_=[]),
        "isotonic step",
    ),
    "zero temperature": (
        lambda h: (_fitted(h)["calibrator_"]["params"].update(method="temperature"),
                   _fitted(h)["calibrator_"]["fitted"].update(temperature_=0.0)),
        "temperature_",
    ),
    "results not numbers": (
        lambda h: _fitted(h).update(cv_results_={"__dict__": {"n": "x"}}),
        "cv_results_",
    ),
    "calibrator of other classes": (
        lambda h: _fitted(h)["calibrator_"]["fitted"].update(
            classes_={"__strarray__": ["a", "b"], "shape": [2], "kind": "U"}),
        "calibrator_",
    ),
    "threshold not a number": (
        lambda h: _fitted(h).update(threshold_="0.5"), "threshold_",
    ),
    "unknown fitted attribute": (
        lambda h: _fitted(h).update(oof_=1), "oof_",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_clinical_model_is_refused(saved_clinical, tmp_path, case):
    import shutil

    from sklearn_leukemia import load_model
    from tests.test_persistence import _rewrite_header

    edit, match = TAMPERED[case]
    path = shutil.copy(saved_clinical[1], tmp_path / "m.slk")
    _rewrite_header(path, edit)
    with pytest.raises(ValueError, match=f"refusing to load.*{match}"):
        load_model(path)


def test_isotonic_ties_do_not_inflate_the_referral(binary):
    X, y = binary
    model = ClinicalClassifier(estimator=_logistic(), calibration="isotonic",
                               refer_rate=0.02).fit(X, y)
    # Isotonic steps tie many cases; the uncalibrated scores break the ties.
    assert model.cv_results_["referred"] == pytest.approx(0.02, abs=0.005)
    assert 0 < model.decide(X).refer.mean() < 0.1


def test_held_back_figures_are_those_of_predict(four_classes):
    X, y = four_classes
    positive = ["Early", "Pre", "Pro"]
    model = ClinicalClassifier(estimator=_logistic(), positive_classes=positive,
                               calibration="sigmoid", refer_rate=0.05).fit(X, y)
    held_back = cross_val_predict(_logistic(), X, y, cv=StratifiedKFold(5),
                                  method="predict_proba")
    predicted = model.classes_[model.calibrator_.predict_proba(held_back).argmax(1)]
    called, truth = np.isin(predicted, positive), np.isin(y, positive)
    assert model.cv_results_["sensitivity"] == pytest.approx(called[truth].mean())
    assert model.cv_results_["specificity"] == pytest.approx(
        (~called[~truth]).mean())
    # Without a threshold the uncertainty is that of the class predicted.
    decision = model.decide(X)
    np.testing.assert_allclose(decision.uncertainty,
                               decision_uncertainty(decision.proba), atol=2e-6)
