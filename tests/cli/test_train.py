import argparse
import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia import load_model
from sklearn_leukemia.cli import main
from sklearn_leukemia.cli._arguments import add_data_options, add_model_options
from sklearn_leukemia.cli._data import load_dataset
from sklearn_leukemia.cli._io import UsageError
from sklearn_leukemia.cli._model import build_pipeline as _build
from sklearn_leukemia.cli._model import model_params as _model_params
from sklearn_leukemia.cli._model import pipeline_settings

TINY = ["--image-size", "16", "--epochs", "1", "--width", "4"]


def model_params(args, n_images=2000):
    return _model_params(args, n_images)


def build_pipeline(args, n_images=2000):
    return _build(args, n_images)


def _parse(argv, data_required=False):
    parser = argparse.ArgumentParser()
    add_data_options(parser, data_required=data_required)
    add_model_options(parser)
    return parser.parse_args(argv)


@pytest.fixture
def smears(tmp_path, rng):
    data = tmp_path / "smears"
    for cls in ("Benign", "Early", "Pre", "Pro"):
        (data / cls).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(data / cls / f"{i}.png")
    return data


def test_model_params_defaults_depend_on_the_data():
    synthetic = model_params(_parse([]))
    folder = model_params(_parse(["somewhere"]), n_images=800)
    assert (synthetic["image_size"], synthetic["max_epochs"]) == (64, 15)
    # The recipe is that of the whole set, whose size the command counts.
    assert folder["n_images"] == 800
    assert "module__width" not in synthetic and "early_stopping" not in synthetic
    # On a folder, every option left out is the library's default.
    for name in ("image_size", "max_epochs", "batch_size", "lr", "augment",
                 "module__width", "early_stopping", "tta", "mixup", "ema",
                 "progressive_resizing", "class_weight"):
        assert name not in folder


def test_folder_pipeline_is_the_library_default():
    from sklearn_leukemia import make_leukemia_pipeline

    for n_images in (800, 2000):
        built = build_pipeline(_parse(["somewhere"]), n_images).get_params()
        default = make_leukemia_pipeline(
            n_images=n_images, random_state=0
        ).get_params()
        _assert_same(built, default)


def _assert_same(built, default):
    for name in ("read__image_size", "classifier__max_epochs", "classifier__lr",
                 "classifier__batch_size", "classifier__class_weight",
                 "classifier__augmentation", "classifier__module__width",
                 "classifier__tta", "classifier__mixup", "classifier__ema",
                 "classifier__progressive_resizing"):
        assert repr(built.get(name)) == repr(default.get(name)), name


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["--augment", "flips"], "flips"), (["--augment", "none"], False),
     (["--no-augment"], False), (["--augment", "paper"], "paper")],
)
def test_augment_option(argv, expected):
    assert model_params(_parse(["somewhere", *argv]))["augment"] == expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [("mixup", "0.4", 0.4), ("mixup", "0", 0.0), ("ema", "0.999", 0.999),
     ("ema", "0", 0.0), ("progressive-resizing", "0.5", 0.5),
     ("progressive-resizing", "1", 1.0)],
)
def test_float_training_options(name, value, expected):
    pipe = build_pipeline(_parse(["somewhere", f"--{name}", value]))
    attribute = name.replace("-", "_")
    assert getattr(pipe.named_steps["classifier"], attribute) == expected
    assert pipeline_settings(pipe)[attribute] == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("mixup", "-0.1"), ("mixup", "nan"), ("mixup", "lots"), ("ema", "1"),
     ("ema", "1.5"), ("ema", "-0.1"), ("ema", "inf"),
     ("progressive-resizing", "0"), ("progressive-resizing", "1.5"),
     ("progressive-resizing", "half")],
)
def test_float_training_options_reject_bad_values(name, value, capsys):
    with pytest.raises(SystemExit):
        _parse(["somewhere", f"--{name}", value])
    assert f"--{name}" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), [([], "dihedral"),
                                               (["--tta", "flips"], "flips"),
                                               (["--tta", "dihedral"], "dihedral"),
                                               (["--tta", "none"], None)])
