import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_leukemia.datasets import _synthetic, make_blood_smear


def _colour_features(images):
    """Nucleus area (dark purple pixels) and colour statistics per image."""
    x = images.astype(np.float32) / 255
    n, size = len(x), x.shape[1]
    centre = x[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4]
    dark_purple = (centre[..., 1] < 0.45) & (centre[..., 2] > centre[..., 1])
    return np.column_stack(
        [
            dark_purple.mean(axis=(1, 2)),
            centre.reshape(n, -1, 3).mean(axis=1),
            centre.reshape(n, -1, 3).std(axis=1),
            x.reshape(n, -1, 3).mean(axis=1),
        ]
    )


def _accuracy(images, target, groups=None):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if groups is None:
        cv = StratifiedKFold(3, shuffle=True, random_state=0)
    else:
        cv = StratifiedGroupKFold(3)
    features = _colour_features(images)
    return cross_val_score(model, features, target, groups=groups, cv=cv).mean()


def _optical_density(images):
    """-log of the light transmitted, relative to each image's background."""
    x = images.astype(np.float32) + 1
    background = np.percentile(x.reshape(len(x), -1, 3), 95, axis=1)
    return -np.log(x / background[:, None, None, :])


def test_shapes_dtypes_and_labels():
    images, target, groups = make_blood_smear(
        30, image_size=16, n_patients=6, random_state=0
    )
    assert images.shape == (30, 16, 16, 3)
    assert images.dtype == np.uint8
    assert target.shape == (30,)
    assert target.dtype.kind == "U"
    assert set(target) == {"normal", "ALL", "AML"}
    assert groups.shape == (30,)
    assert np.issubdtype(groups.dtype, np.integer)
    assert set(groups) == set(range(6))


@pytest.mark.parametrize("image_size", [16, 17, 33])
def test_any_image_size(image_size):
    images, _, _ = make_blood_smear(4, image_size=image_size, random_state=0)
    assert images.shape == (4, image_size, image_size, 3)


def test_each_patient_has_one_class_and_every_class_a_patient():
    _, target, groups = make_blood_smear(
        90, image_size=16, n_patients=12, random_state=1
    )
    assert len(np.unique(groups)) == 12
    for patient in np.unique(groups):
        assert len(np.unique(target[groups == patient])) == 1
    classes_of_patients = {target[groups == p][0] for p in np.unique(groups)}
    assert classes_of_patients == {"normal", "ALL", "AML"}


@pytest.mark.parametrize(
    "n_samples, classes, expected",
    [
        (200, ("normal", "ALL", "AML"), 10),
        (20, ("normal", "ALL", "AML"), 3),
        (2, ("normal", "ALL"), 2),
    ],
)
def test_default_number_of_patients(n_samples, classes, expected):
    _, _, groups = make_blood_smear(
        n_samples, image_size=16, classes=classes, random_state=0
    )
    assert len(np.unique(groups)) == expected


def test_weights_give_class_counts():
    _, target, _ = make_blood_smear(
        100, image_size=16, weights=(0.6, 0.3, 0.1), random_state=0
    )
    counts = {c: int((target == c).sum()) for c in ("normal", "ALL", "AML")}
    assert counts == {"normal": 60, "ALL": 30, "AML": 10}
    # The last proportion may be left out, as in make_classification.
    _, target_short, _ = make_blood_smear(
        100, image_size=16, weights=(0.6, 0.3), random_state=0
    )
    np.testing.assert_array_equal(np.sort(target_short), np.sort(target))


def test_default_classes_are_balanced():
    _, target, _ = make_blood_smear(90, image_size=16, random_state=0)
    assert [(target == c).sum() for c in ("normal", "ALL", "AML")] == [30, 30, 30]


def test_same_seed_same_data_other_seed_other_data():
    first = make_blood_smear(12, image_size=24, random_state=3)
    second = make_blood_smear(12, image_size=24, random_state=3)
    other = make_blood_smear(12, image_size=24, random_state=4)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize(
    "make_state",
    [np.random.RandomState, np.random.default_rng],
    ids=["RandomState", "Generator"],
)
def test_random_state_instances(make_state):
    a = make_blood_smear(6, image_size=16, random_state=make_state(5))
    b = make_blood_smear(6, image_size=16, random_state=make_state(5))
    np.testing.assert_array_equal(a[0], b[0])


def test_no_seed_gives_fresh_images():
    a, _, _ = make_blood_smear(3, image_size=16)
    b, _, _ = make_blood_smear(3, image_size=16)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("image_size", [32, 128])
def test_images_do_not_depend_on_chunking(monkeypatch, image_size):
    expected = make_blood_smear(
        9, image_size=image_size, difficulty=1.0, random_state=0
    )
    # Three images per chunk instead of all nine at once.
    monkeypatch.setattr(_synthetic, "_CHUNK_PIXELS", 3 * image_size**2)
    chunked = make_blood_smear(9, image_size=image_size, difficulty=1.0, random_state=0)
    for a, b in zip(expected, chunked):
        np.testing.assert_array_equal(a, b)


def test_class_subset_gives_binary_task():
    _, target, groups = make_blood_smear(
        40, image_size=16, classes=("normal", "ALL"), random_state=0
    )
    assert set(target) == {"normal", "ALL"}
    _, target, _ = make_blood_smear(10, image_size=16, classes=["AML"], random_state=0)
    assert set(target) == {"AML"}


