import io
import pickle
import signal
import warnings

import joblib
import numpy as np
import pytest
import torch
import torch.serialization
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import ValidSplit
from skorch.exceptions import DeviceWarning
from torch import nn

import sklearn_leukemia._batch_transforms as batch_transforms
import sklearn_leukemia.augmentation._torch as augmentation_torch
import sklearn_leukemia.classifier as classifier_module
from sklearn_leukemia import SECNNClassifier
from sklearn_leukemia._batch_transforms import Mixup
from sklearn_leukemia._data import (
    DeviceImageDataset,
    ImageBatchDataset,
    collate_batches,
)
from sklearn_leukemia._runtime import amp_config, current_run
from sklearn_leukemia.augmentation import AugmentationPolicy
from sklearn_leukemia.callbacks import ProgressiveResizing, WarmupCosine
from sklearn_leukemia.pipeline import make_leukemia_pipeline

# Tiny and fast: a 2-stage SECNN of width 4 on 16x16 images, without the
# defaults' augmentation and test-time views (tests that want them say so).
FAST = dict(
    max_epochs=2, batch_size=8, module__width=4, module__depth=2, random_state=0,
    augmentation=None, tta=None,
)


def make_images(n=24, size=16, classes=("ALL", "normal"), channels=3, seed=0):
    """Images whose brightness gives the class away: trivially separable."""
    rng = np.random.default_rng(seed)
    y = np.array(list(classes) * (n // len(classes)))
    levels = {c: 30 + 190 * i / (len(classes) - 1) for i, c in enumerate(classes)}
    mean = np.array([levels[c] for c in y])
    shape = (n, size, size) + ((channels,) if channels else ())
    noise = rng.normal(0, 12, size=shape)
    X = np.clip(noise + mean.reshape((n,) + (1,) * (len(shape) - 1)), 0, 255)
    return X.astype(np.uint8), y


@pytest.fixture(scope="module")
def fitted():
    X, y = make_images()
    return SECNNClassifier(**FAST).fit(X, y), X, y


class ThreadProbe(Callback):
    """Record torch's thread count during every training batch."""

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        net.history.record_batch("torch_threads", torch.get_num_threads())


class WeightRecorder(Callback):
    """Keep a copy of the weights at the end of every epoch."""

    def initialize(self):
        self.weights_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        state = net.module_.state_dict()
        self.weights_.append({k: v.detach().clone() for k, v in state.items()})


class SpoilAfterFirstEpoch(Callback):
    """Scramble the weights from epoch 2 on, so epoch 1 stays the best one."""

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) >= 2:
            with torch.no_grad():
                for p in net.module_.parameters():
                    p.add_(torch.randn_like(p) * 5)


def fit_in_worker(X, y):
    clf = SECNNClassifier(**FAST, callbacks=[ThreadProbe()]).fit(X, y)
    observed = {b["torch_threads"] for b in clf.history[-1, "batches"]}
    return clf.n_threads_, observed


# ---------------------------------------------------------------------------
# Labels, probabilities, learning
# ---------------------------------------------------------------------------


def test_binary_string_labels(fitted):
    clf, X, y = fitted
    np.testing.assert_array_equal(clf.classes_, ["ALL", "normal"])
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    pred = clf.predict(X)
    assert set(pred) <= {"ALL", "normal"}
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) == np.mean(pred == y)


def test_learns_separable_three_classes():
    X, y = make_images(n=48, classes=("normal", "ALL", "AML"))
    clf = SECNNClassifier(**{**FAST, "max_epochs": 5}, lr=1e-2, module__dropout=0.0)
    clf.fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ["ALL", "AML", "normal"])
    assert clf.predict_proba(X).shape == (48, 3)
    assert clf.score(X, y) > 0.9


def test_columns_follow_given_classes():
    X, y = make_images(n=48, classes=("normal", "ALL", "AML"))
    order = ["normal", "AML", "ALL"]
    clf = SECNNClassifier(
        **{**FAST, "max_epochs": 5}, lr=1e-2, module__dropout=0.0, classes=order
    ).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, order)
    proba = clf.predict_proba(X)
    # Columns follow classes_: the brightest images get the "AML" column.
    assert np.mean(np.asarray(order)[proba.argmax(axis=1)] == y) > 0.9


def test_integer_labels():
    X, y = make_images()
    y_int = np.where(y == "ALL", 3, 7)
    clf = SECNNClassifier(**FAST).fit(X, y_int)
    np.testing.assert_array_equal(clf.classes_, [3, 7])
    assert set(clf.predict(X)) <= {3, 7}


def test_uint8_is_scaled_to_unit_range():
    X, y = make_images()
    proba_uint8 = SECNNClassifier(**FAST).fit(X, y).predict_proba(X)
    X_float = X.astype(np.float32) / 255
    proba_float = SECNNClassifier(**FAST).fit(X_float, y).predict_proba(X_float)
    np.testing.assert_allclose(proba_uint8, proba_float, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.uint16, bool])
def test_other_pixel_dtypes(dtype):
    X, y = make_images()
    X = (X > 128) if dtype is bool else X.astype(dtype)
    clf = SECNNClassifier(**FAST).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1, atol=1e-6)


def test_integer_pixels_other_than_uint_rejected():
    X, y = make_images()
    with pytest.raises(ValueError, match="dtype int32.*X.astype"):
        SECNNClassifier(**FAST).fit(X.astype(np.int32), y)


def test_grayscale_and_channel_mismatch():
    X, y = make_images(channels=None)
    assert X.ndim == 3
    clf = SECNNClassifier(**FAST).fit(X, y)
    assert clf.n_channels_in_ == 1
    assert clf.module_.stem[0].in_channels == 1
    assert clf.predict(X).shape == (len(X),)
    X_rgb, _ = make_images()
    with pytest.raises(ValueError, match="3 channel.*fitted on images with 1"):
        clf.predict(X_rgb)


def test_any_image_size(fitted):
    clf, _, _ = fitted
    X_big, _ = make_images(n=4, size=40)
    assert clf.predict_proba(X_big).shape == (4, 2)


def test_channel_first_input_rejected():
    X, y = make_images()
    with pytest.raises(ValueError, match="channel-first"):
        SECNNClassifier(**FAST).fit(np.moveaxis(X, -1, 1), y)


def test_single_class_rejected():
    X, y = make_images()
    with pytest.raises(ValueError, match=r"needs at least 2 classes, got 1: \['ALL'\]"):
        SECNNClassifier(**FAST).fit(X, np.full(len(X), "ALL"))


def test_length_mismatch_names_both_lengths():
    X, y = make_images()
    with pytest.raises(ValueError, match="24 image.*23 label"):
        SECNNClassifier(**FAST).fit(X, y[:-1])


def test_continuous_targets_rejected():
    X, _ = make_images()
    with pytest.raises(ValueError, match="continuous"):
        SECNNClassifier(**FAST).fit(X, np.linspace(0, 1, len(X)))


def test_unknown_label_with_given_classes():
    X, y = make_images()
    with pytest.raises(ValueError, match=r"label\(s\) \['normal'\] not among"):
        SECNNClassifier(**FAST, classes=["ALL", "AML"]).fit(X, y)


def test_predict_before_fit():
    X, _ = make_images()
    with pytest.raises(NotFittedError):
        SECNNClassifier(**FAST).predict(X)
    assert not hasattr(SECNNClassifier(), "classes_")
    with pytest.raises(ValueError, match="call fit"):
        SECNNClassifier(**FAST).initialize()


# ---------------------------------------------------------------------------
# Data handling: batches are cut and converted one at a time
# ---------------------------------------------------------------------------


def test_dataset_serves_converted_batches_without_touching_X():
    X, _ = make_images()
    y = np.arange(len(X), dtype=np.int64)
    before = X.copy()
    dataset = ImageBatchDataset(X, y)
    xb, yb = collate_batches(dataset.__getitems__([5, 0, 3]))
    assert xb.shape == (3, 3, 16, 16)
    assert xb.dtype == torch.uint8
    assert xb.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(xb.permute(0, 2, 3, 1).numpy(), X[[5, 0, 3]])
    np.testing.assert_array_equal(yb.numpy(), [5, 0, 3])
    x1, y1 = dataset[2]
    assert x1.shape == (3, 16, 16) and int(y1) == 2
    # The stored array is the caller's, unchanged and still uint8.
    assert dataset.X is X and X.dtype == np.uint8
    np.testing.assert_array_equal(X, before)


def spy_iterators(monkeypatch):
    """Record the dataset behind every DataLoader the classifier builds."""
    seen = []
    get_iterator = SECNNClassifier.get_iterator

    def spy(self, dataset, training=False):
        loader = get_iterator(self, dataset, training=training)
        seen.append((training, loader.dataset, loader.pin_memory))
        return loader

    monkeypatch.setattr(SECNNClassifier, "get_iterator", spy)
    return seen


