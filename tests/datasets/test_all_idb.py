import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.datasets import load_all_idb


def _image(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)
    return path


def _write_idb1(folder, xyc_folder=None):
    """Three fields: two of ALL patients with blast centres, one healthy."""
    xyc_folder = folder if xyc_folder is None else xyc_folder
    xyc_folder.mkdir(parents=True, exist_ok=True)
    _image(folder / "Im002_1.jpg", 20)
    _image(folder / "Im001_1.jpg", 10)
    _image(folder / "Im003_0.jpg", 30)
    (xyc_folder / "Im001_1.xyc").write_text("446 62\n164 279\n168 377\n")
    (xyc_folder / "Im002_1.xyc").write_text("10\t20\n\n")
    return folder


def _write_idb2(folder):
    for name, value in [("Im001_1.tif", 10), ("Im131_0.tif", 40), ("Im002_1.tif", 20)]:
        _image(folder / name, value)
    return folder


def _names(data):
    return [os.path.basename(f) for f in data.filenames]


@pytest.fixture
def idb1(tmp_path):
    """The published ALL_IDB1 tree: images in im/, coordinates in xyc/."""
    _write_idb1(tmp_path / "ALL_IDB1" / "im", tmp_path / "ALL_IDB1" / "xyc")
    return tmp_path


@pytest.fixture
def idb2(tmp_path):
    _write_idb2(tmp_path / "ALL_IDB2" / "img")
    return tmp_path


def test_all_idb1_from_the_published_tree(idb1):
    data = load_all_idb(idb1)
    assert data.version == "ALL_IDB1"
    assert _names(data) == ["Im001_1.jpg", "Im002_1.jpg", "Im003_0.jpg"]
    assert all(os.path.isabs(f) for f in data.filenames)
    assert data.target.tolist() == [1, 1, 0]
    assert data.target_names.tolist() == ["healthy", "ALL"]
    assert data.groups is None
    np.testing.assert_array_equal(
        data.blast_coordinates[0], [[446, 62], [164, 279], [168, 377]]
    )
    np.testing.assert_array_equal(data.blast_coordinates[1], [[10, 20]])
    assert data.blast_coordinates[2].shape == (0, 2)


def test_all_idb1_descr(idb1):
    descr = load_all_idb(idb1).DESCR
    assert "ALL_IDB1" in descr and "Labati" in descr
    assert "ImNNN_L.jpg" in descr and "xyc" in descr
    assert "target 1: 'ALL'" in descr and "target 0: 'healthy'" in descr
    assert "no patient identifiers" in descr
    assert "Images: 3 (healthy: 1, ALL: 2)" in descr


def test_all_idb1_with_coordinates_next_to_the_images(tmp_path):
    _write_idb1(tmp_path)
    data = load_all_idb(tmp_path, version="ALL_IDB1")
    assert data.target.tolist() == [1, 1, 0]
    assert data.blast_coordinates[0].shape == (3, 2)


def test_all_idb2_from_the_images_folder_itself(tmp_path):
    _write_idb2(tmp_path)
    data = load_all_idb(tmp_path)
    assert data.version == "ALL_IDB2"
    assert _names(data) == ["Im001_1.tif", "Im002_1.tif", "Im131_0.tif"]
    assert data.target.tolist() == [1, 1, 0]
    assert data.target_names.tolist() == ["normal", "blast"]
    assert "blast_coordinates" not in data
    assert "centred cell is a" in data.DESCR


def test_all_idb2_from_the_published_tree(idb2):
    data = load_all_idb(idb2, version="ALL_IDB2")
    assert len(data.filenames) == 3
    assert os.path.join("ALL_IDB2", "img") in data.filenames[0]


def test_both_versions_need_an_explicit_choice(tmp_path):
    _write_idb1(tmp_path / "ALL_IDB1" / "im")
    _write_idb2(tmp_path / "ALL_IDB2" / "img")
    with pytest.raises(ValueError, match="Both ALL-IDB versions.*version="):
        load_all_idb(tmp_path)
    assert load_all_idb(tmp_path, version="ALL_IDB1").version == "ALL_IDB1"
    assert load_all_idb(tmp_path, version="ALL_IDB2").version == "ALL_IDB2"


def test_listing_is_deterministic(idb1):
    first, second = load_all_idb(idb1), load_all_idb(str(idb1))
    np.testing.assert_array_equal(first.filenames, second.filenames)


