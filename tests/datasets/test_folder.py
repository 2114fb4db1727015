import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.datasets import load_image_folder


def _image(path, value=0, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def tree(tmp_path):
    """Four classes like all-taleqani, with mixed formats and junk to ignore."""
    root = tmp_path / "smears"
    _image(root / "Benign" / "b2.png", 10)
    _image(root / "Benign" / "b1.jpg", 20)
    _image(root / "Early" / "e1.BMP", 30)
    _image(root / "Early" / "nested" / "e2.tif", 40)
    _image(root / "Pre" / "p1.jpeg", 50)
    _image(root / "Pro" / "r1.TIFF", 60)
    (root / "Benign" / "Thumbs.db").write_bytes(b"junk")
    (root / "Pre" / ".DS_Store").write_bytes(b"junk")
    (root / "Pro" / ".hidden.png").write_bytes(b"not read")
    (root / ".cache").mkdir()
    (root / "README.md").write_text("notes about the data")
    return root


def test_one_target_per_class_folder_in_sorted_order(tree):
    data = load_image_folder(tree)
    assert data.target_names.tolist() == ["Benign", "Early", "Pre", "Pro"]
    names = [os.path.relpath(f, tree) for f in data.filenames]
    assert names == [
        "Benign/b1.jpg",
        "Benign/b2.png",
        "Early/e1.BMP",
        os.path.join("Early", "nested", "e2.tif"),
        "Pre/p1.jpeg",
        "Pro/r1.TIFF",
    ]
    assert data.target.tolist() == [0, 0, 1, 1, 2, 3]
    assert data.target.dtype == np.int64
    assert data.class_names.tolist() == [
        "Benign", "Benign", "Early", "Early", "Pre", "Pro"
    ]  # fmt: skip
    assert data.groups is None
    assert all(os.path.isabs(f) for f in data.filenames)
    assert "images" not in data


def test_listing_is_deterministic(tree):
    first = load_image_folder(tree)
    second = load_image_folder(str(tree))
    np.testing.assert_array_equal(first.filenames, second.filenames)
    np.testing.assert_array_equal(first.target, second.target)


def test_descr_explains_layout_labels_and_counts(tree):
    descr = load_image_folder(tree).DESCR
    assert "<class_a>/" in descr
    assert "target 2: images in the folder 'Pre'" in descr
    assert "Thumbs.db" in descr and "groups`` is None" in descr
    assert "Images: 6 (Benign: 2, Early: 2, Pre: 1, Pro: 1)" in descr
    assert str(tree) in descr


def test_classes_select_and_order_the_folders(tree):
    data = load_image_folder(tree, classes=["Pro", "Benign"])
    assert data.target_names.tolist() == ["Pro", "Benign"]
    assert data.target.tolist() == [0, 1, 1]
    assert data.class_names.tolist() == ["Pro", "Benign", "Benign"]


def test_positive_classes_give_a_binary_task(tree):
    data = load_image_folder(
        tree,
        positive_classes=["Early", "Pre", "Pro"],
        binary_names=("benign", "leukemia"),
    )
    assert data.target_names.tolist() == ["benign", "leukemia"]
    assert data.target.tolist() == [0, 0, 1, 1, 1, 1]
    assert data.class_names.tolist()[2:] == ["Early", "Early", "Pre", "Pro"]
    assert "target 1 ('leukemia') for the folders" in data.DESCR


def test_single_positive_class_as_a_string(tree):
    data = load_image_folder(tree, positive_classes="Pro")
    assert data.target_names.tolist() == ["negative", "positive"]
    assert data.target.tolist() == [0, 0, 0, 0, 0, 1]


def test_return_X_y_gives_filenames_and_target(tree):
    X, y = load_image_folder(tree, return_X_y=True)
    data = load_image_folder(tree)
    np.testing.assert_array_equal(X, data.filenames)
    np.testing.assert_array_equal(y, data.target)


def test_load_images_reads_square_rgb_images(tree):
    data = load_image_folder(tree, load_images=True, image_size=6)
    assert data.images.shape == (6, 6, 6, 3)
    assert data.images.dtype == np.uint8
    assert data.data.shape == (6, 6 * 6 * 3)
    np.testing.assert_array_equal(data.data[3], data.images[3].ravel())
    # Image e2.tif was written with the value 40 everywhere.
    assert np.abs(data.images[3].astype(int) - 40).max() <= 1
    X, y = load_image_folder(tree, load_images=True, image_size=6, return_X_y=True)
    np.testing.assert_array_equal(X, data.images)
    np.testing.assert_array_equal(y, data.target)


def test_load_images_needs_image_size(tree):
    with pytest.raises(ValueError, match="load_images=True needs image_size"):
        load_image_folder(tree, load_images=True)


@pytest.mark.parametrize("image_size", [0, -4, 2.5, "8"])
def test_invalid_image_size(tree, image_size):
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        load_image_folder(tree, load_images=True, image_size=image_size)


def test_invalid_on_error(tree):
    with pytest.raises(ValueError, match="on_error='ignore'"):
        load_image_folder(tree, on_error="ignore")


def test_unknown_class_is_refused_with_the_folders_found(tree):
    with pytest.raises(ValueError, match=r"\['Late'\].*found are \['Benign'"):
        load_image_folder(tree, classes=["Benign", "Late"])


def test_classes_as_a_string_is_refused(tree):
    with pytest.raises(TypeError, match="classes must be a list"):
        load_image_folder(tree, classes="Benign")


def test_classes_as_a_set_is_refused(tree):
    with pytest.raises(TypeError, match="a set has no order"):
        load_image_folder(tree, classes={"Benign", "Pro"})


def test_positive_classes_as_a_set(tree):
    data = load_image_folder(tree, positive_classes={"Pro", "Early"})
    assert data.target.tolist() == [0, 0, 1, 1, 0, 1]
    assert "for the folders ['Early', 'Pro']" in data.DESCR


def test_repeated_class_is_refused(tree):
    with pytest.raises(ValueError, match="more than once"):
        load_image_folder(tree, classes=["Pre", "Pre"])


def test_unknown_positive_class_lists_the_folders(tree):
    with pytest.raises(ValueError, match=r"\['Blast'\].*\['Benign', 'Early'"):
        load_image_folder(tree, positive_classes=["Pro", "Blast"])


def test_positive_classes_covering_everything_is_refused(tree):
    with pytest.raises(ValueError, match="at least one class must stay negative"):
        load_image_folder(tree, classes=["Pre", "Pro"], positive_classes=["Pre", "Pro"])


@pytest.mark.parametrize("names", [("a",), ("a", "a"), "ab", ("a", 1)])
def test_invalid_binary_names(tree, names):
    with pytest.raises(ValueError, match="binary_names must be two different"):
        load_image_folder(tree, positive_classes=["Pro"], binary_names=names)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)nowhere.*<class_a>/"):
        load_image_folder(tmp_path / "nowhere")


