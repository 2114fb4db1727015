import warnings

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from PIL import Image
from sklearn.model_selection import GridSearchCV

from sklearn_leukemia import SECNNClassifier, make_leukemia_pipeline
from sklearn_leukemia.augmentation import AugmentationPolicy, ImageAugmenter
from sklearn_leukemia.datasets import make_blood_smear
from sklearn_leukemia.pipeline import LARGE_SET, training_recipe
from sklearn_leukemia.preprocessing import ImageDenoiser

TINY = dict(image_size=16, max_epochs=1, batch_size=8, module__width=4)


def test_steps_and_recipe_defaults():
    pipe = make_leukemia_pipeline()
    assert isinstance(pipe, Pipeline)
    names = [name for name, _ in pipe.steps]
    assert names == [
        "read", "resize", "contrast", "denoise", "normalize", "oversample",
        "classifier",
    ]
    # Without a count, the recipe of a large set.
    assert pipe.named_steps["read"].image_size == 96
    assert pipe.named_steps["resize"].size == 96
    assert pipe.named_steps["contrast"] == "passthrough"
    assert pipe.named_steps["denoise"] == "passthrough"
    assert pipe.named_steps["normalize"].method == "standard"
    assert pipe.named_steps["oversample"] == "passthrough"
    clf = pipe.named_steps["classifier"]
    assert isinstance(clf, SECNNClassifier)
    assert clf.class_weight is None
    assert clf.tta == "dihedral"
    assert clf.progressive_resizing is None
    assert clf.augmentation == "erase"
    assert clf.max_epochs == 150


def test_classifier_params_override_the_recipe():
    pipe = make_leukemia_pipeline(
        class_weight="balanced", tta=None, progressive_resizing=0.5, lr=0.01,
        module__width=8,
    )
    clf = pipe.named_steps["classifier"]
    assert clf.class_weight == "balanced"
    assert clf.tta is None
    assert clf.progressive_resizing == 0.5
    assert clf.lr == 0.01
    assert clf.get_params()["module__width"] == 8


def test_progressive_resizing_trains_small_first_and_predicts_at_full_size():
    X, y, _ = make_blood_smear(16, image_size=24, classes=("normal", "ALL"),
                               random_state=0)
    tiny = {**TINY, "max_epochs": 4}
    pipe = make_leukemia_pipeline(**tiny, progressive_resizing=0.5,
                                  random_state=0).fit(X, y)
    clf = pipe.named_steps["classifier"]
    # 4 epochs: the ramp ends at epoch 3 of 4; the last trains at full size.
    assert clf.history_[:, "train_scale"] == [0.5, 0.6875, 0.8125, 1.0]
    assert pipe.predict_proba(X).shape == (16, 2)
    fixed = make_leukemia_pipeline(
        **tiny, progressive_resizing=None, random_state=0
    ).fit(X, y)
    assert "train_scale" not in fixed.named_steps["classifier"].history_[-1]
    assert not np.allclose(fixed.predict_proba(X), pipe.predict_proba(X))
    with pytest.raises(ValueError, match="'progressive_resizing' parameter"):
        make_leukemia_pipeline(**tiny, progressive_resizing=2).fit(X, y)


@pytest.mark.parametrize(
    "n_images, expected",
    [
        (None, (96, 150, None, "erase")),
        (LARGE_SET, (96, 150, None, "erase")),
        (100_000, (96, 150, None, "erase")),
        (LARGE_SET - 1, (128, 150, 0.5, "flips")),
        (1200, (128, 188, 0.5, "flips")),
        (1000, (128, 225, 0.5, "flips")),
        (900, (128, 250, 0.5, "flips")),
        (1, (128, 250, 0.5, "flips")),
    ],
)
def test_training_recipe(n_images, expected):
    # The documented rule: the cheapest recipe from 1,500 images up; below,
    # 128 pixels grown from half the side, the flips, and the epochs of
    # 225,000 image passes (150 to 250).
    recipe = training_recipe(n_images)
    keys = ("image_size", "max_epochs", "progressive_resizing", "augment")
    assert tuple(recipe[k] for k in keys) == expected
    pipe = make_leukemia_pipeline(n_images=n_images)
    clf = pipe.named_steps["classifier"]
    assert pipe.named_steps["read"].image_size == expected[0]
    assert pipe.named_steps["resize"].size == expected[0]
    assert (clf.max_epochs, clf.progressive_resizing, clf.augmentation) == expected[1:]


