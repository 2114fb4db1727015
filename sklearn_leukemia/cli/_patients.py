"""Patient-level commands: ``--target`` in evaluate and train; predict.

A patient-first folder (``DATA/<patient>/[<cell type>/]<image>`` with a
``patients.csv``) and ``--target COLUMN`` make the sample a patient:
``evaluate`` cross-validates a
:class:`~sklearn_leukemia.patient.PatientClassifier` over the patients,
``train`` fits one on every patient, and ``predict`` with such a model
writes one row per patient folder.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from sklearn_leukemia.cli._io import UsageError, print_warnings

__all__ = [
    "add_target_options",
    "evaluate_patients",
    "predict_patients",
    "train_patients",
]

# Cells listed per patient as those that drove its call.
N_TOP_CELLS = 5


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--target`` and ``--aggregation``."""
    from sklearn_leukemia.patient._aggregation import AGGREGATIONS

    parser.add_argument(
        "--target", metavar="COLUMN", default=None,
        help="a column of DATA/patients.csv (e.g. diagnosis): the sample is a "
        "patient, and a patient-level model learns this label from the "
        "patient's cells. Needs a patient-first DATA",
    )
    parser.add_argument(
        "--aggregation", choices=AGGREGATIONS, default=None,
        help="with --target: how a patient's cell predictions become its "
        "prediction: mean (of the cells' probabilities, every cell labelled "
        "with its patient's label), quantile (their quantiles, to a second "
        "stage) or count (the share of each predicted cell type, to a second "
        "stage; needs cell-type folders) (default: mean)",
    )


def check_target_options(args) -> None:
    """Refuse options that mean nothing with (or without) ``--target``."""
    if args.target is None:
        if args.aggregation is not None:
            raise UsageError("--aggregation applies to a patient model: give "
                             "--target COLUMN too.")
        return
    if args.layout not in ("auto", "patients"):
        raise UsageError(f"--target reads a patient-first DATA; --layout "
                         f"{args.layout} has no patients.")
    if getattr(args, "fit_classes", None) is not None:
        option = "--fit-classes" if args.fit_classes else "--fit-sides"
        raise UsageError(f"{option} applies to cell-level models, not with "
                         "--target.")
    if args.aggregation is None:
        args.aggregation = "mean"