def test_root_that_is_a_file(tmp_path):
    path = _image(tmp_path / "one.png")
    with pytest.raises(NotADirectoryError, match="one.png.*is a file"):
        load_image_folder(path)


def test_empty_root(tmp_path):
    with pytest.raises(ValueError, match="(?s)No class folders in .*<class_a>/"):
        load_image_folder(tmp_path)


def test_class_folder_without_images(tree):
    (tree / "Late").mkdir()
    (tree / "Late" / "notes.txt").write_text("to do")
    with pytest.raises(ValueError, match="Late.*holds no images"):
        load_image_folder(tree, on_error="skip")


def test_images_directly_in_root_are_refused(tree):
    _image(tree / "stray.png")
    with pytest.raises(ValueError, match="stray.png.*directly in the root"):
        load_image_folder(tree)


def test_file_that_is_not_an_image_is_named(tree):
    (tree / "Pre" / "labels.csv").write_text("a,b")
    with pytest.raises(ValueError, match=r"labels\.csv.*not an image file.*\.bmp"):
        load_image_folder(tree)


def test_skip_warns_with_a_count_and_leaves_files_out(tree):
    (tree / "Pre" / "labels.csv").write_text("a,b")
    (tree / "Pro" / "notes.txt").write_text("x")
    with pytest.warns(UserWarning, match=r"Skipped 2 file\(s\).*labels\.csv"):
        data = load_image_folder(tree, on_error="skip")
    assert len(data.filenames) == 6


