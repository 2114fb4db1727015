"""Whether probabilities mean what they say: ECE, Brier score, reliability bins.

A binary task is judged on the probability of its positive class (the curve
of :class:`sklearn.calibration.CalibrationDisplay`); a multi-class one on
the top label: the probability of the predicted class against whether it
was right (Guo et al., 2017). The bootstrap resamples rows, as
:func:`~sklearn_leukemia.metrics.clinical_report` does, and computes every
replicate from per-bin sums in one ``np.bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from sklearn_leukemia.metrics._report import _check_parameters

__all__ = [
    "CalibrationReport",
    "brier_score",
    "calibration_report",
    "expected_calibration_error",
]

# Elements of the (replicates, n_samples) index array drawn at once.
_CHUNK_ELEMENTS = 2**21


def _check_inputs(y_true, y_prob, labels, pos_label):
    """Return ``(confidence, outcome, brier_terms, kind)`` of each sample.

    ``confidence`` is the probability judged (of the positive class, or of
    the predicted class), ``outcome`` 1.0 where it came true, and
    ``brier_terms`` each sample's squared error.
    """
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=float)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D; got shape {y_true.shape}.")
    n = y_true.shape[0]
    if n == 0:
        raise ValueError("y_true is empty.")
    if y_prob.ndim == 1:
        y_prob = y_prob[:, None]
        if pos_label is None:
            raise ValueError(
                "y_prob is one column, the probability of the positive class: "
                "give its label as pos_label."
            )
        one_column = True
    elif y_prob.ndim == 2:
        one_column = False
    else:
        raise ValueError(f"y_prob must be 1-D or 2-D; got shape {y_prob.shape}.")
    if y_prob.shape[0] != n:
        raise ValueError(
            f"y_true has {n} samples but y_prob has {y_prob.shape[0]} rows."
        )
    # float32 probabilities summed or taken from one may leave [0, 1] by a
    # rounding unit.
    if (not np.all(np.isfinite(y_prob)) or y_prob.min() < -1e-6
            or y_prob.max() > 1 + 1e-6):
        raise ValueError("y_prob must hold probabilities in [0, 1], without NaN.")
    y_prob = np.clip(y_prob, 0.0, 1.0)
    if one_column:
        positive = (y_true == pos_label).astype(float)
        p = y_prob[:, 0]
        return p, positive, (p - positive) ** 2, "positive class"
    if labels is None:
        raise ValueError(
            "y_prob has one column per class: give the classes of its columns "
            "as labels."
        )
    labels = list(np.asarray(labels).ravel().tolist())
    if len(labels) != y_prob.shape[1]:
        raise ValueError(
            f"y_prob has {y_prob.shape[1]} columns but labels names "
            f"{len(labels)} classes."
        )
    index = {label: k for k, label in enumerate(labels)}
    unknown = sorted({str(v) for v in y_true.tolist() if v not in index})
    if unknown:
        raise ValueError(f"y_true holds labels that are not in labels: {unknown}.")
    codes = np.fromiter((index[v] for v in y_true.tolist()), int, n)
    onehot = np.zeros_like(y_prob)
    onehot[np.arange(n), codes] = 1.0
    if pos_label is not None:
        if pos_label not in index:
            raise ValueError(f"pos_label={pos_label!r} is not in labels {labels}.")
        k = index[pos_label]
        p = y_prob[:, k]
        return p, onehot[:, k], (p - onehot[:, k]) ** 2, "positive class"
    top = y_prob.argmax(axis=1)
    confidence = y_prob[np.arange(n), top]
    correct = (top == codes).astype(float)
    brier = ((y_prob - onehot) ** 2).sum(axis=1)
    if y_prob.shape[1] == 2:
        # Two columns without a positive class: scikit-learn's binary Brier
        # score is the squared error of one column, half the sum of both.
        brier = brier / 2
    return confidence, correct, brier, "top label"


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    # Equal-width bins over [0, 1]; 1.0 falls in the last one.
    return np.minimum((confidence * n_bins).astype(int), n_bins - 1)


def _bin_sums(confidence, outcome, n_bins: int):
    """Return each sample's bin, and each bin's count, probability and hit sums."""
    bins = _bin_index(confidence, n_bins)
    return (
        bins,
        np.bincount(bins, minlength=n_bins),
        np.bincount(bins, weights=confidence, minlength=n_bins),
        np.bincount(bins, weights=outcome, minlength=n_bins),
    )


def _ece_from_sums(count, conf_sum, hit_sum):
    """ECE of each row of per-bin sums ``(B, n_bins)``."""
    total = count.sum(axis=-1)
    return np.abs(conf_sum - hit_sum).sum(axis=-1) / total


def _check_n_bins(n_bins) -> None:
    if not isinstance(n_bins, Integral) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}.")


def expected_calibration_error(y_true, y_prob, *, labels=None, pos_label=None,
                               n_bins: int = 15) -> float:
    """Return the expected calibration error (ECE), lower is better.

    The probabilities are put in ``n_bins`` equal-width bins over [0, 1];
    the ECE is the mean over samples of the gap between a bin's mean
    probability and how often its samples came true:
    ``sum_b (n_b / n) * |mean p_b - frequency_b|``. Binary tasks (one
    column, or ``pos_label``) judge the probability of the positive class;
    multi-class ones the probability of the predicted class against whether
    it was right (top-label ECE).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples,) or (n_samples, n_classes)
        The probability of ``pos_label``, or one column per class in the
        order of ``labels`` (``predict_proba``).
    labels : array-like of shape (n_classes,), default=None
        The classes of the columns of a 2-D ``y_prob``.
    pos_label : label, default=None
        The positive class: required with a 1-D ``y_prob``; with a 2-D one
        it selects the column judged instead of the top label.
    n_bins : int, default=15
        Equal-width bins over [0, 1].

    Returns
    -------
    ece : float
        In [0, 1].

    Examples
    --------
    >>> from sklearn_leukemia.metrics import expected_calibration_error
    >>> y_true = ["ALL", "ALL", "normal", "normal"]
    >>> expected_calibration_error(y_true, [0.9, 0.7, 0.2, 0.4],
    ...                            pos_label="ALL", n_bins=5)
    0.25
    """
    _check_n_bins(n_bins)
    confidence, outcome, _, _ = _check_inputs(y_true, y_prob, labels, pos_label)
    _, count, conf_sum, hit_sum = _bin_sums(confidence, outcome, n_bins)
    return float(_ece_from_sums(count, conf_sum, hit_sum))


def brier_score(y_true, y_prob, *, labels=None, pos_label=None) -> float:
    """Return the Brier score, lower is better.

    The mean squared error of the probabilities: for a binary task that of
    the positive class's probability (scikit-learn's
    :func:`~sklearn.metrics.brier_score_loss`), for a multi-class one the
    sum over the classes of each sample's squared errors, averaged over
    samples (from 0 to 2).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples,) or (n_samples, n_classes)
        The probability of ``pos_label``, or one column per class in the
        order of ``labels``.
    labels : array-like of shape (n_classes,), default=None
        The classes of the columns of a 2-D ``y_prob``.
    pos_label : label, default=None
        The positive class of a binary task.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from sklearn_leukemia.metrics import brier_score
    >>> brier_score(["ALL", "normal"], [0.8, 0.4], pos_label="ALL")
    0.1
    """
    _, _, terms, _ = _check_inputs(y_true, y_prob, labels, pos_label)
    return float(np.round(terms.mean(), 15))


@dataclass(eq=False, repr=False)
class CalibrationReport:
    """ECE and Brier score with bootstrap intervals, and the reliability bins.

    Made by :func:`calibration_report`.

    Attributes
    ----------
    ece, brier : tuple (value, low, high)
        Point estimate and bootstrap interval (None bounds without
        replicates): percentile for the Brier score; basic (reverse
        percentile) for the ECE, whose replicates sit above the data's value
        because resampling noise reads as miscalibration.
    kind : {"positive class", "top label"}
        Which probability is judged.
    bin_edges : ndarray of shape (n_bins + 1,)
    bin_count : ndarray of shape (n_bins,)
        Samples in each bin.
    bin_confidence, bin_frequency : ndarray of shape (n_bins,)
        Mean probability of each bin and how often it came true (NaN for an
        empty bin): the reliability diagram.
    n_samples, n_bootstraps : int
    confidence : float
    """

    ece: tuple
    brier: tuple
    kind: str
    bin_edges: np.ndarray
    bin_count: np.ndarray
    bin_confidence: np.ndarray
    bin_frequency: np.ndarray
    n_samples: int
    n_bootstraps: int
    confidence: float

    def to_dict(self) -> dict:
        """Return the report as plain JSON values (NaN as None)."""

        def clean(values):
            return [None if not np.isfinite(v) else float(v) for v in values]

        return {
            "kind": self.kind,
            "ece": list(self.ece),
            "brier": list(self.brier),
            "confidence": self.confidence,
            "n_samples": self.n_samples,
            "n_bootstraps": self.n_bootstraps,
            "bins": {
                "edges": clean(self.bin_edges),
                "count": [int(c) for c in self.bin_count],
                "mean_probability": clean(self.bin_confidence),
                "frequency": clean(self.bin_frequency),
            },
        }

    def to_text(self) -> str:
        """Return two lines: the ECE and the Brier score with their intervals."""
        lines = []
        level = f"{self.confidence:.0%} CI"
        for name, (value, low, high) in (
            ("Expected calibration error", self.ece), ("Brier score", self.brier)
        ):
            interval = "" if low is None else f"  {level} [{low:.4f}, {high:.4f}]"
            lines.append(f"{name} ({self.kind}): {value:.4f}{interval}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (f"CalibrationReport(ece={self.ece[0]:.4f}, "
                f"brier={self.brier[0]:.4f}, kind={self.kind!r})")


def calibration_report(
    y_true,
    y_prob,
    *,
    labels=None,
    pos_label=None,
    n_bins: int = 15,
    confidence: float = 0.95,
    n_bootstraps: int = 1000,
    random_state=None,
) -> CalibrationReport:
    """ECE and Brier score with bootstrap confidence intervals.

    The rows are resampled ``n_bootstraps`` times. The Brier score's
    interval is the percentile one; the ECE's is the basic (reverse
    percentile) bootstrap, ``[2 ece - q_high, 2 ece - q_low]`` clipped at 0,
    because the replicates' ECE is biased upwards (resampling noise reads as
    miscalibration). The ECE itself shares that bias: on a few hundred cases
    even a calibrated model shows several hundredths, and the interval,
    which removes the part of the bias the bootstrap sees, can lie below
    the value.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples,) or (n_samples, n_classes)
        The probability of ``pos_label``, or one column per class in the
        order of ``labels``.
    labels : array-like of shape (n_classes,), default=None
        The classes of the columns of a 2-D ``y_prob``.
    pos_label : label, default=None
        The positive class of a binary task (its probability is judged);
        None with a 2-D ``y_prob``: the top label.
    n_bins : int, default=15
        Equal-width bins of the ECE and the reliability diagram.
    confidence : float, default=0.95
        Level of the percentile-bootstrap intervals.
    n_bootstraps : int, default=1000
        Replicates resampling the rows; 0: no intervals.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    report : CalibrationReport

    See Also
    --------
    expected_calibration_error, brier_score : The point estimates.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.metrics import calibration_report
    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(500)
    >>> y = np.where(rng.random(500) < p, "ALL", "normal")  # calibrated
    >>> calibration_report(y, p, pos_label="ALL", random_state=0).ece[2] < 0.05
    True
    >>> overconfident = calibration_report(y, p**3, pos_label="ALL", random_state=0)
    >>> overconfident.ece[1] > 0.2  # the lower bound of its interval
    True
    """
    _check_n_bins(n_bins)
    # The rules of clinical_report, whose intervals these sit beside.
    _check_parameters(confidence, n_bootstraps)
    conf, outcome, terms, kind = _check_inputs(y_true, y_prob, labels, pos_label)
    n = conf.shape[0]
    bins, count, conf_sum, hit_sum = _bin_sums(conf, outcome, n_bins)
    ece = float(_ece_from_sums(count, conf_sum, hit_sum))
    brier = float(terms.mean())
    ece_ci = brier_ci = (None, None)
    if n_bootstraps:
        rng = check_random_state(random_state)
        eces, briers = [], []
        chunk = max(1, _CHUNK_ELEMENTS // n)
        for start in range(0, n_bootstraps, chunk):
            rows = rng.randint(0, n, size=(min(chunk, n_bootstraps - start), n))
            flat = (np.arange(rows.shape[0])[:, None] * n_bins + bins[rows]).ravel()
            size = rows.shape[0] * n_bins
            shape = (rows.shape[0], n_bins)
            counts = np.bincount(flat, minlength=size).reshape(shape)
            confs = np.bincount(flat, conf[rows].ravel(), size).reshape(shape)
            hits = np.bincount(flat, outcome[rows].ravel(), size).reshape(shape)
            eces.append(_ece_from_sums(counts, confs, hits))
            briers.append(terms[rows].mean(axis=1))
        tail = (1 - confidence) / 2
        # Resampling adds noise that the bins read as miscalibration, so the
        # replicates' ECE sits above the data's: its interval is the basic
        # (reverse percentile) bootstrap, which corrects for that shift.
        low, high = np.quantile(np.concatenate(eces), [tail, 1 - tail])
        ece_ci = (float(max(2 * ece - high, 0.0)), float(max(2 * ece - low, 0.0)))
        brier_ci = tuple(float(v) for v in np.quantile(np.concatenate(briers),
                                                       [tail, 1 - tail]))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
        frequency = np.where(count > 0, hit_sum / np.maximum(count, 1), np.nan)
    return CalibrationReport(
        ece=(ece, *ece_ci),
        brier=(brier, *brier_ci),
        kind=kind,
        bin_edges=np.linspace(0, 1, n_bins + 1),
        bin_count=count,
        bin_confidence=mean_conf,
        bin_frequency=frequency,
        n_samples=n,
        n_bootstraps=int(n_bootstraps),
        confidence=float(confidence),
    )
