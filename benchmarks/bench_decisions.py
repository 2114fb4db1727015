"""Clinical decisions on the real sets: operating point, calibration, referral.

Replays the rules of :class:`~sklearn_leukemia.decision.ClinicalClassifier`
on the out-of-fold probabilities that ``bench_real_data.py --predictions``
writes (the default pipeline, 5 stratified folds): for each outer fold, the
threshold, the calibrator and the referral cut are learnt on the
out-of-fold probabilities of the *other* folds and applied to this fold's.
This cross-fitting stands in for the nested cross-validation a
``ClinicalClassifier`` in each fold would run (5 fits per set instead of
30): the rules never see the labels of the fold they are scored on, but the
models whose predictions they learn from were trained on it.

Printed, for the goals of the decision issue:

- all-taleqani, benign against leukemic (the four-class model read as
  Early+Pre+Pro against Benign): sensitivity and specificity at the
  threshold chosen for a target sensitivity of 99.7%, against those of the
  most probable class;
- calibration: expected calibration error (positive class for the binary
  question, top label for the four and the eight classes), Brier score and
  accuracy, uncalibrated and after each calibration;
- all-taleqani four classes: the share of the errors that referring the 2%
  least sure images removes, by the cut learnt on the other folds and by
  ranking all out-of-fold predictions.

``--heatmaps PNG`` fits the default pipeline on four of the five folds of
all-taleqani and draws the Grad-CAM gallery of the fifth (misclassified
images first, then the surest correct ones of each class).

Examples::

    python benchmarks/bench_real_data.py --tasks taleqani-4class pbc-8class \\
        --predictions benchmarks/results/decisions_oof_s0.csv
    python benchmarks/bench_decisions.py \\
        --predictions benchmarks/results/decisions_oof_s0.csv \\
        --json benchmarks/results/decisions_s0.json
    python benchmarks/bench_decisions.py --heatmaps docs/_static/heatmaps.png
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from _common import (
    command_line,
    default_data_dir,
    environment,
    environment_lines,
    fmt_metric,
    make_splits,
    text_table,
    write_json,
)

POSITIVE = ["Early", "Pre", "Pro"]
TARGET_SENSITIVITY = 0.997
REFER_RATE = 0.02
CALIBRATIONS = (None, "isotonic", "sigmoid", "temperature")


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=Path, default=None,
                        help="CSV of bench_real_data.py --predictions")
    parser.add_argument("--n-bootstraps", type=int, default=1000)
    parser.add_argument("--heatmaps", type=Path, default=None, metavar="PNG",
                        help="draw the Grad-CAM gallery of one all-taleqani fold")
    parser.add_argument("--cam-layers", nargs="+", default=["auto"], metavar="LAYER",
                        help="layers of the heatmaps (one gallery each, "
                        "PNG_<layer>.png beyond the first); 'list' prints them")
    parser.add_argument("--fold-model", type=Path, default=None, metavar="SLK",
                        help="save the fold's fitted pipeline here, or load it "
                        "if the file exists (to draw other layers without "
                        "refitting)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--n-threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    return parser


def _read(path: Path) -> dict:
    """The out-of-fold probabilities of each task: labels, folds, classes."""
    tasks: dict = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            task = tasks.setdefault(row["task"], {"rows": []})
            task["rows"].append(row)
    out = {}
    for name, task in tasks.items():
        rows = task["rows"]
        classes = [key[2:] for key in rows[0] if key.startswith("p_")
                   and rows[0][key] != ""]
        proba = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
        out[name] = {
            "classes": np.array(classes),
            "y": np.array([r["label"] for r in rows]),
            "fold": np.array([int(r["fold"]) for r in rows]),
            "proba": proba / proba.sum(axis=1, keepdims=True),
        }
    return out


def _cross_fit(task, learn, apply):
    """Apply, to each fold, what ``learn`` made of the other folds."""
    outputs = [None] * len(task["y"])
    for k in np.unique(task["fold"]):
        test, train = task["fold"] == k, task["fold"] != k
        rule = learn(task["proba"][train], task["y"][train])
        for i, value in zip(np.flatnonzero(test), apply(rule, task["proba"][test])):
            outputs[i] = value
    return outputs


def _calibrated(task, method):
    from sklearn_leukemia.decision._calibration import _ProbabilityCalibrator

    if method is None:
        return task["proba"]
    return np.array(_cross_fit(
        task,
        lambda p, y: _ProbabilityCalibrator(method=method).fit(p, y),
        lambda cal, p: cal.predict_proba(p),
    ))


def _operating_point(task, args) -> list[dict]:
    """Sensitivity and specificity at the 99.7%-sensitivity threshold."""
    from sklearn_leukemia.decision import threshold_for_sensitivity
    from sklearn_leukemia.metrics import clinical_report

    positive = np.isin(task["classes"], POSITIVE)
    truth = np.isin(task["y"], POSITIVE)
    rows = []
    for method in (None, "isotonic"):
        proba = _calibrated(task, method)
        score = proba[:, positive].sum(axis=1)
        sub = dict(task, proba=proba)

        def learn(p, y):
            return threshold_for_sensitivity(p[:, positive].sum(axis=1),
                                             np.isin(y, POSITIVE),
                                             TARGET_SENSITIVITY)

        thresholds = np.array(_cross_fit(sub, learn, lambda t, p: np.full(len(p), t)))
        settings = {
            # The side of the most probable class: what predict says today.
            "most probable class": np.isin(task["classes"][proba.argmax(axis=1)],
                                           POSITIVE),
            f"threshold for sensitivity {TARGET_SENSITIVITY:.1%}": score >= thresholds,
        }
        for name, called in settings.items():
            report = clinical_report(
                np.where(truth, "leukemia", "benign"),
                np.where(called, "leukemia", "benign"), score,
                pos_label="leukemia", n_bootstraps=args.n_bootstraps,
                random_state=args.random_state,
            )
            rows.append({
                "calibration": method or "none",
                "decision": name,
                "sensitivity": report.metrics["recall"],
                "specificity": report.metrics["specificity"],
                "missed": int((truth & ~called).sum()),
                "false alarms": int((~truth & called).sum()),
                "thresholds": sorted({float(t) for t in thresholds}) if
                "threshold" in name else None,
            })
    return rows


def _calibration(task, name, args) -> list[dict]:
    from sklearn_leukemia.metrics import brier_score, calibration_report

    rows = []
    for method in CALIBRATIONS:
        proba = _calibrated(task, method)
        labels = list(task["classes"])
        accuracy = float((task["classes"][proba.argmax(axis=1)] == task["y"]).mean())
        judged = [("top label", None)]
        if name == "taleqani-4class":
            judged.insert(0, ("benign vs leukemic", "leukemia"))
        for kind, pos in judged:
            if pos is None:
                y, p, lab = task["y"], proba, labels
            else:
                y = np.where(np.isin(task["y"], POSITIVE), "leukemia", "benign")
                score = proba[:, np.isin(task["classes"], POSITIVE)].sum(axis=1)
                p, lab = np.column_stack([1 - score, score]), ["benign", "leukemia"]
            report = calibration_report(y, p, labels=lab, pos_label=pos,
                                        n_bootstraps=args.n_bootstraps,
                                        random_state=args.random_state)
            rows.append({
                "task": name, "judged": kind, "calibration": method or "none",
                "ece": report.ece,
                "brier": brier_score(y, p, labels=lab, pos_label=pos),
                "accuracy": accuracy,
            })
    return rows


def _referral(task, args) -> list[dict]:
    from sklearn_leukemia.decision import decision_uncertainty, referral_cut
    from sklearn_leukemia.metrics import referral_summary

    rows = []
    for method in (None, "temperature"):
        proba = _calibrated(task, method)
        sub = dict(task, proba=proba)
        predicted = task["classes"][proba.argmax(axis=1)]
        wrong = predicted != task["y"]
        uncertainty = decision_uncertainty(proba)
        cuts = np.array(_cross_fit(
            sub, lambda p, y: referral_cut(decision_uncertainty(p), REFER_RATE),
            lambda cut, p: np.full(len(p), cut),
        ))
        refer = uncertainty >= cuts
        ranked = referral_summary(task["y"], predicted, uncertainty,
                                  rates=[0.01, REFER_RATE, 0.05])
        rows.append({
            "calibration": method or "none",
            "errors": int(wrong.sum()),
            "cut learnt on other folds: referred": float(refer.mean()),
            "cut learnt on other folds: errors referred": int(wrong[refer].sum()),
            "cut learnt on other folds: errors removed":
                float(wrong[refer].sum() / max(wrong.sum(), 1)),
            "ranked": ranked,
        })
    return rows


def _heatmaps(args) -> None:
    """Fit one all-taleqani fold and draw the Grad-CAM gallery of its test images."""
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_leukemia import make_leukemia_pipeline
    from sklearn_leukemia.datasets import load_image_folder
    from sklearn_leukemia.inspection import class_activation_maps
    from sklearn_leukemia.report import plot_heatmaps

    data_dir = args.data_dir or default_data_dir()
    bunch = load_image_folder(Path(data_dir) / "all-taleqani")
    X = np.asarray(bunch.filenames)
    y = np.asarray(bunch.target_names)[bunch.target].astype(str)
    train, test = make_splits(y, 5, args.random_state)[0]
    from sklearn_leukemia import load_model, save_model

    if args.fold_model is not None and args.fold_model.exists():
        pipe = load_model(args.fold_model)
    else:
        pipe = make_leukemia_pipeline(n_images=len(X),
                                      random_state=args.random_state,
                                      n_threads=args.n_threads)
        print(f"fitting fold 1 of all-taleqani ({len(train)} images)",
              file=sys.stderr)
        pipe.fit(X[train], y[train])
        if args.fold_model is not None:
            save_model(pipe, args.fold_model)
    if args.cam_layers == ["list"]:
        import torch

        from sklearn_leukemia.inspection._cam import _spatial_outputs

        side = pipe[0].image_size
        net = pipe[-1].module_.eval()
        for name, shape in _spatial_outputs(net, torch.zeros(1, 3, side, side)):
            print(name, shape)
        return
    proba = pipe.predict_proba(X[test])
    pred = pipe.classes_[proba.argmax(axis=1)]
    confidence = proba.max(axis=1)
    wrong = np.flatnonzero(pred != y[test])
    shown = list(wrong[np.argsort(-confidence[wrong])][:4])
    for label in pipe.classes_:
        right = np.flatnonzero((pred == y[test]) & (y[test] == label))
        shown += list(np.random.default_rng(0).choice(right, 3, replace=False))
    titles = [f"{'WRONG ' if pred[i] != y[test][i] else ''}true {y[test][i]}\n"
              f"pred {pred[i]} ({confidence[i]:.2f})" for i in shown]
    args.heatmaps.parent.mkdir(parents=True, exist_ok=True)
    for k, layer in enumerate(args.cam_layers):
        maps, images = class_activation_maps(pipe, X[test][shown], layer=layer,
                                             return_images=True)
        fig = plot_heatmaps(images, maps, titles, ncols=4)
        path = args.heatmaps if k == 0 else args.heatmaps.with_name(
            f"{args.heatmaps.stem}_{layer}{args.heatmaps.suffix}")
        fig.savefig(path, dpi=90)
        print(f"wrote {path} (layer {layer}; {len(wrong)} of {len(test)} "
              "misclassified)")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.heatmaps is not None:
        _heatmaps(args)
    if args.predictions is None:
        return 0
    tasks = _read(args.predictions)
    env = environment()
    print("\n".join(environment_lines(env)))
    payload = {"command": command_line(), "environment": env,
               "predictions": str(args.predictions)}
    if "taleqani-4class" in tasks:
        task = tasks["taleqani-4class"]
        payload["operating_point"] = rows = _operating_point(task, args)
        print(f"\nall-taleqani, benign against leukemic ({len(task['y'])} images; "
              "rules learnt on the other folds' out-of-fold probabilities)")
        print(text_table(
            ["calibration", "decision", "sensitivity", "specificity", "missed",
             "false alarms"],
            [[r["calibration"], r["decision"], fmt_metric(*r["sensitivity"]),
              fmt_metric(*r["specificity"]), str(r["missed"]),
              str(r["false alarms"])] for r in rows],
        ))
        payload["referral"] = rows = _referral(task, args)
        print(f"\nall-taleqani four classes: referring {REFER_RATE:.0%}")
        print(text_table(
            ["calibration", "errors", "cut of other folds: referred",
             "errors referred", "ranked 1%", "ranked 2%", "ranked 5%"],
            [[r["calibration"], str(r["errors"]),
              f"{r['cut learnt on other folds: referred']:.2%}",
              f"{r['cut learnt on other folds: errors referred']} "
              f"({r['cut learnt on other folds: errors removed']:.0%})",
              *[f"{x['errors_referred']} of {x['errors']}" for x in r["ranked"]]]
             for r in rows],
        ))
    calibration = []
    for name in ("taleqani-4class", "pbc-8class"):
        if name in tasks:
            calibration += _calibration(tasks[name], name, args)
    if calibration:
        payload["calibration"] = calibration
        print("\nCalibration (calibrators fitted on the other folds)")
        print(text_table(
            ["task", "judged", "calibration", "ECE [95% CI]", "Brier", "accuracy"],
            [[r["task"], r["judged"], r["calibration"],
              fmt_metric(*r["ece"], percent=False), f"{r['brier']:.4f}",
              f"{r['accuracy']:.2%}"] for r in calibration],
        ))
    if args.json:
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