def test_unreadable_image_raises_when_loading(tree):
    (tree / "Pre" / "broken.png").write_text("not an image")
    assert len(load_image_folder(tree).filenames) == 7
    with pytest.raises((ValueError, OSError), match="broken.png"):
        load_image_folder(tree, load_images=True, image_size=4)


def test_unreadable_image_is_skipped_with_its_metadata(tree):
    (tree / "Pre" / "broken.png").write_text("not an image")
    with pytest.warns(UserWarning):
        data = load_image_folder(tree, load_images=True, image_size=4, on_error="skip")
    assert len(data.images) == len(data.filenames) == len(data.target) == 6
    assert len(data.class_names) == 6
    assert not any(f.endswith("broken.png") for f in data.filenames)
    assert data.target.tolist() == [0, 0, 1, 1, 2, 3]


def test_nothing_is_written_into_root(tree):
    before = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    load_image_folder(tree, load_images=True, image_size=4)
    assert sorted(p.relative_to(tree) for p in tree.rglob("*")) == before


def test_real_all_taleqani(shared_data_dir):
    data = load_image_folder(
        shared_data_dir / "all-taleqani",
        positive_classes=["Early", "Pre", "Pro"],
        binary_names=("benign", "leukemia"),
    )
    counts = {
        n: int((data.class_names == n).sum()) for n in np.unique(data.class_names)
    }
    assert set(counts) == {"Benign", "Early", "Pre", "Pro"}
    assert (data.target == 0).sum() == counts["Benign"]
    assert (data.target == 1).sum() == counts["Early"] + counts["Pre"] + counts["Pro"]
    assert all(f.endswith(".jpg") for f in data.filenames)


def test_real_pbc_normal(shared_data_dir):
    data = load_image_folder(shared_data_dir / "pbc-normal")
    assert len(data.target_names) == 8
    assert "lymphocyte" in data.target_names
    assert np.bincount(data.target).min() > 0


@pytest.mark.skipif(os.name == "nt", reason="folder links need privileges on Windows")
def test_folder_links_are_followed_once_and_loops_skipped(tmp_path):
    root = tmp_path / "smears"
    _image(root / "Benign" / "b.png", 10)
    _image(tmp_path / "shared" / "s.png", 20)
    _image(root / "Early" / "e.png", 30)
    (root / "Benign" / "more").symlink_to(tmp_path / "shared")
    (root / "Early" / "same").symlink_to(tmp_path / "shared")
    (root / "Early" / "up").symlink_to(root)
    with pytest.warns(UserWarning) as caught:
        bunch = load_image_folder(root)
    messages = sorted(str(w.message) for w in caught)
    assert [os.path.relpath(f, root) for f in bunch.filenames] == [
        "Benign/b.png", "Benign/more/s.png", "Early/e.png"]
    assert "which was already listed" in messages[0] and "same" in messages[0]
    assert "(a link loop)" in messages[1] and "up" in messages[1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_folder_special_files_are_skipped_with_a_warning(tmp_path):
    root = tmp_path / "smears"
    _image(root / "Benign" / "b.png", 10)
    _image(root / "Early" / "e.png", 30)
    os.mkfifo(root / "Early" / "pipe.png")
    with pytest.warns(UserWarning, match=r"not a regular file: .*pipe.png.*FIFO"):
        bunch = load_image_folder(root)
    assert len(bunch.filenames) == 2
