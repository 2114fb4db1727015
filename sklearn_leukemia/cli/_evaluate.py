"""``sklearn-leukemia evaluate``: cross-validated clinical evaluation.

The folds are fitted by :func:`joblib.Parallel` over ``cv.split`` with
:func:`sklearn.base.clone` instead of :func:`~sklearn.model_selection.
cross_val_predict`, because the report needs more than predictions from
each fold: the fitted network's training history (for the curves) and the
fold's own scores. They run one after the other here, or all at once on a
Dask cluster with ``--scheduler`` (:mod:`~sklearn_leukemia.cli._cluster`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

from sklearn_leukemia.cli._arguments import (
    add_data_options,
    add_fit_classes_option,
    add_model_options,
    check_fit_classes,
    cv_count,
)
from sklearn_leukemia.cli._cluster import (
    add_scheduler_option,
    dask_backend,
    recording_warnings,
    reissue_warnings,
)
from sklearn_leukemia.cli._data import check_data_folder, fits_classes, load_dataset
from sklearn_leukemia.cli._decision import (
    add_decision_options,
    check_decision_options,
    decision_model,
    positive_side,
    wants_decisions,
)
from sklearn_leukemia.cli._io import UsageError
from sklearn_leukemia.cli._model import (
    build_pipeline,
    check_architecture,
    describe_training,
    pipeline_settings,
)
from sklearn_leukemia.cli._patients import add_target_options, check_target_options
from sklearn_leukemia.io import check_outside, check_writable
from sklearn_leukemia.metrics._grouping import merge_to_binary
from sklearn_leukemia.utils._validation import align_proba

__all__ = ["configure_parser", "cross_validate_predictions", "make_cv", "run"]

DEFAULT_OUT = "sklearn-leukemia-report"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``evaluate`` to its subparser."""
    add_data_options(parser, data_required=False)
    parser.add_argument(
        "--cv", type=cv_count, default=5, metavar="K",
        help="number of cross-validation folds (default: 5)",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR",
        help=f"folder of the report: report.html, report.json and PNG plots "
        f"(default: ./{DEFAULT_OUT}); never inside DATA",
    )
    parser.add_argument(
        "--n-bootstraps", type=int, default=1000, metavar="N",
        help="bootstrap replicates of the confidence intervals (default: 1000)",
    )
    add_fit_classes_option(
        parser,
        "with --positive-classes: fit on the classes themselves (each "
        "class folder its own) and score the binary task from their "
        "predictions: an image is positive when its predicted class is a "
        "positive one, its score the sum of their probabilities",
    )
    add_target_options(parser)
    add_decision_options(parser)
    add_model_options(parser)
    add_scheduler_option(parser, "the folds, all at once")