def _load(args, *, target: str | None, table="patients.csv"):
    """Load the patients of DATA; a layout without patients is a usage error."""
    from sklearn_leukemia.cli._data import check_data_folder
    from sklearn_leukemia.cli._layout import PATIENT_TABLE
    from sklearn_leukemia.datasets import load_patient_folder

    root = check_data_folder(args.data)
    if table is not None and not (root / PATIENT_TABLE).is_file():
        raise UsageError(
            f"--target needs patient-first data: {args.data} has no "
            f"{PATIENT_TABLE} beside its patient folders "
            "(DATA/<patient>/[<cell type>/]<image>). Without --target, a "
            "folder of class folders trains a cell-level model."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            data = load_patient_folder(
                root, target=target, table=table, n_jobs=args.n_jobs,
                on_error=args.on_error,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        finally:
            print_warnings(caught)
    return root, data


def _positive(args, labels: list[str]) -> str | None:
    """Return the positive label of a two-label target (--positive-classes)."""
    given = args.positive_classes
    if len(labels) != 2:
        if given:
            raise UsageError(
                f"--positive-classes names the positive label of a two-label "
                f"--target; {args.target!r} has {len(labels)}: {labels}."
            )
        return None
    if not given:
        raise UsageError(
            f"--target {args.target} has two labels {labels}; name the positive "
            "one (the disease) with --positive-classes, since sensitivity and "
            "specificity depend on it."
        )
    if len(given) != 1 or given[0] not in labels:
        raise UsageError(
            f"--positive-classes must name one label of --target "
            f"{args.target}: {labels}; got {given}."
        )
    return given[0]


def _model(args, n_cells: int):
    from sklearn_leukemia.cli._model import check_architecture, model_params
    from sklearn_leukemia.patient import PatientClassifier, make_cell_pipeline

    check_architecture(args)
    params = model_params(args, n_cells)
    params.pop("n_images")
    return PatientClassifier(
        cell_estimator=make_cell_pipeline(n_images=n_cells, **params),
        aggregation=args.aggregation,
        random_state=args.random_state,
    )


def _check_target(args, data) -> tuple[list, np.ndarray]:
    labels = sorted(set(data.patient_target.tolist()))
    if len(labels) < 2:
        raise UsageError(
            f"--target {args.target}: every patient has the label {labels[0]!r}; "
            "at least two labels are needed."
        )
    if args.aggregation == "count" and data.patient_cell_types is None:
        raise UsageError(
            "--aggregation count learns cell types, but the patient folders of "
            f"{args.data} have no cell-type folders."
        )
    if args.aggregation != "mean":
        # The second stage splits the training patients once more.
        from sklearn_leukemia.patient import PatientClassifier

        inner = PatientClassifier().cv
        counts = np.unique(data.patient_target, return_counts=True)[1]
        outer = getattr(args, "cv", None)
        # The fewest patients of a label in a training fold.
        fewest = int(min(n - -(-n // outer) if outer else n for n in counts))
        if fewest < inner:
            raise UsageError(
                f"--aggregation {args.aggregation} fits its second stage on "
                f"{inner} inner folds of the training patients, which need at "
                f"least {inner} patients of each label; "
                f"{'a training fold' if outer else args.target} has {fewest} "
                "of its rarest label. Use --aggregation mean, or more patients."
            )
    return labels, data.patient_target


def _fit_kwargs(data) -> dict:
    if data.patient_cell_types is None:
        return {}
    return {"cell_labels": data.patient_cell_types}


def _top_cells(files, contributions, root: Path) -> list[dict]:
    order = np.argsort(-contributions, kind="stable")[:N_TOP_CELLS]
    return [
        {"cell": os.path.relpath(str(files[i]), root),
         "contribution": float(contributions[i])}
        for i in order
    ]


def evaluate_patients(args, out: Path) -> int:
    """Cross-validate a patient model over the patients of DATA."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from sklearn_leukemia.io import atomic_write_text
    from sklearn_leukemia.metrics import clinical_report
    from sklearn_leukemia.utils._validation import align_proba

    root, data = _load(args, target=args.target)
    labels, y = _check_target(args, data)
    pos_label = _positive(args, labels)
    counts = {str(k): int(v) for k, v in zip(*np.unique(y, return_counts=True))}
    shown = ", ".join(f"{k} {v}" for k, v in counts.items())
    if min(counts.values()) < args.cv:
        raise UsageError(
            f"--cv {args.cv} needs at least {args.cv} patients of each label; "
            f"{args.target} has {shown}."
        )
    X = data.patient_cells
    cell_labels = data.patient_cell_types
    n_cells = sum(len(c) for c in X)
    model = _model(args, n_cells)
    cv = StratifiedKFold(args.cv, shuffle=True, random_state=args.random_state)
    print(f"{args.data}: {len(y)} patients ({shown}), {n_cells} cells. "
          f"Cross-validating a patient model (aggregation {args.aggregation}) "
          f"with StratifiedKFold(n_splits={args.cv}) over patients.",
          file=sys.stderr)
    proba = np.zeros((len(y), len(labels)))
    cell_scores, contributions = [None] * len(y), [None] * len(y)
    # Every class a cell can have, whatever a fold's training cells held.
    cell_classes = (
        sorted(set(np.concatenate(cell_labels).tolist()))
        if args.aggregation == "count" else list(labels)
    )
    for fold, (train, test) in enumerate(cv.split(np.zeros(len(y)), y), start=1):
        fitted = clone(model)
        kwargs = {} if cell_labels is None else {
            "cell_labels": [cell_labels[i] for i in train]}
        fitted.fit([X[i] for i in train], y[train], **kwargs)
        p, scores, drops = fitted._patient_outputs([X[i] for i in test],
                                                   contributions=True)
        proba[test] = align_proba(p, fitted.classes_, labels)
        for i, s, d in zip(test, scores, drops):
            cell_scores[i] = align_proba(s, fitted.cell_classes_, cell_classes)
            contributions[i] = d
        print(f"fold {fold}/{args.cv}: {len(test)} patients", file=sys.stderr)
    y_pred = np.asarray(labels)[proba.argmax(axis=1)]
    y_score = proba if pos_label is None else proba[:, labels.index(pos_label)]
    patient_report = clinical_report(
        y, y_pred, y_score, labels=labels, pos_label=pos_label,
        n_bootstraps=args.n_bootstraps, random_state=args.random_state,
    )
    # The cells: what the cell model learnt (the patient's label, or the
    # cell types), from the cell model of the fold that left them out.
    scores = np.concatenate(cell_scores)
    if args.aggregation == "count":
        truth = np.concatenate(cell_labels)
    else:
        truth = np.repeat(y, [len(c) for c in X])
    cell_pred = np.asarray(cell_classes)[scores.argmax(axis=1)]
    cell_pos = None
    if len(cell_classes) == 2:
        # The patients' positive label; two cell types: the second, sorted.
        cell_pos = pos_label if pos_label in cell_classes else cell_classes[1]
    cell_report = clinical_report(
        truth, cell_pred,
        scores if cell_pos is None else scores[:, cell_classes.index(cell_pos)],
        labels=cell_classes, pos_label=cell_pos,
        n_bootstraps=args.n_bootstraps, random_state=args.random_state,
    )
    rows = []
    for i, patient in enumerate(data.patients):
        rows.append({
            "patient": str(patient), "label": str(y[i]),
            "predicted": str(y_pred[i]),
            **{f"proba_{c}": float(proba[i, j]) for j, c in enumerate(labels)},
            "top_cells": _top_cells(X[i], contributions[i], root),
        })
    print(f"Patients (out of fold, {len(y)}), --target {args.target}:")
    print(patient_report.to_text(), end="")
    what = ("cell types" if args.aggregation == "count"
            else f"each cell labelled with its patient's {args.target}")
    print(f"\nCells (out of fold, {len(truth)}): {what}:")
    print(cell_report.to_text(), end="")
    doc = {
        "data": {"source": str(root), "layout": "patients", "target": args.target,
                 "patients": len(y), "cells": int(n_cells),
                 "labels": counts},
        "parameters": {"cv": f"StratifiedKFold(n_splits={args.cv}) over patients",
                       "aggregation": args.aggregation,
                       "n_bootstraps": args.n_bootstraps,
                       "random_state": args.random_state},
        "pos_label": pos_label,
        "patient_report": patient_report.to_dict(),
        "cell_report": cell_report.to_dict(),
        "patients": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "patients.csv", _csv_text(rows, labels, label=True))
    atomic_write_text(out / "report.json", json.dumps(doc, indent=2) + "\n")
    print(f"\nReport written to {out / 'report.json'} (each patient's "
          f"probabilities and the cells that drove the call in "
          f"{out / 'patients.csv'}).")
    return 0


def _csv_text(rows: list[dict], labels: list, *, label: bool) -> str:
    buffer = io.StringIO()
    header = ["patient", *(["label"] if label else []), "predicted",
              *[f"proba_{c}" for c in labels], "top_cells"]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = ";".join(item["cell"] for item in row["top_cells"])
        writer.writerow([
            row["patient"], *([row["label"]] if label else []), row["predicted"],
            *[f"{row[f'proba_{c}']:.6f}" for c in labels], cells,
        ])
    return buffer.getvalue()


def train_patients(args, out: Path) -> int:
    """Fit a patient model on every patient of DATA and save it."""
    from sklearn_leukemia import save_model

    root, data = _load(args, target=args.target)
    labels, y = _check_target(args, data)
    pos_label = _positive(args, labels)
    n_cells = sum(len(c) for c in data.patient_cells)
    model = _model(args, n_cells)
    print(f"Training a patient model (aggregation {args.aggregation}) on "
          f"{len(y)} patients, {n_cells} cells, --target {args.target}.",
          file=sys.stderr)
    model.fit(data.patient_cells, y, **_fit_kwargs(data))
    metadata = {"target": args.target,
                "cell_type_folders": data.patient_cell_types is not None}
    if pos_label is not None:
        metadata["pos_label"] = pos_label
    save_model(model, out, metadata=metadata)
    print(f"Saved the patient model to {out} (labels: {', '.join(labels)}).")
    return 0


def predict_patients(args, model, metadata, output, stream_factory) -> int:
    """Write one row per patient folder of the single input folder."""
    from sklearn_leukemia.cli._layout import PATIENT_TABLE

    if len(args.inputs) != 1 or not Path(args.inputs[0]).expanduser().is_dir():
        raise UsageError(
            f"{args.model} is a patient model: give one patient-first folder "
            "(DATA/<patient>/[<cell type>/]<image>), one row per patient "
            "folder; got " + ", ".join(args.inputs) + "."
        )
    args.data = args.inputs[0]
    root = Path(args.data).expanduser()
    has_table = (root / PATIENT_TABLE).is_file()
    folders, files = _entries(root)
    if files:
        raise UsageError(
            f"{args.data} holds images at its top ({files[0]}); a patient model "
            "predicts patient folders (DATA/<patient>/[<cell type>/]<image>), "
            "not a folder of images or of class folders' images."
        )
    labels = [str(c) for c in model.classes_]
    named = sorted({f.name for f in folders} & set(labels))
    if named:
        raise UsageError(
            f"The folders of {args.data} are named like the labels of the "
            f"patient model {args.model} ({', '.join(named)}): a folder of "
            "class folders, not of patient folders. Predict its images with "
            "a cell model, or give a folder of patient folders."
        )
    args.n_jobs = None
    root, data = _load(args, target=None,
                       table=PATIENT_TABLE if has_table else None)
    if metadata.get("cell_type_folders") and data.patient_cell_types is None:
        raise UsageError(
            f"The patient model {args.model} was trained on patient folders of "
            f"cell-type folders, but the folders of {args.data} hold images "
            "directly: a folder of class folders? Give a folder of patient "
            "folders (DATA/<patient>/<cell type>/<image>)."
        )
    proba, _, drops = model._patient_outputs(data.patient_cells, contributions=True)
    rows = [
        {"patient": str(p), "predicted": labels[int(np.argmax(pr))],
         **{f"proba_{c}": float(v) for c, v in zip(labels, pr)},
         "top_cells": _top_cells(cells, d, root)}
        for p, pr, cells, d in zip(data.patients, proba, data.patient_cells, drops)
    ]
    with stream_factory(output) as stream:
        stream.write(_csv_text(rows, labels, label=False))
    if output is not None:
        print(f"Wrote predictions of {len(rows)} patients to {args.output}.",
              file=sys.stderr)
    return 0


def _entries(root: Path):
    from sklearn_leukemia.datasets._base import has_image_extension, scan_dir

    files, dirs = scan_dir(root)
    return dirs, [f.name for f in files if has_image_extension(f.name)]
