import pickle

import numpy as np
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_leukemia.metrics import clinical_scorers
from sklearn_leukemia.patient import PatientClassifier, make_cell_pipeline


def _brightness(X):
    return X.reshape(len(X), -1).mean(axis=1, keepdims=True) / 255.0


def _cell_model():
    """A fast cell model: the brightness of the cell, logistic regression."""
    return make_pipeline(FunctionTransformer(_brightness),
                         LogisticRegression(C=100.0))


def _patients(n_patients=12, n_cells=6, seed=0):
    """Dark 'APL' patients and bright 'AML' ones, with a cell type each cell."""
    rng = np.random.default_rng(seed)
    X, y, types = [], [], []
    for i in range(n_patients):
        label = "APL" if i % 3 == 0 else "AML"
        centre = 80 if label == "APL" else 170
        values = rng.normal(centre, 30, n_cells).clip(0, 255)
        X.append(np.stack([np.full((4, 4, 3), v, np.uint8) for v in values]))
        types.append(np.where(values < 125, "promyelocyte", "blast"))
        y.append(label)
    return X, np.array(y), types


class _Spy(ClassifierMixin, BaseEstimator):
    """Records the cells it was fitted on and those it predicted."""

    log: list = []

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.seen_ = {x.tobytes() for x in X}
        self.inner_ = _cell_model().fit(X, y)
        return self

    def predict_proba(self, X):
        _Spy.log.append((self.seen_, {x.tobytes() for x in X}))
        return self.inner_.predict_proba(X)


def _unique_cells(X):
    # Every cell a different value, so that a cell is known by its bytes.
    out, value = [], 0
    for patient in X:
        cells = []
        for cell in patient:
            cell = cell.copy()
            cell[0, 0, 0] = value % 256
            cell[0, 0, 1] = value // 256
            value += 1
            cells.append(cell)
        out.append(np.stack(cells))
    return out


@pytest.mark.parametrize("aggregation", ["quantile", "count"])
def test_second_stage_learns_from_out_of_fold_cell_predictions(aggregation):
    X, y, types = _patients()
    X = _unique_cells(X)
    _Spy.log = []
    model = PatientClassifier(cell_estimator=_Spy(), aggregation=aggregation, cv=3,
                              random_state=0)
    model.fit(X, y, cell_labels=types)
    assert len(_Spy.log) == 3  # one prediction per inner fold, none in-sample
    predicted = set()
    for seen, asked in _Spy.log:
        assert not seen & asked
        predicted |= asked
    assert predicted == {c.tobytes() for p in X for c in p}
    assert model.oof_features_.shape == (12, len(model.feature_names_))
    # The final cell model saw every cell; the second stage did not learn
    # from its (in-sample) predictions.
    assert model.cell_estimator_.seen_ == predicted
    _Spy.log = []
    in_sample = np.stack([
        np.r_[np.mean(p), np.quantile(p, [0.1, 0.25, 0.5, 0.75, 0.9])]
        for p in (model.cell_estimator_.predict_proba(x)[:, 1] for x in X)
    ])
    if aggregation == "quantile":
        assert not np.allclose(in_sample, model.oof_features_)


def test_mean_is_the_mean_of_the_cells_probabilities():
    X, y, _ = _patients()
    model = PatientClassifier(cell_estimator=_cell_model(), random_state=0).fit(X, y)
    assert model.final_estimator_ is None and model.oof_features_ is None
    assert model.classes_.tolist() == ["AML", "APL"]
    cells = model.cell_predict_proba(X)
    expected = np.stack([c.mean(axis=0) for c in cells])
    np.testing.assert_allclose(model.predict_proba(X), expected)
    assert (model.predict(X) == y).mean() > 0.9
    assert model.feature_names_.tolist() == ["mean_proba_AML", "mean_proba_APL"]


def test_count_is_the_share_of_predicted_cell_types():
    X, y, types = _patients()
    model = PatientClassifier(cell_estimator=_cell_model(), aggregation="count", cv=3,
                              random_state=0).fit(X, y, cell_labels=types)
    assert model.cell_classes_.tolist() == ["blast", "promyelocyte"]
    assert model.feature_names_.tolist() == ["share_blast", "share_promyelocyte"]
    np.testing.assert_allclose(model.oof_features_.sum(axis=1), 1.0)
    assert (model.predict(X) == y).mean() > 0.9


def test_count_needs_cell_labels_aligned_with_the_cells():
    X, y, types = _patients()
    model = PatientClassifier(cell_estimator=_cell_model(), aggregation="count")
    with pytest.raises(ValueError, match="pass the cell type of each cell"):
        model.fit(X, y)
    with pytest.raises(ValueError, match="one sequence of labels per patient"):
        model.fit(X, y, cell_labels=types[:-1])
    bad = list(types)
    bad[2] = bad[2][:-1]
    with pytest.raises(ValueError, match=r"cell_labels\[2\] holds 5 labels for "
                                         r"the 6 cells of patient 2"):
        model.fit(X, y, cell_labels=bad)


