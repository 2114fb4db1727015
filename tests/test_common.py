"""Checks every public estimator of sklearn_leukemia must pass.

The estimators are found with :func:`sklearn_leukemia.utils.discovery.all_estimators`,
so a new one is covered without being listed here. Those whose tags say they
accept 2-D input run scikit-learn's own ``parametrize_with_checks``; the
image-only ones (``input_tags.two_d_array = False``) run the equivalent
checks below on 16x16 RGB uint8 images with binary labels, dispatched by
role: transformers (``transform``), samplers (``fit_resample``) and
classifiers (``predict``, ``predict_proba``).

To make a slow estimator fast enough for these checks, add its class name to
``CHECKING_PARAMETERS``; to have the "invalid parameter raises in fit" check
run on it, give one invalid value in ``INVALID_PARAMETERS``.
"""

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from sklearn_leukemia.utils import check_image_channels, check_images
from sklearn_leukemia.utils.discovery import all_estimators

# Parameters that make an estimator fast on tiny data, by class name, as
# scikit-learn's ``_set_checking_parameters`` does.
CHECKING_PARAMETERS = {
    "SECNNClassifier": {"max_epochs": 1, "batch_size": 8, "module__width": 4},
    "PatientClassifier": {
        "cell_estimator": lambda: __import__(
            "sklearn_leukemia.patient", fromlist=["make_cell_pipeline"]
        ).make_cell_pipeline(image_size=8, max_epochs=1, tta=None,
                             module__width=4, batch_size=8),
    },
    # Its held-back folds and calibrator run in the checks.
    "ClinicalClassifier": {
        "estimator": lambda: __import__(
            "sklearn_leukemia", fromlist=["SECNNClassifier"]
        ).SECNNClassifier(max_epochs=1, batch_size=8, module__width=4),
        "calibration": "isotonic",
        "cv": 2,
    },
}

# Estimators whose sample is a patient (a collection of cells), checked on
# patients of 16x16 RGB cells rather than on images.
PATIENT_ESTIMATORS = {"PatientClassifier"}

# One invalid parameter value per estimator: accepted by __init__, rejected by
# fit with a ValueError or TypeError.
INVALID_PARAMETERS = {
    "ContrastAdjuster": {"method": "equalize"},
    "ImageAugmenter": {"n_copies": -1},
    "ImageDenoiser": {"method": "wiener"},
    "ImageReader": {"on_error": "ignore"},
    "ImageResizer": {"mode": "fit"},
    "IntensityNormalizer": {"method": "minmax"},
    "SECNNClassifier": {"architecture": "no-such-architecture"},
    "PatientClassifier": {"aggregation": "max"},
    "ClinicalClassifier": {"calibration": "platt"},
}

# Settings that change what fit or transform does, checked as estimators of
# their own besides the defaults.
EXTRA_SETTINGS = {
    "ImageReader": [{"image_size": 12}],
    "SECNNClassifier": [{"progressive_resizing": 0.5, "ema": 0.5, "mixup": 0.2}],
}

# scikit-learn's checks that need no data, run on every image estimator as
# they are; the failures scikit-learn expects, by (class name, check name).
SKLEARN_CHECKS = (
    "check_no_attributes_set_in_init",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
)
EXPECTED_FAILURES = {
    ("SECNNClassifier", "check_no_attributes_set_in_init"): (
        "skorch.NeuralNet.__init__ sets history_, initialized_ and "
        "virtual_params_, and its __setattr__ tells construction from later "
        "assignments by whether initialized_ exists yet: removing them would "
        "change how skorch registers modules set after construction"
    ),
}

N_SAMPLES = 12


# Estimators the checks here cannot construct, and where they are checked.
CHECKED_ELSEWHERE = {
    # skorch's AccelerateMixin takes the accelerator as a parameter without
    # a default, and its state beside the classifier's.
    "AcceleratedSECNNClassifier": "tests/test_accelerated.py",
}


