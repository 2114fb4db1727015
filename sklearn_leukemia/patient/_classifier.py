"""PatientClassifier: one sample per patient, a collection of cells."""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from sklearn_leukemia._runtime import draw_seed
from sklearn_leukemia.patient._aggregation import (
    AGGREGATIONS,
    HAS_SECOND_STAGE,
    LEARNS_CELL_TYPES,
    feature_names,
    left_out_features,
    patient_features,
)
from sklearn_leukemia.utils._validation import align_proba, check_no_missing_labels

__all__ = ["PatientClassifier", "make_cell_pipeline"]

#: The cell model's recipe inside a patient model: a patient model fits one
#: cell model per inner fold and one on every cell, so each fit is made
#: cheaper than the defaults' (96 pixels, 150 epochs) by smaller images and
#: fewer epochs. The benchmarks page gives what it trades.
CELL_RECIPE = {"image_size": 64, "max_epochs": 20, "progressive_resizing": None,
               "augment": "erase"}


def make_cell_pipeline(*, n_images=None, random_state=None, **params):
    """Build the cell-level pipeline a :class:`PatientClassifier` fits by default.

    :func:`~sklearn_leukemia.make_leukemia_pipeline` with the cheaper
    recipe :data:`CELL_RECIPE` (64-pixel images, 20 epochs, flips and
    random erasing), so that the out-of-fold cell predictions of the second
    stage stay affordable on a laptop. The recipe is fixed, not chosen by
    the number of cells, so a cross-validation fold trains what the final
    fit trains.

    Parameters
    ----------
    n_images : int or None, default=None
        Cells of the training set.
    random_state : int, RandomState instance or None, default=None
        Seeds the pipeline.
    **params
        Override the recipe or pass further pipeline settings.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        Unfitted.

    Examples
    --------
    >>> from sklearn_leukemia.patient import make_cell_pipeline
    >>> pipe = make_cell_pipeline(max_epochs=2)
    >>> pipe.named_steps["classifier"].max_epochs
    2
    """
    from sklearn_leukemia.pipeline import make_leukemia_pipeline

    return make_leukemia_pipeline(
        n_images=n_images, random_state=random_state, **{**CELL_RECIPE, **params}
    )


def _is_image_array(value) -> bool:
    return isinstance(value, np.ndarray) and value.ndim >= 3


def _as_images(patient, i: int):
    """Stack a patient given as a list of images; return others unchanged."""
    if not (isinstance(patient, (list, tuple)) and patient and all(
        isinstance(c, np.ndarray) and c.ndim >= 2 for c in patient
    )):
        return patient
    shapes = {c.shape for c in patient}
    if len(shapes) > 1:
        raise ValueError(
            f"Patient {i}'s images have different shapes {sorted(shapes)}; "
            "resize them to one size, or pass file paths."
        )
    return np.stack(patient)