def make_cv(y: np.ndarray, groups: np.ndarray | None, n_splits: int, random_state):
    """Return the splitter: patient-level with groups, stratified always.

    Raises
    ------
    UsageError
        If a class (or the set of patients) is too small for ``n_splits``.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    labels, counts = np.unique(y, return_counts=True)
    if groups is not None:
        # Every training fold must see every class: a class needs patients
        # in at least n_splits folds.
        for label in labels:
            n_groups = np.unique(groups[y == label]).shape[0]
            if n_groups < n_splits:
                raise UsageError(
                    f"--cv {n_splits} needs at least {n_splits} patients per "
                    f"class; class {str(label)!r} has {n_groups}."
                )
        return StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
    smallest = int(counts.min())
    if smallest < n_splits:
        raise UsageError(
            f"--cv {n_splits} needs at least {n_splits} images per class; class "
            f"{str(labels[counts.argmin()])!r} has {smallest}."
        )
    return StratifiedKFold(n_splits, shuffle=True, random_state=random_state)


def _fold_scores(y_true, y_pred, proba, labels, pos_label) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    from sklearn_leukemia.metrics import sensitivity_score, specificity_score

    scores = {
        "n_test": int(y_true.shape[0]),
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
    }
    if pos_label is not None:
        scores["sensitivity"] = sensitivity_score(y_true, y_pred, pos_label=pos_label)
        scores["specificity"] = specificity_score(y_true, y_pred, pos_label=pos_label)
    present = np.unique(y_true)
    if present.shape[0] == len(labels):
        if pos_label is not None:
            column = labels.index(pos_label)
            scores["roc_auc"] = roc_auc_score(y_true == pos_label, proba[:, column])
        else:
            scores["roc_auc"] = roc_auc_score(
                y_true, proba, multi_class="ovr", labels=labels
            )
    # A fold without some class has no AUC; leaving it out beats a NaN cell.
    return {key: value if key == "n_test" else float(value)
            for key, value in scores.items()}


#: Per-fold entries that describe the training rather than score it.
_FOLD_SETTINGS = ("n_test", "epochs")


def _binary(y, proba, labels, sides):
    """Labels (and probabilities) of the classes, read as the two sides."""
    merged, score = merge_to_binary(y, proba, labels, sides)
    merged = merged.astype(str)
    if score is None:
        return merged, None
    negative, positive = sides.names
    # float32 probabilities may sum past 1 by a rounding unit.
    score = np.clip(score, 0.0, 1.0)
    columns = {negative: 1.0 - score, positive: score}
    return merged, np.column_stack([columns[name] for name in sorted(columns)])


def cross_validate_predictions(
    pipeline, X, y, *, groups, cv, labels, pos_label=None, merge=None,
    progress=True,
) -> dict:
    """Fit a clone per fold; return out-of-fold predictions, histories, scores.

    Parameters
    ----------
    pipeline : estimator
        Unfitted; cloned for each fold. A ClinicalClassifier is fitted with
        the fold's patients as ``groups`` and predicts with its decision
        rules.
    X : ndarray of shape (n_samples, ...)
        File paths or images.
    y : ndarray of shape (n_samples,)
        Class names.
    groups : ndarray of shape (n_samples,) or None
        Patient of each sample, for a group-aware ``cv``.
    cv : splitter
        A scikit-learn cross-validation splitter.
    labels : list
        All classes; the columns of the returned probabilities.
    pos_label : str, default=None
        Positive class of a binary task (for the per-fold scores).
    merge : BinarySides, default=None
        Score each fold as the binary task of these sides rather than on
        the classes of ``y``; ``pos_label`` must then be the name of its
        positive side.
    progress : bool, default=True
        Show a progress bar over folds on stderr.

    Returns
    -------
    result : dict
        ``y_pred`` (n_samples,), ``proba`` (n_samples, n_classes),
        ``histories`` (one skorch History per fold, or None),
        ``fold_scores`` (one dict per fold: the number of test images, the
        epochs trained when the network keeps a history, and the scores),
        ``device`` (of the last fold), and for a pipeline with decision
        rules (a ClinicalClassifier) ``uncertainty`` (n_samples,), ``refer``
        (n_samples,) bool or None without a referral cut, and ``decisions``
        (what each fold learnt); None otherwise. ``explanations``: the
        Grad-CAM heatmaps of each fold's most confidently misclassified
        images and surest correct ones per class, ``{row: (image,
        heatmap)}``, or None for a network Grad-CAM does not explain.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    n_samples = y.shape[0]
    proba = np.full((n_samples, len(labels)), np.nan)
    y_pred = np.empty(n_samples, dtype=object)
    histories, fold_scores, device = [], [], None
    splits = list(cv.split(X, y, groups))
    decides = hasattr(pipeline, "decide")
    uncertainty = np.full(n_samples, np.nan) if decides else None
    refer = np.zeros(n_samples, dtype=bool) if decides else None
    decisions = []
    explanations = {}
    # One task per fold, run where joblib's active backend says: one at a
    # time in this process by default, all at once on a Dask cluster under
    # the parallel_config of --scheduler.
    # The whole X goes once to the backend (Dask scatters it); each task
    # takes its rows, and reads its images from their paths.
    tasks = (delayed(recording_warnings)(_fit_fold, pipeline, X, y, train, test,
                                         groups, labels, merge)
             for train, test in splits)
    # disable=None: a bar in a terminal, none in a log file (CI); the
    # per-fold lines are printed either way. The generator is closed on an
    # error, so that joblib cancels the folds still running.
    with tqdm(total=len(splits), desc="folds", unit="fold", file=sys.stderr,
              disable=None if progress else True, dynamic_ncols=True,
              ) as bar, contextlib.closing(
        Parallel(return_as="generator")(tasks)
    ) as folds:
        for fold, ((_, test), (done, caught)) in enumerate(zip(splits, folds),
                                                           start=1):
            reissue_warnings(caught)
            bar.update()
            proba[test] = done["proba"]
            y_pred[test] = done["y_pred"]
            if decides:
                uncertainty[test] = done["uncertainty"]
                if done["refer"] is not None:
                    refer[test] = done["refer"]
                decisions.append(done["decision"])
            explanations.update(done["explanations"])
            history = done["history"]
            histories.append(history)
            device = done["device"] or device
            scored = (y[test], y_pred[test].astype(y.dtype), proba[test], labels)
            if merge is not None:
                true, _ = _binary(y[test], None, labels, merge)
                pred, merged_proba = _binary(scored[1], proba[test], labels, merge)
                scored = (true, pred, merged_proba, sorted(merge.names))
            scores = _fold_scores(*scored, pos_label)
            if history is not None:
                # Early stopping may end a fold sooner than max_epochs.
                scores = {"n_test": scores.pop("n_test"), "epochs": len(history),
                          **scores}
            fold_scores.append(scores)
            shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items()
                              if k not in _FOLD_SETTINGS)
            bar.write(f"fold {fold}/{len(splits)}{done['trained']}: {shown}",
                      file=sys.stderr)
    return {
        "y_pred": y_pred.astype(y.dtype),
        "proba": proba,
        "histories": None if any(h is None for h in histories) else histories,
        "fold_scores": fold_scores,
        "device": None if device is None else str(device),
        "uncertainty": uncertainty,
        "refer": refer if decides and any(d["refer_cut"] is not None
                                          for d in decisions) else None,
        "decisions": decisions if decides else None,
        "explanations": explanations or None,
    }