def _construct(cls):
    estimator = cls()
    params = CHECKING_PARAMETERS.get(cls.__name__, {})
    estimator.set_params(**{k: v() if callable(v) else v for k, v in params.items()})
    return estimator


def _role(estimator):
    if type(estimator).__name__ in PATIENT_ESTIMATORS:
        return "patient"
    if hasattr(estimator, "fit_resample"):
        return "sampler"
    if hasattr(estimator, "predict"):
        return "classifier"
    if hasattr(estimator, "transform"):
        return "transformer"
    return None


def _data(estimator=None):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (N_SAMPLES, 16, 16, 3), dtype=np.uint8)
    y = np.arange(N_SAMPLES) % 2
    if estimator is not None and _role(estimator) == "patient":
        # Six patients of two cells each, in an object array that indexes,
        # slices and shuffles like the images do.
        patients = np.empty(N_SAMPLES // 2, dtype=object)
        for i in range(len(patients)):
            patients[i] = X[2 * i: 2 * i + 2]
        return patients, y[: len(patients)]
    return X, y


def _copy(X):
    if X.dtype == object:
        return np.array([None] + [x.copy() for x in X], dtype=object)[1:]
    return X.copy()


def _assert_same_input(a, b):
    assert len(a) == len(b)
    if a.dtype == object:
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def _outputs(estimator, X):
    """What a fitted transformer or classifier returns for X, as a list."""
    if _role(estimator) == "transformer":
        return [estimator.transform(X)]
    outputs = [estimator.predict(X)]
    if hasattr(estimator, "predict_proba"):
        outputs.append(estimator.predict_proba(X))
    return outputs


def _fit_outputs(estimator, X, y):
    """Fit, then the outputs; for a sampler, what ``fit_resample`` returns."""
    if _role(estimator) == "sampler":
        return list(estimator.fit_resample(X, y))
    return _outputs(estimator.fit(X, y), X)


def _assert_same_outputs(first, second, role):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        if role in ("classifier", "patient") and np.issubdtype(
            np.asarray(a).dtype, np.floating
        ):
            # Network outputs may differ in the last bits between batchings.
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)