def test_tta_option(argv, expected):
    pipe = build_pipeline(_parse(["somewhere", *argv]))
    assert pipe.named_steps["classifier"].tta == expected
    assert pipeline_settings(pipe)["tta"] == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [([], None), (["--class-weight", "balanced"], "balanced"),
     (["--class-weight", "none"], None)],
)
def test_class_weight_option(argv, expected):
    pipe = build_pipeline(_parse(["somewhere", *argv]))
    assert pipe.named_steps["classifier"].class_weight == expected
    assert pipeline_settings(pipe)["class_weight"] == expected


def test_class_weight_option_rejects_other_values(capsys):
    with pytest.raises(SystemExit):
        _parse(["somewhere", "--class-weight", "inverse"])
    assert "--class-weight" in capsys.readouterr().err


def test_pipeline_settings_reports_the_defaults_in_effect():
    settings = pipeline_settings(build_pipeline(_parse(["somewhere"])))
    assert settings["augment"] == "erase"  # of a large set
    assert settings["image_size"] == 96 and settings["max_epochs"] == 150
    small = pipeline_settings(build_pipeline(_parse(["somewhere"]), n_images=800))
    assert small["augment"] == "flips" and small["image_size"] == 128
    assert small["max_epochs"] == 250 and small["progressive_resizing"] == 0.5
    assert settings["normalize"] == "standard"
    assert settings["contrast"] is None
    turned = pipeline_settings(
        build_pipeline(_parse(["x", "--augment", "orientation"]))
    )
    assert turned["augment"] == "orientation"
    off = pipeline_settings(build_pipeline(_parse(["x", "--no-augment"])))
    assert off["augment"] is None
    auto = build_pipeline(_parse(["x", "--augment", "auto"]), n_images=800)
    assert pipeline_settings(auto)["augment"] == "flips"


def test_train_says_what_the_recipe_of_the_set_is(smears, tmp_path, capsys,
                                                  monkeypatch):
    # From LARGE_SET images up (shrunk here to the 12 of the folder) the
    # recipe erases, and the message and the model say so.
    monkeypatch.setattr("sklearn_leukemia.pipeline.LARGE_SET", 12)
    out = tmp_path / "model.slk"
    assert main(["train", str(smears), "--image-size", "16", "--epochs", "1",
                 "--width", "4", "--out", str(out)]) == 0
    assert "Trained 1 epoch at 16x16 pixels, augment erase." in (
        capsys.readouterr().err
    )
    assert load_model(out)[-1].augmentation_.erase == (0.02, 0.25)
    monkeypatch.setattr("sklearn_leukemia.pipeline.LARGE_SET", 13)
    assert main(["train", str(smears), "--image-size", "16", "--epochs", "1",
                 "--width", "4", "--out", str(out)]) == 0
    assert "augment flips." in capsys.readouterr().err


def test_model_params_from_options():
    params = model_params(_parse(
        ["--image-size", "32", "--epochs", "3", "--batch-size", "8", "--lr", "0.01",
         "--architecture", "se_resnet", "--width", "8", "--contrast", "clahe",
         "--denoise", "median", "--no-augment", "--early-stopping", "4",
         "--device", "cpu", "--n-jobs", "2", "--random-state", "7", "-v"]))
    assert params == {
        "n_images": 2000, "image_size": 32, "contrast": "clahe", "denoise": "median",
        "augment": False,
        "architecture": "se_resnet", "n_jobs": 2, "random_state": 7,
        "max_epochs": 3, "batch_size": 8, "lr": 0.01, "device": "cpu",
        "verbose": 1, "early_stopping": 4, "module__width": 8,
    }


def test_build_pipeline_passes_options_to_the_steps():
    pipe = build_pipeline(_parse(["--width", "4", "--contrast", "clahe",
                                  "--image-size", "24"]))
    params = pipe.get_params()
    assert params["classifier__module__width"] == 4
    assert params["contrast__method"] == "clahe"
    assert params["resize__size"] == 24
    assert params["denoise"] == "passthrough"


def test_synthetic_dataset_multiclass_with_groups():
    dataset = load_dataset(_parse(["--n-samples", "30", "--image-size", "16"]))
    assert dataset.X.shape == (30, 16, 16, 3)
    assert sorted(set(dataset.y)) == ["ALL", "AML", "normal"]
    assert dataset.pos_label is None
    assert dataset.groups.shape == (30,)
    # Each class has at least 5 patients, so 5 patient-level folds work.
    for label in ("ALL", "AML", "normal"):
        assert len(set(dataset.groups[dataset.y == label])) >= 5
    assert dataset.description["patient_groups"] is True