def _fit_fold(pipeline, X, y, train, test, groups, labels, merge) -> dict:
    """Fit a clone of ``pipeline`` on the rows ``train``; predict ``test``.

    Runs wherever joblib sends it (this process, a Dask worker), so it
    returns what the report needs of the fold rather than the fitted model:
    the probabilities in ``labels`` order, the predictions, the decisions of
    a ClinicalClassifier, the heatmaps, the network's history and device,
    and how it trained.
    """
    from sklearn.base import clone

    estimator = clone(pipeline)
    decides = hasattr(estimator, "decide")
    done = {"uncertainty": None, "refer": None, "decision": None}
    if decides:
        # The decision rules' held-back folds keep patients together too.
        estimator.fit(X[train], y[train],
                      groups=None if groups is None else groups[train])
        decision = estimator.decide(X[test])
        fold_proba, fold_pred = decision.proba, decision.predicted
        done.update(uncertainty=decision.uncertainty, refer=decision.refer,
                    decision=_decision_record(estimator))
    else:
        estimator.fit(X[train], y[train])
        fold_proba = estimator.predict_proba(X[test])
        # The most probable class is what predict returns; taking it from
        # the probabilities spares reading the images twice.
        fold_pred = np.asarray(estimator.classes_, dtype=object)[
            fold_proba.argmax(axis=1)
        ]
    # The columns follow the estimator's classes_; a class missing from a
    # training fold must still get its (zero) column in labels order.
    proba = align_proba(fold_proba, list(estimator.classes_), labels)
    done["explanations"] = _explain_fold(
        estimator, X[test], test, y[test], fold_pred, proba, labels, merge,
    )
    fitted = estimator.estimator_ if decides else estimator
    network = fitted[-1] if hasattr(fitted, "steps") else fitted
    history = getattr(network, "history", None)
    device = getattr(network, "device_", None)
    done.update(
        proba=proba, y_pred=fold_pred, history=history,
        device=None if device is None else str(device),
        trained="" if history is None else f", {describe_training(fitted)}",
    )
    return done