def test_contributions_are_the_drop_when_a_cell_is_left_out():
    X, y, _ = _patients()
    # A bright AML patient with one dark cell: it pulls against the call.
    X[1][0] = 0
    model = PatientClassifier(cell_estimator=_cell_model(), random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    contributions = model.cell_contributions(X)
    for patient, p, c in zip(X, proba, contributions):
        call = np.argmax(p)
        for i in range(len(patient)):
            rest = np.delete(patient, i, axis=0)
            without = model.predict_proba([rest])[0, call]
            assert c[i] == pytest.approx(p[call] - without)
    assert np.argmin(contributions[1]) == 0


@pytest.mark.parametrize("aggregation", ["quantile", "count"])
def test_contributions_of_a_second_stage(aggregation):
    X, y, types = _patients()
    model = PatientClassifier(cell_estimator=_cell_model(), aggregation=aggregation,
                              cv=3, random_state=0).fit(X, y, cell_labels=types)
    proba = model.predict_proba(X[:2])
    c = model.cell_contributions(X[:2])
    call = np.argmax(proba[0])
    rest = X[0][1:]
    without = model.predict_proba([rest])[0, call]
    assert c[0][0] == pytest.approx(proba[0, call] - without)


def test_patients_are_the_samples_of_cross_validate_and_grid_search():
    X, y, types = _patients(n_patients=18)
    model = PatientClassifier(cell_estimator=_cell_model(), cv=3, random_state=0)
    scores = cross_validate(
        model, X, y, cv=StratifiedKFold(3), params={"cell_labels": types},
        scoring=clinical_scorers(pos_label="APL"),
    )
    assert len(scores["test_accuracy"]) == 3
    assert np.mean(scores["test_roc_auc"]) > 0.9
    search = GridSearchCV(
        model, {"aggregation": ["mean", "quantile", "count"]},
        cv=StratifiedKFold(3), scoring="roc_auc",
    ).fit(X, y, cell_labels=types)
    assert search.best_params_["aggregation"] in ("mean", "quantile", "count")
    assert search.predict(X).shape == (18,)


def test_random_state_repeats_and_global_state_untouched():
    X, y, types = _patients()
    before = np.random.get_state()  # noqa: NPY002
    cells = make_cell_pipeline(image_size=8, max_epochs=1, tta=None,
                               module__width=4, batch_size=16)
    a = PatientClassifier(cell_estimator=cells, aggregation="quantile", cv=2,
                          random_state=3)
    b = clone(a)
    pa = a.fit(X, y).predict_proba(X)
    pb = b.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(pa, pb)
    after = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]  # the position in the key, and the rest


def test_file_paths_as_cells_and_pickling(tmp_path):
    X, y, _ = _patients(n_patients=6, n_cells=3)
    paths = []
    for i, patient in enumerate(X):
        files = []
        for j, cell in enumerate(patient):
            path = tmp_path / f"p{i}" / f"c{j}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(np.repeat(np.repeat(cell, 4, 0), 4, 1)).save(path)
            files.append(path)  # os.PathLike
        paths.append(files)
    cells = make_cell_pipeline(image_size=8, max_epochs=2, tta=None,
                               module__width=4, batch_size=16)
    model = PatientClassifier(cell_estimator=cells, random_state=0).fit(paths, y)
    proba = model.predict_proba(paths)
    assert proba.shape == (6, 2)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(paths), proba)


@pytest.mark.parametrize(
    "make_X, match, error",
    [
        (lambda X: np.zeros((4, 8, 8, 3), np.uint8), "sequence of patients",
         TypeError),
        (lambda X: "cells/", "sequence of patients", TypeError),
        (lambda X: [], "holds no patient", ValueError),
        (lambda X: [X[0], X[1][:1], *X[2:]], r"Patient 1 has 1 cell; .*"
         r"min_cells=2", ValueError),
        (lambda X: [X[0], ["a.png", "b.png"], *X[2:]], "different kinds",
         ValueError),
        (lambda X: [X[0], np.zeros((3, 5, 5, 3), np.uint8), *X[2:]],
         "different shapes", ValueError),
        (lambda X: [["a.png", "b.png"], "c.png"], "the single path 'c.png'",
         TypeError),
        (lambda X: [["a.png", "b.png"], [1, 2]], "Patient 1 holds list",
         TypeError),
    ],
)
def test_bad_patients(make_X, match, error):
    X, y, _ = _patients()
    with pytest.raises(error, match=match):
        bad = make_X(X)
        PatientClassifier(cell_estimator=_cell_model()).fit(bad, y[: len(bad) or None])


