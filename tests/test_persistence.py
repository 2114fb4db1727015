import json
import warnings

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from sklearn_leukemia import (
    SECNNClassifier,
    load_model,
    make_leukemia_pipeline,
    save_model,
)
from sklearn_leukemia.augmentation import AugmentationPolicy
from sklearn_leukemia.datasets import make_blood_smear
from sklearn_leukemia.persistence import FORMAT_VERSION
from sklearn_leukemia.preprocessing import IntensityNormalizer


@pytest.fixture(scope="module")
def smears():
    X, y, _ = make_blood_smear(40, image_size=24, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted_pipeline(smears):
    X, y = smears
    pipe = make_leukemia_pipeline(
        image_size=16,
        contrast="stretch",
        denoise="median",
        n_copies=1,
        max_epochs=2,
        batch_size=8,
        module__width=4,
        random_state=0,
    )
    return pipe.fit(X, y)


def _rewrite_header(path, edit):
    with safe_open(str(path), framework="numpy") as handle:
        header = json.loads(handle.metadata()["sklearn_leukemia"])
    arrays = load_file(str(path))
    edit(header)
    save_file(arrays, str(path), metadata={"sklearn_leukemia": json.dumps(header)})


def test_pipeline_round_trip_gives_identical_predictions(
    fitted_pipeline, smears, tmp_path
):
    X, _ = smears
    path = save_model(fitted_pipeline, tmp_path / "model.slk")
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), fitted_pipeline.predict(X))
    np.testing.assert_allclose(
        loaded.predict_proba(X), fitted_pipeline.predict_proba(X), atol=1e-6
    )
    assert [n for n, _ in loaded.steps] == [n for n, _ in fitted_pipeline.steps]
    clf = loaded.named_steps["classifier"]
    assert clf.get_params()["module__width"] == 4
    assert clf.tta == "dihedral"
    assert list(clf.classes_) == list(fitted_pipeline.classes_)
    assert len(clf.history) == 2
    assert clf.max_epochs == 2
    norm = loaded.named_steps["normalize"]
    np.testing.assert_array_equal(
        norm.mean_, fitted_pipeline.named_steps["normalize"].mean_
    )
    # The preset name comes back as it was given, and its policy as an
    # object with its parameters.
    assert clf.augmentation == "erase"
    assert clf.augmentation_.get_params() == (
        AugmentationPolicy.preset("erase").get_params()
    )