#: Images of each fold whose heatmaps the report can show: the most
#: confidently misclassified, and the surest correct ones of each class.
N_EXPLAINED_WRONG, N_EXPLAINED_RIGHT = 8, 2


def _explain_fold(model, X, rows, y_true, y_pred, proba, labels, merge=None) -> dict:
    """Heatmaps of a fold's gallery images, by row of the whole set.

    The images are chosen as the report judges them (by side when classes
    are read as two sides); each heatmap explains the class the network
    predicted. Only for networks that Grad-CAM explains (a pipeline ending
    with a SECNNClassifier): nothing otherwise, and a warning when Grad-CAM
    fails, since the heatmaps are an extra of the report.
    """
    from sklearn_leukemia.inspection import class_activation_maps
    from sklearn_leukemia.inspection._cam import _network_parts

    try:
        _network_parts(model)
    except (TypeError, ValueError):
        return {}
    classes_predicted = y_pred
    if merge is not None:
        y_true, _ = _binary(y_true, None, labels, merge)
        y_pred, proba = _binary(y_pred, proba, labels, merge)
        labels = sorted(merge.names)
    column = {label: k for k, label in enumerate(labels)}
    confidence = proba[np.arange(len(y_pred)), [column[p] for p in y_pred]]
    wrong = np.flatnonzero(y_true != y_pred)
    chosen = list(wrong[np.argsort(-confidence[wrong], kind="stable")]
                  [:N_EXPLAINED_WRONG])
    for label in labels:
        right = np.flatnonzero((y_true == y_pred) & (y_true == label))
        chosen += list(right[np.argsort(-confidence[right], kind="stable")]
                       [:N_EXPLAINED_RIGHT])
    if not chosen:
        return {}
    chosen = np.asarray(chosen)
    try:
        heatmaps, images = class_activation_maps(
            model, X[chosen], target=list(classes_predicted[chosen]),
            return_images=True,
        )
    except Exception as exc:  # noqa: BLE001 - an extra must not end the run
        warnings.warn(f"no heatmaps for this fold: Grad-CAM failed ({exc}).",
                      UserWarning, stacklevel=2)
        return {}
    return {int(rows[i]): (image, heatmap)
            for i, image, heatmap in zip(chosen, images, heatmaps)}


def _decisions_text(result, y_true) -> str:
    """Lines on the decision rules the folds learnt and what they gave."""
    lines = ["Decision rules (each fold's, from held-back folds of its training "
             "data)"]
    thresholds = [d["threshold"] for d in result["decisions"]
                  if d["threshold"] is not None]
    if thresholds:
        lines.append("  thresholds: " + ", ".join(f"{t:.4g}" for t in thresholds))
    calibrations = {d["calibration"] for d in result["decisions"]} - {None}
    if calibrations:
        lines.append("  calibration: " + ", ".join(sorted(calibrations)))
    refer = result["refer"]
    if refer is not None:
        wrong = result["y_pred"] != y_true
        kept = ~refer
        rest = f"{wrong[kept].mean():.2%}" if kept.any() else "undefined"
        lines.append(
            f"  referred {refer.mean():.2%} of the cases, holding "
            f"{wrong[refer].sum()} of the {wrong.sum()} errors; error among "
            f"the rest {rest} (of all {wrong.mean():.2%})"
        )
    return "\n".join(lines) + "\n"


def _decision_record(model) -> dict:
    """Return what a fold's ClinicalClassifier learnt, for the report."""
    return {
        "threshold": model.threshold_,
        "refer_cut": model.refer_cut_,
        "calibration": None if model.calibrator_ is None else model.calibration,
        "temperature": None if model.calibrator_ is None
        or model.calibration != "temperature" else model.calibrator_.temperature_,
        "held_back": dict(model.cv_results_),
    }