def _same_param(a, b):
    if a is b:
        return True
    if hasattr(a, "get_params") and not isinstance(a, type):
        # An estimator parameter is cloned: the same class and parameters.
        pa, pb = a.get_params(deep=False), b.get_params(deep=False)
        return type(a) is type(b) and pa.keys() == pb.keys() and all(
            _same_param(pa[k], pb[k]) for k in pa
        )
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(_same_param(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return type(a) is type(b) and a == b


# --- the checks --------------------------------------------------------------


def check_get_set_params_round_trip(estimator):
    params = estimator.get_params(deep=False)
    cloned = clone(estimator).get_params(deep=False)
    assert cloned.keys() == params.keys()
    for name, value in params.items():
        assert _same_param(cloned[name], value), name
    assert estimator.set_params(**params) is estimator
    again = estimator.get_params(deep=False)
    assert all(_same_param(again[name], params[name]) for name in params)


def check_init_stores_params_unchanged(estimator):
    cls = type(estimator)
    signature = inspect.signature(cls.__init__)
    names = []
    for name, param in list(signature.parameters.items())[1:]:
        if param.kind == param.VAR_KEYWORD:
            continue
        assert param.kind == param.KEYWORD_ONLY, (
            f"{cls.__name__}.__init__ parameter {name!r} must be keyword-only"
        )
        names.append(name)
    # No validation in __init__: any value is stored as it is.
    for name in names:
        sentinel = object()
        assert getattr(cls(**{name: sentinel}), name) is sentinel, name


def check_parameter_table(estimator):
    # Validation from scikit-learn's table: every parameter has its entry.
    cls = type(estimator)
    signature = inspect.signature(cls.__init__)
    names = {
        name for name, param in list(signature.parameters.items())[1:]
        if param.kind != param.VAR_KEYWORD
    }
    assert set(cls._parameter_constraints) == names


def check_invalid_param_raises_in_fit_not_init(estimator):
    name = type(estimator).__name__
    if name not in INVALID_PARAMETERS:
        pytest.skip(f"no invalid value for {name} in INVALID_PARAMETERS")
    X, y = _data(estimator)
    estimator = clone(estimator).set_params(**INVALID_PARAMETERS[name])
    with pytest.raises((ValueError, TypeError)):
        _fit_outputs(estimator, X, y)


def check_fit_returns_self(estimator):
    X, y = _data(estimator)
    assert estimator.fit(X, y) is estimator


def check_fitted_state(estimator):
    X, y = _data(estimator)
    role = _role(estimator)
    if role == "sampler":
        estimator.fit_resample(X, y)
        check_is_fitted(estimator)
        return
    if get_tags(estimator).requires_fit:
        with pytest.raises(NotFittedError):
            check_is_fitted(estimator)
        with pytest.raises(NotFittedError):
            _outputs(estimator, X)
        estimator.fit(X, y)
        check_is_fitted(estimator)
    else:
        # Stateless: usable without fit, and fit changes nothing.
        before = _outputs(estimator, X)
        _assert_same_outputs(before, _outputs(estimator.fit(X, y), X), role)


def check_pickle_round_trip(estimator):
    X, y = _data(estimator)
    role = _role(estimator)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=0)
    first = _fit_outputs(estimator, X, y)
    restored = pickle.loads(pickle.dumps(estimator))
    if role == "sampler":
        second = restored.fit_resample(X, y)
    else:
        second = _outputs(restored, X)
    _assert_same_outputs(first, second, role)


def check_input_not_mutated(estimator):
    X, y = _data(estimator)
    X_before, y_before = _copy(X), y.copy()
    _fit_outputs(estimator, X, y)
    if _role(estimator) != "sampler":
        _outputs(estimator, X)
    _assert_same_input(X, X_before)
    np.testing.assert_array_equal(y, y_before)


def check_sample_count_and_order_kept(estimator):
    X, y = _data(estimator)
    role = _role(estimator)
    estimator.fit(X, y)
    # A shuffle rather than a reversal, which would hide a reversal bug.
    order = np.random.default_rng(1).permutation(len(X))
    outputs = _outputs(estimator, X)
    for out in outputs:
        assert len(out) == len(X)
    shuffled = _outputs(estimator, X[order])
    _assert_same_outputs([out[order] for out in outputs], shuffled, role)


def check_output_shapes(estimator):
    X, y = _data(estimator)
    role = _role(estimator)
    if role == "sampler":
        X_res, y_res = estimator.fit_resample(X, y)
        assert len(X_res) == len(y_res)
        assert X_res.shape[1:] == X.shape[1:]
        assert set(np.unique(y_res)) <= set(np.unique(y))
    elif role in ("classifier", "patient"):
        estimator.fit(X, y)
        np.testing.assert_array_equal(estimator.classes_, [0, 1])
        predicted = estimator.predict(X)
        assert predicted.shape == (len(X),)
        assert set(np.unique(predicted)) <= {0, 1}
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(X)
            assert proba.shape == (len(X), 2)
            np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    else:
        assert len(estimator.fit(X, y).transform(X)) == len(X)


def check_random_state_reproducible(estimator):
    if "random_state" not in estimator.get_params():
        pytest.skip("no random_state parameter")
    X, y = _data(estimator)
    first = _fit_outputs(clone(estimator).set_params(random_state=0), X, y)
    second = _fit_outputs(clone(estimator).set_params(random_state=0), X, y)
    _assert_same_outputs(first, second, _role(estimator))


def check_channel_mismatch_raises(estimator):
    if _role(estimator) == "sampler":
        pytest.skip("a sampler is refitted by every fit_resample")
    if get_tags(estimator).input_tags.string:
        pytest.skip("reads files: arrays of any layout pass through")
    X, y = _data()
    estimator.fit(X, y)
    with pytest.raises(ValueError, match="channel"):
        _outputs(estimator, X[..., 0])


def check_nan_and_inf_raise(estimator):
    if get_tags(estimator).input_tags.allow_nan:
        pytest.skip("accepts NaN")
    X, y = _data()
    for bad in (np.nan, np.inf):
        X_bad = X.astype(np.float32) / 255
        X_bad[1, 2, 3, 0] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            _fit_outputs(clone(estimator), X_bad, y)


def check_empty_input_raises(estimator):
    X, y = _data(estimator)
    with pytest.raises(ValueError):
        _fit_outputs(estimator, X[:0], y[:0])


def check_wrong_ndim_raises(estimator):
    X, y = _data()
    for X_bad in (X.reshape(len(X), -1), X[..., np.newaxis]):
        with pytest.raises(ValueError, match="dimension"):
            _fit_outputs(clone(estimator), X_bad, y)


def check_image_tags(estimator):
    tags = get_tags(estimator)
    assert tags.input_tags.two_d_array is False
    assert tags.input_tags.three_d_array is True


def check_repr(estimator):
    text = repr(estimator)
    assert text.startswith(type(estimator).__name__ + "(")


CHECKS = {
    "transformer": [
        check_get_set_params_round_trip,
        check_init_stores_params_unchanged,
        check_parameter_table,
        check_invalid_param_raises_in_fit_not_init,
        check_fit_returns_self,
        check_fitted_state,
        check_pickle_round_trip,
        check_input_not_mutated,
        check_sample_count_and_order_kept,
        check_output_shapes,
        check_random_state_reproducible,
        check_channel_mismatch_raises,
        check_nan_and_inf_raise,
        check_empty_input_raises,
        check_wrong_ndim_raises,
        check_image_tags,
        check_repr,
    ],
}
CHECKS["classifier"] = CHECKS["transformer"]
# Checks of image input (channels, NaN, dimensions, image tags) do not apply
# to patients; PatientClassifier's own tests check its input.
CHECKS["patient"] = [
    check
    for check in CHECKS["transformer"]
    if check not in (check_channel_mismatch_raises, check_nan_and_inf_raise,
                     check_wrong_ndim_raises, check_image_tags)
]
CHECKS["sampler"] = [
    check
    for check in CHECKS["transformer"]
    if check is not check_sample_count_and_order_kept
]


def _split_estimators():
    tabular, image = [], []
    for _, cls in all_estimators():
        if cls.__name__ in CHECKED_ELSEWHERE:
            continue
        settings = [{}, *EXTRA_SETTINGS.get(cls.__name__, [])]
        for params in settings:
            estimator = _construct(cls).set_params(**params)
            if get_tags(estimator).input_tags.two_d_array:
                tabular.append(estimator)
            elif _role(estimator) is not None:
                image.append(estimator)
    return tabular, image


def _name(estimator):
    """The class name, with the settings of ``EXTRA_SETTINGS`` it has."""
    name = type(estimator).__name__
    for params in EXTRA_SETTINGS.get(name, []):
        if all(_same_param(getattr(estimator, k), v) for k, v in params.items()):
            name += "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")"
    return name


