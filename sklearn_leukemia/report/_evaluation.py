"""Write the files of an evaluation: report.json, report.html and the PNGs."""

from __future__ import annotations

import datetime
import io
import json
import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from sklearn_leukemia.io import atomic_write_bytes, atomic_write_text, check_outside
from sklearn_leukemia.report._html import render_evaluation_html
from sklearn_leukemia.report._plots import (
    plot_confusion_matrix,
    plot_misclassified,
    plot_reliability_diagram,
    plot_risk_coverage,
    plot_roc_curve,
    plot_training_curves,
)

__all__ = ["library_versions", "split_note", "write_evaluation_report"]

# Distribution name -> key in the report.
_DISTRIBUTIONS = {
    "numpy": "numpy",
    "torch": "torch",
    "scikit-learn": "sklearn",
    "skorch": "skorch",
    "imbalanced-learn": "imblearn",
    "scikit-image": "skimage",
}


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a result depends on.

    Read from the installed distributions' metadata, so nothing heavy is
    imported.

    Returns
    -------
    versions : dict of str to str
        Keys ``python``, ``numpy``, ``torch``, ``sklearn``, ``skorch``,
        ``imblearn``, ``skimage`` and ``sklearn_leukemia``; ``"not installed"``
        for a missing one.

    Examples
    --------
    >>> from sklearn_leukemia.report import library_versions
    >>> sorted(library_versions())  # doctest: +NORMALIZE_WHITESPACE
    ['imblearn', 'numpy', 'python', 'skimage', 'sklearn', 'sklearn_leukemia',
     'skorch', 'torch']
    """
    import sklearn_leukemia

    versions = {"python": platform.python_version()}
    for distribution, key in _DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = "not installed"
    versions["sklearn_leukemia"] = sklearn_leukemia.__version__
    return versions


def split_note(grouped: bool, cv: str | None = None) -> str:
    """One sentence saying how the data were split and what it implies.

    Parameters
    ----------
    grouped : bool
        Whether patient groups were used to split.
    cv : str, default=None
        The splitter, e.g. ``"StratifiedGroupKFold(n_splits=5)"``.

    Returns
    -------
    note : str
        The sentence, also printed by the command line.

    Examples
    --------
    >>> from sklearn_leukemia.report import split_note
    >>> split_note(True).startswith("Patient-level split")
    True
    """
    if grouped:
        how = cv or "StratifiedGroupKFold"
        return (
            f"Patient-level split ({how}): all images of a patient are in the "
            "same fold, so no patient is on both the training and the test side."
        )
    how = cv or "StratifiedKFold"
    return (
        f"No patient groups: images were split at random ({how}). Images of "
        "one patient can land on both the training and the test side, so these "
        "scores may be optimistic compared with a patient-level split."
    )


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _jsonable(value):
    """Numpy scalars and arrays, paths and tuples to plain JSON values."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN; a missing value reads the same
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _history_records(histories) -> list[list[dict]]:
    keys = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur")
    folds = []
    for history in histories:
        rows = history.to_list() if hasattr(history, "to_list") else list(history)
        folds.append(
            [{key: row[key] for key in keys if key in row} for row in rows]
        )
    return folds


#: Shares of cases referred that the report tabulates.
REFERRAL_RATES = (0.01, 0.02, 0.05)


def _uncertainty(y_score, labels, pos_label, uncertainty):
    """Return the model's own uncertainty, or that of its probabilities at 0.5."""
    from sklearn_leukemia.decision import decision_uncertainty

    if uncertainty is not None:
        return np.asarray(uncertainty, dtype=float)
    positive = None if pos_label is None else np.asarray(labels) == pos_label
    return decision_uncertainty(y_score, positive=positive)


