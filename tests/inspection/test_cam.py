"""Grad-CAM heatmaps: where the network looked."""

import numpy as np
import pytest

from sklearn_leukemia import SECNNClassifier, make_leukemia_pipeline
from sklearn_leukemia.inspection import class_activation_maps, find_cam_layer


def _spot_images(n, rng, size=32):
    """Noise with one bright spot: top-left for "left", bottom-right for "right"."""
    X = rng.integers(0, 120, size=(n, size, size, 3)).astype(np.uint8)
    y = np.array(["left", "right"] * (n // 2))
    for i, label in enumerate(y):
        r, c = rng.integers(2, 8, size=2)
        if label == "right":
            r, c = size - 8 - r + 2, size - 8 - c + 2
        X[i, r:r + 6, c:c + 6] = 255
    return X, y


@pytest.fixture(scope="module")
def spots():
    rng = np.random.default_rng(0)
    X, y = _spot_images(64, rng)
    clf = SECNNClassifier(max_epochs=15, batch_size=16, module__width=8, tta=None,
                          augmentation=None, random_state=0).fit(X, y)
    return X, y, clf


def test_heatmaps_fall_on_what_decides_the_class(spots):
    X, y, clf = spots
    assert (clf.predict(X) == y).mean() > 0.9
    maps = class_activation_maps(clf, X)
    assert maps.shape == (64, 32, 32) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    half = 16
    left = maps[y == "left"]
    right = maps[y == "right"]
    # The mass of each heatmap lies in the quarter that holds the spot.
    assert left[:, :half, :half].sum() > left[:, half:, half:].sum()
    assert right[:, half:, half:].sum() > right[:, :half, :half].sum()


def test_target_chooses_the_class_explained(spots):
    X, y, clf = spots
    as_left = class_activation_maps(clf, X[:4], target="left")
    per_image = class_activation_maps(clf, X[:4], target=["left"] * 4)
    np.testing.assert_allclose(as_left, per_image)
    with pytest.raises(ValueError, match=r"\['up'\] is not among the classes"):
        class_activation_maps(clf, X[:2], target="up")


def test_a_pipeline_and_its_resized_images():
    from sklearn_leukemia.datasets import make_blood_smear

    X, y, _ = make_blood_smear(24, image_size=40, classes=("normal", "ALL"),
                               random_state=0)
    pipe = make_leukemia_pipeline(image_size=32, max_epochs=1, module__width=4,
                                  batch_size=8, random_state=0).fit(X, y)
    maps, images = class_activation_maps(pipe, X[:3], return_images=True)
    assert maps.shape == (3, 32, 32)
    # The images the maps lie on: read and resized, before normalisation.
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8


def test_layer_by_name_and_refusals(spots):
    X, _, clf = spots
    name = find_cam_layer(clf.module_, (3, 32, 32))
    np.testing.assert_allclose(class_activation_maps(clf, X[:2], layer=name),
                               class_activation_maps(clf, X[:2]))
    with pytest.raises(ValueError, match="'nowhere' is not a layer"):
        class_activation_maps(clf, X[:2], layer="nowhere")
    with pytest.raises(ValueError, match="not fitted"):
        class_activation_maps(SECNNClassifier(), X[:2])
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="explains a SECNNClassifier"):
        class_activation_maps(LogisticRegression(), X[:2])
