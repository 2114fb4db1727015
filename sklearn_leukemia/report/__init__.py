"""Figures and the evaluation report (HTML, JSON and PNG files).

The command line's ``sklearn-leukemia evaluate`` is a thin layer over these
functions; they work as well from Python on any out-of-fold predictions.
"""

from sklearn_leukemia.report._evaluation import (
    library_versions,
    split_note,
    write_evaluation_report,
)
from sklearn_leukemia.report._plots import (
    plot_confusion_matrix,
    plot_heatmaps,
    plot_misclassified,
    plot_reliability_diagram,
    plot_risk_coverage,
    plot_roc_curve,
    plot_training_curves,
)

__all__ = [
    "library_versions",
    "plot_confusion_matrix",
    "plot_heatmaps",
    "plot_misclassified",
    "plot_reliability_diagram",
    "plot_risk_coverage",
    "plot_roc_curve",
    "plot_training_curves",
    "split_note",
    "write_evaluation_report",
]