def test_synthetic_dataset_binary_names_the_sides():
    dataset = load_dataset(_parse(["--n-samples", "30", "--image-size", "16",
                                   "--positive-classes", "AML", "ALL"]))
    assert sorted(set(dataset.y)) == ["ALL+AML", "normal"]
    assert dataset.pos_label == "ALL+AML"


def test_folder_binary_side_names(smears, capsys):
    dataset = load_dataset(_parse([str(smears), "--positive-classes", "Early",
                                   "Pre", "Pro"]))
    assert sorted(set(dataset.y)) == ["Benign", "Early+Pre+Pro"]
    assert dataset.pos_label == "Early+Pre+Pro"
    assert dataset.groups is None
    assert dataset.X[0].endswith(".png")
    assert "folder (detected)" in capsys.readouterr().err


def test_folder_binary_sides_follow_the_folders_order(smears):
    # As predict and the clinical report name them, whatever the order given.
    dataset = load_dataset(_parse([str(smears), "--positive-classes", "Pro",
                                   "Early"]))
    assert sorted(set(dataset.y)) == ["Benign+Pre", "Early+Pro"]
    assert dataset.pos_label == "Early+Pro"
    assert dataset.description["positive classes"] == ["Early", "Pro"]


def test_folder_positive_classes_named_twice_is_a_usage_error(smears):
    with pytest.raises(UsageError, match=r"names \['Pre'\] more than once"):
        load_dataset(_parse([str(smears), "--positive-classes", "Pre", "Pre"]))


@pytest.mark.parametrize("junk", ["__MACOSX", ".thumbnails"])
def test_an_archivers_folder_is_no_class_of_the_sides(smears, junk):
    # The loader ignores it; the sides must too, or the negative side would
    # be named "Benign+__MACOSX".
    (smears / junk / "Benign").mkdir(parents=True)
    (smears / junk / "Benign" / "._0.png").write_bytes(b"resource fork")
    dataset = load_dataset(_parse([str(smears), "--positive-classes", "Early",
                                   "Pre", "Pro"]))
    assert sorted(set(dataset.y)) == ["Benign", "Early+Pre+Pro"]
    with pytest.raises(UsageError, match=r"covers every one of the class folders"
                       r".* \['Benign', 'Early', 'Pre', 'Pro'\]"):
        load_dataset(_parse([str(smears), "--positive-classes", "Benign",
                             "Early", "Pre", "Pro"]))


def test_folder_multiclass_has_no_pos_label(smears):
    dataset = load_dataset(_parse([str(smears)]))
    assert sorted(set(dataset.y)) == ["Benign", "Early", "Pre", "Pro"]
    assert dataset.pos_label is None


def test_positive_classes_with_a_fixed_layout_is_a_usage_error(tmp_path):
    for code in ("BAS", "MYB"):
        (tmp_path / code).mkdir()
    with pytest.raises(UsageError, match="the aml-lmu layout has fixed classes"):
        load_dataset(_parse([str(tmp_path), "--positive-classes", "MYB"]))