TABULAR_ESTIMATORS, IMAGE_ESTIMATORS = _split_estimators()


def _image_checks():
    for estimator in IMAGE_ESTIMATORS:
        for check in CHECKS[_role(estimator)]:
            yield pytest.param(
                estimator,
                check,
                id=f"{_name(estimator)}-{check.__name__}",
            )


def test_estimators_are_discovered():
    names = {type(estimator).__name__ for estimator in IMAGE_ESTIMATORS}
    assert {
        "ContrastAdjuster",
        "ImageDenoiser",
        "ImageReader",
        "ImageResizer",
        "IntensityNormalizer",
    } <= names


@pytest.mark.parametrize("estimator, check", list(_image_checks()))
def test_image_estimator(estimator, check):
    check(clone(estimator))


def _sklearn_checks():
    from sklearn.utils import estimator_checks

    for estimator in IMAGE_ESTIMATORS:
        name = type(estimator).__name__
        if _name(estimator) != name:
            continue  # the settings of EXTRA_SETTINGS change nothing here
        for check_name in SKLEARN_CHECKS:
            reason = EXPECTED_FAILURES.get((name, check_name))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(
                estimator,
                getattr(estimator_checks, check_name),
                id=f"{name}-{check_name}",
                marks=marks,
            )


@pytest.mark.parametrize("estimator, check", list(_sklearn_checks()))
def test_image_estimator_sklearn_check(estimator, check):
    check(type(estimator).__name__, clone(estimator))


