import base64
import json
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from skorch.history import History

from sklearn_leukemia.metrics import clinical_report
from sklearn_leukemia.report import (
    library_versions,
    split_note,
    write_evaluation_report,
)


def _history(n_epochs=3):
    history = History()
    for epoch in range(1, n_epochs + 1):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", 1.0 / epoch)
        history.record("valid_loss", 1.2 / epoch)
        history.record("valid_acc", 0.5 + 0.1 * epoch)
    return history


@pytest.fixture
def binary(rng):
    labels = ["ALL", "normal"]
    y_true = np.array(labels * 12)
    p_all = np.clip(np.where(y_true == "ALL", 0.7, 0.35) + rng.normal(0, 0.2, 24),
                    0, 1)
    proba = np.column_stack([p_all, 1 - p_all])
    y_pred = np.where(p_all > 0.5, "ALL", "normal")
    report = clinical_report(y_true, y_pred, p_all, labels=labels, pos_label="ALL",
                             n_bootstraps=50, random_state=0)
    return dict(report=report, y_true=y_true, y_pred=y_pred, y_score=proba,
                labels=labels)


def _write(out_dir, data, **overrides):
    kwargs = dict(
        **data,
        histories=[_history(), _history()],
        params={"cv": "StratifiedGroupKFold(n_splits=2)", "max_epochs": 3},
        fold_scores=[{"accuracy": 0.75, "roc_auc": 0.8},
                     {"accuracy": 0.7, "roc_auc": 0.9}],
        data_description={"source": "test", "images": 24, "patient_groups": True,
                          "patients": 6},
        device="cpu",
    )
    kwargs.update(overrides)
    return write_evaluation_report(out_dir, **kwargs)


def test_writes_json_html_and_pngs(tmp_path, binary, rgb_images):
    images = np.concatenate([rgb_images, rgb_images])
    paths = _write(tmp_path / "report", binary, images=images)
    assert set(paths) == {"json", "html", "confusion_matrix", "roc_curve",
                          "training_curves", "misclassified",
                          "reliability_diagram", "risk_coverage"}
    for path in paths.values():
        assert path.is_file() and path.parent == tmp_path / "report"
    for key in ("confusion_matrix", "roc_curve", "training_curves", "misclassified"):
        assert paths[key].read_bytes().startswith(b"\x89PNG")
    # Nothing but the finished files: no temporary leftovers.
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(
        p.name for p in paths.values()
    )


def test_json_content(tmp_path, binary):
    paths = _write(tmp_path, binary)
    doc = json.loads(paths["json"].read_text())
    assert doc["clinical_report"] == json.loads(binary["report"].to_json())
    assert doc["clinical_report"]["metrics"]["recall"]["ci_low"] is not None
    assert doc["fold_scores"][1] == {"accuracy": 0.7, "roc_auc": 0.9}
    assert doc["parameters"]["max_epochs"] == 3
    assert doc["device"] == "cpu"
    assert doc["pos_label"] == "ALL"
    assert doc["labels"] == ["ALL", "normal"]
    assert doc["data"]["patient_groups"] is True
    assert doc["data"]["split"].startswith("Patient-level split")
    assert set(doc["versions"]) == {"python", "numpy", "torch", "sklearn", "skorch",
                                    "imblearn", "skimage", "sklearn_leukemia"}
    assert len(doc["training_history"]) == 2
    assert doc["training_history"][0][2]["train_loss"] == pytest.approx(1 / 3)
    assert doc["date"].endswith("+00:00")


def test_html_is_self_contained(tmp_path, binary):
    paths = _write(tmp_path, binary)
    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert binary["report"].to_html() in page
    assert "Recall (sensitivity)" in page and "95% CI" in page
    assert "Patient-level split" in page
    assert "StratifiedGroupKFold(n_splits=2)" in page
    # Every image is embedded, none is a link to a file next to the page.
    sources = [chunk.split('"', 1)[0] for chunk in page.split('src="')[1:]]
    assert len(sources) == 5
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(b"\x89PNG")
    assert "<script" not in page


def test_html_escapes_text(tmp_path, binary):
    paths = _write(tmp_path, binary, data_description={
        "source": "<b>folder</b>", "patient_groups": False})
    page = paths["html"].read_text()
    assert "&lt;b&gt;folder&lt;/b&gt;" in page
    assert "<b>folder</b>" not in page
    assert "may be optimistic" in page


