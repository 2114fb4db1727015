import contextlib
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.cli import main
from sklearn_leukemia.cli._evaluate import make_cv
from sklearn_leukemia.cli._io import UsageError

# Tiny settings: the point is the command's behaviour, not the model's quality.
TINY = ["--image-size", "16", "--epochs", "1", "--cv", "2", "--width", "4",
        "--batch-size", "16", "--n-bootstraps", "20"]
FIGURES = {"confusion_matrix.png", "roc_curve.png", "training_curves.png",
           "misclassified.png", "reliability_diagram.png", "risk_coverage.png",
           "heatmaps.png"}


def _image_folder(root, classes, n_per_class, rng, size=20):
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{cls}_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """One evaluate run on the synthetic default, shared by several tests."""
    out = tmp_path_factory.mktemp("synthetic") / "report"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["evaluate", "--n-samples", "48", *TINY, "--out", str(out)])
    return status, stdout.getvalue(), stderr.getvalue(), out


def test_synthetic_default_writes_every_file(synthetic_run):
    status, _, _, out = synthetic_run
    assert status == 0
    assert {p.name for p in out.iterdir()} == {"report.json", "report.html"} | FIGURES
    for name in FIGURES:
        assert (out / name).read_bytes().startswith(b"\x89PNG")


def test_synthetic_default_prints_table_and_says_groups_are_used(synthetic_run):
    _, stdout, stderr, _ = synthetic_run
    assert "Patient-level split (StratifiedGroupKFold(n_splits=2))" in stdout
    assert "Clinical report (3 classes" in stdout
    assert "95% CI" in stdout and "Per class (one-vs-rest)" in stdout
    # One epoch: progressive resizing has no room to grow the images.
    assert "fold 1/2, 1 epoch at 16x16 pixels, augment flips: accuracy" in stderr
    assert "fold 2/2, 1 epoch at 16x16 pixels, augment flips: accuracy" in stderr
    assert "Report written to" in stdout


def test_synthetic_report_json(synthetic_run):
    *_, out = synthetic_run
    doc = json.loads((out / "report.json").read_text())
    report = doc["clinical_report"]
    assert report["task"] == "multiclass"
    assert report["labels"] == ["ALL", "AML", "normal"]
    assert report["n_samples"] == 48
    assert report["n_bootstraps"] == 20
    for key in ("accuracy", "recall", "specificity", "roc_auc",
                "false_positive_rate", "false_negative_rate"):
        metric = report["metrics"][key]
        assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
    assert sum(map(sum, report["confusion_matrix"])) == 48
    assert len(doc["fold_scores"]) == 2
    assert sum(fold["n_test"] for fold in doc["fold_scores"]) == 48
    assert doc["data"]["patient_groups"] is True
    assert doc["data"]["classes"] == {"ALL": 16, "AML": 16, "normal": 16}
    assert doc["parameters"]["max_epochs"] == 1
    assert doc["parameters"]["image_size"] == 16
    assert doc["parameters"]["module__width"] == 4
    assert doc["device"] == "cpu"
    assert [len(fold) for fold in doc["training_history"]] == [1, 1]
    assert [fold["epochs"] for fold in doc["fold_scores"]] == [1, 1]
    # Every fold trains the recipe of the whole set: of 48 images, a small one.
    assert doc["parameters"]["recipe for"] == "48 images"
    assert doc["parameters"]["progressive_resizing"] == 0.5
    assert doc["parameters"]["augment"] == "flips"


def test_synthetic_report_html(synthetic_run):
    *_, out = synthetic_run
    page = (out / "report.html").read_text()
    assert "<tr><th>image_size</th><td>16</td></tr>" in page
    assert "<table" in page and "Recall (sensitivity)" in page
    assert page.count('<img alt="') == 7
    assert 'src="data:image/png;base64,' in page
    assert "Patient-level split" in page


