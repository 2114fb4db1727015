"""ClinicalClassifier: an operating point, calibration and referral.

Each is learnt on held-back folds of the training data.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, check_cv
from sklearn.utils import Bunch, _safe_indexing, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from sklearn_leukemia.decision._calibration import (
    CALIBRATION_METHODS,
    _ProbabilityCalibrator,
)
from sklearn_leukemia.decision._rules import (
    decision_uncertainty,
    referral_cut,
    threshold_for_sensitivity,
    threshold_for_specificity,
)
from sklearn_leukemia.utils._validation import align_proba, check_no_missing_labels

__all__ = ["ClinicalClassifier"]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class ClinicalClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier whose decisions are chosen for the clinic.

    Wraps a classifier (by default the library's pipeline) and learns, on
    held-back folds of the training data only, what a clinician acts on:

    - **an operating point**: the threshold on the probability of the
      positive side that gives a target sensitivity (or specificity), the
      one that keeps the most of the other (as
      :class:`~sklearn.model_selection.TunedThresholdClassifierCV` would
      with that constraint); ``predict`` calls a case positive when that
      probability reaches the threshold;
    - **calibration**: probabilities that mean what they say, by isotonic
      regression, Platt's sigmoid or temperature scaling fitted on the
      held-back probabilities (as
      :class:`~sklearn.calibration.CalibratedClassifierCV` with
      ``ensemble=False``);
    - **referral**: an uncertainty score for every decision and the cut
      above which a case is referred to an expert, chosen to refer a share
      ``refer_rate`` of the held-back cases.

    ``fit`` splits the training data by ``cv`` (by patient when ``groups``
    are given), fits a clone of ``estimator`` on each training part and
    predicts the held-back part; the calibrator, threshold and cut are
    learnt from these out-of-fold probabilities. Then ``estimator`` is
    refitted on all the data. Without any of the three, ``fit`` only fits
    ``estimator``. Everything is saved with the model
    (:func:`~sklearn_leukemia.save_model`).

    Parameters
    ----------
    estimator : classifier or None, default=None
        Has ``fit`` and ``predict_proba``; cloned. None:
        :func:`~sklearn_leukemia.make_leukemia_pipeline` for the number of
        training images.
    positive_classes : array-like of labels or None, default=None
        The classes that make the positive (disease) side of a binary
        question, e.g. ``["Early", "Pre", "Pro"]`` of a four-class model
        or ``["ALL"]`` of a binary one. Needed by a target sensitivity or
        specificity; with it the referral judges the binary decision.
    target_sensitivity : float in (0, 1] or None, default=None
        Sensitivity the threshold must keep on the held-back predictions.
    target_specificity : float in (0, 1] or None, default=None
        Specificity the threshold must keep; not with
        ``target_sensitivity``.
    calibration : {"isotonic", "sigmoid", "temperature"} or None, default=None
        How the probabilities are calibrated. Isotonic and sigmoid
        calibrate the positive class of a binary model, or each class
        one-vs-rest and normalise (as scikit-learn does); temperature
        scaling divides the log-probabilities by one fitted number, which
        changes no predicted class.
    refer_rate : float in [0, 1) or None, default=None
        Share of cases to refer: the cut is the uncertainty of the most
        uncertain ``refer_rate`` of the held-back cases.
    cv : int, cross-validation generator or iterable, default=5
        How the training data are split for the held-back predictions. An
        int gives :class:`~sklearn.model_selection.StratifiedKFold`, or
        :class:`~sklearn.model_selection.StratifiedGroupKFold` when ``fit``
        gets ``groups`` (no patient on both sides), unshuffled. A model
        file (:func:`~sklearn_leukemia.save_model`) holds an int only.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels.
    estimator_ : classifier
        ``estimator`` fitted on all the training data.
    calibrator_ : estimator or None
        Maps ``estimator_``'s probabilities to calibrated ones.
    positive_ : ndarray of bool, shape (n_classes,), or None
        Which of ``classes_`` make the positive side.
    threshold_ : float or None
        The decision threshold on the positive side's (calibrated)
        probability; None: the most probable class is predicted.
    refer_cut_ : float or None
        Cases with an uncertainty at or above it are referred.
    cv_results_ : dict
        What the held-back predictions gave: ``n_samples``, and where they
        apply ``threshold``, ``sensitivity`` and ``specificity`` at it,
        ``refer_cut``, ``referred`` (the share referred), ``error_kept`` and
        ``error_all`` (the error among the cases kept and among all; of the
        side called when there are ``positive_classes``).

    See Also
    --------
    sklearn.model_selection.TunedThresholdClassifierCV : Thresholds for any
        scoring.
    sklearn.calibration.CalibratedClassifierCV : Calibration, also by
        ensembles of the fold models.

    Notes
    -----
    Inside :func:`~sklearn.model_selection.cross_validate` or
    :class:`~sklearn.model_selection.GridSearchCV`, ``groups`` reach the
    outer split only. To keep a patient's images together in the held-back
    folds too, enable scikit-learn's metadata routing
    (``sklearn.set_config(enable_metadata_routing=True)``), request them
    with ``model.set_fit_request(groups=True)`` and pass
    ``params={"groups": groups}``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia import make_leukemia_pipeline
    >>> from sklearn_leukemia.datasets import make_blood_smear
    >>> from sklearn_leukemia.decision import ClinicalClassifier
    >>> X, y, _ = make_blood_smear(60, image_size=16, classes=("normal", "ALL"),
    ...                            random_state=0)
    >>> pipe = make_leukemia_pipeline(image_size=16, max_epochs=2, tta=None,
    ...                               module__width=4, random_state=0)
    >>> model = ClinicalClassifier(estimator=pipe, positive_classes=["ALL"],
    ...                            target_sensitivity=0.95, refer_rate=0.1,
    ...                            cv=3).fit(X, y)
    >>> bool(model.cv_results_["sensitivity"] >= 0.95)
    True
    >>> decision = model.decide(X[:4])
    >>> sorted(decision)
    ['positive', 'predicted', 'proba', 'refer', 'uncertainty']
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "positive_classes": ["array-like", None],
        "target_sensitivity": [Interval(Real, 0, 1, closed="right"), None],
        "target_specificity": [Interval(Real, 0, 1, closed="right"), None],
        "calibration": [StrOptions(set(CALIBRATION_METHODS)), None],
        "refer_rate": [Interval(Real, 0, 1, closed="left"), None],
        "cv": ["cv_object"],
    }

    def __init__(
        self,
        *,
        estimator=None,
        positive_classes=None,
        target_sensitivity=None,
        target_specificity=None,
        calibration=None,
        refer_rate=None,
        cv=5,
    ):
        self.estimator = estimator
        self.positive_classes = positive_classes
        self.target_sensitivity = target_sensitivity
        self.target_specificity = target_specificity
        self.calibration = calibration
        self.refer_rate = refer_rate
        self.cv = cv

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator
        if inner is None:
            from sklearn_leukemia import make_leukemia_pipeline

            inner = make_leukemia_pipeline()
        try:
            inner_tags = get_tags(inner)
        except Exception:  # noqa: BLE001 - tags must not fail on a bad value
            return tags
        tags.input_tags = inner_tags.input_tags
        tags.target_tags.required = True
        tags.classifier_tags.multi_label = False
        tags.non_deterministic = inner_tags.non_deterministic
        return tags

    # -- fit ----------------------------------------------------------------

    def _check_positive(self, classes) -> np.ndarray | None:
        if self.positive_classes is None:
            if self.target_sensitivity is not None or (
                self.target_specificity is not None
            ):
                raise ValueError(
                    "a target sensitivity or specificity needs the classes of "
                    "the positive (disease) side: give positive_classes, e.g. "
                    f"positive_classes=[{_plain(classes[-1])!r}]."
                )
            return None
        wanted = np.asarray(self.positive_classes, dtype=object).ravel().tolist()
        known = [_plain(c) for c in classes]
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise ValueError(
                f"positive_classes {unknown} are not among the classes {known}."
            )
        positive = np.array([c in wanted for c in known])
        if not positive.any():
            raise ValueError(
                "positive_classes is empty; name the classes of the positive "
                "(disease) side."
            )
        if positive.all():
            raise ValueError(
                f"positive_classes names every class {known}; the negative "
                "side needs at least one."
            )
        return positive

    def _cv(self, y, groups):
        if isinstance(self.cv, Integral):
            labels, counts = np.unique(y, return_counts=True)
            if groups is None and counts.min() < self.cv:
                raise ValueError(
                    f"cv={self.cv} holds back part of the training data for "
                    "the decision rules, but class "
                    f"{_plain(labels[counts.argmin()])!r} has only "
                    f"{counts.min()} samples; lower cv (--decision-cv on the "
                    "command line)."
                )
            if groups is not None:
                return StratifiedGroupKFold(self.cv)
            return StratifiedKFold(self.cv)
        return check_cv(self.cv, y, classifier=True)

    def _held_back(self, template, X, y, groups) -> np.ndarray:
        """Out-of-fold probabilities, columns in ``classes_`` order."""
        cv = self._cv(y, groups)
        proba = np.full((len(y), len(self.classes_)), np.nan)
        labels = [_plain(c) for c in self.classes_]
        for train, test in cv.split(np.zeros((len(y), 1)), y, groups):
            model = clone(template).fit(_safe_indexing(X, train), y[train])
            fold = model.predict_proba(_safe_indexing(X, test))
            proba[test] = align_proba(fold, [_plain(c) for c in model.classes_],
                                      labels)
        if np.isnan(proba).any():
            raise ValueError(
                "cv left some training samples out of every test fold; the "
                "decision rules need a held-back prediction for each (use a "
                "partition such as StratifiedKFold)."
            )
        return proba

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Learn the decision rules on held-back folds, then fit on everything.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            What ``estimator`` takes: image file paths, images, or patients.
        y : array-like of shape (n_samples,)
            Labels.
        groups : array-like of shape (n_samples,), default=None
            Patient of each sample: the held-back folds keep a patient's
            samples together.

        Returns
        -------
        self : ClinicalClassifier
        """
        if self.target_sensitivity is not None and (
            self.target_specificity is not None
        ):
            raise ValueError(
                "give target_sensitivity or target_specificity, not both: the "
                "threshold keeps one and makes the most of the other."
            )
        if isinstance(y, str) or not hasattr(y, "__len__"):
            raise TypeError(
                f"y must hold one label per sample, got {type(y).__name__}."
            )
        check_no_missing_labels(y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D; got shape {y.shape}.")
        if len(y) == 0:
            raise ValueError("y is empty: fit needs at least one sample.")
        if len(X) != len(y):
            raise ValueError(f"X holds {len(X)} samples but y {len(y)} labels.")
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != y.shape:
                raise ValueError(
                    f"groups must hold one patient per sample ({len(y)}); got "
                    f"shape {groups.shape}."
                )
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has one class ({_plain(self.classes_[0])!r}); a classifier "
                "needs two."
            )
        self.positive_ = self._check_positive(self.classes_)
        template = self.estimator
        if template is None:
            from sklearn_leukemia import make_leukemia_pipeline

            template = make_leukemia_pipeline(n_images=len(y))
        targets = (self.target_sensitivity, self.target_specificity)
        learns = (self.calibration is not None or self.refer_rate is not None
                  or any(t is not None for t in targets))
        self.calibrator_ = None
        self.threshold_ = None
        self.refer_cut_ = None
        self.cv_results_ = {"n_samples": int(len(y))}
        if learns:
            proba = self._held_back(template, X, y, groups)
            self._learn_rules(proba, y)
        self.estimator_ = clone(template).fit(X, y)
        return self

    def _learn_rules(self, raw: np.ndarray, y: np.ndarray) -> None:
        """Fit the calibrator, the threshold and the referral cut on held-back data."""
        if self.calibration is not None:
            self.calibrator_ = _ProbabilityCalibrator(method=self.calibration)
            self.calibrator_.fit(raw, y)
        proba = self._calibrated(raw)
        results = self.cv_results_
        if self.positive_ is not None:
            score = proba[:, self.positive_].sum(axis=1)
            truth = np.isin(y, self.classes_[self.positive_])
            if self.target_sensitivity is not None:
                self.threshold_ = threshold_for_sensitivity(
                    score, truth, self.target_sensitivity
                )
            elif self.target_specificity is not None:
                self.threshold_ = threshold_for_specificity(
                    score, truth, self.target_specificity
                )
            # What predict calls: the side at the threshold, or the side of
            # the most probable class.
            called = np.isin(self._labels(proba), self.classes_[self.positive_])
            results.update(
                threshold=self.threshold_,
                sensitivity=float(called[truth].mean()),
                specificity=float((~called[~truth]).mean()),
            )
        if self.refer_rate is not None:
            uncertainty = self._uncertainty(proba, raw)
            self.refer_cut_ = referral_cut(uncertainty, self.refer_rate)
            predicted = self._labels(proba)
            if self.threshold_ is None:
                wrong = predicted != y
            else:  # the uncertainty judges the side called
                sides = self.classes_[self.positive_]
                wrong = np.isin(predicted, sides) != np.isin(y, sides)
            kept = uncertainty < self.refer_cut_
            referred = float(1 - kept.mean())
            results.update(
                refer_cut=self.refer_cut_,
                referred=referred,
                error_all=float(wrong.mean()),
                error_kept=float(wrong[kept].mean()) if kept.any() else float("nan"),
            )
            if referred > 1.5 * self.refer_rate + 1 / len(y):
                warnings.warn(
                    f"refer_rate={self.refer_rate:g} asked for, but "
                    f"{referred:.1%} of the held-back cases tie at or above the "
                    "referral cut: the model's uncertainties take few values.",
                    UserWarning,
                    stacklevel=3,
                )

    # -- predict ------------------------------------------------------------

    def _labels(self, proba: np.ndarray) -> np.ndarray:
        """Return the decision: the side at the threshold, then its best class."""
        if self.threshold_ is None:
            return self.classes_[proba.argmax(axis=1)]
        called = proba[:, self.positive_].sum(axis=1) >= self.threshold_
        masked = np.where(called[:, None] == self.positive_[None, :], proba, -1.0)
        return self.classes_[masked.argmax(axis=1)]

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        return raw if self.calibrator_ is None else self.calibrator_.predict_proba(raw)

    def _uncertainty(self, proba: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Return the uncertainty of the call predict makes.

        Of the side at a threshold, else of the most probable class. Ties
        of calibrated values (isotonic calibration makes steps) are broken
        by the uncalibrated ones, which move the value by at most 1e-6.
        """
        positive = None if self.threshold_ is None else self.positive_
        calibrated = decision_uncertainty(proba, positive=positive,
                                          threshold=self.threshold_)
        if self.calibrator_ is None:
            return calibrated
        return calibrated + 1e-6 * decision_uncertainty(raw, positive=positive)

    def _raw_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        proba = self.estimator_.predict_proba(X)
        return align_proba(proba, [_plain(c) for c in self.estimator_.classes_],
                           [_plain(c) for c in self.classes_])

    def predict_proba(self, X) -> np.ndarray:
        """Return the (calibrated) class probabilities of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            What ``estimator`` takes.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._calibrated(self._raw_proba(X))

    def predict(self, X) -> np.ndarray:
        """Return the decision for each sample.

        With a threshold, the positive side is called where its probability
        reaches ``threshold_``, and the most probable class of the side
        called is returned; otherwise the most probable class.
        """
        return self._labels(self.predict_proba(X))

    def predict_uncertainty(self, X) -> np.ndarray:
        """Return how unsure each decision is, from 0 (certain) up.

        Of the side called at a threshold, else of the most probable class
        (:func:`decision_uncertainty`).
        """
        return self.decide(X).uncertainty

    def predict_referral(self, X) -> np.ndarray:
        """Return whether each case is referred to an expert.

        Raises
        ------
        AttributeError
            If the model was fitted without ``refer_rate``.
        """
        check_is_fitted(self, "estimator_")
        if self.refer_cut_ is None:
            raise AttributeError(
                "this model refers no cases: fit it with refer_rate=... to "
                "learn a referral cut."
            )
        return self.decide(X).refer

    def decide(self, X) -> Bunch:
        """Everything about each case from one pass of the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            What ``estimator`` takes.

        Returns
        -------
        decision : Bunch
            ``predicted`` (the labels of :meth:`predict`), ``proba``
            (:meth:`predict_proba`), ``positive`` (whether the positive side
            is called, or None without ``positive_classes``),
            ``uncertainty`` and ``refer`` (bool, or None without a referral
            cut).
        """
        raw = self._raw_proba(X)
        proba = self._calibrated(raw)
        predicted = self._labels(proba)
        positive = None
        if self.positive_ is not None:
            positive = np.isin(predicted, self.classes_[self.positive_])
        uncertainty = self._uncertainty(proba, raw)
        refer = None if self.refer_cut_ is None else uncertainty >= self.refer_cut_
        return Bunch(predicted=predicted, proba=proba, positive=positive,
                     uncertainty=uncertainty, refer=refer)
