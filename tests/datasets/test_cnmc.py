import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.datasets import load_cnmc

FILES = {
    0: {
        "all": ["UID_11_10_2_all.bmp", "UID_11_10_1_all.bmp"],
        "hem": ["UID_H10_43_1_hem.bmp"],
    },
    1: {"all": ["UID_5_1_1_all.bmp"], "hem": ["UID_h22_3_1_hem.bmp"]},
    2: {"all": ["UID_7_2_1_all.bmp"], "hem": ["UID_H10_44_1_hem.bmp"]},
}


def _image(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)
    return path


def _write_training_data(folder, nested=False):
    for fold, labels in FILES.items():
        fold_dir = folder / f"fold_{fold}"
        if nested:
            fold_dir = fold_dir / f"fold_{fold}"
        for label, names in labels.items():
            for name in names:
                _image(fold_dir / label / name, 200 if label == "all" else 50)
    return folder


@pytest.fixture
def cnmc(tmp_path):
    """The published tree: C-NMC_training_data/fold_k/{all,hem}/."""
    _write_training_data(tmp_path / "C-NMC_training_data")
    return tmp_path


def _relative(data, root):
    return [os.path.relpath(f, root).replace(os.sep, "/") for f in data.filenames]


def test_training_folds(cnmc):
    data = load_cnmc(cnmc)
    assert _relative(data, cnmc / "C-NMC_training_data") == [
        "fold_0/hem/UID_H10_43_1_hem.bmp",
        "fold_0/all/UID_11_10_1_all.bmp",
        "fold_0/all/UID_11_10_2_all.bmp",
        "fold_1/hem/UID_h22_3_1_hem.bmp",
        "fold_1/all/UID_5_1_1_all.bmp",
        "fold_2/hem/UID_H10_44_1_hem.bmp",
        "fold_2/all/UID_7_2_1_all.bmp",
    ]
    assert data.target.tolist() == [0, 1, 1, 0, 1, 0, 1]
    assert data.target_names.tolist() == ["hem", "all"]
    # The lower-case h of a healthy subject is written H.
    assert data.groups.tolist() == ["H10", "11", "11", "H22", "5", "H10", "7"]
    assert data.folds.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert all(os.path.isabs(f) for f in data.filenames)


def test_descr(cnmc):
    descr = load_cnmc(cnmc).DESCR
    assert "C-NMC 2019" in descr and "Gupta" in descr
    assert "fold_0/" in descr and "UID_H10_43_1_hem.bmp" in descr
    assert "target 1: 'all'" in descr and "target 0: 'hem'" in descr
    assert "Images: 7 (hem: 3, all: 4)" in descr


@pytest.mark.parametrize(
    "folds, expected", [(1, [1, 1]), ([2, 0], [0, 0, 0, 2, 2]), ((0,), [0, 0, 0])]
)
def test_folds_select(cnmc, folds, expected):
    assert load_cnmc(cnmc, folds=folds).folds.tolist() == expected


def test_missing_fold_lists_the_present_ones(cnmc):
    with pytest.raises(ValueError, match=r"folds \[3\] not found.*\[0, 1, 2\]"):
        load_cnmc(cnmc, folds=[0, 3])


@pytest.mark.parametrize("folds", ["0", [0.5], [True]])
def test_folds_of_the_wrong_type(cnmc, folds):
    with pytest.raises(TypeError, match="folds must be an int or a list of ints"):
        load_cnmc(cnmc, folds=folds)


def test_empty_folds(cnmc):
    with pytest.raises(ValueError, match="folds is empty"):
        load_cnmc(cnmc, folds=[])


@pytest.mark.parametrize("sub", ["", "training_data", "C-NMC_Leukemia/training_data"])
def test_other_known_roots(tmp_path, sub):
    _write_training_data(tmp_path / sub if sub else tmp_path)
    assert len(load_cnmc(tmp_path).filenames) == 7


def test_folds_nested_in_a_folder_of_the_same_name(tmp_path):
    _write_training_data(tmp_path, nested=True)
    data = load_cnmc(tmp_path)
    assert len(data.filenames) == 7
    assert os.path.join("fold_0", "fold_0", "hem") in data.filenames[0]


def test_listing_is_deterministic(cnmc):
    first, second = load_cnmc(cnmc), load_cnmc(str(cnmc))
    np.testing.assert_array_equal(first.filenames, second.filenames)
    np.testing.assert_array_equal(first.groups, second.groups)


