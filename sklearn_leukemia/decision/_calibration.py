"""A calibrator of probability vectors: isotonic, sigmoid or temperature.

It is fitted on held-back (out-of-fold) probabilities and their labels and
maps a model's probabilities to calibrated ones. Isotonic and sigmoid
calibration follow :class:`sklearn.calibration.CalibratedClassifierCV`: the
positive class of a binary model, or each class one-vs-rest then normalised
to sum to one (the tests compare the two). Temperature scaling divides the
log-probabilities by one number ``T`` fitted by log-loss (Guo et al., 2017),
which changes no predicted class.

The fitted state is plain arrays, so a model file holds it without pickle.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

__all__ = ["CALIBRATION_METHODS"]

CALIBRATION_METHODS = ("isotonic", "sigmoid", "temperature")
# Probabilities are clipped away from 0 before a log.
_TINY = 1e-12


def _check_proba(proba, n_classes=None) -> np.ndarray:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2:
        raise ValueError(
            f"expected probabilities of shape (n_samples, n_classes); got shape "
            f"{proba.shape}."
        )
    if n_classes is not None and proba.shape[1] != n_classes:
        raise ValueError(
            f"expected {n_classes} probability columns; got {proba.shape[1]}."
        )
    if (not np.all(np.isfinite(proba)) or proba.min() < -1e-6
            or proba.max() > 1 + 1e-6):
        raise ValueError("probabilities must be finite and in [0, 1].")
    return np.clip(proba, 0.0, 1.0)


def _platt(score: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid ``1 / (1 + exp(a * score + b))`` with his smoothed targets.

    As scikit-learn's ``_sigmoid_calibration``: targets
    ``(n+ + 1) / (n+ + 2)`` and ``1 / (n- + 2)`` keep it from overfitting.
    """
    n_pos = positive.sum()
    n_neg = positive.shape[0] - n_pos
    target = np.where(positive, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss_grad(ab):
        z = ab[0] * score + ab[1]
        p = expit(-z)
        loss = -(target * np.log(np.maximum(p, _TINY))
                 + (1 - target) * np.log(np.maximum(1 - p, _TINY))).sum()
        d = target - p  # d loss / d z
        return loss, np.array([(d * score).sum(), d.sum()])

    start = np.array([0.0, np.log((n_neg + 1) / (n_pos + 1))])
    result = minimize(loss_grad, start, jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


class _ProbabilityCalibrator(ClassifierMixin, BaseEstimator):
    """Calibrate probability vectors; ``fit(proba, y)``, ``predict_proba(proba)``.

    Parameters
    ----------
    method : {"isotonic", "sigmoid", "temperature"}, default="isotonic"

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels of the probability columns (sorted, as ``y``'s).
    thresholds_x_, thresholds_y_ : list of ndarray
        Isotonic steps of each calibrated column.
    sigmoid_ : ndarray of shape (n_columns, 2)
        Platt's ``a`` and ``b`` of each calibrated column.
    temperature_ : float
        The fitted temperature.
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(CALIBRATION_METHODS))],
    }

    def __init__(self, *, method="isotonic"):
        self.method = method

    def fit(self, proba, y):
        """Fit on held-back probabilities (columns in sorted label order)."""
        self._validate_params()
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        proba = _check_proba(proba, len(self.classes_))
        onehot = (y[:, None] == self.classes_[None, :]).astype(float)
        # A binary model calibrates its positive (second) column only.
        columns = [1] if len(self.classes_) == 2 else range(len(self.classes_))
        self.thresholds_x_, self.thresholds_y_ = [], []
        self.sigmoid_ = np.zeros((0, 2))
        self.temperature_ = 1.0
        if self.method == "isotonic":
            for k in columns:
                iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
                iso.fit(proba[:, k], onehot[:, k])
                self.thresholds_x_.append(np.asarray(iso.X_thresholds_, float))
                self.thresholds_y_.append(np.asarray(iso.y_thresholds_, float))
        elif self.method == "sigmoid":
            self.sigmoid_ = np.array(
                [_platt(proba[:, k], onehot[:, k] > 0) for k in columns]
            )
        else:
            log_p = np.log(np.maximum(proba, _TINY))
            codes = onehot.argmax(axis=1)

            def nll(log_t):
                scores = log_softmax(log_p / np.exp(log_t), axis=1)
                return -scores[np.arange(len(codes)), codes].mean()

            result = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded")
            self.temperature_ = float(np.exp(result.x))
        return self

    def predict_proba(self, proba) -> np.ndarray:
        """Return the calibrated probabilities of ``proba``."""
        check_is_fitted(self, "classes_")
        proba = _check_proba(proba, len(self.classes_))
        if self.method == "temperature":
            return softmax(np.log(np.maximum(proba, _TINY)) / self.temperature_,
                           axis=1)
        binary = len(self.classes_) == 2
        columns = [1] if binary else range(len(self.classes_))
        calibrated = np.zeros_like(proba)
        for i, k in enumerate(columns):
            if self.method == "isotonic":
                calibrated[:, k] = np.interp(
                    proba[:, k], self.thresholds_x_[i], self.thresholds_y_[i]
                )
            else:
                a, b = self.sigmoid_[i]
                calibrated[:, k] = expit(-(a * proba[:, k] + b))
        if binary:
            calibrated[:, 0] = 1.0 - calibrated[:, 1]
            return calibrated
        total = calibrated.sum(axis=1, keepdims=True)
        # Every column calibrated to 0: scikit-learn's uniform fallback.
        uniform = np.full_like(calibrated, 1.0 / calibrated.shape[1])
        return np.where(total > 0, calibrated / np.where(total > 0, total, 1),
                        uniform)

    def predict(self, proba) -> np.ndarray:
        """Return the most probable class after calibration."""
        return self.classes_[self.predict_proba(proba).argmax(axis=1)]
