"""AcceleratedSECNNClassifier: skorch's AccelerateMixin on our classifier."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_leukemia import SECNNClassifier, load_model, save_model

pytest.importorskip("accelerate")

from sklearn_leukemia.accelerated import (  # noqa: E402
    AcceleratedSECNNClassifier,
    make_accelerator,
)

PARAMS = {"max_epochs": 2, "batch_size": 8, "module__width": 4, "random_state": 0,
          "n_threads": 1}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.array(["ALL", "normal"] * 12)
    X = rng.integers(0, 200, size=(24, 16, 16, 3), dtype=np.uint8)
    X[y == "ALL", :8] += 55
    return X, y


def test_one_process_trains_as_the_classifier_does(data, tmp_path):
    X, y = data
    accelerated = AcceleratedSECNNClassifier(
        accelerator=make_accelerator(cpu=True), **PARAMS).fit(X, y)
    plain = SECNNClassifier(device="cpu", **PARAMS).fit(X, y)
    np.testing.assert_array_equal(accelerated.predict_proba(X),
                                  plain.predict_proba(X))
    # Saved as the SECNNClassifier it trained: a file without accelerate.
    unwrapped = accelerated.to_classifier()
    assert type(unwrapped) is SECNNClassifier
    assert "accelerator" not in unwrapped.get_params()
    save_model(accelerated, tmp_path / "m.slk")
    loaded = load_model(tmp_path / "m.slk")
    assert type(loaded) is SECNNClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), plain.predict_proba(X))


def test_each_process_draws_its_own_augmentation(data, monkeypatch):
    from accelerate import Accelerator

    X, y = data
    rank0 = AcceleratedSECNNClassifier(accelerator=make_accelerator(cpu=True),
                                       **PARAMS).fit(X, y)
    # The same fit as the second process of a launch would run it.
    monkeypatch.setattr(Accelerator, "process_index", property(lambda self: 1))
    rank1 = AcceleratedSECNNClassifier(accelerator=make_accelerator(cpu=True),
                                       **PARAMS).fit(X, y)
    assert not np.array_equal(rank0.predict_proba(X), rank1.predict_proba(X))
    again = AcceleratedSECNNClassifier(accelerator=make_accelerator(cpu=True),
                                       **PARAMS).fit(X, y)
    np.testing.assert_array_equal(rank1.predict_proba(X), again.predict_proba(X))


def test_an_unfitted_one_is_saved_as_an_unfitted_classifier():
    clf = AcceleratedSECNNClassifier(accelerator=make_accelerator(cpu=True),
                                     **PARAMS)
    plain = clf.to_classifier()
    assert type(plain) is SECNNClassifier and not hasattr(plain, "module_")
    assert plain.get_params()["max_epochs"] == 2
    assert plain.get_params()["device"] == "auto"


def test_parameters_clone_and_refusals(data):
    accelerator = make_accelerator(cpu=True)
    clf = AcceleratedSECNNClassifier(accelerator=accelerator, **PARAMS)
    params = clf.get_params()
    assert params["accelerator"] is accelerator and params["device"] is None
    assert params["max_epochs"] == 2 and params["unwrap_after_train"] is True
    copy = clone(clf)
    assert type(copy) is AcceleratedSECNNClassifier
    assert copy.get_params()["module__width"] == 4
    with pytest.raises(ValueError, match="mixed precision from the accelerator"):
        clf.set_params(mixed_precision=True).fit(*data)
    with pytest.raises(ValueError, match="'device' parameter"):
        AcceleratedSECNNClassifier(accelerator=accelerator, device="cpu",
                                   **PARAMS).fit(*data)


def _smears(root, n=20):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("Benign", "Early"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 200, (20, 20, 3), dtype=np.uint8)
            if cls == "Early":
                pixels[:10] += 55
            Image.fromarray(pixels).save(root / cls / f"{cls}_{i}.png")
    return root


def test_accelerate_launch_trains_on_two_cpu_processes_and_writes_once(tmp_path):
    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists():
        pytest.skip("no accelerate command beside this Python")
    data = _smears(tmp_path / "smears")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ACCELERATE_", "WORLD_SIZE", "RANK", "LOCAL_RANK"))}
    # Away from the cwd's accelerate config, if any.
    env["HF_HOME"] = str(tmp_path / "hf")
    result = subprocess.run(
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "sklearn_leukemia.cli", "train", str(data), "--positive-classes",
         "Early", "--image-size", "16", "--epochs", "3", "--width", "4",
         "--batch-size", "8", "--early-stopping", "1", "--target-sensitivity",
         "0.9", "--decision-cv", "2", "--out", str(tmp_path / "m.slk")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Training data-parallel on 2 processes (cpu" in result.stderr
    # Written once, by the main process: one file, no leftovers.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "hf") == [
        "m.slk", "smears"]
    assert result.stdout.count("Saved the model to") == 1
    # A model with decision rules, its networks early-stopped on two
    # processes, saved as plain classifiers.
    model = load_model(tmp_path / "m.slk")
    network = model.estimator_[-1]
    assert network.device == "auto" and type(network) is SECNNClassifier
    assert type(model.estimator[-1]) is SECNNClassifier
    assert model.threshold_ is not None
    from sklearn_leukemia.cli._predict import find_images

    files = np.array(find_images([str(data)]))
    assert model.predict(files).shape == (40,)
    # Pickled as joblib and Dask send it to their workers.
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(files),
                                  model.predict(files))


@pytest.mark.parametrize("argv, message", [
    (["--target", "diagnosis"], "--target trains a patient model"),
    (["--device", "cpu"], "the devices are the launch's"),
    (["--batch-size", "9"], "give a multiple of 2"),
])
def test_what_a_launch_cannot_train_is_refused_before_reading(argv, message):
    from types import SimpleNamespace

    from sklearn_leukemia.cli._io import UsageError
    from sklearn_leukemia.cli._main import build_parser
    from sklearn_leukemia.cli._train import _check_launch

    args = build_parser().parse_args(["train", "DATA", "--out", "m.slk", *argv])
    with pytest.raises(UsageError, match=message):
        _check_launch(args, SimpleNamespace(num_processes=2))


def test_a_one_process_cpu_launch_says_it_trains_alone(monkeypatch, capsys):
    from sklearn_leukemia.cli._train import launched_accelerator

    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert launched_accelerator() is None
    assert "--multi_gpu --num_processes N" in capsys.readouterr().err