def test_return_X_y(cnmc):
    X, y = load_cnmc(cnmc, return_X_y=True)
    data = load_cnmc(cnmc)
    np.testing.assert_array_equal(X, data.filenames)
    np.testing.assert_array_equal(y, data.target)


def test_load_images(cnmc):
    data = load_cnmc(cnmc, load_images=True, image_size=5)
    assert data.images.shape == (7, 5, 5, 3) and data.images.dtype == np.uint8
    # all/ images were written bright, hem/ ones dark.
    assert (data.images[data.target == 1] > 150).all()
    assert (data.images[data.target == 0] < 100).all()


def test_unreadable_image_is_skipped_with_its_group_and_fold(cnmc):
    path = cnmc / "C-NMC_training_data" / "fold_1" / "all" / "UID_5_1_1_all.bmp"
    path.write_bytes(b"")
    with pytest.raises((ValueError, OSError), match="UID_5_1_1_all.bmp"):
        load_cnmc(cnmc, load_images=True, image_size=4)
    with pytest.warns(UserWarning):
        data = load_cnmc(cnmc, load_images=True, image_size=4, on_error="skip")
    assert len(data.images) == 6
    assert data.groups.tolist() == ["H10", "11", "11", "H22", "H10", "7"]
    assert data.folds.tolist() == [0, 0, 0, 1, 2, 2]
    assert data.target.tolist() == [0, 1, 1, 0, 0, 1]


@pytest.mark.parametrize(
    "name",
    ["cell_1.bmp", "UID_11_10_all.bmp", "UID_X1_1_1_all.bmp", "UID_1_1_1_all.txt"],
)
def test_name_that_does_not_parse(cnmc, name):
    path = cnmc / "C-NMC_training_data" / "fold_2" / "all" / name
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match=f"(?s){name}.*UID_<subject>_<image>"):
        load_cnmc(cnmc)
    with pytest.warns(UserWarning, match=rf"Skipped 1 file\(s\).*{name}"):
        data = load_cnmc(cnmc, on_error="skip")
    assert len(data.filenames) == 7


def test_label_that_contradicts_the_folder(cnmc):
    _image(cnmc / "C-NMC_training_data" / "fold_0" / "all" / "UID_H3_1_1_hem.bmp")
    with pytest.raises(ValueError, match="says 'hem' but the file is in all/"):
        load_cnmc(cnmc)


def test_unexpected_subfolder(cnmc):
    (cnmc / "C-NMC_training_data" / "fold_0" / "hem" / "extra").mkdir()
    with pytest.raises(ValueError, match="extra.*unexpected folder"):
        load_cnmc(cnmc)


def test_fold_without_hem(cnmc):
    hem = cnmc / "C-NMC_training_data" / "fold_1" / "hem"
    for path in hem.iterdir():
        path.unlink()
    hem.rmdir()
    with pytest.raises(ValueError, match="(?s)fold_1.*has no hem/ folder.*fold_0/"):
        load_cnmc(cnmc)


def test_label_folder_without_images(cnmc):
    folder = cnmc / "C-NMC_training_data" / "fold_2" / "all"
    (folder / "UID_7_2_1_all.bmp").unlink()
    with pytest.raises(ValueError, match="fold_2.all.*holds no C-NMC images"):
        load_cnmc(cnmc)


def test_image_folder_tree_is_not_cnmc(tmp_path):
    _image(tmp_path / "all" / "a.bmp")
    _image(tmp_path / "hem" / "b.bmp")
    with pytest.raises(ValueError, match="(?s)No fold_0, fold_1.*fold_0/"):
        load_cnmc(tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)nowhere.*fold_0/"):
        load_cnmc(tmp_path / "nowhere")


def test_root_that_is_a_file(tmp_path):
    path = _image(tmp_path / "UID_1_1_1_all.bmp")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_cnmc(path)


def test_empty_root(tmp_path):
    with pytest.raises(ValueError, match="No fold_0"):
        load_cnmc(tmp_path)


def test_nothing_is_written_into_root(cnmc):
    before = sorted(p.relative_to(cnmc) for p in cnmc.rglob("*"))
    load_cnmc(cnmc, load_images=True, image_size=4)
    assert sorted(p.relative_to(cnmc) for p in cnmc.rglob("*")) == before
