import contextlib
import csv
import io
import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.cli import main
from sklearn_leukemia.cli._io import UsageError
from sklearn_leukemia.cli._predict import find_images, model_sides

TINY = ["--image-size", "16", "--epochs", "1", "--width", "4", "--batch-size", "8"]


def _save(path, rng, size=20):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def smears(tmp_path_factory):
    """A class-per-folder tree of 15 small images."""
    rng = np.random.default_rng(0)
    data = tmp_path_factory.mktemp("cli") / "smears"
    for cls in ("Benign", "Early", "Pre"):
        for i in range(5):
            _save(data / cls / f"{cls}_{i}.png", rng)
    return data


@pytest.fixture(scope="module")
def trained(smears):
    """A tiny binary model trained by the command line, shared by the tests."""
    model = smears.parent / "model.slk"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(["train", str(smears), "--positive-classes", "Early", "Pre",
                       "--fit-sides", *TINY, "--out", str(model)])
    assert status == 0, stderr.getvalue()
    return smears, model


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_train_writes_model_and_nothing_else(trained):
    data, model = trained
    assert model.is_file() and model.stat().st_size > 0
    assert sorted(p.name for p in model.parent.iterdir()) == ["model.slk", "smears"]
    assert sorted(p.name for p in data.iterdir()) == ["Benign", "Early", "Pre"]


def test_predict_round_trip_to_stdout(trained, capsys):
    data, model = trained
    capsys.readouterr()
    status = main(["predict", str(model), str(data / "Pre"),
                   str(data / "Benign" / "Benign_3.png")])
    out = capsys.readouterr().out
    assert status == 0
    rows = _rows(out)
    assert rows[0] == ["file", "proba_Benign", "proba_Early+Pre", "predicted",
                       "uncertainty"]
    files = [row[0] for row in rows[1:]]
    # Folder contents sorted, then the file, in the order given.
    assert files == [str(data / "Pre" / f"Pre_{i}.png") for i in range(5)] + [
        str(data / "Benign" / "Benign_3.png")
    ]
    for row in rows[1:]:
        proba = np.array(row[1:3], dtype=float)
        assert proba.sum() == pytest.approx(1.0, abs=1e-5)
        assert row[3] == ["Benign", "Early+Pre"][proba.argmax()]


def test_predict_matches_the_loaded_model(trained, tmp_path, capsys):
    from sklearn_leukemia import load_model

    data, model = trained
    output = tmp_path / "preds.csv"
    assert main(["predict", str(model), str(data), "--output", str(output)]) == 0
    rows = _rows(output.read_text())
    assert len(rows) == 1 + 15
    files = np.array([row[0] for row in rows[1:]])
    expected = load_model(model).predict_proba(files)
    np.testing.assert_allclose(np.array([r[1:3] for r in rows[1:]], dtype=float),
                               expected, atol=1e-6)
    assert "Wrote predictions of 15 images" in capsys.readouterr().err


def test_predict_output_inside_input_folder_is_refused(trained, capsys):
    data, model = trained
    status = main(["predict", str(model), str(data), "--output",
                   str(data / "preds.csv")])
    assert status == 2
    assert "inside the data folder" in capsys.readouterr().err
    assert not (data / "preds.csv").exists()


def test_predict_missing_model_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.slk"
    image = tmp_path / "a.png"
    _save(image, np.random.default_rng(0))
    assert main(["predict", str(missing), str(image)]) == 2
    assert capsys.readouterr().err == (
        f"sklearn-leukemia: error: model file {missing} does not exist.\n")


def test_predict_missing_image_is_named(tmp_path, capsys):
    model = tmp_path / "model.slk"
    model.write_bytes(b"")  # inputs are checked before the model is read
    missing = tmp_path / "gone.png"
    assert main(["predict", str(model), str(missing)]) == 2
    assert f"image or folder {missing} does not exist." in capsys.readouterr().err


