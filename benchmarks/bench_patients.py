"""Patient-level diagnosis on aml-deepapl: cells split by patient, APL vs AML.

Cross-validates over the patients of ``../shared/data/aml-deepapl`` (outer
:class:`~sklearn.model_selection.StratifiedKFold` on the patients' diagnosis)
and prints one table, side by side from the same folds:

- cells, split by patient: blast ("Blast, no lineage spec") against every
  other cell type (AUC) and all cell types (accuracy), from the cell-type
  model of the ``count`` aggregation; APL against AML from single cells
  (AUC), from the diagnosis model of ``mean`` and ``quantile``;
- patients, APL against other AML: the anchor (the share of the cells the
  technologist labelled promyelocytes, an expert's count, no model) and
  each aggregation of :class:`~sklearn_leukemia.patient.PatientClassifier`,
  with AUC and its 95% bootstrap interval, and sensitivity and specificity
  for APL at the model's operating point (the most probable diagnosis,
  i.e. a probability of APL of at least 0.5).

Per outer fold, one ``quantile`` model (diagnosis cell model with its inner
out-of-fold fits) and one ``count`` model (cell-type cell model, likewise)
are fitted; ``mean`` is the mean of the ``quantile`` model's final cell
model's probabilities, which is what a ``mean`` model with that cell model
predicts (it saves one cell fit per fold).

``--only-full-fit`` times one fit of the patient model on every cell (peak
memory of a fresh child process).

Examples::

    python benchmarks/bench_patients.py --json benchmarks/results/patients.json
    python benchmarks/bench_patients.py --only-full-fit --aggregation quantile
    python benchmarks/bench_patients.py --max-patients 12 --epochs 1 --folds 2
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from _common import (
    _max_rss_mb,
    command_line,
    default_data_dir,
    environment,
    environment_lines,
    fmt_metric,
    run_in_child,
    text_table,
    write_json,
)

BLAST = "Blast, no lineage spec"
PROMYELOCYTE = "Promyelocyte"
POSITIVE = "APL"


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=str, default=None,
                        help="folder holding aml-deepapl (default ../shared/data)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner-cv", type=int, default=None,
                        help="inner folds of the second stage (default: the "
                        "PatientClassifier's)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--n-threads", type=int, default=2)
    parser.add_argument("--max-patients", type=int, default=None,
                        help="a stratified subset of patients, for a smoke run")
    parser.add_argument("--n-bootstraps", type=int, default=1000)
    parser.add_argument("--only-full-fit", action="store_true")
    parser.add_argument("--aggregation", default="quantile",
                        help="the aggregation of --only-full-fit")
    parser.add_argument("--json", type=str, default=None)
    return parser


def _cell_params(args) -> dict:
    params = {"n_jobs": args.n_threads, "n_threads": args.n_threads}
    if args.image_size:
        params["image_size"] = args.image_size
    if args.epochs:
        params["max_epochs"] = args.epochs
    return params


def _model(args, aggregation: str, seed: int):
    from sklearn_leukemia.patient import PatientClassifier, make_cell_pipeline

    extra = {} if args.inner_cv is None else {"cv": args.inner_cv}
    return PatientClassifier(
        cell_estimator=make_cell_pipeline(**_cell_params(args)),
        aggregation=aggregation, random_state=seed, **extra,
    )


def _load(args):
    from sklearn.model_selection import train_test_split

    from sklearn_leukemia.datasets import load_patient_folder

    root = (args.data_dir and __import__("pathlib").Path(args.data_dir)
            or default_data_dir()) / "aml-deepapl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_patient_folder(root, target="diagnosis", n_jobs=args.n_threads)
    for w in caught:
        print(f"  loader: {w.message}")
    X = np.empty(len(data.patients), dtype=object)
    types = np.empty(len(data.patients), dtype=object)
    for i, (cells, kinds) in enumerate(zip(data.patient_cells,
                                           data.patient_cell_types)):
        X[i], types[i] = cells, kinds
    y = data.patient_target
    keep = np.arange(len(y))
    if args.max_patients and args.max_patients < len(y):
        keep, _ = train_test_split(keep, train_size=args.max_patients,
                                   stratify=y, random_state=0)
        keep = np.sort(keep)
    return X[keep], y[keep], types[keep], data.patients[keep]


def _full_fit_child(args, X, y, types):
    model = _model(args, args.aggregation, args.random_state)
    start = time.perf_counter()
    model.fit(list(X), y, cell_labels=list(types))
    return {"fit_seconds": time.perf_counter() - start,
            "peak_rss_mb": _max_rss_mb(),
            "n_cells": int(sum(len(c) for c in X))}


def _auc(y_true, score) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, score))


def _patient_report(y, proba_apl, args):
    from sklearn_leukemia.metrics import clinical_report

    pred = np.where(proba_apl >= 0.5, POSITIVE, "AML")
    report = clinical_report(y, pred, proba_apl, labels=["AML", POSITIVE],
                             pos_label=POSITIVE, n_bootstraps=args.n_bootstraps,
                             random_state=args.random_state)
    return report.to_dict()


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from sklearn.model_selection import StratifiedKFold

    from sklearn_leukemia.utils._validation import align_proba

    env = environment()
    print("\n".join(environment_lines(env)))
    X, y, types, patients = _load(args)
    n_cells = int(sum(len(c) for c in X))
    print(f"aml-deepapl: {len(y)} patients ({(y == POSITIVE).sum()} APL), "
          f"{n_cells} cells")
    payload = {"command": command_line(), "environment": env,
               "patients": len(y), "cells": n_cells}
    if args.only_full_fit:
        full = run_in_child(_full_fit_child, args, X, y, types)
        print(f"full fit ({args.aggregation}): {full['fit_seconds']:.1f} s, "
              f"peak RSS {full['peak_rss_mb']:.0f} MiB")
        payload["full_fit"] = {"aggregation": args.aggregation, **full}
        if args.json:
            write_json(args.json, payload)
        return 0

    outer = StratifiedKFold(args.folds, shuffle=True, random_state=args.random_state)
    proba = {name: np.zeros(len(y)) for name in ("mean", "quantile", "count")}
    cell_type_scores = [None] * len(y)
    diagnosis_scores = [None] * len(y)
    folds = []
    # Every cell type, whatever a fold's training cells held.
    type_classes = np.unique(np.concatenate(list(types)))
    for k, (train, test) in enumerate(outer.split(np.zeros(len(y)), y)):
        fold = {"fold": k}
        for aggregation in ("quantile", "count"):
            model = _model(args, aggregation, args.random_state + k)
            start = time.perf_counter()
            model.fit(list(X[train]), y[train], cell_labels=list(types[train]))
            fold[f"{aggregation}_fit_seconds"] = time.perf_counter() - start
            positive = list(model.classes_).index(POSITIVE)
            # One pass of the cell model gives both.
            patient_proba, scores, _ = model._patient_outputs(
                list(X[test]), contributions=False)
            proba[aggregation][test] = patient_proba[:, positive]
            if aggregation == "quantile":
                column = list(model.cell_classes_).index(POSITIVE)
                for i, s in zip(test, scores):
                    diagnosis_scores[i] = s[:, column]
                    proba["mean"][i] = s[:, column].mean()
            else:
                for i, s in zip(test, scores):
                    # A type missing from a fold's training cells scores 0.
                    cell_type_scores[i] = align_proba(s, model.cell_classes_,
                                                      type_classes)
        fold["peak_rss_mb"] = _max_rss_mb()
        folds.append(fold)
        print(f"  fold {k + 1}/{args.folds}: quantile fit "
              f"{fold['quantile_fit_seconds']:.0f} s, count fit "
              f"{fold['count_fit_seconds']:.0f} s", flush=True)
        if args.json:
            # What the folds so far gave, should the run be cut short.
            write_json(args.json, {**payload, "folds": folds, "partial": True,
                                   "patient_proba": {n: p.tolist()
                                                     for n, p in proba.items()}})

    # Cells, split by patient.
    true_types = np.concatenate(list(types))
    scores = np.concatenate(cell_type_scores)
    predicted = np.asarray(type_classes)[scores.argmax(axis=1)]
    cells = {
        "cell_type_accuracy": float((predicted == true_types).mean()),
        "blast_auc": _auc(true_types == BLAST,
                          scores[:, list(type_classes).index(BLAST)]),
        "apl_from_single_cells_auc": _auc(
            np.repeat(y == POSITIVE, [len(c) for c in X]),
            np.concatenate(diagnosis_scores),
        ),
    }
    share = np.array([np.mean(np.asarray(t) == PROMYELOCYTE) for t in types])
    patients_table = {"anchor: promyelocyte share (technologist)": {
        "auc": _auc(y == POSITIVE, share)}}
    for name, p in proba.items():
        patients_table[name] = _patient_report(y, p, args)
    payload.update(
        settings={"folds": args.folds, "inner_cv": args.inner_cv,
                  "random_state": args.random_state,
                  "cell_params": _cell_params(args)},
        folds=folds, cells=cells, patients_table=patients_table,
        patient_proba={name: dict(zip(patients.tolist(), p.tolist()))
                       for name, p in proba.items()},
    )
    print()
    print(_table(cells, patients_table))
    if args.json:
        write_json(args.json, payload)
    return 0


def _table(cells: dict, patients_table: dict) -> str:
    rows = [
        ["cells: blast vs rest", "AUC", f"{cells['blast_auc']:.3f}", "", ""],
        ["cells: all cell types", "accuracy",
         fmt_metric(cells["cell_type_accuracy"]), "", ""],
        ["cells: APL vs AML", "AUC",
         f"{cells['apl_from_single_cells_auc']:.3f}", "", ""],
    ]
    for name, report in patients_table.items():
        if "metrics" not in report:
            rows.append([f"patients: {name}", "AUC", f"{report['auc']:.3f}", "", ""])
            continue
        m = report["metrics"]
        auc = m["roc_auc"]
        text = f"{auc['value']:.3f}"
        if auc["ci_low"] is not None:
            text += f" [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]"
        rows.append([f"patients: {name}", "AUC", text,
                     fmt_metric(m["recall"]["value"]),
                     fmt_metric(m["specificity"]["value"])])
    header = ["", "score", "value", "APL sensitivity", "APL specificity"]
    return text_table(header, rows)


if __name__ == "__main__":
    sys.exit(main())