def test_file_without_tta_predicts_from_the_image_alone(
    fitted_pipeline, smears, tmp_path
):
    # Files written before the tta parameter existed keep their predictions.
    X, _ = smears
    path = save_model(fitted_pipeline, tmp_path / "old.slk")

    def edit(header):
        del header["model"]["steps"][-1][1]["params"]["tta"]

    _rewrite_header(path, edit)
    old = load_model(path)
    # None, the default when tta did not exist (today's is "dihedral").
    assert old.named_steps["classifier"].tta is None
    plain = load_model(save_model(fitted_pipeline, tmp_path / "new.slk"))
    plain.set_params(classifier__tta=None)
    np.testing.assert_array_equal(old.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize(("name", "value"), [("mixup", 0.3), ("ema", 0.999)])
def test_training_option_round_trips_and_old_files_load_without_it(
    fitted_pipeline, tmp_path, name, value
):
    # On a loaded copy: the module's fixture stays as it is.
    copy = load_model(save_model(fitted_pipeline, tmp_path / "copy.slk"))
    copy.set_params(**{f"classifier__{name}": value})
    path = save_model(copy, tmp_path / "m.slk")
    assert getattr(load_model(path).named_steps["classifier"], name) == value

    def edit(header):
        del header["model"]["steps"][-1][1]["params"][name]

    # Files written before the parameter existed load with it switched off.
    _rewrite_header(path, edit)
    assert getattr(load_model(path).named_steps["classifier"], name) == 0.0


def test_file_of_version_0_1_loads_and_predicts_as_it_did():
    # Written at 5d3944a (tests/data), when the sizes of a default fit were
    # chosen in fit ("auto" parameters), the sampler step was "augment" and
    # the classifier had weight_decay and validation_fraction.
    from pathlib import Path

    data = Path(__file__).parent / "data"
    expected = np.load(data / "model_v0.1_expected.npz")
    model, metadata = load_model(data / "model_v0.1.slk", return_metadata=True)
    assert metadata["made_by"].startswith("sklearn-leukemia 0.1.0.dev0")
    np.testing.assert_array_equal(model.predict_proba(expected["X"]),
                                  expected["proba"])
    # What "auto" chose is now the parameter; the fitted choices are gone.
    assert model.named_steps["read"].image_size == (128, 128)
    assert model.named_steps["resize"].size == (128, 128)
    assert not hasattr(model.named_steps["read"], "image_size_")
    clf = model.named_steps["classifier"]
    assert clf.max_epochs == 250 and clf.progressive_resizing == 0.5
    assert clf.augmentation.preset_name() == "flips"
    assert clf.get_params()["optimizer__weight_decay"] == 2e-4
    assert "validation_fraction" not in clf.get_params()
    assert [name for name, _ in model.steps][5] == "augment"


def test_loaded_pipeline_can_be_refitted(fitted_pipeline, smears, tmp_path):
    X, y = smears
    loaded = load_model(save_model(fitted_pipeline, tmp_path / "m.slk"))
    assert loaded.fit(X, y).predict(X[:3]).shape == (3,)


def test_single_estimator_round_trip(smears, tmp_path):
    X, _ = smears
    norm = IntensityNormalizer(method="standard").fit(X)
    loaded = load_model(save_model(norm, tmp_path / "norm.slk"))
    np.testing.assert_allclose(loaded.transform(X), norm.transform(X))


def test_network_options_round_trip(smears, tmp_path):
    # The network is rebuilt from the saved module__ arguments on load.
    X, y = smears
    clf = SECNNClassifier(
        max_epochs=1, module__width=4, module__stem_stride=4, random_state=0
    ).fit(X, y)
    loaded = load_model(save_model(clf, tmp_path / "clf.slk"))
    assert loaded.module_.stem[0].kernel_size == (4, 4)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_save_is_atomic_and_leaves_no_temporary_files(fitted_pipeline, tmp_path):
    save_model(fitted_pipeline, tmp_path / "m.slk")
    save_model(fitted_pipeline, tmp_path / "m.slk")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.slk"]


def test_unsupported_step_is_refused_with_advice(tmp_path):
    from sklearn.svm import SVC

    with pytest.raises(TypeError, match="joblib"):
        save_model(SVC(), tmp_path / "m.slk")
    assert not list(tmp_path.iterdir())


def test_an_unfitted_network_is_not_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    from sklearn_leukemia import make_leukemia_pipeline

    with pytest.raises(NotFittedError):
        save_model(make_leukemia_pipeline(), tmp_path / "m.slk")
    assert not list(tmp_path.iterdir())


def test_foreign_class_in_file_is_refused(fitted_pipeline, tmp_path):
    path = save_model(fitted_pipeline, tmp_path / "m.slk")

    def edit(header):
        header["model"]["steps"][0][1]["class"] = "os.system"

    _rewrite_header(path, edit)
    with pytest.raises(ValueError, match="refusing to load .*names class 'os.system'"):
        load_model(path)


def test_incompatible_format_version_is_explained(fitted_pipeline, tmp_path):
    path = save_model(fitted_pipeline, tmp_path / "m.slk")

    def edit(header):
        header["format_version"] = FORMAT_VERSION + 1
        header["library_version"] = "9.0"

    _rewrite_header(path, edit)
    with pytest.raises(ValueError, match=r"written by sklearn-leukemia 9.0.*format"):
        load_model(path)


def test_not_a_model_file(tmp_path):
    junk = tmp_path / "junk.slk"
    junk.write_bytes(b"definitely not safetensors")
    with pytest.raises(ValueError, match="not a sklearn-leukemia model"):
        load_model(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(plain))
    with pytest.raises(ValueError, match="no model description"):
        load_model(plain)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.slk"):
        load_model(tmp_path / "nope.slk")


def test_model_trained_with_unavailable_device_loads_on_cpu(smears, tmp_path):
    X, y = smears
    clf = SECNNClassifier(max_epochs=1, batch_size=8, module__width=4, random_state=0)
    clf.fit(X, y)
    path = save_model(clf, tmp_path / "clf.slk")

    def edit(header):  # as if it had been trained with device="cuda" on a GPU
        header["model"]["params"]["device"] = "cuda"
        header["model"]["state"]["__dict__"]["device_"] = "cuda:0"

    _rewrite_header(path, edit)
    import torch

    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        pytest.skip("CUDA is available; the fallback is not exercised")
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        loaded = load_model(path)
    assert loaded.device_ == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_metadata_round_trips_and_defaults_to_empty(tmp_path):
    norm = IntensityNormalizer(method="standard").fit(
        np.zeros((2, 4, 4, 3), dtype=np.uint8)
    )
    plain = save_model(norm, tmp_path / "plain.slk")
    assert load_model(plain, return_metadata=True)[1] == {}
    metadata = {"positive_classes": ("Early", "Pre"), "note": {"site": 2, "ok": None}}
    path = save_model(norm, tmp_path / "m.slk", metadata=metadata)
    loaded, read = load_model(path, return_metadata=True)
    # Through JSON: tuples come back as lists.
    assert read == {"positive_classes": ["Early", "Pre"],
                    "note": {"site": 2, "ok": None}}
    assert isinstance(loaded, IntensityNormalizer)
    # Without return_metadata the model alone, as before.
    assert isinstance(load_model(path), IntensityNormalizer)


@pytest.mark.parametrize(
    "metadata, message",
    [
        (["Early"], "metadata must be a dict, got list"),
        ({1: "x"}, "metadata has the key 1; keys must be strings"),
        ({"a": {"b": object()}}, r"metadata\['a'\]\['b'\] is a object"),
        ({"a": [1.0, float("nan")]}, r"metadata\['a'\]\[1\] is nan"),
    ],
)
def test_bad_metadata_is_refused_before_writing(tmp_path, metadata, message):
    norm = IntensityNormalizer().fit(np.zeros((2, 4, 4, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match=message):
        save_model(norm, tmp_path / "m.slk", metadata=metadata)
    assert list(tmp_path.iterdir()) == []


def test_metadata_that_is_not_a_dict_in_the_file_is_named(fitted_pipeline, tmp_path):
    path = save_model(fitted_pipeline, tmp_path / "m.slk")

    def edit(header):
        header["metadata"] = ["Early"]

    _rewrite_header(path, edit)
    load_model(path)  # the model alone does not read it
    with pytest.raises(ValueError, match="metadata that is not a dict"):
        load_model(path, return_metadata=True)


# --- model files are untrusted input ------------------------------------------


def _step(header, name):
    return dict(header["model"]["steps"])[name]


def _tamper(fitted_pipeline, tmp_path, edit):
    path = save_model(fitted_pipeline, tmp_path / "m.slk")
    _rewrite_header(path, edit)
    return path


def _nest(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


TAMPERED = {
    "unknown fitted attribute": (
        lambda h: _step(h, "normalize")["fitted"].update(transform=1),
        r"model.normalize.fitted holds 'transform', which is no fitted attribute "
        "of IntensityNormalizer",
    ),
    "dunder attribute": (
        lambda h: _step(h, "resize")["fitted"].update(__class__="x"),
        r"holds '__class__', which is no fitted attribute of ImageResizer",
    ),
    "unknown parameter": (
        lambda h: _step(h, "read")["params"].update(evil=1),
        r"model.read.params holds 'evil', which is no parameter of ImageReader",
    ),
    "unknown classifier parameter": (
        lambda h: _step(h, "classifier")["params"].update(__dict__=1),
        r"holds '__dict__', which is no parameter of SECNNClassifier",
    ),
    "unknown network state": (
        lambda h: _step(h, "classifier")["state"]["__dict__"].update(module_=1),
        r"model.classifier.state holds 'module_', which SECNNClassifier does not",
    ),
    "huge image size": (
        lambda h: _step(h, "read")["params"].update(image_size=60000),
        r"model.read.params.image_size=60000 asks for images of 60000 pixels a "
        "side; a model file may ask for at most 4096",
    ),
    "huge resize": (
        lambda h: _step(h, "resize")["params"].update(size=[16, 60000]),
        r"model.resize.params.size=\[16, 60000\] asks for images of 60000",
    ),
    "a planted dataset": (
        lambda h: _step(h, "classifier")["params"].update(dataset={
            "class": "sklearn_leukemia._data.ImageBatchDataset", "params": {}}),
        r"model.classifier.params.dataset builds a ImageBatchDataset; a value in "
        "a model file may only be an augmentation policy",
    ),
    "an estimator as a value": (
        lambda h: _step(h, "classifier")["params"].update(classes={
            "class": "sklearn_leukemia.preprocessing._reader.ImageReader",
            "params": {}}),
        r"builds a ImageReader",
    ),
    "a class where none is taken": (
        lambda h: _step(h, "classifier")["params"].update(architecture={
            "__type__": "sklearn_leukemia.preprocessing._reader.ImageReader"}),
        r"model.classifier.params.architecture holds a class or an estimator",
    ),
    "timm from the hub": (
        lambda h: _step(h, "classifier")["params"].update(
            architecture="timm:hf-hub:org/repo"),
        r"architecture='timm:hf-hub:org/repo': a model file may name a timm model",
    ),
    "timm from a folder": (
        lambda h: _step(h, "classifier")["params"].update(
            architecture="timm:local-dir:/tmp/x"),
        r"not a source timm would fetch or read",
    ),
    "callbacks": (
        lambda h: _step(h, "classifier")["params"].update(callbacks=[]),
        r"callbacks=\[\]: a model file may not set it",
    ),
    "compilation": (
        lambda h: _step(h, "classifier")["params"].update(compile=True),
        r"compile=True: a model file may not ask for compilation",
    ),
    "pretrained download": (
        lambda h: _step(h, "classifier")["params"].update(
            architecture="timm:resnet18", module__pretrained=True),
        r"module__pretrained=True would load weights from elsewhere",
    ),
    "weights from another file": (
        lambda h: _step(h, "classifier")["params"].update(
            module__checkpoint_path="/etc/passwd"),
        r"module__checkpoint_path='/etc/passwd' would load weights",
    ),
    "unpickling options": (
        lambda h: _step(h, "classifier")["params"].update(
            torch_load_kwargs={"__dict__": {"weights_only": False}}),
        r"torch_load_kwargs=\{'weights_only': False\}: a model file may not set",
    ),
    "pipeline cache": (
        lambda h: h["model"]["params"].update(memory="/tmp/cache"),
        r"a pipeline in a model file takes memory=None and verbose only",
    ),
    "huge network": (
        lambda h: _step(h, "classifier")["params"].update(module__width=100_000),
        r"model.classifier.tensor.\S+ is \(\d+, \d+\) in the file but "
        r"\(\d+, 800000\) in the network its parameters build",
    ),
    "nested too deep for us": (
        lambda h: _step(h, "classifier")["params"].update(classes=_nest(40)),
        r"model.classifier.params.classes(\.0)+ is nested more than 32 levels",
    ),
    "nested too deep for json": (
        lambda h: _step(h, "classifier")["params"].update(classes=_nest(50_000)),
        r"its description is nested too deeply",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_model_file_is_refused_in_one_line(case, fitted_pipeline,
                                                      tmp_path):
    import sys

    edit, message = TAMPERED[case]
    if case == "nested too deep for json":
        # Written by hand: json.dumps itself cannot go 50,000 deep.
        path = save_model(fitted_pipeline, tmp_path / "m.slk")
        with safe_open(str(path), framework="numpy") as handle:
            text = handle.metadata()["sklearn_leukemia"]
        text = text.replace('"model": {', '"deep": ' + "[" * 50_000 + "]" * 50_000
                            + ', "model": {', 1)
        save_file(load_file(str(path)), str(path),
                  metadata={"sklearn_leukemia": text})
    else:
        path = _tamper(fitted_pipeline, tmp_path, edit)
    modules = set(sys.modules)
    with pytest.raises(ValueError, match=message) as caught:
        load_model(path)
    text = str(caught.value)
    assert text.startswith(f"refusing to load {str(path)!r}: ")
    assert "\n" not in text
    # Nothing was imported on the file's say (timm stays out).
    assert not any(name.startswith("timm") for name in set(sys.modules) - modules)


def test_fitted_attributes_of_every_estimator_are_the_loaders_table(smears):
    from sklearn.base import clone

    from sklearn_leukemia.persistence import _FITTED_ATTRIBUTES, _qualname
    from sklearn_leukemia.utils.discovery import all_estimators

    X, y = smears
    for name, cls in all_estimators():
        if name in ("SECNNClassifier", "PatientClassifier", "ClinicalClassifier",
                    "AcceleratedSECNNClassifier"):
            # A table of its own; patients (tests/patient) as data; a
            # network inside (tests/decision saves and loads it); saved as
            # the SECNNClassifier it trained (tests/test_accelerated.py).
            continue
        settings = [{}]
        if name == "IntensityNormalizer":
            settings.append({"method": "standard"})
        for params in settings:
            est = clone(cls()).set_params(**params)
            if hasattr(est, "fit_resample"):
                est.fit_resample(X, y)
            else:
                est.fit(X, y)
            fitted = {k for k in vars(est) if k.endswith("_") and k[0] != "_"}
            assert fitted <= _FITTED_ATTRIBUTES[_qualname(est)], name


def test_worker_counts_above_the_cores_load_lowered_with_a_warning(
    fitted_pipeline, tmp_path
):
    import os

    cores = os.cpu_count()

    def edit(header):
        _step(header, "classifier")["params"].update(
            iterator_valid__num_workers=10_000, n_threads=10_000)
        _step(header, "read")["params"].update(n_jobs=10_000)

    path = _tamper(fitted_pipeline, tmp_path, edit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_model(path)
    messages = sorted(str(w.message) for w in caught)
    assert messages == sorted(
        f"model.{field}=10000 asks for more workers than the {cores} cores of "
        f"this machine; loaded with {cores}."
        for field in ("read.params.n_jobs", "classifier.params.n_threads",
                      "classifier.params.iterator_valid__num_workers")
    )
    params = loaded[-1].get_params()
    assert params["iterator_valid__num_workers"] == cores
    assert params["n_threads"] == cores and loaded[0].n_jobs == cores