def test_images_look_like_a_smear():
    images, _, _ = make_blood_smear(60, image_size=48, difficulty=0, random_state=0)
    od = _optical_density(images)
    # Pale background: the brightest tenth of every image is light.
    assert np.percentile(images.reshape(60, -1), 90, axis=1).min() > 170
    # The white cell's nucleus (strong red absorption) sits near the centre.
    nucleus = od[..., 0] > 0.4
    in_centre = nucleus[:, 12:36, 12:36].sum(axis=(1, 2))
    outside = nucleus.sum(axis=(1, 2)) - in_centre
    assert (in_centre / 24**2 > 0.02).all()
    assert (outside / (48**2 - 24**2) < 0.01).all()
    # Red cells (green absorbed more than red) cover part of the field.
    red_cells = (od[..., 1] > 0.25) & (od[..., 0] < 0.5 * od[..., 1])
    assert 0.1 < red_cells.mean() < 0.8


def test_lymphoblasts_have_higher_nc_ratio_than_myeloblasts():
    images, target, _ = make_blood_smear(
        100, image_size=64, classes=("ALL", "AML"), difficulty=0, random_state=0
    )
    red = _optical_density(images)[:, 16:48, 16:48, 0]
    # White cells absorb red light, red cells and background hardly any; the
    # nucleus absorbs most, relative to each image's stain intensity.
    cell = red > 0.2
    peak = np.percentile(red.reshape(len(red), -1), 98, axis=1)
    nucleus = red > 0.7 * peak[:, None, None]
    nc = nucleus.sum(axis=(1, 2)) / cell.sum(axis=(1, 2))
    assert nc[target == "ALL"].mean() > nc[target == "AML"].mean() + 0.15


def test_nc_parameter_separates_lymphoblasts_from_myeloblasts():
    rng = np.random.default_rng(0)
    patients = _synthetic._draw_patients(rng, 2, difficulty=0.0)
    target = groups = np.repeat([0, 1], 200)
    cells = _synthetic._draw_cells(
        rng, target, groups, ("ALL", "AML"), patients, difficulty=0.0
    )
    assert cells["nc"][target == 0].min() > cells["nc"][target == 1].max()
    assert cells["auer"][target == 0].sum() == 0
    assert 0.1 < cells["auer"][target == 1].mean() < 0.4


def test_classes_learnable_and_harder_with_difficulty():
    easy = make_blood_smear(300, image_size=32, difficulty=0.0, random_state=0)
    hard = make_blood_smear(300, image_size=32, difficulty=1.0, random_state=0)
    easy_accuracy = _accuracy(*easy[:2])
    hard_accuracy = _accuracy(*hard[:2])
    assert easy_accuracy > 0.8
    assert 1 / 3 < hard_accuracy < easy_accuracy - 0.1


def test_patient_split_is_harder_than_random_split():
    images, target, groups = make_blood_smear(
        300, image_size=32, difficulty=0.0, random_state=0
    )
    random_split = _accuracy(images, target)
    patient_split = _accuracy(images, target, groups)
    assert patient_split < random_split - 0.1


def test_difficulty_blurs_images():
    def sharpness(images):
        grey = images.astype(np.float32).mean(axis=-1)
        return np.abs(np.diff(grey, axis=1)).mean()

    sharp, _, _ = make_blood_smear(60, image_size=32, difficulty=0, random_state=0)
    blurred, _, _ = make_blood_smear(60, image_size=32, difficulty=1, random_state=0)
    assert sharpness(blurred) < sharpness(sharp)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"classes": ("normal", "CLL")}, ValueError, r"'normal', 'ALL', 'AML'"),
        ({"classes": ("normal", "ALL", "ALL")}, ValueError, "duplicates"),
        ({"classes": "ALL"}, ValueError, "sequence of class names"),
        ({"classes": ()}, ValueError, "classes is empty"),
        ({"n_samples": 0}, ValueError, "n_samples must be an integer >= 1; got 0"),
        ({"n_samples": 2.5}, TypeError, "n_samples must be an int"),
        ({"n_samples": True}, TypeError, "n_samples must be an int"),
        ({"n_samples": 2}, ValueError, "n_samples=2 is smaller than the number"),
        ({"image_size": 15}, ValueError, "image_size must be an integer >= 16; got 15"),
        ({"image_size": 32.0}, TypeError, "image_size must be an int"),
        ({"difficulty": -0.1}, ValueError, r"difficulty=-0.1 .* \[0, 1\]"),
        ({"difficulty": 1.5}, ValueError, "difficulty"),
        ({"difficulty": float("nan")}, ValueError, "difficulty"),
        ({"difficulty": "hard"}, ValueError, "difficulty"),
        ({"n_patients": 2}, ValueError, "n_patients=2 must lie between"),
        ({"n_patients": 31}, ValueError, "n_patients=31 must lie between"),
        ({"n_patients": 3.0}, TypeError, "n_patients must be an int"),
        ({"weights": (0.5, 0.5, 0.5)}, ValueError, "weights.* sum to 1.5"),
        ({"weights": (1.0,)}, ValueError, "weights has shape"),
        ({"weights": (0.5, 0.5, 0.0)}, ValueError, "positive"),
        ({"weights": (-0.5, 0.5, 1.0)}, ValueError, "positive"),
        ({"weights": (0.6, 0.4)}, ValueError, "weights.*last class"),
        ({"random_state": "seed"}, ValueError, "seed"),
    ],
)
def test_bad_parameters(kwargs, error, match):
    params = {"n_samples": 30, "image_size": 16, "random_state": 0, **kwargs}
    with pytest.raises(error, match=match):
        make_blood_smear(**params)