@parametrize_with_checks(TABULAR_ESTIMATORS)
def test_tabular_estimator(estimator, check):
    check(estimator)


# --- the checks can fail -------------------------------------------------------


class _Brightener(TransformerMixin, BaseEstimator):
    """A minimal image transformer that follows the rules."""

    _parameter_constraints = {"gain": [float], "random_state": ["random_state"]}

    def __init__(self, *, gain=2.0, random_state=None):
        self.gain = gain
        self.random_state = random_state

    def fit(self, X, y=None):
        self._validate_params()
        X = check_images(X, estimator=self)
        check_image_channels(self, X, reset=True)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = check_images(X, estimator=self)
        check_image_channels(self, X, reset=False)
        noise = np.random.default_rng(self.random_state).normal(size=X.shape[1:])
        return X * self.gain + noise

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class _ValidatesInInit(_Brightener):
    def __init__(self, *, gain=2.0, random_state=None):
        if not isinstance(gain, float):
            raise TypeError("gain")
        super().__init__(gain=gain, random_state=random_state)


class _MutatesInput(_Brightener):
    def fit(self, X, y=None):
        X[0] = 0
        return super().fit(X, y)


class _Reorders(_Brightener):
    def transform(self, X):
        return super().transform(X)[::-1]


class _IgnoresChannels(_Brightener):
    def transform(self, X):
        check_is_fitted(self)
        return np.asarray(X) * self.gain


class _AcceptsNaN(_Brightener):
    def fit(self, X, y=None):
        self.n_channels_in_ = np.shape(X)[-1]
        return self

    def transform(self, X):
        return np.asarray(X) * self.gain


class _NotReproducible(_Brightener):
    def transform(self, X):
        return super().transform(X) + np.random.default_rng().normal()


class _TableMissesAParameter(_Brightener):
    _parameter_constraints = {"gain": [float]}


class _LosesParamsInPickle(_Brightener):
    def __setstate__(self, state):
        super().__setstate__(state)
        self.gain = 1.0


def test_checks_pass_on_a_correct_estimator(monkeypatch):
    monkeypatch.setitem(INVALID_PARAMETERS, "_Brightener", {"gain": "high"})
    for check in CHECKS["transformer"]:
        check(_Brightener(random_state=0))


@pytest.mark.parametrize(
    "broken, check",
    [
        (_ValidatesInInit, check_init_stores_params_unchanged),
        (_TableMissesAParameter, check_parameter_table),
        (_MutatesInput, check_input_not_mutated),
        (_Reorders, check_sample_count_and_order_kept),
        (_IgnoresChannels, check_channel_mismatch_raises),
        (_AcceptsNaN, check_nan_and_inf_raise),
        (_NotReproducible, check_random_state_reproducible),
        (_LosesParamsInPickle, check_pickle_round_trip),
    ],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_checks_catch_broken_estimators(broken, check):
    with pytest.raises((AssertionError, pytest.fail.Exception, TypeError)):
        check(broken(random_state=0))