@pytest.fixture
def with_broken(trained, tmp_path):
    """A copy of the images with a truncated one among them."""
    import shutil

    data, model = trained
    images = tmp_path / "new_images"
    shutil.copytree(data / "Pre", images)
    whole = (images / "Pre_1.png").read_bytes()
    (images / "Pre_2.png").write_bytes(whole[: len(whole) // 2])
    return images, model


def test_a_broken_image_stops_predict_and_writes_no_csv(with_broken, tmp_path,
                                                        capsys):
    images, model = with_broken
    output = tmp_path / "preds.csv"
    output.write_text("an earlier CSV")
    status = main(["predict", str(model), str(images), "--output", str(output)])
    err = capsys.readouterr().err
    assert status == 1
    assert "1 image file cannot be read: " \
        f"'{images / 'Pre_2.png'}'" in err
    assert "--on-error skip" in err
    assert output.read_text() == "an earlier CSV"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new_images", "preds.csv"]


def test_predict_on_error_skip_leaves_them_out_of_the_csv(with_broken, tmp_path,
                                                           capsys):
    images, model = with_broken
    output = tmp_path / "preds.csv"
    status = main(["predict", str(model), str(images), "--on-error", "skip",
                   "--output", str(output)])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "Left out 1 of 5 image files that cannot be read: " \
        f"'{images / 'Pre_2.png'}'" in err
    files = [row[0] for row in _rows(output.read_text())[1:]]
    assert files == [str(images / f"Pre_{i}.png") for i in (0, 1, 3, 4)]
    assert "Wrote predictions of 4 images" in err


def test_predict_not_a_model_file_fails_with_one_line(tmp_path, capsys):
    fake = tmp_path / "model.slk"
    fake.write_bytes(b"not a model")
    image = tmp_path / "a.png"
    _save(image, np.random.default_rng(0))
    assert main(["predict", str(fake), str(image)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sklearn-leukemia: error:") and str(fake) in err
    assert "Traceback" not in err


def test_find_images_walks_sorted_and_skips_non_images(tmp_path, rng):
    _save(tmp_path / "b" / "2.png", rng)
    _save(tmp_path / "b" / "1.jpg", rng)
    _save(tmp_path / "a" / "z.tif", rng)
    (tmp_path / "a" / "notes.txt").write_text("")
    _save(tmp_path / ".hidden" / "x.png", rng)
    found = find_images([str(tmp_path)])
    assert found == [str(tmp_path / "a" / "z.tif"), str(tmp_path / "b" / "1.jpg"),
                     str(tmp_path / "b" / "2.png")]


def test_find_images_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no image file"):
        find_images([str(tmp_path / "empty")])


@pytest.fixture(scope="module")
def trained_classes(smears):
    """A tiny model of the three class folders: ``train --fit-classes``."""
    model = smears.parent / "classes.slk"
    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        status = main(["train", str(smears), "--positive-classes", "Early", "Pre",
                       "--fit-classes", *TINY, "--out", str(model)])
    assert status == 0, stderr.getvalue()
    return smears, model, stdout.getvalue(), stderr.getvalue()


def test_train_fit_classes_saves_a_model_of_the_classes(trained_classes):
    from sklearn_leukemia import load_model

    _, model, out, err = trained_classes
    loaded, metadata = load_model(model, return_metadata=True)
    assert loaded.classes_.tolist() == ["Benign", "Early", "Pre"]
    # The binary question it was trained for travels with the model.
    assert metadata == {"positive_classes": ["Early", "Pre"]}
    assert "Training on 15 images, classes {'Benign': 5, 'Early': 5, 'Pre': 5}." in err
    assert out.splitlines()[-1] == (
        f"It records the positive classes: 'sklearn-leukemia predict {model} "
        "IMAGE_OR_DIR...' adds the binary answer, Benign against Early+Pre."
    )


def test_train_fits_the_classes_when_a_side_holds_several(
    trained_classes, tmp_path
):
    # Without --fit-classes or --fit-sides: the same model as --fit-classes.
    from sklearn_leukemia import load_model

    data, model = trained_classes[:2]
    default = tmp_path / "default.slk"
    with contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(data), "--positive-classes", "Early", "Pre",
                     *TINY, "--out", str(default)]) == 0
    loaded, metadata = load_model(default, return_metadata=True)
    explicit = load_model(model)
    assert metadata == {"positive_classes": ["Early", "Pre"]}
    assert loaded.classes_.tolist() == ["Benign", "Early", "Pre"]
    images = np.asarray(sorted(str(p) for p in (data / "Pre").iterdir()))
    np.testing.assert_array_equal(
        loaded.predict_proba(images), explicit.predict_proba(images)
    )


def test_train_fit_classes_records_the_classes_in_their_order(smears, tmp_path):
    from sklearn_leukemia import load_model

    model = tmp_path / "m.slk"
    with contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(smears), "--positive-classes", "Pre", "Early",
                     "--fit-classes", *TINY, "--out", str(model)]) == 0
    metadata = load_model(model, return_metadata=True)[1]
    assert metadata == {"positive_classes": ["Early", "Pre"]}