def test_the_recipe_is_the_count_given_not_the_images_fitted():
    # A fold of a cross-validation trains what the final fit trains, and the
    # oversampling step does not change the recipe either.
    X, y, _ = make_blood_smear(24, image_size=20, classes=("normal", "ALL"),
                               random_state=0)
    params = dict(n_images=24, max_epochs=4, batch_size=16, module__width=4,
                  random_state=0, n_copies=2)
    fold = make_leukemia_pipeline(**params).fit(X[:16], y[:16])
    full = make_leukemia_pipeline(**params).fit(X, y)
    for fitted in (fold, full):
        assert fitted[:-2].transform(X).shape == (24, 128, 128, 3)
        clf = fitted.named_steps["classifier"]
        assert clf.progressive_resizing == 0.5 and clf.augmentation == "flips"
        assert fitted.named_steps["classifier"].history_[0, "train_scale"] == 0.5
    # Explicit settings win over the recipe.
    pipe = make_leukemia_pipeline(n_images=24, image_size=32, max_epochs=3,
                                  progressive_resizing=None, augment="erase")
    assert pipe[0].image_size == 32 and pipe[-1].max_epochs == 3
    assert pipe[-1].progressive_resizing is None and pipe[-1].augmentation == "erase"
    with pytest.raises(ValueError, match="'n_images' parameter.*Got 0"):
        make_leukemia_pipeline(n_images=0)
    # A (height, width) size, as the reader and the resizer take it.
    pair = make_leukemia_pipeline(image_size=(24, 16), tta="flips")
    assert pair[0].image_size == (24, 16) and pair[1].size == (24, 16)


def test_non_square_resize_needs_flips_and_fails_before_training():
    X, y, _ = make_blood_smear(16, image_size=24, classes=("normal", "ALL"),
                               random_state=0)
    pipe = make_leukemia_pipeline(**TINY, random_state=0)
    pipe.set_params(resize__size=(16, 24))
    with pytest.raises(ValueError, match="tta='dihedral' needs square images; "
                       "got images of 16x24 pixels. Use tta='flips'"):
        pipe.fit(X, y)
    assert not hasattr(pipe.named_steps["classifier"], "module_")
    pipe.set_params(classifier__tta="flips").fit(X, y)
    assert pipe.predict(X).shape == (16,)


@pytest.mark.parametrize(
    ("augment", "expected"),
    [
        (True, AugmentationPolicy()),
        ("default", AugmentationPolicy()),
        ("orientation", AugmentationPolicy.preset("orientation")),
        ("paper", AugmentationPolicy.paper()),
        (AugmentationPolicy(rotation=15), AugmentationPolicy(rotation=15)),
    ],
)
def test_augment_choices(augment, expected):
    X = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), np.uint8)
    pipe = make_leukemia_pipeline(augment=augment, **TINY).fit(X, [0, 1] * 4)
    assert pipe[-1].augmentation_.get_params() == expected.get_params()


@pytest.mark.parametrize("augment", [False, None])
def test_augment_off(augment):
    assert make_leukemia_pipeline(augment=augment)[-1].augmentation is None


def test_given_policy_is_used_as_is():
    policy = AugmentationPolicy(zoom=None)
    assert make_leukemia_pipeline(augment=policy)[-1].augmentation is policy


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"augment": "rotations"}, "augment"),
        ({"augment": 1.5}, "augment"),
        ({"augment": "Auto"}, "augment"),
        ({"contrast": "equalize"}, "contrast"),
        ({"denoise": "wiener"}, "denoise"),
        ({"normalize": "minmax"}, "normalize"),
        ({"image_size": "large"}, "image_size"),
        ({"tta": "rot90"}, "tta"),
    ],
)
def test_bad_choices_name_the_argument(kwargs, name):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"'{name}' parameter.*Got {value!r}"):
        make_leukemia_pipeline(**kwargs)


def test_sampler_step_is_built_only_when_asked():
    assert make_leukemia_pipeline(n_copies=0)[5] == "passthrough"
    sampler = make_leukemia_pipeline(n_copies=2, random_state=3).named_steps[
        "oversample"
    ]
    assert isinstance(sampler, ImageAugmenter)
    assert (sampler.n_copies, sampler.random_state) == (2, 3)
    assert isinstance(make_leukemia_pipeline(balance=True)[5], ImageAugmenter)


def test_fits_file_paths_and_arrays_alike(tmp_path):
    X, y, _ = make_blood_smear(16, image_size=24, classes=("normal", "ALL"),
                               random_state=0)
    paths = []
    for i, image in enumerate(X):
        path = tmp_path / f"{i}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    from_arrays = make_leukemia_pipeline(**TINY, random_state=0).fit(X, y)
    from_paths = make_leukemia_pipeline(**TINY, random_state=0).fit(
        np.asarray(paths), y
    )
    np.testing.assert_allclose(
        from_paths.predict_proba(np.asarray(paths)),
        from_arrays.predict_proba(X),
        atol=1e-5,
    )