def _clinical_sections(y_true, y_pred, y_score, labels, pos_label, *,
                       uncertainty, refer, decisions, n_bootstraps):
    """Calibration, referral and decision rules: JSON sections and figures."""
    from sklearn_leukemia.metrics import calibration_report, referral_summary

    sections, figures = {}, []
    if y_score is None:
        return sections, figures
    y_score = np.asarray(y_score, dtype=float)
    calibration = calibration_report(
        y_true, y_score, labels=labels, pos_label=pos_label,
        n_bootstraps=n_bootstraps, random_state=0,
    )
    sections["calibration"] = calibration.to_dict()
    figures.append((
        "reliability_diagram",
        f"Reliability diagram ({calibration.kind}): expected calibration "
        f"error {calibration.ece[0]:.4f}, Brier score {calibration.brier[0]:.4f}",
        "reliability_diagram.png",
        _png(plot_reliability_diagram(calibration)),
    ))
    u = _uncertainty(y_score, labels, pos_label, uncertainty)
    referral = {
        "uncertainty": "the model's (decision rules)" if uncertainty is not None
        else ("one minus the probability of the side called" if pos_label
              is not None else "one minus the probability of the predicted class"),
        "by_share": referral_summary(y_true, y_pred, u, REFERRAL_RATES),
    }
    if refer is not None:
        refer = np.asarray(refer, dtype=bool)
        wrong = y_true != y_pred
        kept = ~refer
        referral["by_the_model"] = {
            "referred": float(refer.mean()),
            "errors_referred": int(wrong[refer].sum()),
            "errors": int(wrong.sum()),
            "error_kept": float(wrong[kept].mean()) if kept.any() else None,
            "error_all": float(wrong.mean()),
        }
    sections["referral"] = referral
    figures.append((
        "risk_coverage",
        "Error among the cases kept when the least sure are referred",
        "risk_coverage.png",
        _png(plot_risk_coverage(y_true, y_pred, u, marks=REFERRAL_RATES)),
    ))
    if decisions:
        sections["decision_rules"] = list(decisions)
    return sections, figures


def _heatmap_figure(explanations, y_true, y_pred, y_score, labels):
    """Draw the gallery of heatmaps: misclassified first, then correct per class."""
    from sklearn_leukemia.report._plots import plot_heatmaps

    column = {label: k for k, label in enumerate(labels)}

    def confidence(row):
        if y_score is None or y_pred[row] not in column:
            return 0.0
        return float(y_score[row, column[y_pred[row]]])

    rows = sorted(explanations, key=lambda r: (-confidence(r), r))
    wrong = [r for r in rows if y_true[r] != y_pred[r]][:8]
    right = []
    for label in labels:
        right += [r for r in rows if y_true[r] == y_pred[r] == label][:2]
    shown = wrong + right
    titles = [
        f"{'WRONG ' if y_true[r] != y_pred[r] else ''}true {y_true[r]}\n"
        f"pred {y_pred[r]} ({confidence(r):.2f})" for r in shown
    ]
    fig = plot_heatmaps([explanations[r][0] for r in shown],
                        [explanations[r][1] for r in shown], titles)
    return (
        "heatmaps",
        "What the network looked at (Grad-CAM of the class predicted): "
        f"{len(wrong)} misclassified images, then correct ones of each class",
        "heatmaps.png",
        _png(fig),
    )


def _model_card(data, note, grouped, params, sections, labels, pos_label,
                report) -> dict:
    """Return a short card in the spirit of CLAIM and TRIPOD-AI."""
    card = {
        "intended use": "research on microscopic blood-smear images; not a "
        "medical device, and no diagnosis without a qualified reader",
        "data": {k: data[k] for k in ("source", "layout", "images", "classes",
                                       "patients", "positive classes")
                 if k in data},
        "task": (f"binary, positive class {pos_label}" if pos_label is not None
                 else f"{len(labels)} classes"),
        "split protocol": note,
        "patient leakage across folds": "none: folds split by patient"
        if grouped else "possible: no patient identifiers, images split at random",
        "model": {k: params[k] for k in ("architecture", "image_size",
                                          "max_epochs", "augment", "tta")
                  if k in params},
    }
    rules = sections.get("decision_rules") or []
    thresholds = [r["threshold"] for r in rules if r["threshold"] is not None]
    if thresholds:
        card["operating point"] = (
            f"threshold on the positive side's probability chosen on "
            f"held-back folds of each training set, from {min(thresholds):.4g} "
            f"to {max(thresholds):.4g} over the folds"
        )
    else:
        card["operating point"] = "none chosen: the most probable class"
    calibrations = sorted({str(r["calibration"]) for r in rules
                           if r["calibration"] is not None})
    card["calibration"] = (
        ", ".join(calibrations) + " calibration on held-back folds"
        if calibrations else "none"
    )
    calibration = sections.get("calibration")
    if calibration:
        value, low, high = calibration["ece"]
        interval = "" if low is None else f" [{low:.4f}, {high:.4f}]"
        card["calibration"] += f"; expected calibration error {value:.4f}{interval}"
    limitations = [
        "Scores come from cross-validation of one collection; a new site, "
        "scanner or stain can change them.",
    ]
    if not grouped:
        limitations.append(
            "Images of one patient may be on both sides of a split, so the "
            "scores may be optimistic."
        )
    smallest = min(int(n) for n in report.support) if len(report.support) else 0
    if smallest < 100:
        limitations.append(
            f"The smallest class has {smallest} cases: wide intervals."
        )
    card["limitations"] = limitations
    return card


