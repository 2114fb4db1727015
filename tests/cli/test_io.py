import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.cli._io import check_readable


@pytest.fixture
def mixed_files(tmp_path, rng):
    """Two good PNGs around a truncated one, a text file and a missing one."""
    good = []
    for name in ("a.png", "c.png"):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(
            tmp_path / name
        )
        good.append(str(tmp_path / name))
    whole = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "notes.png").write_text("not an image")
    files = [good[0], str(tmp_path / "b.png"), good[1],
             str(tmp_path / "notes.png"), str(tmp_path / "gone.png")]
    return files


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_check_readable_names_every_broken_file_and_the_way_out(mixed_files, n_jobs):
    with pytest.raises(ValueError) as info:
        check_readable(mixed_files, n_jobs=n_jobs, what="predicted")
    message = str(info.value)
    assert message.startswith("3 of 5 image files cannot be read, so nothing was "
                              "predicted: ")
    # In input order, each with its reason.
    assert message.index("b.png") < message.index("notes.png") < message.index(
        "gone.png")
    assert "truncated" in message and "no such file" in message
    assert message.endswith("pass --on-error skip to leave them out.")
    assert "a.png" not in message and "c.png" not in message


def test_check_readable_skip_leaves_them_out_and_says_so(mixed_files, capsys):
    keep = check_readable(mixed_files, on_error="skip")
    assert keep.tolist() == [True, False, True, False, False]
    err = capsys.readouterr().err
    assert err.startswith("Left out 3 of 5 image files that cannot be read: ")
    assert "b.png" in err and "notes.png" in err and "gone.png" in err


def test_check_readable_all_good_is_silent(mixed_files, capsys):
    keep = check_readable([mixed_files[0], mixed_files[2]])
    assert keep.tolist() == [True, True]
    assert capsys.readouterr().err == ""


def test_check_readable_refuses_when_none_is_left(mixed_files):
    with pytest.raises(ValueError, match="^3 of 3 image files cannot be read, so "
                       "nothing was trained: .*gone.png'"):
        check_readable(mixed_files[1::2] + mixed_files[4:], on_error="skip")


def test_check_readable_lists_ten_and_counts_the_rest(tmp_path):
    files = [str(tmp_path / f"gone{i:02d}.png") for i in range(12)]
    with pytest.raises(ValueError, match=r"gone09.png': no such file; and 2 more\.") \
            as info:
        check_readable(files)
    assert "gone10" not in str(info.value)
