import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.cli._layout import AML_LMU_CODES, detect_layout, load_layout


def _image(path, rng, size=12):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def test_plain_class_folders_are_folder_layout(tmp_path, rng):
    for cls in ("Benign", "Early"):
        _image(tmp_path / cls / "a.png", rng)
    assert detect_layout(tmp_path) == "folder"


def test_empty_folder_is_folder_layout(tmp_path):
    assert detect_layout(tmp_path) == "folder"


@pytest.mark.parametrize("prefix", ["", "C-NMC_training_data/",
                                    "C-NMC_Leukemia/training_data/"])
def test_cnmc_detected_at_its_documented_depths(tmp_path, rng, prefix):
    _image(tmp_path / f"{prefix}fold_0/all/UID_11_1_1_all.bmp", rng)
    _image(tmp_path / f"{prefix}fold_0/hem/UID_H10_1_1_hem.bmp", rng)
    assert detect_layout(tmp_path) == "cnmc"


@pytest.mark.parametrize("relative", ["Im001_1.tif", "ALL_IDB2/img/Im001_1.tif",
                                      "im/Im012_0.jpg"])
def test_all_idb_detected_from_file_names(tmp_path, rng, relative):
    _image(tmp_path / relative, rng)
    assert detect_layout(tmp_path) == "all-idb"


def test_aml_lmu_detected_from_class_codes(tmp_path):
    for code in ("BAS", "MYB", "NGS"):
        (tmp_path / code).mkdir()
    assert detect_layout(tmp_path) == "aml-lmu"
    assert len(AML_LMU_CODES) == 15


def test_aml_lmu_detected_one_folder_down(tmp_path):
    for code in ("BAS", "MYB"):
        (tmp_path / "AML-Cytomorphology_LMU" / code).mkdir(parents=True)
    assert detect_layout(tmp_path) == "aml-lmu"


def test_aml_lmu_detected_one_folder_down_beside_an_archivers_folder(tmp_path):
    # An archive unpacked on a Mac leaves __MACOSX beside the set's folder.
    for code in ("BAS", "MYB"):
        (tmp_path / "AML-Cytomorphology_LMU" / code).mkdir(parents=True)
        (tmp_path / "__MACOSX" / "AML-Cytomorphology_LMU" / code).mkdir(parents=True)
    assert detect_layout(tmp_path) == "aml-lmu"


def test_one_non_code_folder_makes_it_a_folder_layout(tmp_path):
    for name in ("BAS", "MYB", "blast"):
        (tmp_path / name).mkdir()
    assert detect_layout(tmp_path) == "folder"


def test_load_layout_folder_with_positive_classes(tmp_path, rng):
    for cls in ("Benign", "Early", "Pre"):
        _image(tmp_path / cls / "a.png", rng)
    data = load_layout(tmp_path, "folder", positive_classes=["Early", "Pre"])
    assert data.target.tolist() == [0, 1, 1]
    assert data.groups is None


def test_load_layout_rejects_positive_classes_for_fixed_layouts(tmp_path):
    with pytest.raises(ValueError, match="folder layout only; the cnmc layout"):
        load_layout(tmp_path, "cnmc", positive_classes=["all"])


def test_load_layout_rejects_unknown_layout(tmp_path):
    with pytest.raises(ValueError, match="layout='imagenet' is not supported"):
        load_layout(tmp_path, "imagenet")


@pytest.mark.realdata
def test_shared_real_datasets_are_class_folders(shared_data_dir):
    for name in ("all-taleqani", "pbc-normal"):
        if (shared_data_dir / name).is_dir():
            assert detect_layout(shared_data_dir / name) == "folder"


def test_a_patients_table_makes_it_patient_first(tmp_path, rng):
    (tmp_path / "P1" / "Blast").mkdir(parents=True)
    (tmp_path / "patients.csv").write_text("patient,diagnosis\nP1,APL\n")
    assert detect_layout(tmp_path) == "patients"
    # Only at the top: a table one folder down is some class's file.
    nested = tmp_path / "outer"
    (nested / "A").mkdir(parents=True)
    (nested / "B").mkdir()
    (nested / "A" / "patients.csv").write_text("patient\n")
    assert detect_layout(nested) == "folder"