def _figures(y_true, y_pred, y_score, labels, pos_label, histories, images,
             operating_point=None):
    """Draw the report's figures: ``(key, caption, file name, PNG bytes)``."""
    figures: list[tuple[str, str, str, bytes]] = [
        (
            "confusion_matrix",
            "Confusion matrix of the out-of-fold predictions",
            "confusion_matrix.png",
            _png(plot_confusion_matrix(y_true, y_pred, labels)),
        )
    ]
    if y_score is not None:
        figures.append((
            "roc_curve",
            "ROC curve" + ("" if len(labels) == 2 else "s (one-vs-rest)"),
            "roc_curve.png",
            _png(plot_roc_curve(y_true, y_score, labels, pos_label,
                                operating_point=operating_point)),
        ))
    if histories:
        validated = any(
            "valid_loss" in row for rows in _history_records(histories) for row in rows
        )
        figures.append((
            "training_curves",
            ("Training and validation loss, and validation accuracy, per epoch"
             if validated else "Training loss per epoch")
            + (", one line per fold" if len(histories) > 1 else ""),
            "training_curves.png",
            _png(plot_training_curves(histories)),
        ))
    if images is not None and y_score is not None:
        figures.append((
            "misclassified",
            "Misclassified images, most confidently wrong first",
            "misclassified.png",
            _png(plot_misclassified(images, y_true, y_pred, y_score, labels)),
        ))
    return figures