def test_grid_search_can_switch_steps():
    X, y, _ = make_blood_smear(24, image_size=16, classes=("normal", "ALL"),
                               random_state=0)
    pipe = make_leukemia_pipeline(**TINY, random_state=0)
    grid = {
        "denoise": ["passthrough", ImageDenoiser(method="median")],
        "classifier__lr": [1e-3, 1e-2],
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.predict(X[:3]).shape == (3,)


# One epoch of a tiny network may predict no leukemic image in a fold.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_binary_scores_of_a_model_of_subtypes():
    # The pipeline is fitted on three classes and cross-validated on the
    # binary question "ALL or AML" against "normal".
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_validate

    from sklearn_leukemia.metrics import clinical_report, clinical_scorers

    X, y, _ = make_blood_smear(
        30, image_size=16, classes=("normal", "ALL", "AML"), random_state=0
    )
    pipe = make_leukemia_pipeline(**TINY, random_state=0)
    scores = cross_validate(
        pipe,
        X,
        y,
        cv=StratifiedKFold(2),
        scoring=clinical_scorers(positive_classes=["ALL", "AML"]),
        error_score="raise",
        return_estimator=True,
    )
    for fitted, (_, test), auc, specificity in zip(
        scores["estimator"],
        StratifiedKFold(2).split(X, y),
        scores["test_roc_auc"],
        scores["test_specificity"],
    ):
        assert fitted.classes_.tolist() == ["ALL", "AML", "normal"]
        proba = fitted.predict_proba(X[test])
        leukemic = y[test] != "normal"
        assert auc == pytest.approx(roc_auc_score(leukemic, 1 - proba[:, 2]))
        report = clinical_report(
            y[test],
            fitted.predict(X[test]),
            proba,
            labels=fitted.classes_,
            positive_classes=["ALL", "AML"],
            n_bootstraps=0,
        )
        assert report.pos_label == "ALL+AML"
        assert report.metrics["roc_auc"][0] == pytest.approx(auc)
        assert report.metrics["specificity"][0] == pytest.approx(specificity)


# One epoch of a tiny network may predict no leukemic image in a fold.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_soft_vote_of_pipelines_of_several_seeds():
    # The seed ensemble the benchmarks page measures: scikit-learn's
    # VotingClassifier passes the images through to each pipeline and
    # averages their probabilities; the clinical scorers read it as any
    # classifier.
    from sklearn.ensemble import VotingClassifier
    from sklearn.model_selection import cross_validate

    from sklearn_leukemia.metrics import clinical_scorers

    X, y, _ = make_blood_smear(
        24, image_size=16, classes=("normal", "ALL", "AML"), random_state=0
    )
    members = [
        (f"seed{k}", make_leukemia_pipeline(**TINY, random_state=k)) for k in range(3)
    ]
    vote = VotingClassifier(members, voting="soft").fit(X, y)
    assert vote.classes_.tolist() == ["ALL", "AML", "normal"]
    probas = [member.predict_proba(X) for member in vote.estimators_]
    # Three seeds, three different networks.
    assert not np.allclose(probas[0], probas[1])
    np.testing.assert_allclose(vote.predict_proba(X), np.mean(probas, axis=0))
    assert set(vote.predict(X)) <= {"ALL", "AML", "normal"}
    scores = cross_validate(
        vote, X, y, cv=2, error_score="raise",
        scoring=clinical_scorers(positive_classes=["ALL", "AML"]),
    )
    assert np.all(np.isfinite(scores["test_specificity"]))


def test_float_images_in_0_255_to_a_model_fitted_on_uint8_are_named():
    from sklearn_leukemia.utils import IntensityRangeWarning

    X, y, _ = make_blood_smear(40, image_size=16, classes=("normal", "ALL"),
                               random_state=0)
    pipe = make_leukemia_pipeline(image_size=16, tta=None, augment=None,
                                  random_state=0)
    pipe.set_params(classifier__max_epochs=1, classifier__module__width=4)
    pipe.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.predict(X)
        pipe.predict(X.astype(np.float32) / 255)
    with pytest.warns(IntensityRangeWarning) as caught:
        pipe.predict(X.astype(np.float32))
    assert "IntensityNormalizer holds intensities in [6, 255]" in str(
        caught[0].message)