def test_return_X_y(idb2):
    X, y = load_all_idb(idb2, return_X_y=True)
    assert [os.path.basename(f) for f in X] == [
        "Im001_1.tif",
        "Im002_1.tif",
        "Im131_0.tif",
    ]
    assert y.tolist() == [1, 1, 0]


def test_load_images(idb1):
    data = load_all_idb(idb1, load_images=True, image_size=4)
    assert data.images.shape == (3, 4, 4, 3) and data.images.dtype == np.uint8
    assert data.data.shape == (3, 48)
    images, y = load_all_idb(idb1, load_images=True, image_size=4, return_X_y=True)
    np.testing.assert_array_equal(images, data.images)


def test_unreadable_image_is_skipped_with_its_coordinates(idb1):
    (idb1 / "ALL_IDB1" / "im" / "Im001_1.jpg").write_bytes(b"broken")
    with pytest.raises((ValueError, OSError), match="Im001_1.jpg"):
        load_all_idb(idb1, load_images=True, image_size=4)
    with pytest.warns(UserWarning):
        data = load_all_idb(idb1, load_images=True, image_size=4, on_error="skip")
    assert _names(data) == ["Im002_1.jpg", "Im003_0.jpg"]
    assert len(data.images) == 2 and len(data.blast_coordinates) == 2
    np.testing.assert_array_equal(data.blast_coordinates[0], [[10, 20]])


def test_invalid_version(idb1):
    with pytest.raises(ValueError, match="version='ALL_IDB3'"):
        load_all_idb(idb1, version="ALL_IDB3")


def test_wrong_version_finds_nothing(idb2):
    with pytest.raises(ValueError, match="(?s)No ALL_IDB1 images.*Im001_1.jpg"):
        load_all_idb(idb2, version="ALL_IDB1")


def test_missing_coordinates_of_an_all_image(idb1):
    (idb1 / "ALL_IDB1" / "xyc" / "Im002_1.xyc").unlink()
    with pytest.raises(ValueError, match="Im002_1.jpg.*Im002_1.xyc"):
        load_all_idb(idb1)
    with pytest.warns(UserWarning, match=r"Skipped 1 file\(s\).*Im002_1.jpg"):
        data = load_all_idb(idb1, on_error="skip")
    assert _names(data) == ["Im001_1.jpg", "Im003_0.jpg"]
    assert len(data.blast_coordinates) == 2


def test_malformed_coordinate_file_names_the_line(idb1):
    (idb1 / "ALL_IDB1" / "xyc" / "Im001_1.xyc").write_text("1 2\n3 four\n")
    with pytest.raises(ValueError, match=r"Im001_1.xyc, line 2.*'3 four'"):
        load_all_idb(idb1)


@pytest.mark.parametrize("name", ["Image5.jpg", "Im004_2.jpg", "Im005_1.png"])
def test_file_that_does_not_follow_the_pattern(idb1, name):
    _image(idb1 / "ALL_IDB1" / "im" / name)
    with pytest.raises(ValueError, match=f"(?s){name}.*ImNNN_L.jpg.*Expected layout"):
        load_all_idb(idb1)
    with pytest.warns(UserWarning, match=rf"Skipped 1 file\(s\).*{name}"):
        data = load_all_idb(idb1, on_error="skip")
    assert len(data.filenames) == 3


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)nowhere.*ImNNN_L.tif"):
        load_all_idb(tmp_path / "nowhere")


def test_root_that_is_a_file(tmp_path):
    path = _image(tmp_path / "Im001_1.jpg")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_all_idb(path)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="(?s)No ALL-IDB images.*ALL-IDB1:.*ALL-IDB2:"):
        load_all_idb(tmp_path)


def test_image_folder_tree_is_not_all_idb(tmp_path):
    _image(tmp_path / "Benign" / "a.jpg")
    _image(tmp_path / "Pro" / "b.jpg")
    with pytest.raises(ValueError, match="No ALL-IDB images"):
        load_all_idb(tmp_path)


def test_nothing_is_written_into_root(idb1):
    before = sorted(p.relative_to(idb1) for p in idb1.rglob("*"))
    load_all_idb(idb1, load_images=True, image_size=4)
    assert sorted(p.relative_to(idb1) for p in idb1.rglob("*")) == before