def _check_patients(X, min_cells: int):
    """Concatenate the cells of every patient; return them and the bounds."""
    if isinstance(X, (str, os.PathLike)) or (
        isinstance(X, np.ndarray) and X.dtype.kind in "biuf"
    ):
        raise TypeError(
            "X must be a sequence of patients, each a collection of cells (file "
            "paths, or an array of images of shape (n_cells, height, width[, "
            f"channels])); got {type(X).__name__}"
            f"{'' if not hasattr(X, 'shape') else ' of shape ' + str(X.shape)}. "
            "Group the cells by patient: load_patient_folder's patient_cells is "
            "such a sequence."
        )
    try:
        patients = list(X)
    except TypeError:
        raise TypeError(
            f"X must be a sequence of patients, got {type(X).__name__}."
        ) from None
    if not patients:
        raise ValueError("X holds no patient; at least one is needed.")
    patients = [_as_images(p, i) for i, p in enumerate(patients)]
    images = [_is_image_array(p) for p in patients]
    if any(images) and not all(images):
        first = images.index(not images[0])
        raise ValueError(
            f"Patients 0 and {first} hold cells of different kinds (file paths "
            "and image arrays); give every patient's cells the same way."
        )
    cells = []
    for i, patient in enumerate(patients):
        if images[i]:
            cells.append(patient)
            continue
        if isinstance(patient, (str, os.PathLike)):
            raise TypeError(
                f"Patient {i} is the single path {os.fspath(patient)!r}; each "
                "patient is a collection of cells, e.g. a list of file paths."
            )
        paths = np.asarray(
            [os.fspath(p) if isinstance(p, os.PathLike) else p for p in patient],
            dtype=object,
        )
        if paths.ndim != 1 or not all(isinstance(p, str) for p in paths):
            raise TypeError(
                f"Patient {i} holds {type(patient).__name__}; each patient's "
                "cells are file paths (str or os.PathLike) or an array of images "
                "of shape (n_cells, height, width[, channels])."
            )
        cells.append(paths.astype(str))
    sizes = np.array([len(c) for c in cells])
    few = np.flatnonzero(sizes < min_cells)
    if len(few):
        i = few[0]
        others = (
            f" ({len(few)} patients have fewer than {min_cells})"
            if len(few) > 1 else ""
        )
        raise ValueError(
            f"Patient {i} has {sizes[i]} cell{'s' if sizes[i] != 1 else ''}"
            f"{others}; "
            f"a patient's diagnosis needs at least min_cells={min_cells} cells "
            "(a call from one cell would be a cell's, and the contribution of "
            "a cell is measured by leaving it out)."
        )
    if all(images):
        shapes = {c.shape[1:] for c in cells}
        if len(shapes) > 1:
            raise ValueError(
                f"The patients' images have different shapes {sorted(shapes)}; "
                "resize them to one size, or pass file paths."
            )
        dtypes = {c.dtype.str for c in cells}
        if len(dtypes) > 1:
            raise ValueError(
                f"The patients' images have different dtypes {sorted(dtypes)}; "
                "give every patient's images one dtype (uint8 0-255, or float "
                "0-1), so that one intensity scale reads them all."
            )
    bounds = np.r_[0, np.cumsum(sizes)]
    return np.concatenate(cells), bounds


def _seed_all(estimator, rng: np.random.RandomState):
    """Give every ``random_state`` of ``estimator`` a seed drawn from ``rng``."""
    seeds = {
        key: int(rng.randint(2**31 - 1))
        for key in sorted(estimator.get_params(deep=True))
        if key == "random_state" or key.endswith("__random_state")
    }
    return estimator.set_params(**seeds)


