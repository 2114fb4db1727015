import hashlib
import pickle

import numpy as np
import pytest
from imblearn.base import is_sampler
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from sklearn_leukemia.augmentation import AugmentationPolicy, ImageAugmenter


def digest(X):
    return hashlib.sha1(np.ascontiguousarray(X).tobytes()).hexdigest()


class Spy(ClassifierMixin, BaseEstimator):
    """Records what each method sees; class-level because search clones it."""

    records: list = []

    def _record(self, method, X):
        Spy.records.append((method, len(X), digest(X)))

    def fit(self, X, y):
        self._record("fit", X)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        self._record("predict", X)
        return np.full(len(X), self.classes_[0])

    def predict_proba(self, X):
        self._record("predict_proba", X)
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    def score(self, X, y):
        self._record("score", X)
        return float(np.mean(self.predict(X) == y))

    def transform(self, X):
        self._record("transform", X)
        return np.asarray(X).reshape(len(X), -1)


@pytest.fixture(autouse=True)
def _clear_records():
    Spy.records.clear()
    yield
    Spy.records.clear()


@pytest.fixture
def data(rng):
    X = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    y = np.array([0] * 8 + [1] * 4)
    return X, y


def test_fit_resample_adds_copies_after_the_originals(data):
    X, y = data
    augmenter = ImageAugmenter(n_copies=2, random_state=0)
    X_res, y_res = augmenter.fit_resample(X, y)
    assert X_res.shape == (36, 16, 16, 3) and X_res.dtype == np.uint8
    np.testing.assert_array_equal(X_res[:12], X)
    np.testing.assert_array_equal(augmenter.sample_indices_, np.tile(np.arange(12), 3))
    np.testing.assert_array_equal(y_res, np.tile(y, 3))
    for copy in (X_res[12:24], X_res[24:]):
        assert not np.array_equal(copy, X)
    assert not np.array_equal(X_res[12:24], X_res[24:])
    assert augmenter.n_channels_in_ == 3
    assert augmenter.value_range_ == (0.0, 255.0)
    assert isinstance(augmenter.policy_, AugmentationPolicy)


def test_copies_follow_the_policy(rng):
    X = rng.random((4, 10, 10))
    policy = AugmentationPolicy(
        rotation=None,
        horizontal_flip=False,
        vertical_flip=False,
        zoom=None,
        shift=None,
        shear=None,
        brightness=(0.05, 0.05),
        contrast=None,
    )
    X_res, _ = ImageAugmenter(policy=policy, value_range=(-1, 1)).fit_resample(
        X, np.arange(4)
    )
    np.testing.assert_allclose(X_res[4:], np.minimum(X + 0.1, 1))  # clipped to hi
    assert X_res.dtype == X.dtype


def test_copies_can_have_a_rectangle_erased(data):
    X, y = data
    policy = AugmentationPolicy.preset("flips")
    augmenter = ImageAugmenter(policy=policy, n_copies=1, random_state=0)
    augmenter.set_params(policy__erase=(0.2, 0.2), policy__erase_probability=1)
    X_res, _ = augmenter.fit_resample(X, y)
    plain = ImageAugmenter(policy=AugmentationPolicy.preset("flips"), n_copies=1,
                           random_state=0).fit_resample(X, y)[0]
    # Same flips, and in each copy about a fifth of the pixels painted over.
    changed = np.any(X_res[12:] != plain[12:], axis=-1).mean(axis=(1, 2))
    assert np.all((changed > 0.1) & (changed <= 0.25))
    np.testing.assert_array_equal(X_res[:12], X)


def test_no_copies_returns_the_input(data):
    X, y = data
    augmenter = ImageAugmenter(n_copies=0)
    X_res, y_res = augmenter.fit_resample(X, y)
    assert X_res is X
    np.testing.assert_array_equal(y_res, y)
    np.testing.assert_array_equal(augmenter.sample_indices_, np.arange(12))


@pytest.mark.parametrize("n_copies", [0, 1, 2])
def test_balance_oversamples_minority_with_its_own_images(data, n_copies):
    X, y = data
    labels = np.array(["normal", "blast"])[y]
    augmenter = ImageAugmenter(n_copies=n_copies, balance=True, random_state=0)
    X_res, y_res = augmenter.fit_resample(X, labels)
    values, counts = np.unique(y_res, return_counts=True)
    assert list(values) == ["blast", "normal"]
    assert list(counts) == [8 * (1 + n_copies)] * 2
    assert len(X_res) == len(y_res) == 16 * (1 + n_copies)
    indices = augmenter.sample_indices_
    np.testing.assert_array_equal(y_res, labels[indices])
    extra = indices[12 * (1 + n_copies) :]
    assert set(extra) <= set(np.flatnonzero(y == 1))
    # Every minority image is used about as often as the others.
    uses = np.bincount(extra, minlength=12)[y == 1]
    assert uses.max() - uses.min() <= 1