def test_multiclass_has_per_class_table_and_no_pos_label(tmp_path, rng):
    labels = ["ALL", "AML", "normal"]
    y_true = np.array(labels * 6)
    proba = rng.dirichlet(np.ones(3), size=18)
    y_pred = np.array(labels)[proba.argmax(axis=1)]
    report = clinical_report(y_true, y_pred, proba, labels=labels, n_bootstraps=20,
                             random_state=0)
    paths = _write(tmp_path, dict(report=report, y_true=y_true, y_pred=y_pred,
                                  y_score=proba, labels=labels), histories=None)
    assert "training_curves" not in paths
    doc = json.loads(paths["json"].read_text())
    assert doc["pos_label"] is None
    assert [c["label"] for c in doc["clinical_report"]["per_class"]] == labels
    page = paths["html"].read_text()
    assert "Per class (one-vs-rest)" in page
    assert "ROC curves (one-vs-rest)" in page


def test_without_scores_leaves_out_roc(tmp_path, binary):
    paths = _write(tmp_path, dict(binary, y_score=None))
    assert "roc_curve" not in paths and "misclassified" not in paths
    assert not (tmp_path / "roc_curve.png").exists()


def test_refuses_to_write_into_data_folder(tmp_path, binary):
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(ValueError, match="inside the data folder"):
        _write(data / "report", binary, data_dir=data)
    assert not (data / "report").exists()


def test_out_dir_that_is_a_file_is_refused(tmp_path, binary):
    target = tmp_path / "report"
    target.write_text("")
    with pytest.raises(ValueError, match="is not a folder"):
        _write(target, binary)


def test_failed_plot_leaves_former_report_untouched(tmp_path, binary):
    paths = _write(tmp_path, binary)
    before = paths["json"].read_text()
    with pytest.raises(ValueError, match="y_score has shape"):
        _write(tmp_path, dict(binary, y_score=binary["y_score"][:, :1].repeat(3, 1)))
    assert paths["json"].read_text() == before
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_nan_metric_becomes_null(tmp_path):
    # No positive prediction: precision is undefined (NaN) -> JSON null.
    y_true = np.array(["ALL", "normal", "normal", "ALL"])
    y_pred = np.array(["normal"] * 4)
    report = clinical_report(y_true, y_pred, labels=["ALL", "normal"],
                             pos_label="ALL", n_bootstraps=0)
    paths = _write(tmp_path, dict(report=report, y_true=y_true, y_pred=y_pred,
                                  y_score=None, labels=["ALL", "normal"]),
                   fold_scores=[{"roc_auc": float("nan")}])
    text = paths["json"].read_text()
    assert "NaN" not in text
    doc = json.loads(text)
    assert doc["clinical_report"]["metrics"]["precision"]["value"] is None
    assert doc["fold_scores"][0]["roc_auc"] is None


def test_library_versions_match_installed():
    import numpy
    import sklearn

    versions = library_versions()
    assert versions["numpy"] == numpy.__version__
    assert versions["sklearn"] == sklearn.__version__


def test_split_note_says_whether_patients_are_kept_apart():
    assert "StratifiedGroupKFold(n_splits=3)" in split_note(
        True, "StratifiedGroupKFold(n_splits=3)")
    note = split_note(False)
    assert "StratifiedKFold" in note and "optimistic" in note


def test_html_tables_are_readable(tmp_path, binary):
    paths = _write(tmp_path, binary,
                   params={"module__width": 4, "lr": 0.003, "contrast": None},
                   data_description={"classes": {"ALL": 12, "normal": 12},
                                     "patient_groups": True})
    page = paths["html"].read_text()
    assert "<th>classes</th><td>ALL: 12, normal: 12</td>" in page
    assert "<th>patient groups</th><td>yes</td>" in page
    assert "<th>module__width</th><td>4</td>" in page
    assert "<th>lr</th><td>0.003</td>" in page
    assert "<th>contrast</th><td>none</td>" in page
    assert '<td class="num">0.750</td>' in page  # fold scores, 3 decimals


def test_calibration_referral_and_model_card_in_every_report(tmp_path, binary):
    paths = _write(tmp_path, binary)
    doc = json.loads(paths["json"].read_text())
    y_true, proba = binary["y_true"], binary["y_score"]
    from sklearn_leukemia.metrics import expected_calibration_error

    pos = binary.get("pos_label", "ALL")
    column = binary["labels"].index(pos)
    assert doc["calibration"]["ece"][0] == pytest.approx(
        expected_calibration_error(y_true, proba[:, column], pos_label=pos)
    )
    shares = doc["referral"]["by_share"]
    assert [row["rate"] for row in shares] == [0.01, 0.02, 0.05]
    assert "by_the_model" not in doc["referral"]
    assert "decision_rules" not in doc
    card = doc["model_card"]
    assert card["patient leakage across folds"].startswith("none")
    assert card["operating point"].startswith("none chosen")
    assert any("site" in item for item in card["limitations"])
    page = paths["html"].read_text()
    assert page.index("<h2>Model card</h2>") < page.index("<h2>Data</h2>")
