import os

import numpy as np
import pytest

from sklearn_leukemia import load_model, save_model
from sklearn_leukemia.io import (
    OutputInsideDataError,
    OutputNotWritableError,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    check_outside,
    check_writable,
)
from sklearn_leukemia.preprocessing import IntensityNormalizer


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    atomic_write_text(path, "new content")
    assert path.read_text() == "new content"
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(path) as file:
            file.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_text_mode_keeps_newlines_as_written(tmp_path):
    path = atomic_write_text(tmp_path / "a.csv", "a,b\n1,2\n")
    assert path.read_bytes() == b"a,b\n1,2\n"


def test_atomic_open_rejects_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="mode='a' is not supported"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_check_outside_accepts_sibling(tmp_path):
    (tmp_path / "data").mkdir()
    check_outside(tmp_path / "report", tmp_path / "data")
    check_outside(tmp_path / "data-report", tmp_path / "data")  # prefix, not inside


@pytest.mark.parametrize("inside", ["data", "data/report", "data/a/b/model.slk",
                                    "other/../data/x"])
def test_check_outside_refuses_data_and_below(tmp_path, inside):
    (tmp_path / "data").mkdir()
    (tmp_path / "other").mkdir()
    with pytest.raises(OutputInsideDataError, match="--out .* is inside the data"):
        check_outside(tmp_path / inside, tmp_path / "data", what="--out")


def test_check_outside_follows_symlinks(tmp_path):
    (tmp_path / "data").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "data", target_is_directory=True)
    with pytest.raises(OutputInsideDataError, match="inside the data folder"):
        check_outside(link / "report", tmp_path / "data")


def test_output_inside_data_is_a_value_error():
    assert issubclass(OutputInsideDataError, ValueError)


def test_every_output_gets_the_mode_of_a_file_made_by_open(tmp_path):
    # Model files used to be left readable by their owner only (mkstemp's
    # 0600) where reports were not: one writer, one mode.
    made_by_open = tmp_path / "plain.txt"
    made_by_open.write_text("x")
    expected = made_by_open.stat().st_mode & 0o777
    X = np.zeros((2, 4, 4, 3), np.uint8)
    model = save_model(IntensityNormalizer().fit(X), tmp_path / "m.slk")
    text = atomic_write_text(tmp_path / "r.json", "{}")
    assert model.stat().st_mode & 0o777 == expected
    assert text.stat().st_mode & 0o777 == expected
    assert load_model(model).n_channels_in_ == 3


def test_atomic_path_moves_a_finished_file_and_drops_a_failed_one(tmp_path):
    path = tmp_path / "model.slk"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.slk"]
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp != path
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["model.slk"]


def test_check_writable_accepts_a_folder_to_be_made(tmp_path):
    check_writable(tmp_path / "model.slk", what="--out")
    check_writable(tmp_path / "new" / "deeper", what="--out", folder=True)
    assert list(tmp_path.iterdir()) == []  # the probe left nothing behind


def test_check_writable_names_the_folder_that_refuses(unwritable_dir):
    with pytest.raises(OutputNotWritableError, match=(
        rf"--out {unwritable_dir}/m.slk cannot be written: nothing can be "
        rf"created in the folder {unwritable_dir} \("
    )):
        check_writable(unwritable_dir / "m.slk", what="--out")
    with pytest.raises(OutputNotWritableError, match="in the folder"):
        check_writable(unwritable_dir / "report" / "new", folder=True)
    assert [p.name for p in unwritable_dir.iterdir()] == ["old.txt"]


def test_check_writable_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputNotWritableError, match="is a file, not a folder"):
        check_writable(tmp_path / "file" / "report", folder=True)