def test_balance_with_three_classes(rng):
    X = rng.random((9, 8, 8))
    y = np.array([0] * 5 + [1] * 3 + [2])
    _, y_res = ImageAugmenter(n_copies=0, balance=True, random_state=0).fit_resample(
        X, y
    )
    np.testing.assert_array_equal(np.bincount(y_res), [5, 5, 5])


def test_float_and_grayscale_images(rng):
    X = rng.uniform(-1, 1, size=(5, 12, 12)).astype(np.float32)
    augmenter = ImageAugmenter(random_state=0)
    X_res, _ = augmenter.fit_resample(X, np.arange(5))
    assert X_res.dtype == np.float32 and X_res.shape == (10, 12, 12)
    assert augmenter.n_channels_in_ == 1
    assert augmenter.value_range_ == (float(X.min()), float(X.max()))
    assert X_res.min() >= X.min() and X_res.max() <= X.max()


def test_input_is_not_mutated(data):
    X, y = data
    X_before, y_before = X.copy(), y.copy()
    ImageAugmenter(n_copies=2, balance=True, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


def test_random_state(data):
    X, y = data
    first, _ = ImageAugmenter(random_state=0).fit_resample(X, y)
    again, _ = ImageAugmenter(random_state=0).fit_resample(X, y)
    other, _ = ImageAugmenter(random_state=1).fit_resample(X, y)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_fit_returns_self_and_check_is_fitted(data):
    augmenter = ImageAugmenter()
    with pytest.raises(NotFittedError):
        check_is_fitted(augmenter)
    assert augmenter.fit(*data) is augmenter
    check_is_fitted(augmenter)
    assert augmenter.n_channels_in_ == 3


def test_clone_params_and_pickle(data):
    X, y = data
    augmenter = ImageAugmenter(
        policy=AugmentationPolicy(zoom=0.1), n_copies=2, random_state=3
    )
    params = augmenter.get_params()
    assert params["n_copies"] == 2 and params["policy__zoom"] == 0.1
    augmenter.set_params(policy__zoom=0.3, n_copies=1)
    assert augmenter.policy.zoom == 0.3 and augmenter.n_copies == 1
    expected, _ = augmenter.fit_resample(X, y)
    copy = clone(augmenter)
    assert not hasattr(copy, "sample_indices_")
    assert copy.get_params()["policy__zoom"] == 0.3
    np.testing.assert_array_equal(copy.fit_resample(X, y)[0], expected)
    restored = pickle.loads(pickle.dumps(augmenter))
    np.testing.assert_array_equal(restored.sample_indices_, augmenter.sample_indices_)
    np.testing.assert_array_equal(restored.fit_resample(X, y)[0], expected)


def test_is_a_sampler_and_not_a_transformer():
    augmenter = ImageAugmenter()
    assert is_sampler(augmenter)
    tags = get_tags(augmenter)
    assert tags.sampler_tags.sample_indices
    assert tags.target_tags.required
    assert tags.input_tags.three_d_array and not tags.input_tags.two_d_array
    assert not hasattr(augmenter, "transform")


@pytest.mark.parametrize(
    "X_fn, y_fn, error, message",
    [
        (lambda X: X.astype(float) * np.nan, lambda y: y, ValueError, "NaN"),
        (lambda X: np.where(X > 0, np.inf, 0.0), lambda y: y, ValueError, "NaN"),
        (lambda X: X.reshape(12, -1), lambda y: y, ValueError, "2 dimension"),
        (lambda X: X[:0], lambda y: y[:0], ValueError, "0 image"),
        (lambda X: X, lambda y: y[:10], ValueError, "12 images but y has 10"),
        (lambda X: X, lambda y: y[:, None], ValueError, "1-D array of labels"),
        (lambda X: X, lambda y: None, ValueError, "requires y"),
        (lambda X: X.astype(bool), lambda y: y, ValueError, "dtype bool"),
    ],
)
def test_bad_data_raises(data, X_fn, y_fn, error, message):
    X, y = data
    with pytest.raises(error, match=message):
        ImageAugmenter().fit_resample(X_fn(X), y_fn(y))


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"n_copies": -1}, ValueError, "'n_copies' parameter.*Got -1"),
        ({"n_copies": 1.5}, ValueError, "'n_copies' parameter.*Got 1.5"),
        ({"balance": "yes"}, ValueError, "'balance' parameter.*Got 'yes'"),
        ({"policy": {"zoom": 0.1}}, TypeError, "'policy' parameter.*Policy"),
        ({"policy": AugmentationPolicy(fill="wrap")}, ValueError, "fill='wrap'"),
        ({"policy": AugmentationPolicy(zoom=(0, 1))}, ValueError, "zoom="),
        ({"policy": AugmentationPolicy(zoom=(1.2, 0.9))}, ValueError, "min 1.2 > max"),
        ({"value_range": (255, 0)}, ValueError, "value_range="),
    ],
)
def test_bad_parameters_raise_at_fit(data, params, error, message):
    augmenter = ImageAugmenter(**params)  # __init__ only stores
    with pytest.raises(error, match=message):
        augmenter.fit_resample(*data)
    with pytest.raises(error, match=message):
        augmenter.fit(*data)