def test_predict_adds_the_recorded_binary_answer(trained_classes, capsys):
    data, model = trained_classes[:2]
    capsys.readouterr()
    assert main(["predict", str(model), str(data / "Pre")]) == 0
    recorded = capsys.readouterr()
    assert main(["predict", str(model), str(data / "Pre"),
                 "--positive-classes", "Early", "Pre"]) == 0
    # The same CSV as naming the recorded classes, and a line that says so.
    assert recorded.out == capsys.readouterr().out
    assert _rows(recorded.out)[0][-3:] == ["binary_proba", "binary_predicted",
                                           "uncertainty"]
    message = "positive classes ['Early', 'Pre'] (recorded in the model file)"
    assert message in recorded.err


def test_predict_without_recorded_classes_adds_no_binary_columns(trained, capsys):
    data, model = trained[:2]
    capsys.readouterr()
    assert main(["predict", str(model), str(data / "Pre")]) == 0
    captured = capsys.readouterr()
    assert "binary_proba" not in captured.out
    assert "recorded in the model file" not in captured.err


def test_train_fit_classes_needs_positive_classes(smears, tmp_path, capsys):
    model = tmp_path / "m.slk"
    assert main(["train", str(smears), "--fit-classes", *TINY,
                 "--out", str(model)]) == 2
    assert "name its positive classes with --positive-classes" in (
        capsys.readouterr().err)
    assert not model.exists()
    assert main(["train", str(smears), "--fit-sides", *TINY,
                 "--out", str(model)]) == 2
    assert "--fit-sides chooses what a binary task fits" in capsys.readouterr().err
    assert not model.exists()