def test_a_broken_image_stops_train_before_any_training(smears, tmp_path, capsys):
    whole = (smears / "Pre" / "0.png").read_bytes()
    (smears / "Pre" / "3.png").write_bytes(whole[: len(whole) // 2])
    model = tmp_path / "model.slk"
    status = main(["train", str(smears), "--positive-classes", "Early", *TINY,
                   "--out", str(model)])
    err = capsys.readouterr().err
    assert status == 1
    assert f"1 of 13 image files cannot be read, so nothing was trained: " \
        f"'{smears / 'Pre' / '3.png'}': the image data is corrupt or truncated" in err
    assert "--on-error skip" in err and "Training on" not in err
    assert not model.exists()
    # The data are as they were: the broken file is the user's to move.
    assert (smears / "Pre" / "3.png").read_bytes() == whole[: len(whole) // 2]


def test_on_error_skip_trains_without_the_files_that_are_no_images(
    smears, tmp_path, capsys
):
    (smears / "Pre" / "3.png").write_bytes(b"")
    (smears / "Pro" / "notes.txt").write_text("stained on Monday")
    model = tmp_path / "model.slk"
    status = main(["train", str(smears), "--positive-classes", "Early", *TINY,
                   "--on-error", "skip", "--out", str(model)])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "'notes.txt' (not an image file" in err
    assert f"Left out 1 of 13 image files that cannot be read: " \
        f"'{smears / 'Pre' / '3.png'}': the file is empty" in err
    assert "Training on 12 images" in err
    # Without the option, the text file stops the command, naming the way out.
    status = main(["train", str(smears), "--positive-classes", "Early", *TINY,
                   "--out", str(tmp_path / "other.slk")])
    err = capsys.readouterr().err
    assert status == 1 and "notes.txt" in err and "--on-error skip" in err


def test_train_out_inside_data_is_refused(smears, capsys):
    status = main(["train", str(smears), "--positive-classes", "Early", *TINY,
                   "--out", str(smears / "model.slk")])
    assert status == 2
    err = capsys.readouterr().err
    assert f"--out {smears / 'model.slk'} is inside the data folder" in err
    assert not (smears / "model.slk").exists()


def test_train_out_folder_must_exist(smears, tmp_path, capsys):
    out = tmp_path / "no" / "model.slk"
    assert main(["train", str(smears), "--positive-classes", "Early", *TINY,
                 "--out", str(out)]) == 2
    assert f"folder {out.parent} does not exist" in capsys.readouterr().err


def test_train_out_that_is_a_folder_is_refused(smears, tmp_path, capsys):
    assert main(["train", str(smears), *TINY, "--out", str(tmp_path)]) == 2
    assert "is a folder; expected a file name" in capsys.readouterr().err


def test_train_missing_data_is_named(tmp_path, capsys):
    missing = tmp_path / "nothing"
    assert main(["train", str(missing), "--out", str(tmp_path / "m.slk")]) == 2
    assert capsys.readouterr().err == (
        f"sklearn-leukemia: error: data folder {missing} does not exist.\n")


def test_train_says_how_many_epochs_it_trained(smears, tmp_path, capsys):
    out = tmp_path / "model.slk"
    argv = ["train", str(smears), "--image-size", "16", "--epochs", "2",
            "--width", "4", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Training on 12 images" in captured.err
    # 12 images: progressive_resizing="auto" grows them from half the side.
    # Fewer than 1,500 images: augment="auto" is the flips.
    assert ("Trained 2 epochs at 16x16 pixels, grown from 0.5 of the side, "
            "augment flips.") in captured.err
    assert f"Saved the model to {out}" in captured.out
    argv += ["--progressive-resizing", "1"]
    assert main(argv) == 0
    assert "Trained 2 epochs at 16x16 pixels, augment flips." in (
        capsys.readouterr().err
    )


def test_train_refuses_an_unwritable_out_before_reading_an_image(
    smears, unwritable_dir, monkeypatch, capsys
):
    import sklearn_leukemia.cli._train as train_module

    monkeypatch.setattr(train_module, "load_dataset", lambda args: pytest.fail(
        "images were read"))
    out = unwritable_dir / "model.slk"
    assert main(["train", str(smears), *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sklearn-leukemia: error: --out {out} cannot be written")
    assert str(unwritable_dir) in err and err.count("\n") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals")
def test_ctrl_c_during_train_writes_nothing_and_exits_130(smears, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "model.slk"
    out.write_bytes(b"a good model trained yesterday")
    child = subprocess.Popen(
        [sys.executable, "-m", "sklearn_leukemia.cli", "train", str(smears),
         "--image-size", "16", "--width", "4", "--epochs", "100000", "-v",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # Ctrl-C as in a terminal, even under a runner that ignores SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = ""
        while "train_loss" not in line:  # the epoch table: training is on
            line = child.stdout.readline()
            assert line or child.poll() is None, "train ended before training"
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("sklearn-leukemia: error: interrupted (training "
                           "interrupted after ")
    assert last.endswith("; no output file was written.")
    assert "Traceback" not in stderr and "Trained" not in stderr
    assert "Saved" not in stdout
    assert out.read_bytes() == b"a good model trained yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.slk", "smears"]


@pytest.mark.skipif(os.name == "nt", reason="folder links need privileges on Windows")
def test_train_follows_folder_links_and_stops_at_a_loop(smears, tmp_path, capsys):
    (smears / "Pro" / "again").symlink_to(smears)
    out = tmp_path / "model.slk"
    status = main(["train", str(smears), *TINY, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 0, err
    assert f"Skipped the folder '{smears / 'Pro' / 'again'}': it leads back to " \
        f"'{smears}', which holds it (a link loop)." in err
    assert "Training on 12 images" in err