def write_evaluation_report(
    out_dir: str | os.PathLike,
    *,
    report,
    y_true,
    y_pred,
    y_score,
    labels,
    histories,
    images=None,
    params: Mapping,
    fold_scores: Sequence[Mapping],
    data_description: Mapping,
    pos_label=None,
    device: str | None = None,
    data_dir: str | os.PathLike | None = None,
    title: str = "sklearn-leukemia evaluation",
    uncertainty=None,
    refer=None,
    decisions: Sequence[Mapping] | None = None,
    explanations: Mapping | None = None,
) -> dict[str, Path]:
    """Write report.json, report.html and the PNG figures of an evaluation.

    Every file is written atomically (a temporary file in ``out_dir``, then
    renamed), so a crash never leaves a half-written report behind.

    Parameters
    ----------
    out_dir : str or path-like
        Folder of the report; created if missing.
    report : ClinicalReport
        From :func:`sklearn_leukemia.metrics.clinical_report` on the
        out-of-fold predictions. Its ``to_dict()`` goes into report.json and
        its ``to_html()`` into report.html.
    y_true, y_pred : array-like of shape (n_samples,)
        True and (out-of-fold) predicted classes.
    y_score : array-like of shape (n_samples, n_classes) or None
        Out-of-fold class probabilities, columns in the order of ``labels``;
        None leaves out the ROC curve.
    labels : array-like of shape (n_classes,)
        The classes.
    histories : sequence of skorch History or None
        The training history of each fold; None or empty leaves out the
        training curves.
    images : sequence of images or file paths, default=None
        Aligned with ``y_true``; when given, the misclassified ones are shown.
    params : mapping
        Parameters of the run (model and cross-validation settings).
    fold_scores : sequence of mapping
        Scores of each fold, e.g. ``[{"accuracy": 0.9, "roc_auc": 0.95}, ...]``.
    data_description : mapping
        What was evaluated, shown as a table. Two keys are read: a bool
        ``"patient_groups"`` (whether the split kept patients apart) and an
        optional ``"split"`` sentence; without it one is written from
        ``"patient_groups"`` and an optional ``"cv"``.
    pos_label : label, default=None
        Positive class of a binary task (for the ROC curve); defaults to
        ``report.pos_label`` when the report has one.
    device : str, default=None
        The compute device the networks were trained on.
    data_dir : str or path-like, default=None
        The folder the data came from: writing into it is refused.
    title : str, default="sklearn-leukemia evaluation"
        Title of the page.
    uncertainty : array-like of shape (n_samples,), default=None
        How unsure each (out-of-fold) decision is, from a model's decision
        rules; None: from ``y_score``
        (:func:`~sklearn_leukemia.decision.decision_uncertainty` at 0.5).
    refer : array-like of bool, shape (n_samples,), default=None
        Which cases the model referred, when it refers.
    decisions : sequence of mapping, default=None
        What each fold's decision rules learnt (threshold, calibration,
        referral cut and their held-back scores).
    explanations : mapping of int to (image, heatmap), default=None
        Heatmaps of some samples, by row
        (:func:`~sklearn_leukemia.inspection.class_activation_maps`): the
        report shows those of the most confidently misclassified and of the
        surest correct ones of each class.

    With ``y_score``, the report also holds the calibration (ECE and Brier
    score with bootstrap intervals, a reliability diagram) and what
    referring the least sure 1%, 2% and 5% of cases buys (a risk-coverage
    curve); every report holds a model card.

    Returns
    -------
    paths : dict of str to Path
        ``"json"``, ``"html"`` and one key per figure written
        (``"confusion_matrix"``, ``"roc_curve"``, ``"training_curves"``,
        ``"misclassified"``, ``"reliability_diagram"``, ``"risk_coverage"``).

    Raises
    ------
    ValueError
        If ``out_dir`` lies inside ``data_dir`` or the inputs are inconsistent.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_leukemia.metrics import clinical_report
    >>> from sklearn_leukemia.report import write_evaluation_report
    >>> y_true = np.array(["ALL", "normal"] * 10)
    >>> p_all = np.linspace(0.1, 0.9, 20)  # probability of "ALL"
    >>> y_score = np.column_stack([p_all, 1 - p_all])  # columns: ALL, normal
    >>> y_pred = np.where(p_all > 0.5, "ALL", "normal")
    >>> rep = clinical_report(y_true, y_pred, p_all, pos_label="ALL",
    ...                       n_bootstraps=50, random_state=0)
    >>> paths = write_evaluation_report(
    ...     tempfile.mkdtemp(), report=rep, y_true=y_true, y_pred=y_pred,
    ...     y_score=y_score, labels=["ALL", "normal"], histories=None,
    ...     params={"cv": 2}, fold_scores=[], pos_label="ALL",
    ...     data_description={"images": 20, "patient_groups": False})
    >>> sorted(paths)  # doctest: +NORMALIZE_WHITESPACE
    ['confusion_matrix', 'html', 'json', 'reliability_diagram', 'risk_coverage',
     'roc_curve']
    """
    out_dir = Path(out_dir)
    if data_dir is not None:
        check_outside(out_dir, data_dir, what="the report folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} exists and is not a folder.")
    labels = list(np.asarray(labels).ravel().tolist())
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if pos_label is None and len(labels) == 2:
        pos_label = getattr(report, "pos_label", None)
    histories = [] if histories is None else list(histories)
    grouped = bool(data_description.get("patient_groups", False))
    note = data_description.get("split") or split_note(
        grouped, data_description.get("cv")
    )

    # Draw every figure before writing anything: a plotting error must not
    # leave a report folder with some files of this run and some of a former.
    operating_point = None
    if (decisions and pos_label is not None and len(labels) == 2
            and any(d.get("threshold") is not None for d in decisions)):
        # Where the decisions made sit on the curve.
        positive = y_true == pos_label
        called = y_pred == pos_label
        operating_point = (float(called[~positive].mean()),
                           float(called[positive].mean()))
    figures = _figures(
        y_true, y_pred, y_score, labels, pos_label, histories, images,
        operating_point,
    )
    if y_score is not None:
        y_score = np.asarray(y_score, dtype=float)
        if y_score.ndim == 1 and len(labels) == 2:
            y_score = np.column_stack([1.0 - y_score, y_score])
    sections, more = _clinical_sections(
        y_true, y_pred, y_score, labels, pos_label, uncertainty=uncertainty,
        refer=refer, decisions=decisions,
        n_bootstraps=getattr(report, "n_bootstraps", 1000),
    )
    figures += more
    if explanations:
        figures.append(_heatmap_figure(explanations, y_true, y_pred, y_score,
                                       labels))
    card = _model_card(data_description, note, grouped, params, sections, labels,
                       pos_label, report)

    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    versions = library_versions()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, _, filename, png in figures:
        paths[key] = atomic_write_bytes(out_dir / filename, png)

    document = {
        "title": title,
        "date": now,
        "device": device,
        "data": dict(data_description, split=note, patient_groups=grouped),
        "labels": labels,
        "pos_label": pos_label,
        "clinical_report": report.to_dict(),
        **sections,
        "model_card": card,
        "fold_scores": list(fold_scores),
        "training_history": _history_records(histories),
        "parameters": dict(params),
        "versions": versions,
        "figures": {key: filename for key, _, filename, _ in figures},
    }
    paths["json"] = atomic_write_text(
        out_dir / "report.json",
        json.dumps(_jsonable(document), indent=2, allow_nan=False) + "\n",
    )
    page = render_evaluation_html(
        title=title,
        date=now,
        data_description=_jsonable(
            {k: v for k, v in data_description.items() if k != "split"}
        ),
        split_note=note,
        grouped=grouped,
        report_html=report.to_html(),
        sections=_jsonable(sections),
        model_card=_jsonable(card),
        fold_scores=_jsonable(list(fold_scores)),
        figures=[(caption, png) for _, caption, _, png in figures],
        params=_jsonable(dict(params)),
        versions=versions,
        device=device,
    )
    paths["html"] = atomic_write_text(out_dir / "report.html", page)
    return paths