def test_predict_positive_classes_reads_a_model_of_classes(trained_classes, capsys):
    data, model = trained_classes[:2]
    capsys.readouterr()
    assert main(["predict", str(model), str(data), "--positive-classes",
                 "Pre", "Early"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows[0] == ["file", "proba_Benign", "proba_Early", "proba_Pre",
                       "predicted", "binary_proba", "binary_predicted",
                       "uncertainty"]
    assert len(rows) == 1 + 15
    for row in rows[1:]:
        proba = np.array(row[1:4], dtype=float)
        # The summed probability of the positive classes, to the CSV's digits.
        assert float(row[5]) == pytest.approx(proba[1] + proba[2], abs=2e-6)
        # The side of the predicted class (the model's order names the side).
        expected = "Benign" if row[4] == "Benign" else "Early+Pre"
        assert row[6] == expected


def test_predict_positive_classes_same_classes_as_without(trained_classes, capsys):
    data, model = trained_classes[:2]
    assert main(["predict", str(model), str(data / "Pre")]) == 0
    recorded = _rows(capsys.readouterr().out)
    assert main(["predict", str(model), str(data / "Pre"),
                 "--positive-classes", "Benign"]) == 0
    binary = _rows(capsys.readouterr().out)
    # The class columns are untouched; Benign is the positive side now, in
    # place of the recorded Early and Pre.
    assert [row[:5] for row in binary] == [row[:5] for row in recorded]
    for row in recorded[1:]:
        assert float(row[5]) == pytest.approx(float(row[2]) + float(row[3]),
                                              abs=2e-6)
    for row in binary[1:]:
        assert float(row[5]) == pytest.approx(float(row[1]), abs=1e-6)
        assert row[6] == ("Benign" if row[4] == "Benign" else "Early+Pre")


@pytest.mark.parametrize(
    "names, message",
    [
        (["Pro"], "--positive-classes names ['Pro'], which are not among the "
                  "classes of the model ['Benign', 'Early', 'Pre']."),
        (["Benign", "Early", "Pre"], "covers every one of the classes of the model"),
        (["Pre", "Early", "Pre"], "--positive-classes names ['Pre'] more than once."),
    ],
)
def test_predict_positive_classes_errors_are_named(trained_classes, capsys,
                                                   names, message):
    data, model = trained_classes[:2]
    capsys.readouterr()
    assert main(["predict", str(model), str(data), "--positive-classes",
                 *names]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_binary_sides_match_classes_by_their_text():
    sides = model_sides(np.array([0, 1, 2]), ["2", "1"])
    assert sides.positive == [1, 2] and sides.negative == [0]
    assert sides.names == ("0", "1+2")
    many = model_sides(["n", "a", "b", "c", "d"], ["a", "b", "c", "d"])
    assert many.names == ("n", "positive")


def test_predict_names_a_recorded_answer_it_cannot_read(trained_classes, tmp_path,
                                                        capsys):
    from sklearn_leukemia import load_model, save_model

    data, model = trained_classes[:2]
    broken = save_model(load_model(model), tmp_path / "broken.slk",
                        metadata={"positive_classes": "Early"})
    capsys.readouterr()
    assert main(["predict", str(broken), str(data / "Pre")]) == 2
    err = capsys.readouterr().err
    assert "records positive_classes='Early', not a list of class names" in err
    # --positive-classes replaces what the file records.
    assert main(["predict", str(broken), str(data / "Pre"),
                 "--positive-classes", "Early"]) == 0


def test_predict_decodes_each_image_once_and_streams_the_rows(
    trained, tmp_path, monkeypatch, capsys
):
    import sklearn_leukemia.cli._predict as predict_module
    import sklearn_leukemia.io._read as read_module

    data, model = trained
    events = []
    real = read_module._read_with_pillow
    monkeypatch.setattr(
        read_module, "_read_with_pillow",
        lambda path, **kw: events.append(("decode", path)) or real(path, **kw),
    )
    monkeypatch.setattr(predict_module, "_CHUNK", 4)
    real_atomic = predict_module.atomic_open

    @contextlib.contextmanager
    def watched(path):
        with real_atomic(path) as file:
            real_write = file.write
            file.write = lambda text: events.append(("write", text)) or real_write(
                text
            )
            yield file

    monkeypatch.setattr(predict_module, "atomic_open", watched)
    output = tmp_path / "preds.csv"
    assert main(["predict", str(model), str(data), "--output", str(output)]) == 0
    decoded = [what for kind, what in events if kind == "decode"]
    assert sorted(decoded) == sorted(map(str, data.rglob("*.png")))
    # Rows leave chunk by chunk: a chunk's rows before the next is decoded.
    kinds = [kind for kind, _ in events]
    assert kinds[:10] == ["write"] + ["decode"] * 4 + ["write"] * 4 + ["decode"]
    rows = _rows(output.read_text())
    assert len(rows) == 16
    assert rows == _rows("".join(text for kind, text in events if kind == "write"))


def test_predict_refuses_an_unwritable_output_before_reading_the_model(
    trained, unwritable_dir, capsys
):
    data, model = trained
    output = unwritable_dir / "preds.csv"
    assert main(["predict", str(model), str(data), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert f"--output {output} cannot be written" in err and str(unwritable_dir) in err
    assert sorted(p.name for p in unwritable_dir.iterdir()) == ["old.txt"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_find_images_refuses_a_named_fifo_and_skips_one_in_a_folder(tmp_path, rng):
    _save(tmp_path / "a" / "1.png", rng)
    os.mkfifo(tmp_path / "a" / "2.png")
    with pytest.raises(UsageError, match=r"2.png is a FIFO \(named pipe\), not an"):
        find_images([str(tmp_path / "a" / "2.png")])
    with pytest.warns(UserWarning, match=r"not a regular file: .*2.png.* \(FIFO"):
        found = find_images([str(tmp_path / "a")])
    assert found == [str(tmp_path / "a" / "1.png")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_predict_with_a_fifo_among_the_images_ends(trained, tmp_path, capsys):
    import shutil
    import subprocess
    import sys

    data, model = trained
    images = tmp_path / "images"
    shutil.copytree(data / "Pre", images)
    os.mkfifo(images / "Pre_9.png")
    # In a child process: the old reader blocked forever on the FIFO.
    done = subprocess.run(
        [sys.executable, "-m", "sklearn_leukemia.cli", "predict", str(model),
         str(images)], capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(_rows(done.stdout)) == 1 + 5
    assert "Pre_9.png" in done.stderr and "FIFO" in done.stderr


@pytest.mark.skipif(os.name == "nt", reason="folder links need privileges on Windows")
def test_find_images_follows_folder_links_once(tmp_path, rng):
    _save(tmp_path / "data" / "a" / "1.png", rng)
    _save(tmp_path / "elsewhere" / "2.png", rng)
    (tmp_path / "data" / "b").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "data" / "a" / "loop").symlink_to(tmp_path / "data")
    with pytest.warns(UserWarning, match=r"loop'.*holds it \(a link loop\)"):
        found = find_images([str(tmp_path / "data")])
    assert found == [str(tmp_path / "data" / "a" / "1.png"),
                     str(tmp_path / "data" / "b" / "2.png")]


def test_a_file_that_cannot_be_opened_stops_predict_before_any_prediction(
    trained, tmp_path, capsys, monkeypatch
):
    import shutil

    import sklearn_leukemia.cli._predict as predict_module

    data, model = trained
    images = tmp_path / "images"
    shutil.copytree(data / "Pre", images)
    (images / "Pre_9.png").write_bytes(b"")
    monkeypatch.setattr(predict_module, "prediction_steps",
                        lambda model: pytest.fail("a chunk was predicted"))
    assert main(["predict", str(model), str(images)]) == 1
    err = capsys.readouterr().err
    assert "1 of 6 image files cannot be read, so nothing was predicted: " \
        f"'{images / 'Pre_9.png'}': the file is empty" in err


def test_predict_names_an_intensity_warning_once(trained, tmp_path, capsys,
                                                 monkeypatch):
    import warnings as _warnings

    import sklearn_leukemia.cli._predict as predict_module
    from sklearn_leukemia.utils import IntensityRangeWarning

    data, model = trained
    monkeypatch.setattr(predict_module, "_CHUNK", 2)
    real = predict_module.prediction_steps

    def warning_steps(model):
        params, predictor = real(model)

        class Warns:
            def predict_proba(self, images):
                _warnings.warn(f"X passed to Normalizer holds intensities in "
                               f"[{len(images)}, 9]", IntensityRangeWarning)
                return predictor.predict_proba(images)

        return params, Warns()

    monkeypatch.setattr(predict_module, "prediction_steps", warning_steps)
    assert main(["predict", str(model), str(data / "Pre")]) == 0
    err = capsys.readouterr().err
    assert err.count("X passed to Normalizer holds") == 1


def test_predict_into_a_closed_pipe_stops_quietly(trained, monkeypatch, capsys):
    data, model = trained
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone, as after `| head -1`
    with open(write_end, "w", buffering=1) as stdout:
        monkeypatch.setattr("sys.stdout", stdout)
        assert main(["predict", str(model), str(data)]) == 141
    assert "Traceback" not in capsys.readouterr().err
