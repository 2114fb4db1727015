"""Clinical metrics, scorers and the clinical report.

Metrics named ``*_score`` are higher-is-better, ``*_rate`` lower-is-better;
their scorers in :func:`clinical_scorers` are negated (``neg_*``).
"""

from sklearn_leukemia.metrics._calibration import (
    CalibrationReport,
    brier_score,
    calibration_report,
    expected_calibration_error,
)
from sklearn_leukemia.metrics._classification import (
    false_negative_rate,
    false_positive_rate,
    negative_predictive_value,
    sensitivity_score,
    specificity_score,
)
from sklearn_leukemia.metrics._referral import referral_summary, risk_coverage_curve
from sklearn_leukemia.metrics._report import ClinicalReport, clinical_report
from sklearn_leukemia.metrics._scorer import clinical_scorers

__all__ = [
    "CalibrationReport",
    "ClinicalReport",
    "brier_score",
    "calibration_report",
    "clinical_report",
    "clinical_scorers",
    "expected_calibration_error",
    "false_negative_rate",
    "false_positive_rate",
    "negative_predictive_value",
    "referral_summary",
    "risk_coverage_curve",
    "sensitivity_score",
    "specificity_score",
]