class PatientClassifier(ClassifierMixin, BaseEstimator):
    """Diagnose patients from their cells: a cell model and an aggregation.

    A sample is a patient: ``X`` is a sequence of patients, each a
    collection of cells (file paths, or an array of images), and ``y`` holds
    one label per patient, so that ``cross_validate(model, patients,
    diagnosis, cv=StratifiedKFold(5))`` splits by patient by construction
    and :class:`~sklearn.model_selection.GridSearchCV` tunes it. Inside, a
    cell-level pipeline classifies every cell, and an aggregation turns each
    patient's cell predictions into the patient's prediction:

    - ``"mean"``: every cell is labelled with its patient's diagnosis, and a
      patient's probabilities are the mean of its cells' (DeepAPL's
      aggregation, a multiple-instance view);
    - ``"quantile"``: the same cell model; the mean and the 10th to 90th
      percentiles of the cells' probabilities feed a second-stage
      classifier;
    - ``"count"``: the cell model learns cell types (``cell_labels`` in
      ``fit``), and the differential count, the share of the patient's
      cells predicted as each type, feeds a second-stage classifier.

    A second stage learns from cell predictions made out of fold, as
    :class:`~sklearn.ensemble.StackingClassifier` does: the training
    patients are split by ``cv``, a cell model is fitted on the cells of
    all folds but one and predicts the cells of that one, and the
    second-stage classifier is fitted on the features these predictions
    give. Then the cell model is refitted on every cell.

    Parameters
    ----------
    cell_estimator : estimator or None, default=None
        The cell-level classifier (fit and predict_proba on a 1-D array of
        cells), cloned before fitting. None: :func:`make_cell_pipeline`, the
        library's pipeline with a cheaper recipe.
    aggregation : {"mean", "quantile", "count"}, default="mean"
        How a patient's cell predictions become its prediction (above).
    final_estimator : classifier or None, default=None
        The second stage of ``"quantile"`` and ``"count"`` (unused by
        ``"mean"``), cloned before fitting. None:
        ``LogisticRegression(class_weight="balanced", max_iter=1000)``.
    cv : int, cross-validation generator or iterable, default=3
        How the training patients are split for the out-of-fold cell
        predictions of a second stage. An int gives a shuffled
        :class:`~sklearn.model_selection.StratifiedKFold` seeded by
        ``random_state``. Unused by ``"mean"``.
    min_cells : int, default=2
        The fewest cells a patient may have, in fit and predict.
    random_state : int, RandomState instance or None, default=None
        Seeds the inner split and every ``random_state`` of the cell and
        final estimators. None takes a fresh seed, never the global one.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The patient labels.
    cell_classes_ : ndarray
        What the cell model predicts: the patient labels, or the cell types
        with ``aggregation="count"``.
    cell_estimator_ : estimator
        The cell model fitted on every training cell.
    final_estimator_ : classifier or None
        The fitted second stage (None with ``"mean"``).
    feature_names_ : ndarray of str
        The names of the patient features the aggregation builds.
    oof_features_ : ndarray of shape (n_patients, n_features) or None
        The training patients' features from out-of-fold cell predictions,
        which the second stage learned from (None with ``"mean"``).

    See Also
    --------
    sklearn_leukemia.datasets.load_patient_folder : Patients and their cells
        from a folder.

    Notes
    -----
    A cell's contribution (:meth:`cell_contributions`) is how much the
    patient's probability of the predicted diagnosis drops when that cell is
    left out: the cells with the largest contributions drove the call. A
    second stage is fitted on as many cell models as ``cv`` has folds, plus
    the final one; the cheaper default recipe pays for them.

    Examples
    --------
    >>> from sklearn_leukemia.datasets import make_blood_smear
    >>> from sklearn_leukemia.patient import PatientClassifier, make_cell_pipeline
    >>> X, y, groups = make_blood_smear(64, image_size=16, classes=("normal", "ALL"),
    ...                                 n_patients=8, random_state=0)
    >>> patients = [X[groups == g] for g in sorted(set(groups))]
    >>> diagnosis = [y[groups == g][0] for g in sorted(set(groups))]
    >>> cells = make_cell_pipeline(image_size=16, max_epochs=1, tta=None,
    ...                            module__width=4, batch_size=32)
    >>> model = PatientClassifier(cell_estimator=cells, random_state=0)
    >>> model = model.fit(patients, diagnosis)
    >>> model.predict_proba(patients).shape
    (8, 2)
    >>> contributions = model.cell_contributions(patients)
    >>> [len(c) == len(p) for c, p in zip(contributions, patients)][:3]
    [True, True, True]
    """

    _parameter_constraints: dict = {
        "cell_estimator": [HasMethods(["fit", "predict_proba"]), None],
        "aggregation": [StrOptions(set(AGGREGATIONS))],
        "final_estimator": [HasMethods(["fit", "predict_proba"]), None],
        "cv": ["cv_object"],
        "min_cells": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        cell_estimator=None,
        aggregation="mean",
        final_estimator=None,
        cv=3,
        min_cells=2,
        random_state=None,
    ):
        self.cell_estimator = cell_estimator
        self.aggregation = aggregation
        self.final_estimator = final_estimator
        self.cv = cv
        self.min_cells = min_cells
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.required = True
        tags.classifier_tags.multi_label = False
        tags.non_deterministic = False
        return tags

    # -- fit ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, cell_labels=None):
        """Fit the cell model and, for a second stage, its out-of-fold features.

        Parameters
        ----------
        X : sequence of shape (n_patients,)
            The patients, each a collection of cells: a 1-D sequence of
            image file paths, or an array of images ``(n_cells, height,
            width[, channels])``.
        y : array-like of shape (n_patients,)
            The label of each patient (e.g. its diagnosis).
        cell_labels : sequence of shape (n_patients,), default=None
            The cell type of each cell, patient by patient
            (``cell_labels[i]`` aligned with ``X[i]``). Needed by
            ``aggregation="count"``; the other aggregations label every cell
            with its patient's label and leave it unused, so that a grid
            search over aggregations can pass it to all.

        Returns
        -------
        self : PatientClassifier
            Fitted.
        """
        cells, bounds = _check_patients(X, self.min_cells)
        n_patients = len(bounds) - 1
        y = self._check_target(y, n_patients)
        sizes = np.diff(bounds)
        if LEARNS_CELL_TYPES[self.aggregation]:
            cell_y = self._check_cell_labels(cell_labels, sizes)
        else:
            cell_y = np.repeat(y, sizes)
        self.classes_ = np.unique(y)
        self.cell_classes_ = np.unique(cell_y)
        rng = np.random.RandomState(draw_seed(self.random_state))
        template = (
            make_cell_pipeline(n_images=len(cells))
            if self.cell_estimator is None
            else self.cell_estimator
        )
        columns = [str(c) for c in self.cell_classes_]
        self.feature_names_ = np.array(
            feature_names(self.aggregation, columns), dtype=object
        )
        self.final_estimator_ = None
        self.oof_features_ = None
        if HAS_SECOND_STAGE[self.aggregation]:
            scores = self._out_of_fold_scores(template, cells, cell_y, bounds, y, rng)
            features = np.stack([
                patient_features(self.aggregation, scores[a:b])
                for a, b in zip(bounds[:-1], bounds[1:])
            ])
            final = self.final_estimator
            if final is None:
                from sklearn.linear_model import LogisticRegression

                final = LogisticRegression(class_weight="balanced", max_iter=1000)
            self.final_estimator_ = _seed_all(clone(final), rng).fit(features, y)
            self.oof_features_ = features
        self.cell_estimator_ = _seed_all(clone(template), rng).fit(cells, cell_y)
        return self

    def _check_target(self, y, n_patients: int) -> np.ndarray:
        if isinstance(y, str) or not hasattr(y, "__len__"):
            raise TypeError(
                f"y must hold one label per patient, got {type(y).__name__}."
            )
        check_no_missing_labels(y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D, one label per patient; got shape {y.shape}."
            )
        if len(y) != n_patients:
            raise ValueError(
                f"X holds {n_patients} patients but y {len(y)} labels; one label "
                "per patient."
            )
        if len(np.unique(y)) < 2:
            only = y[0].item() if isinstance(y[0], np.generic) else y[0]
            raise ValueError(
                f"y has one class ({only!r}); a patient-level model needs "
                "patients of at least two labels."
            )
        return y

    def _check_cell_labels(self, cell_labels, sizes) -> np.ndarray:
        if cell_labels is None:
            raise ValueError(
                "aggregation='count' learns cell types: pass the cell type of "
                "each cell as fit(X, y, cell_labels=...), one sequence per "
                "patient (load_patient_folder's patient_cell_types)."
            )
        if isinstance(cell_labels, str) or len(cell_labels) != len(sizes):
            raise ValueError(
                f"cell_labels must hold one sequence of labels per patient "
                f"({len(sizes)}), got "
                f"{'a str' if isinstance(cell_labels, str) else len(cell_labels)}."
            )
        flat = []
        for i, (labels, size) in enumerate(zip(cell_labels, sizes)):
            labels = np.asarray(labels)
            if labels.ndim != 1 or len(labels) != size:
                raise ValueError(
                    f"cell_labels[{i}] holds {labels.size} labels for the "
                    f"{size} cells of patient {i}."
                )
            flat.append(labels)
        flat = np.concatenate(flat)
        check_no_missing_labels(flat, name="cell_labels")
        return flat

    def _inner_cv(self, rng, y):
        if isinstance(self.cv, Integral):
            labels, counts = np.unique(y, return_counts=True)
            if counts.min() < self.cv:
                rare = labels[np.argmin(counts)]
                rare = rare.item() if isinstance(rare, np.generic) else rare
                raise ValueError(
                    f"cv={self.cv} splits the training patients for the "
                    f"second stage, but only {counts.min()} patient(s) have the "
                    f"label {rare!r}; every inner training fold needs each "
                    "label. Lower cv, or use aggregation='mean' (no second "
                    "stage)."
                )
            return StratifiedKFold(
                self.cv, shuffle=True, random_state=int(rng.randint(2**31 - 1))
            )
        return check_cv(self.cv, classifier=True)

    def _out_of_fold_scores(self, template, cells, cell_y, bounds, y, rng):
        """Cell scores, each from a cell model that never saw its patient."""
        cv = self._inner_cv(rng, y)
        scores = np.zeros((len(cells), len(self.cell_classes_)))
        done = np.zeros(len(cells), dtype=bool)
        patient_of = np.repeat(np.arange(len(y)), np.diff(bounds))
        for train, test in cv.split(np.zeros((len(y), 1)), y):
            train_cells = np.isin(patient_of, train)
            test_cells = np.isin(patient_of, test)
            model = _seed_all(clone(template), rng)
            model.fit(cells[train_cells], cell_y[train_cells])
            scores[test_cells] = self._aligned(model, cells[test_cells])
            done |= test_cells
        if not done.all():
            raise ValueError(
                "cv left some training patients out of every test fold; the "
                "second stage needs an out-of-fold prediction for each patient "
                "(use a partition such as KFold)."
            )
        return scores

    def _aligned(self, model, cells) -> np.ndarray:
        """Return the model's probabilities in the columns of ``cell_classes_``."""
        return align_proba(model.predict_proba(cells), model.classes_,
                           self.cell_classes_)

    # -- predict -------------------------------------------------------------

    def _patient_outputs(self, X, *, contributions: bool):
        check_is_fitted(self)
        cells, bounds = _check_patients(X, self.min_cells)
        scores = self._aligned(self.cell_estimator_, cells)
        per_patient = [scores[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        features = np.stack(
            [patient_features(self.aggregation, s) for s in per_patient]
        )
        proba = self._proba(features)
        if not contributions:
            return proba, per_patient, None
        drops = []
        for s, p in zip(per_patient, proba):
            call = int(np.argmax(p))
            without = self._proba(left_out_features(self.aggregation, s))
            drops.append(p[call] - without[:, call])
        return proba, per_patient, drops

    def _proba(self, features: np.ndarray) -> np.ndarray:
        if self.final_estimator_ is None:
            return features / features.sum(axis=1, keepdims=True)
        proba = np.asarray(self.final_estimator_.predict_proba(features), float)
        if list(self.final_estimator_.classes_) != list(self.classes_):
            raise ValueError("The second stage's classes differ from classes_.")
        return proba

    def predict_proba(self, X) -> np.ndarray:
        """Return each patient's probability of each class.

        Parameters
        ----------
        X : sequence of shape (n_patients,)
            The patients, each a collection of cells.

        Returns
        -------
        proba : ndarray of shape (n_patients, n_classes)
            In the order of ``classes_``.
        """
        return self._patient_outputs(X, contributions=False)[0]

    def predict(self, X) -> np.ndarray:
        """Return each patient's most probable class.

        Parameters
        ----------
        X : sequence of shape (n_patients,)
            The patients, each a collection of cells.

        Returns
        -------
        y_pred : ndarray of shape (n_patients,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def cell_predict_proba(self, X) -> list[np.ndarray]:
        """Return the cell model's probabilities for each patient's cells.

        Parameters
        ----------
        X : sequence of shape (n_patients,)
            The patients, each a collection of cells.

        Returns
        -------
        scores : list of ndarray of shape (n_cells_i, n_cell_classes)
            One array per patient, columns in the order of
            ``cell_classes_``.
        """
        return self._patient_outputs(X, contributions=False)[1]

    def cell_contributions(self, X) -> list[np.ndarray]:
        """Return how much each cell drove its patient's call.

        A cell's contribution is the patient's probability of the predicted
        class minus that probability with the cell left out: positive for
        the cells that pushed towards the call. ``np.argsort(-c)[:5]`` gives
        the five cells that drove it most.

        Parameters
        ----------
        X : sequence of shape (n_patients,)
            The patients, each a collection of cells.

        Returns
        -------
        contributions : list of ndarray of shape (n_cells_i,)
            One array per patient, aligned with its cells.
        """
        return self._patient_outputs(X, contributions=True)[2]