@pytest.mark.parametrize("augmentation", [None, AugmentationPolicy.preset("flips")])
def test_data_on_device_trains_the_same_model(monkeypatch, augmentation):
    X, y = make_images(n=40)
    params = {
        **FAST,
        "max_epochs": 3,
        "early_stopping": 5,
        "train_split": ValidSplit(0.25, stratified=True, random_state=0),
        "augmentation": augmentation,
    }
    seen = spy_iterators(monkeypatch)
    streamed = SECNNClassifier(**params, data_on_device=False).fit(X, y)
    train, valid = seen[:2]
    assert train[0] and not valid[0]
    # From the caller's array, batch by batch.
    assert isinstance(train[1].dataset, ImageBatchDataset)
    assert train[1].dataset.X is X
    seen.clear()
    moved = SECNNClassifier(**params, data_on_device=True).fit(X, y)
    (_, train, _), (_, valid, _) = seen[:2]
    assert isinstance(train, DeviceImageDataset) and len(train) == 30
    assert isinstance(valid, DeviceImageDataset) and len(valid) == 10
    assert train.X.dtype == torch.uint8
    assert train.X.device.type == torch.device(moved.device_).type
    # Prediction streams from the array, also after a fit on the device.
    seen.clear()
    proba = moved.predict_proba(X)
    assert isinstance(seen[0][1], ImageBatchDataset)
    # The same batches, so the same model.
    assert streamed.history[:, "train_loss"] == moved.history[:, "train_loss"]
    assert streamed.history[:, "valid_loss"] == moved.history[:, "valid_loss"]
    np.testing.assert_array_equal(proba, streamed.predict_proba(X))