def test_patients_as_lists_of_images():
    X, y, _ = _patients()
    model = PatientClassifier(cell_estimator=_cell_model(), random_state=0).fit(X, y)
    as_lists = [list(p) for p in X]
    np.testing.assert_array_equal(model.predict_proba(as_lists),
                                  model.predict_proba(X))
    as_lists[1] = [as_lists[1][0], as_lists[1][1][:2]]
    with pytest.raises(ValueError, match="Patient 1's images have different"):
        model.predict(as_lists)
    mixed = [X[0].astype(np.float32) / 255, *X[1:]]
    with pytest.raises(ValueError, match="different dtypes"):
        model.predict(mixed)


def test_bad_targets():
    X, y, _ = _patients()
    model = PatientClassifier(cell_estimator=_cell_model())
    with pytest.raises(ValueError, match=r"y has one class \('AML'\)"):
        model.fit(X, ["AML"] * len(X))
    with pytest.raises(ValueError, match="12 patients but y 11 labels"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="missing"):
        model.fit(X, [None] + list(y[1:]))
    with pytest.raises(ValueError, match="min_cells"):
        PatientClassifier(cell_estimator=_cell_model(), min_cells=1).fit(X, y)
    few = np.array(["AML"] * 10 + ["APL"] * 2)
    with pytest.raises(ValueError, match=r"cv=3 .* only 2 patient\(s\) have the "
                                         r"label 'APL'"):
        PatientClassifier(cell_estimator=_cell_model(), aggregation="quantile",
                          cv=3).fit(X, few)


def test_predict_checks_fitted_and_patients():
    X, y, _ = _patients()
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PatientClassifier().predict(X)
    model = PatientClassifier(cell_estimator=_cell_model(), random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="Patient 0 has 1 cell"):
        model.predict([X[0][:1]])


@pytest.mark.parametrize("aggregation", ["mean", "quantile", "count"])
def test_save_and_load_runs_no_code_and_predicts_the_same(tmp_path, aggregation):
    from sklearn_leukemia import load_model, save_model

    X, y, types = _patients(n_patients=6, n_cells=3)
    cells = make_cell_pipeline(image_size=8, max_epochs=1, tta=None,
                               module__width=4, batch_size=16)
    model = PatientClassifier(cell_estimator=cells, aggregation=aggregation, cv=2,
                              random_state=0).fit(X, y, cell_labels=types)
    path = save_model(model, tmp_path / "patients.slk")
    loaded = load_model(path)
    assert isinstance(loaded, PatientClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    for a, b in zip(loaded.cell_contributions(X), model.cell_contributions(X)):
        np.testing.assert_array_equal(a, b)
    assert loaded.get_params()["cell_estimator"].named_steps[
        "classifier"].max_epochs == 1
    np.testing.assert_array_equal(loaded.feature_names_, model.feature_names_)


@pytest.mark.parametrize("aggregation", ["mean", "quantile", "count"])
def test_fitted_attributes_are_the_loaders_table(aggregation):
    from sklearn_leukemia.persistence import _FITTED_ATTRIBUTES, _qualname

    X, y, types = _patients(n_patients=6, n_cells=3)
    model = PatientClassifier(cell_estimator=_cell_model(), aggregation=aggregation,
                              cv=2, random_state=0).fit(X, y, cell_labels=types)
    for est in (model, model.final_estimator_):
        if est is None:
            continue
        fitted = {k for k in vars(est) if k.endswith("_") and k[0] != "_"}
        assert fitted <= _FITTED_ATTRIBUTES[_qualname(est)]


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m["fitted"]["final_estimator_"].update({"class": "os.system"}),
         "names class 'os.system'"),
        (lambda m: m["params"].update(
            min_cells={"class": "sklearn.linear_model._logistic."
                       "LogisticRegression", "params": {}, "fitted": {}}),
         "builds a LogisticRegression"),
        (lambda m: m["fitted"].update(sneaky_={"__dict__": {}}),
         "no fitted attribute of PatientClassifier"),
        (lambda m: m["fitted"].update(cell_estimator_=3), "not an estimator"),
        (lambda m: m["fitted"].update(
            classes_={"__strarray__": ["x", "y"], "shape": [2], "kind": "U"}),
         "does not predict the model's classes_"),
        (lambda m: m["params"].update(cell_estimator={"__type__": (
            "sklearn_leukemia.classifier.SECNNClassifier")}), "not an estimator"),
        (lambda m: m["fitted"].update(final_estimator_=m["params"][
            "cell_estimator"]["steps"][0][1]), "no classifier"),
    ],
)
def test_tampered_patient_model_files_are_refused(tmp_path, edit, match):
    from sklearn_leukemia import load_model, save_model
    from tests.test_persistence import _rewrite_header

    X, y, _ = _patients(n_patients=6, n_cells=3)
    cells = make_cell_pipeline(image_size=8, max_epochs=1, tta=None,
                               module__width=4, batch_size=16)
    model = PatientClassifier(cell_estimator=cells, aggregation="quantile", cv=2,
                              random_state=0).fit(X, y)
    path = save_model(model, tmp_path / "patients.slk")
    _rewrite_header(path, lambda header: edit(header["model"]))
    with pytest.raises(ValueError, match=match):
        load_model(path)
