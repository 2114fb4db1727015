"""The clinical-decision options of train, evaluate and predict."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia import load_model
from sklearn_leukemia.cli import main

TINY = ["--image-size", "16", "--epochs", "2", "--width", "4", "--batch-size",
        "16"]


def _folder(root, rng, classes=("Benign", "Early", "Pre"), n=10, size=20):
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            # A class-dependent brightness gives the network something to learn.
            pixels = np.clip(rng.normal(60 + 60 * k, 30, (size, size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / cls / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("decision")
    data = _folder(root / "smears", rng)
    out = root / "m.slk"
    status = main(["train", str(data), "--positive-classes", "Early", "Pre",
                   "--target-sensitivity", "0.95", "--calibration", "sigmoid",
                   "--refer-rate", "0.1", "--decision-cv", "2", *TINY,
                   "--out", str(out)])
    assert status == 0
    return data, out


def test_train_saves_the_rules(trained, capsys):
    _, out = trained
    model = load_model(out)
    assert model.threshold_ is not None and model.refer_cut_ is not None
    assert model.calibration == "sigmoid"
    assert list(model.classes_[model.positive_]) == ["Early", "Pre"]
    assert model.cv_results_["sensitivity"] >= 0.95


def test_predict_writes_the_decision_and_the_referral(trained, tmp_path, capsys):
    data, out = trained
    csv_path = tmp_path / "p.csv"
    assert main(["predict", str(out), str(data), "--output", str(csv_path)]) == 0
    err = capsys.readouterr().err
    assert "decides by threshold" in err
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 30
    assert list(rows[0]) == [
        "file", "proba_Benign", "proba_Early", "proba_Pre", "predicted",
        "binary_proba", "binary_predicted", "uncertainty", "refer",
    ]
    model = load_model(out)
    for row in rows:
        score = float(row["binary_proba"])
        if abs(score - model.threshold_) < 1e-6:
            continue  # the CSV's six decimals cannot tell the side
        called = score >= model.threshold_
        assert (row["binary_predicted"] == "Early+Pre") == called
        assert (row["predicted"] != "Benign") == called
        if abs(float(row["uncertainty"]) - model.refer_cut_) > 1e-6:
            refer = float(row["uncertainty"]) >= model.refer_cut_
            assert row["refer"] == ("yes" if refer else "no")


def test_predict_refuses_another_question_of_a_thresholded_model(trained, tmp_path,
                                                               capsys):
    data, out = trained
    status = main(["predict", str(out), str(data), "--positive-classes", "Pre"])
    assert status == 2
    assert "decides for the positive classes" in capsys.readouterr().err


def test_evaluate_reports_operating_point_calibration_and_referral(tmp_path, capsys):
    rng = np.random.default_rng(1)
    data = _folder(tmp_path / "smears", rng)
    out = tmp_path / "report"
    status = main(["evaluate", str(data), "--positive-classes", "Early", "Pre",
                   "--target-specificity", "0.9", "--calibration", "isotonic",
                   "--refer-rate", "0.05", "--decision-cv", "2", "--cv", "2",
                   "--n-bootstraps", "20", *TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Decision rules (each fold's" in captured.out
    assert "thresholds: " in captured.out
    doc = json.loads((out / "report.json").read_text())
    rules = doc["decision_rules"]
    assert len(rules) == 2
    assert all(r["held_back"]["specificity"] >= 0.9 for r in rules)
    assert "by_the_model" in doc["referral"]
    assert [row["rate"] for row in doc["referral"]["by_share"]] == [0.01, 0.02, 0.05]
    assert doc["calibration"]["kind"] == "positive class"
    card = doc["model_card"]
    assert "possible" in card["patient leakage across folds"]
    assert "threshold" in card["operating point"]
    page = (out / "report.html").read_text()
    for heading in ("Model card", "Calibration", "Referral to an expert",
                    "Decision rules learnt by each fold"):
        assert f"<h2>{heading}</h2>" in page


@pytest.mark.parametrize(("extra", "message"), [
    (["--target-sensitivity", "0.9"], "name its positive classes"),
    (["--target-sensitivity", "1.5"], "in (0, 1]"),
    (["--refer-rate", "1"], "in [0, 1)"),
    (["--target-sensitivity", "0.9", "--target-specificity", "0.9",
      "--positive-classes", "Pre"], "not allowed with"),
])
def test_bad_decision_options_are_usage_errors(tmp_path, capsys, extra, message):
    rng = np.random.default_rng(2)
    data = _folder(tmp_path / "smears", rng, classes=("Benign", "Early", "Pre"), n=2)
    status = main(["train", str(data), *extra, *TINY, "--out",
                   str(tmp_path / "m.slk")])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.slk").exists()


def test_decision_options_are_refused_for_a_patient_model(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    status = main(["train", str(tmp_path / "data"), "--target", "diagnosis",
                   "--calibration", "isotonic", "--out", str(tmp_path / "m.slk")])
    assert status == 2
    assert "ClinicalClassifier(estimator=PatientClassifier" in capsys.readouterr().err


def test_a_binary_layout_has_its_own_positive_class(tmp_path, capsys):
    # ALL-IDB names the leukemic images ImNNN_1: no --positive-classes needed.
    rng = np.random.default_rng(3)
    data = tmp_path / "ALL_IDB2" / "img"
    data.mkdir(parents=True)
    for i in range(12):
        pixels = np.clip(rng.normal(80 + 80 * (i % 2), 30, (20, 20, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(data / f"Im{i:03d}_{i % 2}.tif")
    out = tmp_path / "m.slk"
    status = main(["train", str(tmp_path / "ALL_IDB2"), "--target-sensitivity", "0.9",
                   "--decision-cv", "2", *TINY, "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    model = load_model(out)
    assert model.threshold_ is not None
    assert list(model.classes_[model.positive_]) == ["blast"]