def test_data_on_device_auto_streams_on_the_cpu(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    X, y = make_images()
    seen = spy_iterators(monkeypatch)
    clf = SECNNClassifier(**FAST).fit(X, y)
    assert clf.data_on_device == "auto"
    assert isinstance(seen[0][1], ImageBatchDataset) and not seen[0][2]


@pytest.mark.parametrize("value", ["yes", 1.0, None])
def test_data_on_device_invalid(value):
    X, y = make_images()
    with pytest.raises(ValueError, match="'data_on_device' parameter"):
        SECNNClassifier(**FAST, data_on_device=value).fit(X, y)


@pytest.mark.parametrize(
    "value, moved", [(np.True_, True), (np.False_, False), (True, True)]
)
def test_data_on_device_numpy_bools(monkeypatch, value, moved):
    X, y = make_images()
    seen = spy_iterators(monkeypatch)
    SECNNClassifier(**FAST, data_on_device=value).fit(X, y)
    assert isinstance(seen[0][1], DeviceImageDataset) is moved


def test_data_on_device_with_workers():
    X, y = make_images()
    workers = {"iterator_train__num_workers": 1}
    with pytest.raises(ValueError, match="data_on_device=True cannot be combined"):
        SECNNClassifier(**FAST, **workers, data_on_device=True).fit(X, y)


class _ZeroesItsInput(nn.Module):
    """A careless network: it overwrites its input before using it."""

    def __init__(self, n_classes, in_channels=3):
        super().__init__()
        self.head = nn.Linear(in_channels, n_classes)

    def forward(self, x):
        x.mul_(0.5)
        return self.head(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("channels_last", [True, False])
def test_prediction_never_hands_the_callers_images_to_the_network(channels_last):
    X, y = make_images()
    X = X.astype(np.float32) / 255
    before = X.copy()
    clf = SECNNClassifier(
        max_epochs=1,
        batch_size=8,
        architecture=_ZeroesItsInput,
        channels_last=channels_last,
        device="cpu",
        random_state=0,
    ).fit(X, y)
    np.testing.assert_array_equal(X, before)
    # Prediction's batches are views of X, copied before the network runs.
    clf.predict_proba(X)
    np.testing.assert_array_equal(X, before)
    clf.set_params(tta="flips").predict_proba(X)
    np.testing.assert_array_equal(X, before)


def test_fit_converts_batch_by_batch(monkeypatch):
    X, y = make_images()
    seen = {"datasets": [], "batch_sizes": []}
    original_prepare = classifier_module.batch_to_device
    original_dataset = SECNNClassifier.get_dataset

    def spy_prepare(x, *args, **kwargs):
        seen["batch_sizes"].append(len(x))
        return original_prepare(x, *args, **kwargs)

    def spy_dataset(self, X_, y_=None):
        dataset = original_dataset(self, X_, y_)
        seen["datasets"].append(dataset)
        return dataset

    monkeypatch.setattr(classifier_module, "batch_to_device", spy_prepare)
    monkeypatch.setattr(SECNNClassifier, "get_dataset", spy_dataset)
    SECNNClassifier(**FAST).fit(X, y).predict(X)
    assert max(seen["batch_sizes"]) <= FAST["batch_size"]
    assert all(d.X is X for d in seen["datasets"])


def test_the_schedule_counts_the_batches_the_loader_gives():
    # 17 images in batches of 8, the last dropped: 2 steps an epoch.
    X, y = make_images(n=18)
    clf = SECNNClassifier(
        **{**FAST, "max_epochs": 2, "iterator_train__drop_last": True}, lr=0.01
    ).fit(X[:17], y[:17])
    assert clf.history[:, "train_batch_count"] == [2, 2]
    lrs = [lr for epoch in clf.history[:, "batches", :, "event_lr"] for lr in epoch]
    factor = WarmupCosine(total_steps=4, warmup_steps=0)
    np.testing.assert_allclose(lrs, [0.01 * factor(step) for step in range(4)])


def test_training_batches_are_shuffled_reproducibly(fitted):
    _, X, y = fitted
    order = []

    class Order(Callback):
        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            if training:
                order.append(batch[1].tolist())

    SECNNClassifier(**FAST, callbacks=[Order()]).fit(X, y)
    first, order[:] = list(order), []
    SECNNClassifier(**FAST, callbacks=[Order()]).fit(X, y)
    assert order == first
    assert first[0] + first[1] + first[2] != [0, 1] * 12


# ---------------------------------------------------------------------------
# Reproducibility, cloning, search
# ---------------------------------------------------------------------------


def test_random_state_reproducible_and_side_effect_free():
    X, y = make_images()
    # The caller's global random states (torch, legacy numpy) are untouched.
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    expected_torch, expected_np = torch.rand(1), np.random.rand()  # noqa: NPY002
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    proba_a = SECNNClassifier(**FAST).fit(X, y).predict_proba(X)
    assert torch.rand(1) == expected_torch
    assert np.random.rand() == expected_np  # noqa: NPY002
    proba_b = SECNNClassifier(**FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(proba_a, proba_b)
    proba_c = SECNNClassifier(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.allclose(proba_a, proba_c)


def test_get_params_clone_set_params():
    clf = SECNNClassifier(
        **{**FAST, "lr": 0.01, "augmentation": AugmentationPolicy(zoom=0.1)}
    )
    params = clf.get_params(deep=False)
    for name in (
        "architecture",
        "max_epochs",
        "batch_size",
        "lr",
        "optimizer",
        "lr_schedule",
        "class_weight",
        "augmentation",
        "mixup",
        "ema",
        "early_stopping",
        "monitor",
        "device",
        "mixed_precision",
        "channels_last",
        "random_state",
        "n_threads",
        "verbose",
        "module__width",
        "module__depth",
    ):
        assert name in params
    assert "module" not in params and "_params_to_validate" not in params
    assert params["device"] == "auto"

    cloned = clone(clf)
    assert cloned.get_params(deep=False).keys() == params.keys()
    assert cloned.module__width == 4 and cloned.augmentation is not clf.augmentation

    deep = clf.get_params(deep=True)
    assert deep["augmentation__zoom"] == 0.1
    assert "callbacks__print_log" in deep

    clf.set_params(module__width=8, lr=0.1, augmentation__zoom=0.3)
    assert clf.module__width == 8 and clf.lr == 0.1
    assert clf.augmentation.zoom == 0.3
    assert "SECNNClassifier(" in repr(clf) and "module__width=8" in repr(clf)
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(not_a_param=1)


def test_set_params_on_fitted_rebuilds_module():
    X, y = make_images()
    clf = SECNNClassifier(**FAST).fit(X, y)
    clf.set_params(module__width=6)
    assert clf.module_.stem[0].out_channels == 6
    assert clf.get_params()["device"] == "auto"


def test_grid_search_width_and_lr_same_scores_for_n_jobs():
    X, y = make_images(n=32)
    grid = {"module__width": [4, 6], "lr": [1e-3, 1e-2]}
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    clf = SECNNClassifier(**{**FAST, "max_epochs": 1}, n_threads=1)
    results = [
        GridSearchCV(clf, grid, cv=cv, n_jobs=n_jobs, error_score="raise")
        .fit(X, y)
        .cv_results_
        for n_jobs in (1, 2)
    ]
    assert len(results[0]["params"]) == 4
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(results[0][key], results[1][key])


def test_in_a_pipeline():
    X, y = make_images()
    pipe = Pipeline(
        [
            ("scale", FunctionTransformer(lambda X: X / 255.0)),
            ("classifier", SECNNClassifier(**FAST)),
        ]
    )
    search = GridSearchCV(pipe, {"classifier__module__width": [4]}, cv=2)
    search.fit(X, y)
    assert search.predict(X).shape == (len(X),)


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_round_trip(fitted, dump, tmp_path):
    clf, X, _ = fitted
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(clf))
    else:
        joblib.dump(clf, tmp_path / "clf.joblib")
        loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.device == "auto" and loaded.device_ == clf.device_


def test_model_trained_on_cuda_loads_on_cpu(monkeypatch):
    """Pickle as if every tensor lived on CUDA, then load on this CPU machine.

    A tensor tagged "cuda:0" that escaped skorch's device mapping would make
    the load fail here, so this also checks the callbacks (lr scheduler,
    early stopping, scoring caches) keep no tensor of their own.
    """
    X, y = make_images(n=36)
    clf = SECNNClassifier(
        **FAST, early_stopping=2, class_weight="balanced",
        train_split=ValidSplit(0.3, stratified=True, random_state=0),
    ).fit(X, y)
    expected = clf.predict_proba(X)
    clf.device_ = "cuda"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        data = pickle.dumps(clf)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning) as record:
        loaded = pickle.loads(data)
    messages = " ".join(str(w.message) for w in record)
    assert "no CUDA devices are available" in messages
    assert "requested device (cuda) is not available" in messages
    assert loaded.device_ == "cpu" and loaded.device == "auto"
    assert loaded.module_.stem[0].weight.device.type == "cpu"
    assert loaded.criterion_.weight.device.type == "cpu"
    if clf.module_.stem[0].weight.device.type == "cuda":  # pragma: no cover
        # Really trained on a GPU: mixed precision there, float32 here.
        np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=2e-3)
    else:
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_unfitted_pickles():
    clf = pickle.loads(pickle.dumps(SECNNClassifier(**FAST)))
    assert clf.get_params()["device"] == "auto"


# ---------------------------------------------------------------------------
# Training options
# ---------------------------------------------------------------------------


def test_augmentation_only_on_training_batches(monkeypatch):
    X, y = make_images(n=40)
    calls = []
    original = augmentation_torch.augment_batch

    def spy(x, policy=None, **kwargs):
        calls.append((len(x), kwargs.get("value_range")))
        return original(x, policy, **kwargs)

    monkeypatch.setattr(augmentation_torch, "augment_batch", spy)
    clf = SECNNClassifier(
        **{**FAST, "augmentation": AugmentationPolicy()},
        early_stopping=5,
        train_split=ValidSplit(0.2, stratified=True, random_state=0),
    ).fit(X, y)
    n_train_batches = sum(clf.history[:, "train_batch_count"])
    assert sum(clf.history[:, "valid_batch_count"]) > 0
    assert len(calls) == n_train_batches
    assert sum(n for n, _ in calls) == clf.max_epochs * 32
    assert {r for _, r in calls} == {(0.0, 1.0)}
    clf.predict(X)
    clf.predict_proba(X)
    clf.score(X, y)
    assert len(calls) == n_train_batches


class ModeProbe(Callback):
    """Record whether the network and its dropout train, batch by batch."""

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        modes = {m.training for m in net.module_.modules()}
        net.history.record_batch("modes", sorted(modes))


def test_training_and_evaluation_modes_per_batch():
    X, y = make_images(n=40)
    clf = SECNNClassifier(
        **FAST,
        early_stopping=5,
        train_split=ValidSplit(0.2, stratified=True, random_state=0),
        callbacks=[("modes", ModeProbe())],
    ).fit(X, y)
    # After each step: training batches ran with every submodule training,
    # validation batches with none (dropout and batch-norm updates off).
    for epoch in clf.history:
        batches = epoch["batches"]
        n_train = epoch["train_batch_count"]
        assert [b["modes"] for b in batches[:n_train]] == [[True]] * n_train
        assert [b["modes"] for b in batches[n_train:]] == [[False]] * (
            len(batches) - n_train
        )
    expected = clf.predict_proba(X)
    # A submodule left in the other mode (here by hand) is still reset.
    clf.module_.head.train(True)
    np.testing.assert_array_equal(clf.predict_proba(X), expected)
    assert not any(m.training for m in clf.module_.modules())


class _CountsTrainCalls(nn.Module):
    """A layer whose ``train`` override counts its calls."""

    calls = 0

    def train(self, mode=True):
        type(self).calls += 1
        return super().train(mode)

    def forward(self, x):
        return x


def test_module_overriding_train_is_called_every_batch():
    # The per-batch shortcut must not skip a train() that does more than
    # setting the flag (freezing batch norm, say): skorch calls it each batch.
    def builder(n_classes, in_channels):
        return nn.Sequential(
            _CountsTrainCalls(),
            nn.Flatten(),
            nn.Linear(in_channels * 16 * 16, n_classes),
        )

    X, y = make_images()
    _CountsTrainCalls.calls = 0
    clf = SECNNClassifier(
        architecture=builder, max_epochs=2, batch_size=8, random_state=0
    ).fit(X, y)
    trained = _CountsTrainCalls.calls
    assert trained >= 2 * 3  # 3 training batches per epoch, 2 epochs
    clf.predict_proba(X)
    assert _CountsTrainCalls.calls - trained >= 3  # 3 prediction batches


def flipped_views(X, tta="flips"):
    """The image, its left-right and up-down mirror images and both flips
    (and the same of the transposed image for "dihedral")."""
    views = [X, X[:, :, ::-1], X[:, ::-1], X[:, ::-1, ::-1]]
    if tta == "dihedral":
        views += flipped_views(np.swapaxes(X, 1, 2))
    return views


@pytest.mark.parametrize("tta", ["flips", "dihedral"])
def test_tta_is_the_geometric_mean_of_the_views(fitted, tta):
    _, X, y = fitted
    # Noise images: a network trained on them has no reason to be invariant.
    rng = np.random.default_rng(1)
    Xr = rng.integers(0, 256, size=X.shape, dtype=np.uint8)
    net = SECNNClassifier(**{**FAST, "max_epochs": 3}).fit(Xr, y)
    views = flipped_views(Xr, tta)
    assert len(views) == {"flips": 4, "dihedral": 8}[tta]
    log_p = np.mean(
        [np.log(net.predict_proba(np.ascontiguousarray(v))) for v in views], axis=0
    )
    expected = np.exp(log_p) / np.exp(log_p).sum(axis=1, keepdims=True)
    single = net.predict_proba(Xr)
    assert np.abs(single - expected).max() > 1e-4  # the views do disagree
    net.set_params(tta=tta)
    proba = net.predict_proba(Xr)
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(net.predict(Xr), net.classes_[proba.argmax(1)])
    # Deterministic and invariant to flipping the input.
    np.testing.assert_array_equal(net.predict_proba(Xr), proba)
    for view in views:
        np.testing.assert_allclose(
            net.predict_proba(np.ascontiguousarray(view)), proba, atol=1e-5
        )
    # Switched off again after fit, without refitting.
    np.testing.assert_array_equal(net.set_params(tta=None).predict_proba(Xr), single)


def test_tta_leaves_training_alone_and_is_checked_at_predict(fitted):
    clf, X, y = fitted
    with_tta = SECNNClassifier(**{**FAST, "tta": "flips"}).fit(X, y)
    # The same training: the weights are identical to the fixture's.
    for a, b in zip(with_tta.module_.parameters(), clf.module_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with_tta.set_params(tta="rot90")
    with pytest.raises(ValueError, match="'tta' parameter.*Got 'rot90'"):
        with_tta.predict(X)


def test_tta_dihedral_needs_square_images():
    X, y = make_images()
    clf = SECNNClassifier(**{**FAST, "tta": "dihedral"}).fit(X, y)
    wide = np.concatenate([X, X], axis=2)
    with pytest.raises(ValueError, match="tta='dihedral' needs square images; got "
                       "images of 16x32 pixels"):
        clf.predict(wide)
    assert clf.set_params(tta="flips").predict(wide).shape == (len(X),)


def test_tta_dihedral_rejects_non_square_training_images_before_training():
    X, y = make_images()
    wide = np.concatenate([X, X], axis=2)
    clf = SECNNClassifier(**{**FAST, "tta": "dihedral"})
    with pytest.raises(ValueError, match="tta='dihedral' needs square images; got "
                       "images of 16x32 pixels"):
        clf.fit(wide, y)
    assert not hasattr(clf, "module_")
    # The same images train with the four flips.
    assert clf.set_params(tta="flips").fit(wide, y).predict(wide).shape == (len(X),)


def test_tta_in_channels_last_and_mixed_precision():
    X, y = make_images()
    for kwargs in ({"channels_last": False}, {"mixed_precision": True}):
        clf = SECNNClassifier(**{**FAST, "tta": "flips", **kwargs}).fit(X, y)
        proba = clf.predict_proba(X)
        assert proba.dtype == np.float32
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-4)
        np.testing.assert_allclose(
            clf.predict_proba(np.ascontiguousarray(X[:, ::-1, ::-1])), proba, atol=2e-2
        )


def test_mixup_blends_training_batches_and_their_losses(monkeypatch):
    X, y = make_images(n=16)
    seen = {"clean": [], "blended": [], "losses": []}
    prepare, infer = classifier_module.batch_to_device, SECNNClassifier.infer
    train_step_single = SECNNClassifier.train_step_single

    def spy_prepare(x, *args, **kwargs):
        out = prepare(x, *args, **kwargs)
        seen["clean"].append(out.detach().clone())
        return out

    def spy_infer(self, x, **fit_params):
        out = infer(self, x, **fit_params)
        seen["blended"].append((x.detach().clone(), out.detach().clone()))
        return out

    def spy_step(self, batch, **fit_params):
        step = train_step_single(self, batch, **fit_params)
        seen["losses"].append((batch[1].clone(), step["loss"].item()))
        return step

    monkeypatch.setattr(classifier_module, "batch_to_device", spy_prepare)
    monkeypatch.setattr(SECNNClassifier, "infer", spy_infer)
    monkeypatch.setattr(SECNNClassifier, "train_step_single", spy_step)
    perm = torch.arange(15, -1, -1)
    monkeypatch.setattr(
        batch_transforms, "draw_mixup", lambda *args: Mixup(0.3, perm)
    )
    params = {**FAST, "max_epochs": 1, "batch_size": 16}
    SECNNClassifier(**params, mixup=0.4).fit(X, y)

    # The first prepared batch is the training batch (infer prepares again).
    clean, (blended, logits) = seen["clean"][0], seen["blended"][0]
    torch.testing.assert_close(blended, 0.3 * clean + 0.7 * clean[perm])
    assert blended.is_contiguous(memory_format=torch.channels_last)
    ((y_batch, loss),) = seen["losses"]
    ce = torch.nn.functional.cross_entropy
    # The loss is taken in float32, also of mixed-precision (CUDA) logits.
    logits, y_batch = logits.float(), y_batch.to(logits.device)
    expected = 0.3 * ce(logits, y_batch) + 0.7 * ce(logits, y_batch[perm])
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_mixup_is_seeded_and_changes_training():
    X, y = make_images()
    a = SECNNClassifier(**FAST, mixup=0.4).fit(X, y).predict_proba(X)
    b = SECNNClassifier(**FAST, mixup=0.4).fit(X, y).predict_proba(X)
    plain = SECNNClassifier(**FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)


def test_progressive_resizing_shrinks_training_batches_only(monkeypatch):
    X, y = make_images(n=40)
    shapes = []
    infer = SECNNClassifier.infer

    def spy_infer(self, x, **fit_params):
        shapes.append((self.module_.training, len(self.history), tuple(x.shape[2:])))
        return infer(self, x, **fit_params)

    monkeypatch.setattr(SECNNClassifier, "infer", spy_infer)
    clf = SECNNClassifier(
        **{**FAST, "max_epochs": 4},
        progressive_resizing=0.5,
        early_stopping=10,
        train_split=ValidSplit(0.2, stratified=True, random_state=0),
    ).fit(X, y)
    # 16 pixels at scales 8/16, 11/16, 13/16 and 1.
    train = {(epoch, size) for training, epoch, size in shapes if training}
    assert train == {(1, (8, 8)), (2, (11, 11)), (3, (13, 13)), (4, (16, 16))}
    valid = {size for training, _, size in shapes if not training}
    assert valid == {(16, 16)}
    np.testing.assert_allclose(clf.history[:, "train_scale"], [0.5, 0.6875, 0.8125, 1])
    shapes.clear()
    clf.predict_proba(X)
    assert {size for _, _, size in shapes} == {(16, 16)}


def test_progressive_resizing_is_an_antialiased_resize(monkeypatch):
    X, y = make_images(n=16)
    seen = {"clean": [], "trained": []}
    prepare, infer = classifier_module.batch_to_device, SECNNClassifier.infer

    def spy_prepare(x, *args, **kwargs):
        out = prepare(x, *args, **kwargs)
        seen["clean"].append(out.detach().clone())
        return out

    def spy_infer(self, x, **fit_params):
        seen["trained"].append(x.detach().clone())
        return infer(self, x, **fit_params)

    monkeypatch.setattr(classifier_module, "batch_to_device", spy_prepare)
    monkeypatch.setattr(SECNNClassifier, "infer", spy_infer)
    params = {**FAST, "max_epochs": 2, "batch_size": 16, "lr_schedule": None}
    SECNNClassifier(**params, progressive_resizing=0.5).fit(X, y)
    expected = torch.nn.functional.interpolate(
        seen["clean"][0], size=(8, 8), mode="bilinear", antialias=True
    )
    torch.testing.assert_close(seen["trained"][0], expected)
    assert seen["trained"][0].is_contiguous(memory_format=torch.channels_last)


def test_progressive_resizing_is_seeded_changes_training_and_restarts():
    X, y = make_images()
    params = {**FAST, "max_epochs": 4}
    a = SECNNClassifier(**params, progressive_resizing=0.5).fit(X, y)
    b = SECNNClassifier(**params, progressive_resizing=0.5).fit(X, y)
    plain = SECNNClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.allclose(a.predict_proba(X), plain.predict_proba(X))
    assert "train_scale" not in plain.history[-1]
    # Each partial_fit call grows the images again over its own epochs.
    a.partial_fit(X, y)
    np.testing.assert_allclose(
        a.history[:, "train_scale"], [0.5, 0.6875, 0.8125, 1] * 2
    )


def test_augmentation_by_preset_name_trains_as_the_preset_policy():
    X, y = make_images()
    params = {**FAST, "max_epochs": 2}
    named = SECNNClassifier(**{**params, "augmentation": "erase"}).fit(X, y)
    policy = SECNNClassifier(
        **{**params, "augmentation": AugmentationPolicy.preset("erase")}
    ).fit(X, y)
    assert named.augmentation == "erase"
    assert named.augmentation_.get_params() == policy.augmentation.get_params()
    np.testing.assert_array_equal(named.predict_proba(X), policy.predict_proba(X))
    flips = SECNNClassifier(**{**params, "augmentation": "flips"}).fit(X, y)
    assert not np.array_equal(flips.predict_proba(X), named.predict_proba(X))
    # A policy is used as given; None switches augmentation off.
    assert policy.augmentation_ is policy.augmentation
    assert SECNNClassifier(**params).fit(X, y).augmentation_ is None


def test_defaults_are_the_pipelines_classifier():
    # One line of difference: the factory seeds the classifier.
    ours = SECNNClassifier().get_params(deep=False)
    factory = make_leukemia_pipeline()[-1].get_params(deep=False)
    assert {k for k in ours if ours[k] != factory[k]} == set()
    assert ours["max_epochs"] == 150 and ours["augmentation"] == "erase"
    assert ours["tta"] == "dihedral" and ours["progressive_resizing"] is None


def test_progressive_resizing_of_non_square_images(monkeypatch):
    X, y = make_images(n=16, size=32)
    X = X[:, :, :16]
    shapes = []
    infer = SECNNClassifier.infer

    def spy_infer(self, x, **fit_params):
        if self.module_.training:
            shapes.append(tuple(x.shape[2:]))
        return infer(self, x, **fit_params)

    monkeypatch.setattr(SECNNClassifier, "infer", spy_infer)
    clf = SECNNClassifier(**{**FAST, "max_epochs": 1}, progressive_resizing=0.25)
    clf.set_params(max_epochs=4).fit(X, y)
    assert shapes[0] == (8, 4) and shapes[-1] == (32, 16)


class _RecordWeights(Callback):
    """Record the network's state at the start and after each training batch."""

    def on_train_begin(self, net, **kwargs):
        self.states = [_state(net)]

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.states.append(_state(net))


def _state(net):
    return {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


def test_ema_gives_the_network_the_moving_average_of_its_weights():
    X, y = make_images()
    record = _RecordWeights()
    params = {**FAST, "max_epochs": 3, "lr": 0.01}
    clf = SECNNClassifier(**params, ema=0.9, callbacks=[("record", record)])
    clf.fit(X, y)
    states = record.states  # the user's callback runs after "ema"
    assert len(states) == 1 + 3 * 3  # 24 images in batches of 8, 3 epochs
    average = {k: v.clone() for k, v in states[0].items()}
    for t, state in enumerate(states[1:]):
        decay = min(0.9, (1 + t) / (10 + t))
        for name, value in state.items():
            if value.is_floating_point():
                average[name] = decay * average[name] + (1 - decay) * value
    final = clf.module_.state_dict()
    for name, value in final.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, average[name], rtol=1e-5, atol=1e-6)
        else:  # the batch-norm counters are the current ones
            torch.testing.assert_close(value, states[-1][name])
    assert any(
        not torch.allclose(final[name], states[-1][name])
        for name in final if final[name].is_floating_point()
    )
    # Training itself is unchanged: the last weights before averaging are
    # those of a fit without it, and predictions use the average.
    plain = SECNNClassifier(**params).fit(X, y)
    for name, value in plain.module_.state_dict().items():
        torch.testing.assert_close(states[-1][name], value)
    assert not np.allclose(clf.predict_proba(X), plain.predict_proba(X))
    assert dict(clf.callbacks_)["ema"].average_ is None  # not pickled


def test_ema_partial_fit_averages_each_call_anew():
    X, y = make_images()
    clf = SECNNClassifier(**FAST, ema=0.99).fit(X, y)
    before = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.partial_fit(X, y)
    after = clf.module_.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert dict(clf.callbacks_)["ema"].average_ is None
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1, rtol=1e-5)