def run(args) -> int:
    """Cross-validate the pipeline, print the clinical table, write the report."""
    from sklearn_leukemia.metrics import clinical_report
    from sklearn_leukemia.report import split_note, write_evaluation_report

    out = Path(args.out).expanduser()
    if args.data is not None:
        check_outside(out, check_data_folder(args.data), what="--out")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder.")
    check_writable(out, what="--out", folder=True)
    if args.n_bootstraps < 0:
        raise UsageError(f"--n-bootstraps must be >= 0; got {args.n_bootstraps}.")
    check_target_options(args)
    check_decision_options(args, patient_model=args.target is not None)
    if args.target is not None:
        if args.data is None:
            raise UsageError("--target needs a patient-first DATA folder.")
        if args.scheduler is not None:
            raise UsageError("--scheduler runs the folds of a cell model; a "
                             "--target (patient) evaluation runs here.")
        from sklearn_leukemia.cli._patients import evaluate_patients

        return evaluate_patients(args, out)
    check_fit_classes(args)
    check_architecture(args)
    dataset = load_dataset(args)
    # The recipe of the whole set: every fold trains what train would.
    pipeline = build_pipeline(args, n_images=dataset.y.shape[0])
    labels = sorted(np.unique(dataset.y).tolist())
    # What the folds fit: the two sides, or the classes (fits_classes).
    fit_y, fit_labels, merge = dataset.y, labels, None
    fit_classes = fits_classes(args, dataset)
    if fit_classes:
        fit_y = dataset.classes
        fit_labels = sorted(np.unique(fit_y).tolist())
        negative, positive = dataset.sides.names
        merge = dataset.sides
        dataset.description["fitted on"] = (
            f"the classes {fit_labels}, read as {negative} against {positive}"
        )
    cv = make_cv(fit_y, dataset.groups, args.cv, args.random_state)
    grouped = dataset.groups is not None
    cv_name = f"{type(cv).__name__}(n_splits={args.cv})"
    note = split_note(grouped, cv_name)
    print(f"{dataset.description['source']}: {dataset.y.shape[0]} images, classes "
          f"{dataset.description['classes']}.", file=sys.stderr)
    print(f"Cross-validating with {cv_name}"
          f"{' (patient groups)' if grouped else ' (no patient groups)'}.",
          file=sys.stderr)

    if merge is not None:
        print(f"Fitting the classes {fit_labels}; scoring {positive} against "
              f"{negative} from their predictions.", file=sys.stderr)
    model = pipeline
    if wants_decisions(args):
        model = decision_model(args, pipeline,
                               positive_side(args, dataset, merge is not None))
        print(f"Each fold learns its decision rules on {args.decision_cv} "
              "held-back folds of its training images.", file=sys.stderr)
    with dask_backend(args.scheduler):
        result = cross_validate_predictions(
            model, dataset.X, fit_y, groups=dataset.groups, cv=cv,
            labels=fit_labels, pos_label=dataset.pos_label, merge=merge,
        )
    if merge is not None:
        result["y_pred"], result["proba"] = _binary(
            result["y_pred"], result["proba"], fit_labels, merge
        )
    y_score = result["proba"]
    if dataset.pos_label is not None:
        y_score = y_score[:, labels.index(dataset.pos_label)]
    report = clinical_report(
        dataset.y, result["y_pred"], y_score, labels=labels,
        pos_label=dataset.pos_label, n_bootstraps=args.n_bootstraps,
        random_state=args.random_state,
    )
    print(note)
    print()
    print(report.to_text(), end="")

    if result["decisions"] is not None:
        print()
        print(_decisions_text(result, dataset.y), end="")
    params = {
        "cv": cv_name,
        "recipe for": f"{dataset.y.shape[0]} images",
        **pipeline_settings(pipeline),
        "n_bootstraps": args.n_bootstraps,
        "fit_classes": fit_classes,
    }
    description = dict(dataset.description, cv=cv_name, split=note)
    paths = write_evaluation_report(
        out, report=report, y_true=dataset.y, y_pred=result["y_pred"],
        y_score=result["proba"], labels=labels, histories=result["histories"],
        images=dataset.X, params=params, fold_scores=result["fold_scores"],
        data_description=description, pos_label=dataset.pos_label,
        device=result["device"], data_dir=dataset.root,
        uncertainty=result["uncertainty"], refer=result["refer"],
        decisions=result["decisions"], explanations=result["explanations"],
    )
    print(f"\nReport written to {paths['html']} (also report.json and "
          f"{len(paths) - 2} plots in {out}).")
    return 0
