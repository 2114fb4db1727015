"""The clinical-decision options of ``train`` and ``evaluate``.

``--target-sensitivity``/``--target-specificity``, ``--calibration`` and
``--refer-rate`` wrap the pipeline in a
:class:`~sklearn_leukemia.decision.ClinicalClassifier`, which learns them on
held-back folds of the training data (``--decision-cv``).
"""

from __future__ import annotations

import argparse

from sklearn_leukemia.cli._io import UsageError

__all__ = [
    "add_decision_options",
    "check_decision_options",
    "decision_model",
    "describe_decisions",
    "positive_side",
    "wants_decisions",
]

_CALIBRATIONS = ("isotonic", "sigmoid", "temperature")


def add_decision_options(parser: argparse.ArgumentParser) -> None:
    """Add the operating point, calibration and referral options."""
    from sklearn_leukemia.cli._arguments import _in_range, cv_count

    def share(what: str, *, closed_high: bool):
        return _in_range(0, 1, low_open=closed_high, high_open=not closed_high,
                         what=what)

    group = parser.add_argument_group(
        "clinical decision", "Chosen on held-back folds of the training data "
        "only (by patient when patients are known) and saved in the model; "
        "each costs --decision-cv more fits, shared by all of them.",
    )
    targets = group.add_mutually_exclusive_group()
    targets.add_argument(
        "--target-sensitivity", type=share("a sensitivity", closed_high=True),
        default=None, metavar="S",
        help="call a case positive from the threshold that keeps this "
        "sensitivity (e.g. 0.997) with the most specificity; needs "
        "--positive-classes",
    )
    targets.add_argument(
        "--target-specificity", type=share("a specificity", closed_high=True),
        default=None, metavar="S",
        help="the threshold that keeps this specificity with the most "
        "sensitivity; needs --positive-classes",
    )
    group.add_argument(
        "--calibration", choices=_CALIBRATIONS, default=None,
        help="calibrate the probabilities: isotonic regression, Platt's "
        "sigmoid, or temperature scaling (changes no predicted class) "
        "(default: none)",
    )
    group.add_argument(
        "--refer-rate", type=share("a share", closed_high=False), default=None,
        metavar="R",
        help="refer the share R (e.g. 0.02) of cases whose decision is the "
        "least sure to an expert: predict's CSV gets a refer column",
    )
    group.add_argument(
        "--decision-cv", type=cv_count, default=5, metavar="K",
        help="held-back folds of the training data the decision rules are "
        "learnt on (default: 5)",
    )


def wants_decisions(args) -> bool:
    """Whether any decision option was given."""
    return any(
        getattr(args, name, None) is not None
        for name in ("target_sensitivity", "target_specificity", "calibration",
                     "refer_rate")
    )


def check_decision_options(args, *, patient_model: bool) -> None:
    """Refuse decision options where they do not apply, before any work."""
    if not wants_decisions(args):
        return
    if patient_model:
        raise UsageError(
            "the clinical-decision options apply to image models; for a "
            "patient model use ClinicalClassifier(estimator=PatientClassifier(...)) "
            "in Python."
        )
    targets = args.target_sensitivity is not None or (
        args.target_specificity is not None
    )
    if targets and args.data is None and not args.positive_classes:
        raise UsageError(_needs_positive(args))


def _needs_positive(args) -> str:
    option = ("--target-sensitivity" if args.target_sensitivity is not None
              else "--target-specificity")
    return (f"{option} sets the operating point of a binary question: name "
            "its positive classes with --positive-classes.")


def positive_side(args, dataset, fit_classes: bool):
    """Return the classes of the positive side the model fits, or None.

    The positive classes of a model of the classes, the positive side's
    label of a model of the two sides, or the positive class of a binary
    layout (C-NMC, ALL-IDB). A target sensitivity or specificity without one
    is a usage error.
    """
    positive = None
    if dataset.sides is not None:
        positive = list(dataset.sides.positive) if fit_classes else [
            dataset.pos_label]
    elif dataset.pos_label is not None:
        positive = [dataset.pos_label]
    if positive is None and (args.target_sensitivity is not None
                             or args.target_specificity is not None):
        raise UsageError(_needs_positive(args))
    return positive


def decision_model(args, pipeline, positive_classes):
    """Wrap ``pipeline`` in a ClinicalClassifier for the options given."""
    from sklearn_leukemia.decision import ClinicalClassifier

    return ClinicalClassifier(
        estimator=pipeline,
        positive_classes=None if positive_classes is None else list(positive_classes),
        target_sensitivity=args.target_sensitivity,
        target_specificity=args.target_specificity,
        calibration=args.calibration,
        refer_rate=args.refer_rate,
        cv=args.decision_cv,
    )


def describe_decisions(model) -> str:
    """Return one line saying what a fitted ClinicalClassifier decides by."""
    results = model.cv_results_

    def share(key, digits=2):
        value = results.get(key)
        if not isinstance(value, (int, float)) or value != value:  # NaN
            return "undefined"
        return f"{value:.{digits}%}"

    parts = []
    if model.threshold_ is not None:
        sides = "+".join(map(str, model.classes_[model.positive_]))
        parts.append(
            f"threshold {model.threshold_:.4g} on P({sides}) (held back: "
            f"sensitivity {share('sensitivity')}, specificity "
            f"{share('specificity')})"
        )
    if model.calibrator_ is not None:
        parts.append(f"{model.calibration} calibration")
    if model.refer_cut_ is not None:
        parts.append(
            f"refers uncertainty >= {model.refer_cut_:.4g} (held back: "
            f"{share('referred', 1)} referred, error {share('error_all')} -> "
            f"{share('error_kept')} on the rest)"
        )
    return "; ".join(parts)