def test_ema_average_is_dropped_after_a_failed_fit():
    X, y = make_images()
    clf = SECNNClassifier(**FAST, ema=0.9, lr=1e10, lr_schedule=None, optimizer="sgd")
    with pytest.raises(FloatingPointError):
        clf.fit(X, y)
    assert dict(clf.callbacks_)["ema"].average_ is None


def test_augmentation_value_range_of_float_images(monkeypatch):
    X, y = make_images()
    X = X.astype(np.float32) / 100
    clf = SECNNClassifier(**{**FAST, "augmentation": AugmentationPolicy()}).fit(X, y)
    assert clf.value_range_ == pytest.approx((X.min(), X.max()))
    assert SECNNClassifier(**FAST).fit(X, y).value_range_ is None


def test_augmentation_must_be_a_policy():
    X, y = make_images()
    with pytest.raises(ValueError, match="'augmentation' parameter.*Policy"):
        SECNNClassifier(**{**FAST, "augmentation": {"zoom": 0.1}}).fit(X, y)
    with pytest.raises(ValueError, match="zoom"):
        SECNNClassifier(
            **{**FAST, "augmentation": AugmentationPolicy(zoom=(2, 1))}
        ).fit(X, y)


def test_class_weight_changes_criterion():
    X, y = make_images(n=30)
    y = np.where(np.arange(30) < 24, "ALL", "normal")
    plain = SECNNClassifier(**FAST).fit(X, y)
    assert plain.criterion_.weight is None and plain.class_weight_ is None
    balanced = SECNNClassifier(**FAST, class_weight="balanced").fit(X, y)
    classes = np.array(["ALL", "normal"])
    expected = compute_class_weight("balanced", classes=classes, y=y)
    np.testing.assert_allclose(balanced.class_weight_, expected)
    weight = balanced.criterion_.weight.cpu().numpy()
    np.testing.assert_allclose(weight, expected, rtol=1e-6)
    assert expected[1] > expected[0]
    as_dict = SECNNClassifier(**FAST, class_weight={"normal": 3.0}).fit(X, y)
    np.testing.assert_allclose(as_dict.criterion_.weight.cpu().numpy(), [1.0, 3.0])