def test_folder_binary_with_positive_classes(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early", "Pre"], 6, rng)
    out = tmp_path / "report"
    status = main(["evaluate", str(data), "--positive-classes", "Early", "Pre",
                   *TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Layout of" in captured.err and "folder (detected)" in captured.err
    assert "binary, positive class 'Early+Pre'" in captured.out
    # No patient groups in a plain folder: the user is told about the risk.
    assert "No patient groups" in captured.out and "optimistic" in captured.out
    doc = json.loads((out / "report.json").read_text())
    assert doc["pos_label"] == "Early+Pre"
    assert doc["clinical_report"]["labels"] == ["Benign", "Early+Pre"]
    assert doc["data"]["patient_groups"] is False
    assert doc["data"]["positive classes"] == ["Early", "Pre"]
    assert "StratifiedKFold" in doc["parameters"]["cv"]
    assert "sensitivity" in doc["fold_scores"][0]
    assert "may be optimistic" in (out / "report.html").read_text()
    # Nothing was written into the data folder.
    assert sorted(p.name for p in data.iterdir()) == ["Benign", "Early", "Pre"]


def test_a_broken_image_stops_evaluate_before_the_first_fold(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early"], 6, rng)
    (data / "Early" / "Early_03.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "report"
    status = main(["evaluate", str(data), "--positive-classes", "Early", *TINY,
                   "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert "1 of 12 image files cannot be read, so nothing was trained" in err
    assert "Early_03.png" in err and "fold 1/2" not in err
    assert not out.exists()


def test_evaluate_on_error_skip_records_the_files_left_out(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early"], 6, rng)
    (data / "Early" / "Early_03.png").write_bytes(b"")
    out = tmp_path / "report"
    status = main(["evaluate", str(data), "--positive-classes", "Early", *TINY,
                   "--on-error", "skip", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Left out 1 of 12 image files that cannot be read" in captured.err
    doc = json.loads((out / "report.json").read_text())
    assert doc["data"]["images"] == 11
    assert doc["data"]["unreadable images left out"] == [
        os.path.join("Early", "Early_03.png")]
    assert doc["data"]["classes"] == {"Benign": 6, "Early": 5}


def test_folds_train_the_recipe_of_the_whole_set(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["hem", "all"], 4, rng)
    out = tmp_path / "report"
    args = TINY[2:]  # without --image-size
    assert "--image-size" not in args
    status = main(["evaluate", str(data), "--positive-classes", "all", *args,
                   "--progressive-resizing", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    # a small set: 128 pixels and the flips, in every fold
    assert captured.err.count("1 epoch at 128x128 pixels, augment flips:") == 2
    doc = json.loads((out / "report.json").read_text())
    assert doc["parameters"]["image_size"] == 128
    assert doc["parameters"]["recipe for"] == "8 images"
    assert doc["parameters"]["progressive_resizing"] == 1.0


def test_folder_with_two_classes_needs_positive_class(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["hem", "all"], 4, rng)
    assert main(["evaluate", str(data), *TINY, "--out", str(tmp_path / "r")]) == 2
    assert "name the positive one with --positive-classes" in capsys.readouterr().err


def test_unknown_positive_class_is_an_error(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early"], 4, rng)
    status = main(["evaluate", str(data), "--positive-classes", "Late", *TINY,
                   "--out", str(tmp_path / "r")])
    assert status == 2
    err = capsys.readouterr().err
    assert ("--positive-classes names ['Late'], which are not among the class "
            "folders") in err
    assert "['Benign', 'Early']" in err


def test_out_inside_data_is_refused(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early"], 4, rng)
    status = main(["evaluate", str(data), "--positive-classes", "Early", *TINY,
                   "--out", str(data / "report")])
    assert status == 2
    err = capsys.readouterr().err
    assert "inside the data folder" in err and str(data) in err
    assert not (data / "report").exists()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "report"
    out.write_text("")
    assert main(["evaluate", *TINY, "--out", str(out)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_synthetic_positive_classes_must_exist(tmp_path, capsys):
    status = main(["evaluate", "--positive-classes", "CLL", *TINY,
                   "--out", str(tmp_path / "r")])
    assert status == 2
    assert "['CLL'], which are not among the classes of the synthetic data" in (
        capsys.readouterr().err)


def test_layout_needs_data(tmp_path, capsys):
    assert main(["evaluate", "--layout", "cnmc", "--out", str(tmp_path)]) == 2
    assert "--layout cnmc needs a DATA folder" in capsys.readouterr().err


def test_cv_larger_than_a_class_is_a_usage_error(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early"], 3, rng)
    status = main(["evaluate", str(data), "--positive-classes", "Early",
                   "--cv", "4", "--out", str(tmp_path / "r")])
    assert status == 2
    assert "needs at least 4 images per class; class 'Benign' has 3" in (
        capsys.readouterr().err)


def test_make_cv_uses_groups_when_given():
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.array(["a", "b"] * 6)
    groups = np.arange(12) // 2 * 2 + (np.arange(12) % 2)  # 12 one-image patients
    assert isinstance(make_cv(y, groups, 3, 0), StratifiedGroupKFold)
    assert isinstance(make_cv(y, None, 3, 0), StratifiedKFold)
    with pytest.raises(UsageError, match="at least 4 patients per class; class 'a' "
                                         "has 3"):
        make_cv(y, np.where(y == "a", np.arange(12) % 3, 10 + np.arange(12)), 4, 0)


def test_early_stopping_logs_validation_curves(tmp_path, capsys):
    out = tmp_path / "report"
    # 64 pixels, not shrunk: the network's last maps keep 2x2 pixels, so that
    # batch normalisation trains whatever the size of a fold's last batch.
    status = main(["evaluate", "--n-samples", "60", *TINY, "--epochs", "2",
                   "--image-size", "64", "--progressive-resizing", "1",
                   "--early-stopping", "5",
                   "--positive-classes", "ALL", "AML", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "binary, positive class 'ALL+AML'" in captured.out
    doc = json.loads((out / "report.json").read_text())
    assert doc["parameters"]["early_stopping"] == 5
    assert [fold["epochs"] for fold in doc["fold_scores"]] == [
        len(history) for history in doc["training_history"]] == [2, 2]
    first_epoch = doc["training_history"][0][0]
    assert {"train_loss", "valid_loss", "valid_acc"} <= set(first_epoch)


def test_fit_classes_reads_the_binary_task_from_the_classes(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early", "Pre"], 6, rng)
    out = tmp_path / "report"
    status = main(["evaluate", str(data), "--positive-classes", "Early", "Pre",
                   "--fit-classes", *TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Fitting the classes ['Benign', 'Early', 'Pre']" in captured.err
    assert "binary, positive class 'Early+Pre'" in captured.out
    doc = json.loads((out / "report.json").read_text())
    assert doc["parameters"]["fit_classes"] is True
    assert doc["clinical_report"]["labels"] == ["Benign", "Early+Pre"]
    assert "the classes ['Benign', 'Early', 'Pre']" in doc["data"]["fitted on"]
    # Stratified on the three classes: each test fold holds 3 of each.
    assert [fold["n_test"] for fold in doc["fold_scores"]] == [9, 9]
    assert {"sensitivity", "specificity", "roc_auc"} <= set(doc["fold_scores"][0])
    assert sorted(p.name for p in data.iterdir()) == ["Benign", "Early", "Pre"]


def test_a_side_of_several_classes_fits_the_classes_unless_fit_sides(
    tmp_path, rng, capsys
):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early", "Pre"], 6, rng)
    runs = {}
    for flag in ([], ["--fit-sides"]):
        out = tmp_path / f"report{len(flag)}"
        status = main(["evaluate", str(data), "--positive-classes", "Early", "Pre",
                       *flag, *TINY, "--out", str(out)])
        captured = capsys.readouterr()
        assert status == 0, captured.err
        runs[tuple(flag)] = (captured.err,
                             json.loads((out / "report.json").read_text()))
    err, doc = runs[()]
    assert "Fitting the classes ['Benign', 'Early', 'Pre']" in err
    assert doc["parameters"]["fit_classes"] is True
    assert [fold["n_test"] for fold in doc["fold_scores"]] == [9, 9]
    err, doc = runs[("--fit-sides",)]
    assert "Fitting the classes" not in err
    assert doc["parameters"]["fit_classes"] is False
    assert "fitted on" not in doc["data"]
    assert doc["clinical_report"]["labels"] == ["Benign", "Early+Pre"]


def test_sides_of_one_class_each_fit_the_sides(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["hem", "all"], 4, rng)
    out = tmp_path / "report"
    assert main(["evaluate", str(data), "--positive-classes", "all", *TINY,
                 "--out", str(out)]) == 0
    assert "Fitting the classes" not in capsys.readouterr().err
    doc = json.loads((out / "report.json").read_text())
    assert doc["parameters"]["fit_classes"] is False


@pytest.mark.parametrize("flag", ["--fit-classes", "--fit-sides"])
def test_fit_classes_needs_positive_classes(tmp_path, rng, capsys, flag):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early", "Pre"], 4, rng)
    status = main(["evaluate", str(data), flag, *TINY,
                   "--out", str(tmp_path / "r")])
    assert status == 2
    assert f"{flag} chooses what a binary task fits: name its positive classes " \
        "with --positive-classes" in capsys.readouterr().err


def test_fit_classes_and_fit_sides_exclude_each_other(tmp_path, rng, capsys):
    data = _image_folder(tmp_path / "smears", ["Benign", "Early", "Pre"], 4, rng)
    assert main(["evaluate", str(data), "--positive-classes", "Early", "Pre",
                 "--fit-classes", "--fit-sides", *TINY,
                 "--out", str(tmp_path / "r")]) == 2
    assert "argument --fit-sides: not allowed with argument --fit-classes" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "r").exists()


def test_evaluate_refuses_an_unwritable_out_before_reading_an_image(
    tmp_path, rng, unwritable_dir, monkeypatch, capsys
):
    import sklearn_leukemia.cli._evaluate as evaluate_module

    data = _image_folder(tmp_path / "smears", ["Benign", "Early"], 4, rng)
    monkeypatch.setattr(evaluate_module, "load_dataset", lambda args: pytest.fail(
        "images were read"))
    out = unwritable_dir / "report"
    status = main(["evaluate", str(data), "--positive-classes", "Early", *TINY,
                   "--out", str(out)])
    assert status == 2
    err = capsys.readouterr().err
    assert f"--out {out} cannot be written" in err and err.count("\n") == 1


def _patient_folder(root, rng, n_patients=6, size=20):
    """Patient-first data: blasts and lymphocytes in each patient's folder."""
    rows = ["patient,diagnosis"]
    for i in range(n_patients):
        patient = f"P{i:02d}"
        rows.append(f"{patient},{'APL' if i % 2 else 'AML'}")
        for cell_type in ("Blast", "Lymphocyte"):
            folder = root / patient / cell_type
            folder.mkdir(parents=True)
            for j in range(3):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{cell_type}_{j}.png")
    (root / "patients.csv").write_text("\n".join(rows) + "\n")
    return root


def test_patient_first_folder_splits_cells_by_patient(tmp_path, rng, capsys):
    data = _patient_folder(tmp_path / "aml", rng)
    out = tmp_path / "report"
    status = main(["evaluate", str(data), "--positive-classes", "Blast",
                   *TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "patients (detected)" in captured.err
    assert "Patient-level split (StratifiedGroupKFold" in captured.out
    doc = json.loads((out / "report.json").read_text())
    assert doc["data"]["patient_groups"] is True and doc["data"]["patients"] == 6
    assert doc["data"]["layout"] == "patients"
    assert doc["pos_label"] == "Blast"
    assert doc["clinical_report"]["labels"] == ["Blast", "Lymphocyte"]
    assert doc["data"]["positive classes"] == ["Blast"]
    assert "StratifiedGroupKFold" in doc["parameters"]["cv"]
    # Two cell types: which one is the disease must be said.
    status = main(["evaluate", str(data), *TINY, "--out", str(tmp_path / "r2")])
    assert status == 2
    assert "name the positive one" in capsys.readouterr().err


def test_patient_first_folder_without_cell_types_asks_for_a_target(
    tmp_path, rng, capsys
):
    data = _patient_folder(tmp_path / "aml", rng)
    for path in list(data.rglob("*.png")):
        path.rename(path.parent.parent / path.name)
    for folder in [p for p in data.glob("*/*") if p.is_dir()]:
        folder.rmdir()
    status = main(["evaluate", str(data), *TINY, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2
    assert "have no cell-type folders" in err and "--target" in err
