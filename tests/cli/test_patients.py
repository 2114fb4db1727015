"""The patient-level commands: --target in evaluate and train, predict."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia import load_model
from sklearn_leukemia.cli import main
from sklearn_leukemia.patient import PatientClassifier

MODEL = ["--image-size", "16", "--epochs", "1", "--width", "4",
         "--batch-size", "16"]
TINY = [*MODEL, "--n-bootstraps", "20"]


def _patients(root, rng, n_patients=6, cell_types=("Blast", "Lymphocyte"),
              table=True, size=20):
    """APL patients have dark cells, AML ones bright cells."""
    rows = ["patient,diagnosis,age"]
    for i in range(n_patients):
        patient, label = f"P{i:02d}", "APL" if i % 2 else "AML"
        rows.append(f"{patient},{label},{40 + i}")
        for cell_type in cell_types or ("",):
            folder = root / patient / cell_type
            folder.mkdir(parents=True, exist_ok=True)
            for j in range(3):
                value = 60 if label == "APL" else 190
                pixels = np.clip(rng.normal(value, 20, (size, size, 3)), 0, 255)
                Image.fromarray(pixels.astype(np.uint8)).save(
                    folder / f"{cell_type or 'cell'}_{j}.png")
    if table:
        (root / "patients.csv").write_text("\n".join(rows) + "\n")
    return root


def test_evaluate_train_predict_patients(tmp_path, rng, capsys):
    data = _patients(tmp_path / "aml", rng)
    report = tmp_path / "report"
    status = main(["evaluate", str(data), "--target", "diagnosis",
                   "--positive-classes", "APL", "--cv", "2", *TINY,
                   "--out", str(report)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Patients (out of fold, 6)" in captured.out
    assert "Cells (out of fold, 36)" in captured.out
    doc = json.loads((report / "report.json").read_text())
    assert doc["pos_label"] == "APL"
    assert doc["patient_report"]["n_samples"] == 6
    assert doc["cell_report"]["n_samples"] == 36
    assert doc["data"]["labels"] == {"AML": 3, "APL": 3}
    assert "roc_auc" in doc["patient_report"]["metrics"]
    assert doc["patient_report"]["metrics"]["roc_auc"]["ci_low"] is not None
    first = doc["patients"][0]
    assert first["patient"] == "P00" and first["label"] == "AML"
    assert len(first["top_cells"]) == 5
    assert first["top_cells"][0]["cell"].startswith("P00")
    rows = list(csv.DictReader((report / "patients.csv").open()))
    assert [r["patient"] for r in rows] == [f"P{i:02d}" for i in range(6)]
    assert set(rows[0]) == {"patient", "label", "predicted", "proba_AML",
                            "proba_APL", "top_cells"}

    model_path = tmp_path / "apl.slk"
    status = main(["train", str(data), "--target", "diagnosis",
                   "--positive-classes", "APL", *MODEL, "--out", str(model_path)])
    assert status == 0, capsys.readouterr().err
    model, metadata = load_model(model_path, return_metadata=True)
    assert isinstance(model, PatientClassifier)
    assert metadata == {"target": "diagnosis", "cell_type_folders": True,
                        "pos_label": "APL"}

    # Labels are not needed to predict: no patients.csv in the new folder.
    other = _patients(tmp_path / "other", rng, n_patients=3, table=False)
    output = tmp_path / "patients.csv"
    status = main(["predict", str(model_path), str(other), "--output", str(output)])
    assert status == 0, capsys.readouterr().err
    rows = list(csv.DictReader(output.open()))
    assert [r["patient"] for r in rows] == ["P00", "P01", "P02"]
    for row in rows:
        p = float(row["proba_AML"]) + float(row["proba_APL"])
        assert p == pytest.approx(1, abs=1e-5)
        assert row["predicted"] in ("AML", "APL")
        assert len(row["top_cells"].split(";")) == 5
    # Nothing written into the data folders.
    assert not list(other.glob("*.csv")) and sorted(
        p.name for p in data.iterdir()) == ["P00", "P01", "P02", "P03", "P04",
                                            "P05", "patients.csv"]


def test_second_stage_aggregations_from_the_command_line(tmp_path, rng, capsys):
    data = _patients(tmp_path / "aml", rng, n_patients=12)
    for aggregation in ("quantile", "count"):
        out = tmp_path / aggregation
        status = main(["evaluate", str(data), "--target", "diagnosis",
                       "--positive-classes", "APL", "--aggregation", aggregation,
                       "--cv", "2", *TINY, "--out", str(out)])
        assert status == 0, capsys.readouterr().err
        doc = json.loads((out / "report.json").read_text())
        assert doc["parameters"]["aggregation"] == aggregation
    # count's cell report is of the cell types.
    assert doc["cell_report"]["labels"] == ["Blast", "Lymphocyte"]


def test_target_errors_name_the_column_or_folder(tmp_path, rng, capsys):
    data = _patients(tmp_path / "aml", rng)
    out = ["--out", str(tmp_path / "r")]
    cases = [
        (["--target", "subtype", "--positive-classes", "APL"], "no column 'subtype'"),
        (["--target", "diagnosis"], "name the positive one"),
        (["--target", "diagnosis", "--positive-classes", "M3"],
         "must name one label"),
    ]
    for options, message in cases:
        status = main(["evaluate", str(data), *options, *TINY, *out])
        err = capsys.readouterr().err
        assert status == 2 and message in err, err
    # One label: no model can be learnt.
    (data / "patients.csv").write_text(
        "patient,diagnosis\n" + "".join(f"P{i:02d},AML\n" for i in range(6)))
    status = main(["evaluate", str(data), "--target", "diagnosis", *TINY, *out])
    err = capsys.readouterr().err
    assert status == 2 and "every patient has the label 'AML'" in err
    # A class-per-folder DATA has no patients.
    classes = tmp_path / "classes"
    for name in ("AML", "APL"):
        (classes / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(classes / name / "a.png")
    status = main(["train", str(classes), "--target", "diagnosis", *MODEL,
                   "--out", str(tmp_path / "m.slk")])
    err = capsys.readouterr().err
    assert status == 2 and "--target needs patient-first data" in err
    assert not (tmp_path / "m.slk").exists()


def test_a_patient_with_one_cell_and_a_patient_without_readable_cells(
    tmp_path, rng, capsys
):
    data = _patients(tmp_path / "aml", rng, cell_types=None)
    for path in sorted((data / "P01").glob("*.png"))[1:]:
        path.unlink()
    status = main(["evaluate", str(data), "--target", "diagnosis",
                   "--positive-classes", "APL", "--cv", "2", *TINY,
                   "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 1 and "Patient 1 has 1 cell" in err
    for path in (data / "P01").glob("*.png"):
        path.write_bytes(b"broken")
    status = main(["evaluate", str(data), "--target", "diagnosis",
                   "--positive-classes", "APL", "--cv", "2", "--on-error", "skip",
                   *TINY, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2 and "hold no readable cell" in err and "P01" in err


def test_predict_with_a_patient_model_refuses_class_folders(tmp_path, rng, capsys):
    data = _patients(tmp_path / "aml", rng)
    model_path = tmp_path / "apl.slk"
    assert main(["train", str(data), "--target", "diagnosis",
                 "--positive-classes", "APL", *MODEL, "--out", str(model_path)]) == 0
    capsys.readouterr()
    classes = tmp_path / "classes"
    for name in ("AML", "APL"):
        (classes / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(classes / name / "a.png")
    status = main(["predict", str(model_path), str(classes)])
    err = capsys.readouterr().err
    assert status == 2 and "named like the labels" in err
    flat = tmp_path / "flat"
    for name in ("Benign", "Early"):
        (flat / name).mkdir(parents=True)
        for j in range(2):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
                flat / name / f"{j}.png")
    status = main(["predict", str(model_path), str(flat)])
    err = capsys.readouterr().err
    assert status == 2 and "hold images directly" in err
    status = main(["predict", str(model_path), str(flat / "Benign" / "0.png")])
    err = capsys.readouterr().err
    assert status == 2 and "give one patient-first folder" in err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--aggregation", "count"], "--aggregation applies to a patient model"),
        (["--target", "diagnosis", "--layout", "folder"], "--layout folder has no "
                                                          "patients"),
        (["--target", "diagnosis", "--positive-classes", "APL", "--fit-classes"],
         "--fit-classes applies to cell-level models"),
        (["--target", "diagnosis", "--positive-classes", "APL", "--aggregation",
          "quantile", "--cv", "2"], "need at least 3 patients of each label; a "
                                    "training fold has 1"),
    ],
)
def test_options_that_mean_nothing_are_refused(tmp_path, rng, capsys, options,
                                               message):
    data = _patients(tmp_path / "aml", rng)
    status = main(["evaluate", str(data), *options, *TINY,
                   "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2 and message in err, err
    assert not (tmp_path / "r" / "report.json").exists()