def test_balanced_weights_of_even_classes_train_the_unweighted_model():
    # Even classes give weights of exactly 1: the weighted loss is then the
    # unweighted one to the last bit, so the two defaults agree on such sets.
    X, _ = make_images(n=30)
    y = np.repeat(["ALL", "AML", "normal"], 10)
    plain = SECNNClassifier(**FAST).fit(X, y)
    balanced = SECNNClassifier(**FAST, class_weight="balanced").fit(X, y)
    np.testing.assert_array_equal(balanced.class_weight_, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(balanced.predict_proba(X), plain.predict_proba(X))


def test_early_stopping_restores_best_weights():
    X, y = make_images(n=40)
    recorder = WeightRecorder()
    clf = SECNNClassifier(
        **{**FAST, "max_epochs": 10},
        lr=1e-6,
        early_stopping=2,
        train_split=ValidSplit(0.25, stratified=True, random_state=0),
        callbacks=[SpoilAfterFirstEpoch(), ("weights", recorder)],
    ).fit(X, y)
    # Stopped after `patience` epochs without improvement on the best one.
    assert len(clf.history) == 3
    assert clf.history[:, "valid_loss_best"] == [True, False, False]
    assert clf.history[0, "train_batch_count"] == 4  # 30 training images, batch 8
    stopper = dict(clf.callbacks_)["early_stopping"]
    assert isinstance(stopper, EarlyStopping) and stopper.load_best
    best = recorder.weights_[0]
    for key, value in clf.module_.state_dict().items():
        torch.testing.assert_close(value, best[key])
    assert not torch.equal(
        recorder.weights_[-1]["stem.0.weight"], best["stem.0.weight"]
    )


def test_early_stopping_on_train_loss_needs_no_split():
    X, y = make_images()
    clf = SECNNClassifier(**FAST, early_stopping=1, monitor="train_loss").fit(X, y)
    assert "valid_loss" not in clf.history[-1]
    assert sum(clf.history[:, "train_batch_count"]) == 2 * 3


def test_validation_split_too_small_explained():
    X, y = make_images(n=24, classes=("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="holds out 10% of the 24 training images"):
        SECNNClassifier(**FAST, early_stopping=2).fit(X, y)


def test_user_train_split_is_used():
    X, y = make_images()
    clf = SECNNClassifier(**FAST, train_split=ValidSplit(0.25, stratified=True))
    clf.fit(X, y)
    assert "valid_acc" in clf.history[-1]
    assert 0 <= clf.history[-1, "valid_acc"] <= 1


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "step", None])
def test_lr_schedules(schedule):
    X, y = make_images()
    clf = SECNNClassifier(**{**FAST, "max_epochs": 3}, lr=0.01, lr_schedule=schedule)
    clf.fit(X, y)
    if schedule is None:
        assert "lr_scheduler" not in dict(clf.callbacks_)
        assert clf.optimizer_.param_groups[0]["lr"] == 0.01
        return
    callback = dict(clf.callbacks_)["lr_scheduler"]
    assert callback.lr_scheduler_ is None  # released after training
    if schedule == "step":
        lrs = clf.history[:, "event_lr"]
        assert len(lrs) == 3 and lrs[0] == pytest.approx(0.01)
        assert lrs[1] == pytest.approx(0.001)
    else:
        lrs = [lr for epoch in clf.history[:, "batches", :, "event_lr"] for lr in epoch]
        assert len(lrs) == 9
        assert max(lrs) <= 0.01 + 1e-12 and lrs[-1] < 0.01 * 0.2
        if schedule == "onecycle":
            assert lrs[0] < lrs[2]


@pytest.mark.parametrize(
    "name, cls, extra",
    [
        ("adamw", torch.optim.AdamW, {}),
        ("adam", torch.optim.Adam, {}),
        ("sgd", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        (torch.optim.RMSprop, torch.optim.RMSprop, {}),
    ],
)
def test_optimizers(name, cls, extra):
    X, y = make_images()
    clf = SECNNClassifier(**FAST, optimizer=name, optimizer__weight_decay=0.05)
    clf.fit(X, y)
    assert type(clf.optimizer_) is cls
    group = clf.optimizer_.param_groups[0]
    assert group["weight_decay"] == 0.05
    for key, value in extra.items():
        assert group[key] == value


def test_optimizer_arguments_override_defaults():
    X, y = make_images()
    clf = SECNNClassifier(**FAST, optimizer="sgd", optimizer__momentum=0.5).fit(X, y)
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.5


def test_architecture_by_name_or_builder():
    X, y = make_images()
    clf = SECNNClassifier(
        **{**FAST, "module__depth": 1},
        architecture="se_resnet",
        module__blocks_per_stage=1,
    ).fit(X, y)
    assert type(clf.module_).__name__ == "SEResNet"

    def builder(n_classes, in_channels, hidden=3):
        return nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(hidden, n_classes),
        )

    clf = SECNNClassifier(
        max_epochs=1, batch_size=8, architecture=builder, module__hidden=5
    ).fit(X, y)
    assert clf.module_[0].out_channels == 5
    with pytest.raises(ValueError, match="unknown architecture 'secn'.*secnn"):
        SECNNClassifier(**FAST, architecture="secn").fit(X, y)
    with pytest.raises(ValueError, match="is a module instance"):
        SECNNClassifier(max_epochs=1, architecture=builder(2, 3)).fit(X, y)


def test_mistyped_prefix_rejected():
    X, y = make_images()
    with pytest.raises(ValueError, match="modul__width"):
        SECNNClassifier(**FAST, modul__width=4).fit(X, y)


def test_warm_start_and_partial_fit():
    X, y = make_images()
    clf = SECNNClassifier(**{**FAST, "max_epochs": 1}, warm_start=True).fit(X, y)
    weights = clf.module_.stem[0].weight.detach().clone()
    clf.fit(X, y)
    assert len(clf.history) == 2
    assert not torch.equal(weights, clf.module_.stem[0].weight)

    part = SECNNClassifier(**{**FAST, "max_epochs": 1})
    only_all = y == "ALL"
    part.partial_fit(X[only_all], y[only_all], classes=["ALL", "normal"])
    part.partial_fit(X[~only_all], y[~only_all])
    assert len(part.history) == 2
    np.testing.assert_array_equal(part.classes_, ["ALL", "normal"])


# ---------------------------------------------------------------------------
# Failures during training
# ---------------------------------------------------------------------------


def test_nan_loss_stops_training():
    X, y = make_images()
    clf = SECNNClassifier(**FAST, lr=1e10, lr_schedule=None, optimizer="sgd")
    with pytest.raises(
        FloatingPointError,
        match=r"training loss became NaN at epoch 1, batch \d+; try a lower lr "
        r"\(current 1e\+10\)",
    ):
        clf.fit(X, y)


def test_infinite_loss_stops_training():
    class InfiniteLoss(nn.Module):
        def forward(self, logits, target):
            return logits.sum() * 0 + float("inf")

    X, y = make_images()
    with pytest.raises(FloatingPointError, match="became infinite at epoch 1, batch 1"):
        SECNNClassifier(**FAST, criterion=InfiniteLoss).fit(X, y)


def test_out_of_memory_suggests_smaller_batch(monkeypatch):
    X, y = make_images()

    def oom(self, batch, **fit_params):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    clf = SECNNClassifier(**FAST).fit(X, y)
    monkeypatch.setattr(SECNNClassifier, "train_step", oom)
    with pytest.raises(
        torch.OutOfMemoryError,
        match=r"while training with batch_size=8; use a smaller batch_size "
        r"\(e.g. batch_size=4\).*data_on_device=False.*Tried to allocate",
    ):
        SECNNClassifier(**FAST).fit(X, y)
    monkeypatch.setattr(SECNNClassifier, "evaluation_step", oom)
    with pytest.raises(torch.OutOfMemoryError, match="while predicting") as info:
        clf.predict(X)
    assert "data_on_device" not in str(info.value)
    # One piece of advice, from the call that ran out, not one per level.
    assert str(info.value).count("ran out of memory") == 1
    # The runtime state was cleaned up despite the error.
    assert current_run(clf) is None and clf.device == "auto"


# ---------------------------------------------------------------------------
# Device, precision, threads, output
# ---------------------------------------------------------------------------


def test_device_auto_resolves_to_cpu(fitted):
    clf, _, _ = fitted
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert clf.device == "auto" and clf.device_ == "cpu"
    assert next(clf.module_.parameters()).device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_explicit_cuda_without_cuda_raises():
    X, y = make_images()
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA"):
        SECNNClassifier(**FAST, device="cuda").fit(X, y)


def test_bad_device_name():
    X, y = make_images()
    with pytest.raises(ValueError, match="device='gpu0' is not a torch device"):
        SECNNClassifier(**FAST, device="gpu0").fit(X, y)


def test_channels_last_and_mixed_precision_on_cpu():
    X, y = make_images()
    clf = SECNNClassifier(**FAST, device="cpu", mixed_precision=True).fit(X, y)
    conv = clf.module_.stem[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert amp_config(clf.mixed_precision, clf.device_).dtype == torch.bfloat16
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    plain = SECNNClassifier(**FAST, device="cpu", channels_last=False).fit(X, y)
    assert not amp_config(plain.mixed_precision, plain.device_).enabled
    assert plain.module_.stem[0].weight.is_contiguous()


@pytest.mark.gpu
def test_cuda_mixed_precision_channels_last():
    X, y = make_images(n=32)
    clf = SECNNClassifier(**{**FAST, "max_epochs": 3}, device="cuda").fit(X, y)
    assert clf.device_.startswith("cuda")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert amp_config(clf.mixed_precision, torch.device(clf.device_)).dtype == expected
    weight = clf.module_.stem[0].weight
    assert weight.device.type == "cuda"
    assert weight.is_contiguous(memory_format=torch.channels_last)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-6)
    fp16 = SECNNClassifier(**FAST, device="cuda")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        fp16.fit(X, y)
    assert np.isfinite(fp16.history[-1, "train_loss"])


@pytest.mark.gpu
def test_cuda_keeps_the_training_images_on_the_device(monkeypatch):
    X, y = make_images(n=40)
    seen = spy_iterators(monkeypatch)
    params = {**FAST, "max_epochs": 3, "device": "cuda", "mixed_precision": False}
    moved = SECNNClassifier(**params).fit(X, y)
    training, dataset, pinned = seen[0]
    assert training and isinstance(dataset, DeviceImageDataset) and not pinned
    assert dataset.X.device.type == "cuda" and dataset.X.dtype == torch.uint8
    seen.clear()
    streamed = SECNNClassifier(**params, data_on_device=False).fit(X, y)
    training, dataset, pinned = seen[0]
    assert isinstance(dataset, ImageBatchDataset) and pinned
    # The same batches; cuDNN may sum in another order from run to run.
    np.testing.assert_allclose(
        moved.history[:, "train_loss"], streamed.history[:, "train_loss"], rtol=1e-3
    )
    np.testing.assert_allclose(
        moved.predict_proba(X), streamed.predict_proba(X), atol=1e-3
    )
    # "auto" streams with DataLoader workers, which cannot reach the device.
    seen.clear()
    SECNNClassifier(**params, iterator_train__num_workers=1).fit(X, y)
    assert isinstance(seen[0][1], ImageBatchDataset) and seen[0][2]
    # Images that would take more than half the free memory are streamed.
    seen.clear()
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (100, 2**30))
    SECNNClassifier(**params).fit(X, y)
    assert isinstance(seen[0][1], ImageBatchDataset) and seen[0][2]


