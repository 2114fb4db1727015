"""Clinical decisions: an operating point, calibrated probabilities, referral.

:class:`ClinicalClassifier` learns them on held-back folds of the training
data; the functions are its rules, usable on any scores.
"""

from sklearn_leukemia.decision._calibration import CALIBRATION_METHODS
from sklearn_leukemia.decision._classifier import ClinicalClassifier
from sklearn_leukemia.decision._rules import (
    decision_uncertainty,
    referral_cut,
    threshold_for_sensitivity,
    threshold_for_specificity,
)

__all__ = [
    "CALIBRATION_METHODS",
    "ClinicalClassifier",
    "decision_uncertainty",
    "referral_cut",
    "threshold_for_sensitivity",
    "threshold_for_specificity",
]
