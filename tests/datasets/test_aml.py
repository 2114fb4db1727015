import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.datasets import load_aml_cytomorphology

CODES = ["BAS", "LYT", "MOB", "MYB", "MYO"]


def _image(path, value=0):
    """An RGBA TIFF like the published ones, fully opaque."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((8, 8, 4), value, dtype=np.uint8)
    pixels[..., 3] = 255
    Image.fromarray(pixels, mode="RGBA").save(path)
    return path


def _write_classes(folder, counts=None):
    counts = counts or {"BAS": 1, "LYT": 2, "MOB": 1, "MYB": 2, "MYO": 2}
    for i, (code, count) in enumerate(counts.items()):
        for number in range(count, 0, -1):
            _image(folder / code / f"{code}_{number:04d}.tiff", 20 * i)
    return folder


@pytest.fixture
def aml(tmp_path):
    """The TCIA tree, with the metadata files found next to the class folders."""
    data_dir = _write_classes(tmp_path / "AML-Cytomorphology_LMU")
    (data_dir / "annotations.dat").write_text("BAS/BAS_0001.tiff BAS nan nan\n")
    (data_dir / "abbreviations.txt").write_text("BAS Basophil\n")
    return tmp_path


def _names(data):
    return [os.path.basename(f) for f in data.filenames]


def test_blast_mapping_by_default(aml):
    data = load_aml_cytomorphology(aml)
    assert _names(data) == [
        "BAS_0001.tiff",
        "LYT_0001.tiff",
        "LYT_0002.tiff",
        "MOB_0001.tiff",
        "MYB_0001.tiff",
        "MYB_0002.tiff",
        "MYO_0001.tiff",
        "MYO_0002.tiff",
    ]
    assert data.target_names.tolist() == ["non_blast", "blast"]
    # Myeloblasts (MYO) and monoblasts (MOB) are blasts; myelocytes (MYB) not.
    assert data.target.tolist() == [0, 0, 0, 1, 0, 0, 1, 1]
    assert data.class_names.tolist() == [
        "BAS", "LYT", "LYT", "MOB", "MYB", "MYB", "MYO", "MYO"
    ]  # fmt: skip
    assert data.groups is None
    assert all(os.path.isabs(f) for f in data.filenames)


def test_descr_documents_every_code(aml):
    descr = load_aml_cytomorphology(aml).DESCR
    for line in ["MYO: myeloblast", "MYB: myelocyte", "MOB: monoblast", "KSC: smudge"]:
        assert line in descr
    assert "PMB: promyelocyte (bilobed)" in descr
    assert "Matek" in descr and "10.7937/tcia.2019.36f5o9ld" in descr
    assert "target 1: 'blast', MOB and MYO" in descr
    assert "no patient identifiers" in descr
    assert "Images: 8 (non_blast: 5, blast: 3)" in descr


def test_morphology_mapping_keeps_the_codes(aml):
    data = load_aml_cytomorphology(aml, mapping="morphology")
    assert data.target_names.tolist() == CODES
    assert data.target.tolist() == [0, 1, 1, 2, 3, 3, 4, 4]


def test_dict_mapping_orders_labels_by_first_appearance(aml):
    mapping = {
        "LYT": "normal",
        "BAS": "normal",
        "MYO": "blast",
        "MOB": "blast",
        "MYB": None,
    }
    data = load_aml_cytomorphology(aml, mapping=mapping)
    assert data.target_names.tolist() == ["normal", "blast"]
    assert "MYB_0001.tiff" not in _names(data)
    assert data.class_names.tolist() == ["BAS", "LYT", "LYT", "MOB", "MYO", "MYO"]
    assert data.target.tolist() == [0, 0, 0, 1, 1, 1]
    assert "Left out: MYB" in data.DESCR


def test_dict_mapping_missing_a_present_code(aml):
    with pytest.raises(ValueError, match=r"no label for the class folders \['MYB'"):
        load_aml_cytomorphology(
            aml, mapping={"BAS": "a", "LYT": "a", "MOB": "b", "MYO": "b"}
        )


def test_dict_mapping_with_an_unknown_code(aml):
    with pytest.raises(ValueError, match=r"\['XYZ'\] that are not class codes"):
        load_aml_cytomorphology(aml, mapping={c: "x" for c in [*CODES, "XYZ"]})


def test_dict_mapping_with_a_label_that_is_not_a_string(aml):
    with pytest.raises(TypeError, match="label names"):
        load_aml_cytomorphology(aml, mapping={c: 1 for c in CODES})


def test_dict_mapping_that_leaves_everything_out(aml):
    with pytest.raises(ValueError, match="leaves every class out"):
        load_aml_cytomorphology(aml, mapping={c: None for c in CODES})


@pytest.mark.parametrize(
    "mapping, error", [("blasts", ValueError), (["MYO"], TypeError), (1, TypeError)]
)
def test_invalid_mapping(aml, mapping, error):
    with pytest.raises(error, match="mapping"):
        load_aml_cytomorphology(aml, mapping=mapping)


def test_root_may_be_the_folder_of_class_folders(tmp_path):
    _write_classes(tmp_path)
    assert len(load_aml_cytomorphology(tmp_path).filenames) == 8


def test_listing_is_deterministic(aml):
    first, second = load_aml_cytomorphology(aml), load_aml_cytomorphology(str(aml))
    np.testing.assert_array_equal(first.filenames, second.filenames)


def test_return_X_y(aml):
    X, y = load_aml_cytomorphology(aml, mapping="morphology", return_X_y=True)
    assert len(X) == 8 and y.tolist() == [0, 1, 1, 2, 3, 3, 4, 4]


def test_load_images(aml):
    data = load_aml_cytomorphology(aml, load_images=True, image_size=4)
    assert data.images.shape == (8, 4, 4, 3) and data.images.dtype == np.uint8
    # LYT images were written with the value 20, opaque.
    assert np.abs(data.images[1].astype(int) - 20).max() <= 1


def test_unreadable_image_is_skipped_with_its_code(aml):
    (aml / "AML-Cytomorphology_LMU" / "MOB" / "MOB_0001.tiff").write_bytes(b"x")
    with pytest.raises((ValueError, OSError), match="MOB_0001.tiff"):
        load_aml_cytomorphology(aml, load_images=True, image_size=4)
    with pytest.warns(UserWarning):
        data = load_aml_cytomorphology(
            aml, load_images=True, image_size=4, on_error="skip"
        )
    assert len(data.images) == 7
    assert "MOB" not in data.class_names.tolist()
    assert data.target.tolist() == [0, 0, 0, 0, 0, 1, 1]


def test_unknown_class_folder(aml):
    _image(aml / "AML-Cytomorphology_LMU" / "XYZ" / "XYZ_0001.tiff")
    with pytest.raises(ValueError, match="(?s)XYZ.*not a known class code.*MYO"):
        load_aml_cytomorphology(aml)
    with pytest.warns(UserWarning, match=r"Skipped 1 file\(s\).*XYZ"):
        data = load_aml_cytomorphology(aml, on_error="skip")
    assert len(data.filenames) == 8


@pytest.mark.parametrize(
    "name, match",
    [
        ("MYO_0009.tiff", "says 'MYO' but the file is in BAS/"),
        ("cell.tiff", "does not follow BAS_<number>"),
        ("BAS_0002.txt", "does not follow BAS_<number>"),
    ],
)
def test_file_that_does_not_fit_its_class_folder(aml, name, match):
    path = aml / "AML-Cytomorphology_LMU" / "BAS" / name
    if name.endswith(".tiff"):
        _image(path)
    else:
        path.write_text("x")
    with pytest.raises(ValueError, match=f"(?s){name}.*{match}"):
        load_aml_cytomorphology(aml)
    with pytest.warns(UserWarning, match=r"Skipped 1 file\(s\)"):
        assert len(load_aml_cytomorphology(aml, on_error="skip").filenames) == 8


def test_image_directly_in_the_dataset_folder(aml):
    _image(aml / "AML-Cytomorphology_LMU" / "BAS_0100.tiff")
    with pytest.raises(ValueError, match="BAS_0100.tiff.*directly in the dataset"):
        load_aml_cytomorphology(aml)


def test_class_folder_without_images(aml):
    (aml / "AML-Cytomorphology_LMU" / "EOS").mkdir()
    with pytest.raises(ValueError, match="EOS.*holds no images"):
        load_aml_cytomorphology(aml)


def test_image_folder_tree_is_not_aml(tmp_path):
    _image(tmp_path / "Benign" / "a.tiff")
    with pytest.raises(ValueError, match="(?s)No class folder named by an AML.*BAS/"):
        load_aml_cytomorphology(tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)nowhere.*BAS_0001.tiff"):
        load_aml_cytomorphology(tmp_path / "nowhere")


def test_root_that_is_a_file(tmp_path):
    path = _image(tmp_path / "BAS_0001.tiff")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_aml_cytomorphology(path)


def test_empty_root(tmp_path):
    with pytest.raises(ValueError, match="No class folder named by an AML"):
        load_aml_cytomorphology(tmp_path)


def test_nothing_is_written_into_root(aml):
    before = sorted(p.relative_to(aml) for p in aml.rglob("*"))
    load_aml_cytomorphology(aml, load_images=True, image_size=4)
    assert sorted(p.relative_to(aml) for p in aml.rglob("*")) == before