def test_threads_restored_and_explicit():
    X, y = make_images()
    before = torch.get_num_threads()
    clf = SECNNClassifier(**FAST, callbacks=[ThreadProbe()]).fit(X, y)
    assert torch.get_num_threads() == before
    assert clf.n_threads_ == min(before, joblib.cpu_count())
    clf = SECNNClassifier(**FAST, n_threads=2, callbacks=[ThreadProbe()]).fit(X, y)
    assert {b["torch_threads"] for b in clf.history[-1, "batches"]} == {2}
    assert torch.get_num_threads() == before


def test_one_thread_per_worker_in_joblib_parallel():
    X, y = make_images()
    results = joblib.Parallel(n_jobs=2)(
        joblib.delayed(fit_in_worker)(X, y) for _ in range(2)
    )
    share = max(1, joblib.cpu_count() // 2)
    for n_threads, observed in results:
        assert n_threads <= share and observed == {n_threads}
    if joblib.cpu_count() <= 3:
        assert [r[0] for r in results] == [1, 1]
    threaded = joblib.Parallel(n_jobs=2, backend="threading")(
        joblib.delayed(fit_in_worker)(X, y) for _ in range(2)
    )
    assert [r[0] for r in threaded] == [1, 1]


def test_verbose_output(capsys):
    X, y = make_images()
    SECNNClassifier(**FAST, verbose=0, early_stopping=1, monitor="train_loss").fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    SECNNClassifier(**FAST, verbose=1).fit(X, y)
    assert "train_loss" in capsys.readouterr().out
    clf = SECNNClassifier(**FAST, verbose=2).fit(X, y)
    assert "progress_bar" in dict(clf.callbacks_)


def test_history_access(fitted):
    clf, _, _ = fitted
    assert clf.history is clf.history_
    assert len(clf.history_) == 2
    assert all(np.isfinite(clf.history[:, "train_loss"]))


def test_tags():
    tags = SECNNClassifier().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert not tags.input_tags.two_d_array
    assert not tags.non_deterministic
    assert tags.classifier_tags.multi_class
    assert tags.target_tags.required


@pytest.mark.parametrize(
    "params, match",
    [
        ({"max_epochs": 0}, r"'max_epochs' parameter.*\[1, inf\). Got 0"),
        ({"max_epochs": "auto"}, "'max_epochs' parameter.*Got 'auto'"),
        ({"max_epochs": 2.5}, "'max_epochs' parameter.*Got 2.5"),
        ({"batch_size": 0}, "'batch_size' parameter.*Got 0"),
        ({"lr": -1.0}, "'lr' parameter.*Got -1.0"),
        ({"optimizer": "adagrad"}, "'optimizer' parameter.*Got 'adagrad'"),
        ({"optimizer": 3}, "'optimizer' parameter.*Got 3"),
        ({"lr_schedule": "linear"}, "'lr_schedule' parameter.*Got 'linear'"),
        ({"class_weight": "auto"}, "'class_weight' parameter.*Got 'auto'"),
        ({"early_stopping": True}, "early_stopping=True is ambiguous"),
        ({"early_stopping": -2}, "'early_stopping' parameter.*Got -2"),
        ({"monitor": "valid_f1"}, "'monitor' parameter.*Got 'valid_f1'"),
        ({"mixed_precision": "bf16"}, "'mixed_precision' parameter.*Got 'bf16'"),
        ({"channels_last": "yes"}, "'channels_last' parameter.*Got 'yes'"),
        ({"n_threads": 0}, "'n_threads' parameter.*Got 0"),
        ({"verbose": -1}, "'verbose' parameter.*Got -1"),
        ({"architecture": 3}, "'architecture' parameter.*Got 3"),
        ({"tta": "rot90"}, "'tta' parameter.*Got 'rot90'"),
        ({"tta": True}, "'tta' parameter.*Got True"),
        ({"mixup": -0.2}, "'mixup' parameter.*Got -0.2"),
        ({"mixup": "yes"}, "'mixup' parameter.*Got 'yes'"),
        ({"ema": 1.0}, r"'ema' parameter.*range \[0.0, 1.0\). Got 1.0"),
        ({"ema": -0.5}, "'ema' parameter.*Got -0.5"),
        ({"ema": "0.9"}, "'ema' parameter.*Got '0.9'"),
        ({"ema": 0.99, "early_stopping": 3}, "ema=0.99 cannot be combined with"),
        ({"progressive_resizing": 0}, "'progressive_resizing' parameter.*Got 0"),
        ({"progressive_resizing": 1.5}, r"'progressive_resizing'.*\(0.0, 1.0\]"),
        ({"progressive_resizing": "auto"}, "'progressive_resizing'.*Got 'auto'"),
        ({"augmentation": "auto"}, "'augmentation' parameter.*Got 'auto'"),
        ({"progressive_resizing": "0.5"}, "'progressive_resizing'.*Got '0.5'"),
    ],
)
def test_invalid_parameters(params, match):
    X, y = make_images()
    with pytest.raises(ValueError, match=match):
        SECNNClassifier(**{**FAST, **params}).fit(X, y)


def test_no_warning_on_plain_use(fitted):
    clf, X, y = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(X)
        buffer = io.BytesIO()
        pickle.dump(clf, buffer)


def test_concurrent_predictions_from_threads(fitted):
    clf, X, _ = fitted
    expected = clf.predict_proba(X)
    results = joblib.Parallel(n_jobs=4, backend="threading")(
        joblib.delayed(clf.predict_proba)(X) for _ in range(8)
    )
    for proba in results:
        np.testing.assert_array_equal(proba, expected)
    assert clf.get_params()["device"] == "auto" and current_run(clf) is None


def test_gradient_scaling_path(monkeypatch):
    """The float16 path (scaled backward, unscale, step, update) on the CPU."""
    import sklearn_leukemia._runtime as runtime
    from sklearn_leukemia._runtime import AmpConfig

    monkeypatch.setattr(
        runtime,
        "amp_config",
        lambda mixed_precision, device: AmpConfig(torch.bfloat16, "cpu", True),
    )
    steps = []
    original_step = torch.amp.GradScaler.step

    def spy_step(self, optimizer, *args, **kwargs):
        steps.append(self.get_scale())
        return original_step(self, optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "step", spy_step)
    grad_norms = []

    class GradNorm(Callback):
        def on_grad_computed(self, net, named_parameters, **kwargs):
            grads = [p.grad.norm() for _, p in named_parameters if p.grad is not None]
            grad_norms.append(float(torch.stack(grads).norm()))

    X, y = make_images()
    clf = SECNNClassifier(**FAST, callbacks=[GradNorm()]).fit(X, y)
    assert len(steps) == sum(clf.history[:, "train_batch_count"]) == 6
    # Callbacks see unscaled gradients, not gradients times the 65536 scale.
    assert steps[0] == 65536.0 and max(grad_norms) < 1000
    assert all(np.isfinite(clf.history[:, "train_loss"]))


def test_save_and_load_params(fitted, tmp_path):
    clf, X, y = fitted
    clf.save_params(f_params=tmp_path / "weights.pt")
    other = SECNNClassifier(**{**FAST, "random_state": 1}).fit(X, y)
    assert not np.array_equal(other.predict_proba(X), clf.predict_proba(X))
    other.load_params(f_params=tmp_path / "weights.pt")
    np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
    assert other.device == "auto" and other.device_ == clf.device_


def test_probabilities_whatever_the_loss():
    # skorch's "auto" would leave the output of any loss but the
    # cross-entropy as it is; the classifier's probabilities stay a softmax.
    class WeightedCE(nn.Module):
        def forward(self, logits, target):
            return nn.functional.cross_entropy(logits, target) * 2.0

    X, y = make_images()
    clf = SECNNClassifier(**FAST, criterion=WeightedCE).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert (proba >= 0).all()
    # An explicit nonlinearity is skorch's to apply.
    clf.set_params(predict_nonlinearity=None)
    assert not np.allclose(clf.predict_proba(X).sum(axis=1), 1)


def test_set_params_on_a_fitted_net_rebuilds_its_training_rules():
    X, y = make_images()
    clf = SECNNClassifier(**{**FAST, "max_epochs": 4}).fit(X, y)
    assert "train_scale" not in clf.history[-1]
    clf.set_params(progressive_resizing=0.5, ema=0.9)
    clf.partial_fit(X, y)
    np.testing.assert_allclose(clf.history[-4:, "train_scale"],
                               [0.5, 0.6875, 0.8125, 1])
    assert "ema" in dict(clf.callbacks_)
    clf.set_params(progressive_resizing=None).partial_fit(X, y)
    assert "train_scale" not in clf.history[-1]


def test_progressive_resizing_given_as_a_callback_resizes(monkeypatch):
    X, y = make_images(n=16)
    shapes = []
    infer = SECNNClassifier.infer

    def spy_infer(self, x, **fit_params):
        if self.module_.training:
            shapes.append(tuple(x.shape[2:]))
        return infer(self, x, **fit_params)

    monkeypatch.setattr(SECNNClassifier, "infer", spy_infer)
    SECNNClassifier(
        **{**FAST, "max_epochs": 4}, callbacks=[ProgressiveResizing(0.5)]
    ).fit(X, y)
    assert shapes[0] == (8, 8) and shapes[-1] == (16, 16)


def test_nested_augmentation_parameters_of_a_preset_name():
    clf = SECNNClassifier(**{**FAST, "augmentation": "erase"})
    clf.set_params(augmentation__rotation=(0, 90))
    assert isinstance(clf.augmentation, AugmentationPolicy)
    assert clf.augmentation.erase == (0.02, 0.25)
    assert clf.augmentation.rotation == (0, 90)
    # As a grid search does, through a pipeline.
    pipe = make_leukemia_pipeline().set_params(classifier__augmentation__zoom=0.1)
    assert pipe[-1].augmentation.zoom == 0.1
    assert pipe[-1].augmentation.preset_name() is None


@pytest.mark.parametrize(
    ("param", "advice"),
    [("weight_decay", "optimizer__weight_decay"),
     ("validation_fraction", "train_split")],
)
def test_removed_parameters_are_named_with_their_replacement(param, advice):
    X, y = make_images()
    with pytest.raises(TypeError, match=f"no parameter '{param}' any more; use "
                       f"{advice}"):
        SECNNClassifier(**FAST, **{param: 0.1}).fit(X, y)


class InterruptAt(Callback):
    """Press Ctrl-C (send this process SIGINT) at the end of epoch ``epoch``."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            signal.raise_signal(signal.SIGINT)


@pytest.fixture(autouse=False)
def python_sigint():
    """Python's own SIGINT handler, whatever the test runner inherited.

    A runner started in the background of a shell (``pytest &``) begins with
    SIGINT ignored, and an ignored Ctrl-C interrupts nothing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_sigint")
def test_interrupted_fit_raises_and_leaves_the_classifier_unfitted():
    X, y = make_images()
    clf = SECNNClassifier(**{**FAST, "max_epochs": 5},
                          callbacks=[("interrupt", InterruptAt(2))])
    with pytest.raises(KeyboardInterrupt, match="after 2 complete epoch"):
        clf.fit(X, y)
    assert not clf.initialized_
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert set(vars(clf)) == set(vars(SECNNClassifier(**FAST, callbacks=[])))
    # A refit of a fitted classifier interrupted: unfitted too, not half new.
    clf.set_params(callbacks=None).fit(X, y)
    clf.set_params(callbacks=[("interrupt", InterruptAt(1))])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict_proba(X)
    # The same classifier fits afterwards as a fresh one does.
    clf.set_params(callbacks=None)
    np.testing.assert_array_equal(
        clf.fit(X, y).predict_proba(X),
        SECNNClassifier(**{**FAST, "max_epochs": 5}).fit(X, y).predict_proba(X),
    )


@pytest.mark.usefixtures("python_sigint")
def test_interrupted_partial_fit_keeps_the_network_it_had():
    X, y = make_images()
    clf = SECNNClassifier(**FAST).fit(X, y)
    clf.set_params(callbacks=[("interrupt", InterruptAt(3))])
    with pytest.raises(KeyboardInterrupt, match="after 1 complete epoch"):
        clf.partial_fit(X, y)
    assert clf.initialized_ and len(clf.history_) == 3
    assert clf.predict_proba(X).shape == (len(X), 2)


@pytest.mark.usefixtures("python_sigint")
def test_on_interrupt_stop_is_skorchs_keep_going():
    X, y = make_images()
    clf = SECNNClassifier(**{**FAST, "max_epochs": 5}, on_interrupt="stop",
                          callbacks=[("interrupt", InterruptAt(2))])
    assert clf.fit(X, y) is clf
    assert len(clf.history_) == 2
    assert clf.predict_proba(X).shape == (len(X), 2)
    with pytest.raises(ValueError, match="on_interrupt"):
        SECNNClassifier(**FAST, on_interrupt="ignore").fit(X, y)


def test_invalid_callbacks_are_refused_by_fit_not_set_params():
    X, y = make_images()
    fitted = SECNNClassifier(**FAST).fit(X, y)
    fitted.set_params(lr_schedule=5, callbacks=-1)  # a fitted one too
    with pytest.raises(ValueError, match="'(callbacks|lr_schedule)' parameter"):
        fitted.partial_fit(X, y)
    assert SECNNClassifier(**FAST, callbacks="disable").fit(X, y).callbacks_ == []
    clf = SECNNClassifier(**FAST).set_params(callbacks=-1)
    with pytest.raises(ValueError, match="'callbacks' parameter .* Got -1"):
        clf.fit(X, y)
    clf = SECNNClassifier(**FAST).set_params(lr_schedule=[1], monitor=-1)
    with pytest.raises(ValueError, match="'(lr_schedule|monitor)' parameter"):
        clf.fit(X, y)


@pytest.mark.usefixtures("python_sigint")
def test_a_callback_stopping_training_is_no_interrupt():
    X, y = make_images()

    class StopAt(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt  # skorch's way for a callback to stop

    clf = SECNNClassifier(**{**FAST, "max_epochs": 5}, callbacks=[StopAt()])
    assert len(clf.fit(X, y).history_) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_fits_in_threads_equal_serial_fits_and_leave_global_state_alone():
    from concurrent.futures import ThreadPoolExecutor

    X, y = make_images()
    # Dropout on: the head of the SECNN draws from the fit's generator.
    params = {**FAST, "module__dropout": 0.5, "augmentation": "flips",
              "n_threads": 1}
    serial = [SECNNClassifier(**{**params, "random_state": seed}).fit(X, y)
              .predict_proba(X) for seed in (0, 1)]
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002

    def fit(seed):
        return SECNNClassifier(**{**params, "random_state": seed}).fit(X, y)

    with ThreadPoolExecutor(2) as pool:
        fitted = list(pool.map(fit, [0, 1, 0, 1]))
    for clf, expected in zip(fitted, serial * 2):
        np.testing.assert_array_equal(clf.predict_proba(X), expected)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(
        np.random.get_state(), np_state))  # noqa: NPY002


def test_a_fit_in_a_thread_never_changes_the_callers_draws():
    import threading
    import time

    X, y = make_images()
    torch.manual_seed(5)
    expected = torch.rand(100_000)
    torch.manual_seed(5)
    worker = threading.Thread(target=SECNNClassifier(
        **{**FAST, "max_epochs": 4, "module__dropout": 0.5}).fit, args=(X, y))
    worker.start()
    drawn = []
    while worker.is_alive():  # the caller draws while the fit runs
        drawn.append(torch.rand(1))
        time.sleep(0.001)
    worker.join()
    assert len(drawn) > 10
    assert torch.equal(torch.cat(drawn), expected[: len(drawn)])


def test_random_state_none_draws_a_fresh_seed_without_the_global_generator():
    X, y = make_images()
    np.random.seed(0)  # noqa: NPY002
    state = np.random.get_state()  # noqa: NPY002
    a = SECNNClassifier(**{**FAST, "random_state": None}).fit(X, y)
    assert all(np.array_equal(u, v) for u, v in zip(np.random.get_state(), state))  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    b = SECNNClassifier(**{**FAST, "random_state": None}).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("missing", [None, np.nan])
def test_a_missing_label_is_named_by_its_position(missing):
    X, _ = make_images(n=6)
    y = np.array(["ALL", "normal", missing, "ALL", "normal", "ALL"], dtype=object)
    with pytest.raises(ValueError, match=r"y has a missing label \((None|NaN)\) at "
                       "position 2"):
        SECNNClassifier(**FAST).fit(X, y)


def test_sample_weight_is_refused_at_once_and_the_apis_agree():
    import sklearn
    from sklearn.utils.validation import has_fit_parameter

    X, y = make_images()
    clf = SECNNClassifier(**FAST)
    assert not has_fit_parameter(clf, "sample_weight")
    with pytest.raises(TypeError, match="does not take sample_weight.*class_weight"):
        clf.fit(X, y, sample_weight=np.ones(len(y)))
    with pytest.raises(TypeError, match="does not take sample_weight"):
        clf.partial_fit(X, y, sample_weight=np.ones(len(y)))
    assert not hasattr(clf, "module_")  # refused before any work
    clf.fit(X, y, sample_weight=None)  # no weights, as meta-estimators say
    pipe = make_leukemia_pipeline(image_size=16, tta=None, augment=None,
                                  random_state=0)
    with pytest.raises(TypeError, match="does not take sample_weight"):
        pipe.fit(X, y, classifier__sample_weight=np.ones(len(y)))
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(TypeError, match="does not take sample_weight"):
            SECNNClassifier(**FAST).set_fit_request(sample_weight=True)
        # (scikit-learn's own refusal where skorch < 1.4 leaves it the method)
        with pytest.raises(TypeError, match="sample_weight"):
            SECNNClassifier(**FAST).set_partial_fit_request(sample_weight="w")
        # Not routed here: other steps may have it.
        clf = SECNNClassifier(**FAST).set_fit_request(sample_weight=False)
        assert clf._get_metadata_request().fit.requests["sample_weight"] is False


def test_intensity_range_of_fit_is_checked_at_predict_and_widened_by_training():
    from sklearn_leukemia.utils import IntensityRangeWarning

    X, y = make_images()
    clf = SECNNClassifier(**FAST).fit(X, y)
    low, high = clf.intensity_range_
    assert 0 <= low < high <= 1
    with pytest.warns(IntensityRangeWarning, match="SECNNClassifier holds "
                      r"intensities in \[.*\] \(float32 pixels"):
        clf.predict(X.astype(np.float32))
    dark = X[y == "ALL"]
    part = SECNNClassifier(**FAST).partial_fit(dark, y[y == "ALL"],
                                               classes=["ALL", "normal"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part.partial_fit(X, y)  # more training data widen the range
    assert part.intensity_range_ == clf.intensity_range_