def test_balance_needs_class_labels(data):
    X, _ = data
    with pytest.raises(ValueError, match="Unknown label type"):
        ImageAugmenter(balance=True).fit_resample(X, np.linspace(0, 1, 12))


# Augmentation never runs at predict, predict_proba, score or transform time.


def make_pipeline(n_copies=2):
    return Pipeline(
        [("augment", ImageAugmenter(n_copies=n_copies, random_state=0)), ("spy", Spy())]
    )


def test_pipeline_augments_in_fit_only(data):
    X, y = data
    pipe = make_pipeline(n_copies=2).fit(X, y)
    assert Spy.records == [("fit", 36, Spy.records[0][2])]
    assert Spy.records[0][2] != digest(X)
    Spy.records.clear()
    pipe.predict(X)
    pipe.predict_proba(X)
    pipe.transform(X)
    pipe.score(X, y)
    seen = {(method, n, h) for method, n, h in Spy.records}
    expected = {
        (method, 12, digest(X))
        for method in ("predict", "predict_proba", "transform", "score")
    }
    assert seen == expected


def test_cross_validate_augments_training_folds_only(data):
    X, y = data
    cv = KFold(3, shuffle=True, random_state=0)
    cross_validate(
        make_pipeline(n_copies=2),
        X,
        y,
        cv=cv,
        scoring={"accuracy": "accuracy", "log_loss": "neg_log_loss"},
        n_jobs=1,
    )
    test_digests = {digest(X[test]) for _, test in cv.split(X, y)}
    fits = [r for r in Spy.records if r[0] == "fit"]
    others = [r for r in Spy.records if r[0] != "fit"]
    assert [n for _, n, _ in fits] == [8 * 3] * 3
    assert {method for method, _, _ in others} == {"predict", "predict_proba"}
    assert all(n == 4 for _, n, _ in others)
    assert {h for _, _, h in others} == test_digests


def test_grid_search_augments_training_folds_only(data):
    X, y = data
    cv = KFold(3)
    search = GridSearchCV(
        Pipeline(
            [
                (
                    "augment",
                    ImageAugmenter(policy=AugmentationPolicy(), random_state=0),
                ),
                ("spy", Spy()),
            ]
        ),
        {"augment__n_copies": [1, 2], "augment__policy__zoom": [0.1, 0.2]},
        cv=cv,
        n_jobs=1,
    ).fit(X, y)
    fits = [n for method, n, _ in Spy.records if method == "fit"]
    # 4 candidates x 3 folds of 8 training images, then the refit on all 12.
    assert sorted(fits[:-1]) == [16] * 6 + [24] * 6
    best = search.best_params_["augment__n_copies"]
    assert fits[-1] == 12 * (1 + best)
    scores = [(n, h) for method, n, h in Spy.records if method == "score"]
    assert len(scores) == 12
    assert {n for n, _ in scores} == {4}
    assert {h for _, h in scores} == {digest(X[test]) for _, test in cv.split(X)}
    Spy.records.clear()
    search.predict(X)
    assert Spy.records == [("predict", 12, digest(X))]


def test_a_missing_label_is_named_by_its_position():
    X = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"y has a missing label \(None\) at "
                       "position 0"):
        ImageAugmenter(n_copies=1).fit_resample(X, [None, "a", "b"])
