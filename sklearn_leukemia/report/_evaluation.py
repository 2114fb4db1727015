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


def _figures(y_true, y_pred, y_score, labels, pos_label, histories, images):
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
            _png(plot_roc_curve(y_true, y_score, labels, pos_label)),
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

    Returns
    -------
    paths : dict of str to Path
        ``"json"``, ``"html"`` and one key per figure written
        (``"confusion_matrix"``, ``"roc_curve"``, ``"training_curves"``,
        ``"misclassified"``).

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
    >>> sorted(paths)
    ['confusion_matrix', 'html', 'json', 'roc_curve']
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
    figures = _figures(
        y_true, y_pred, y_score, labels, pos_label, histories, images
    )

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
        fold_scores=_jsonable(list(fold_scores)),
        figures=[(caption, png) for _, caption, _, png in figures],
        params=_jsonable(dict(params)),
        versions=versions,
        device=device,
    )
    paths["html"] = atomic_write_text(out_dir / "report.html", page)
    return paths
