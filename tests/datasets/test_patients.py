import os

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.datasets import load_patient_folder


def _image(path, value=0, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(path)
    return path


def _table(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def deepapl(tmp_path):
    """The DeepAPL layout, with what the published set comes with."""
    root = tmp_path / "aml"
    _table(
        root / "patients.csv",
        "patient,diagnosis,age\nPatient_01,AML,28\nPatient_00,APL,29\n"
        "Patient_02,AML,40\n",
    )
    _image(root / "Patient_00" / "Blast, no lineage spec" / "BL_1.jpg", 10)
    _image(root / "Patient_00" / "Promyelocyte" / "PMY_2.jpg", 20)
    _image(root / "Patient_00" / "Promyelocyte" / "PMY_3.jpg", 30)
    (root / "Patient_00" / "Promyelocyte" / "Thumbs.db").write_bytes(b"junk")
    _image(root / "Patient_01" / "Lymphocyte" / "LY_4.jpg", 40)
    _image(root / "Patient_01" / "Blast, no lineage spec" / "BL_5.jpg", 50)
    _image(root / "Patient_02" / "Lymphocyte" / "LY_6.jpg", 60)
    _image(root / "Patient_02" / "Monocyte" / "MO_7.jpg", 70)
    return root


def _relative(data, root):
    return [os.path.relpath(f, root).replace(os.sep, "/") for f in data.filenames]


def test_deepapl_layout_cells_patients_and_target(deepapl):
    data = load_patient_folder(deepapl, target="diagnosis")
    assert data.patients.tolist() == ["Patient_01", "Patient_00", "Patient_02"]
    assert data.patient_target.tolist() == ["AML", "APL", "AML"]
    assert data.patient_target_names.tolist() == ["AML", "APL"]
    assert _relative(data, deepapl) == [
        "Patient_01/Blast, no lineage spec/BL_5.jpg",
        "Patient_01/Lymphocyte/LY_4.jpg",
        "Patient_00/Blast, no lineage spec/BL_1.jpg",
        "Patient_00/Promyelocyte/PMY_2.jpg",
        "Patient_00/Promyelocyte/PMY_3.jpg",
        "Patient_02/Lymphocyte/LY_6.jpg",
        "Patient_02/Monocyte/MO_7.jpg",
    ]
    assert data.groups.tolist() == ["Patient_01"] * 2 + ["Patient_00"] * 3 + [
        "Patient_02"
    ] * 2
    assert data.target_names.tolist() == [
        "Blast, no lineage spec", "Lymphocyte", "Monocyte", "Promyelocyte",
    ]  # fmt: skip
    assert data.target.tolist() == [0, 1, 0, 3, 3, 1, 2]
    assert data.target.dtype == np.int64
    assert data.cell_types.tolist() == data.target_names[data.target].tolist()
    # Each patient's cells, aligned with the patients.
    for patient, cells, types in zip(
        data.patients, data.patient_cells, data.patient_cell_types
    ):
        np.testing.assert_array_equal(cells, data.filenames[data.groups == patient])
        np.testing.assert_array_equal(types, data.cell_types[data.groups == patient])
    assert data.patient_table["age"].tolist() == ["28", "29", "40"]
    assert "Patients: 3; cells: 7" in data.DESCR


def test_return_X_y_gives_patients_with_a_target_and_cells_without(deepapl):
    X, y = load_patient_folder(deepapl, target="diagnosis", return_X_y=True)
    assert len(X) == 3 and y.tolist() == ["AML", "APL", "AML"]
    assert [len(cells) for cells in X] == [2, 3, 2]
    X, y = load_patient_folder(deepapl, return_X_y=True)
    assert X.shape == (7,) and y.tolist() == [0, 1, 0, 3, 3, 1, 2]


def test_load_images_per_patient(deepapl):
    data = load_patient_folder(deepapl, target="diagnosis", load_images=True,
                               image_size=4)
    assert data.images.shape == (7, 4, 4, 3)
    assert [cells.shape for cells in data.patient_cells] == [
        (2, 4, 4, 3), (3, 4, 4, 3), (2, 4, 4, 3)
    ]  # fmt: skip
    X, _ = load_patient_folder(deepapl, target="diagnosis", load_images=True,
                               image_size=4, return_X_y=True)
    np.testing.assert_array_equal(X[1], data.images[2:5])


def _truncate(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def test_unreadable_cells_are_left_out_with_one_warning_and_stay_aligned(deepapl):
    _truncate(_image(deepapl / "Patient_00" / "Promyelocyte" / "PMY_9.jpg", 90,
                     size=(64, 64)))
    (deepapl / "Patient_02" / "Monocyte" / "MO_8.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"Left out 2 of 9 cells") as caught:
        data = load_patient_folder(deepapl, target="diagnosis")
    assert len([w for w in caught if "Left out" in str(w.message)]) == 1
    assert "Patient_00/Promyelocyte/PMY_9.jpg" in str(caught[0].message).replace(
        os.sep, "/"
    )
    assert len(data.filenames) == 7
    assert len(data.groups) == len(data.target) == len(data.cell_types) == 7
    assert not any("PMY_9" in f or "MO_8" in f for f in data.filenames)
    assert [len(c) for c in data.patient_cells] == [2, 3, 2]
    with pytest.warns(UserWarning, match="Left out 2 of 9"):
        loaded = load_patient_folder(deepapl, target="diagnosis", load_images=True,
                                     image_size=4)
    assert loaded.images.shape == (7, 4, 4, 3)
    np.testing.assert_array_equal(loaded.filenames, data.filenames)


def test_unreadable_cell_raises_when_asked(deepapl):
    (deepapl / "Patient_02" / "Monocyte" / "MO_8.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"1 of 8 cells cannot be read: .*MO_8"):
        load_patient_folder(deepapl, on_error="raise")


def test_same_file_name_under_two_cell_types_warns_and_keeps_both(deepapl):
    _image(deepapl / "Patient_01" / "Lymphocyte" / "BL_5.jpg", 50)
    with pytest.warns(UserWarning, match=r"1 image file name\(s\) sit under two "
                      r"cell types.*Patient_01/BL_5.jpg \(Blast, no lineage spec "
                      r"and Lymphocyte\)"):
        data = load_patient_folder(deepapl)
    assert len(data.filenames) == 8


def test_aml_hehr_layout_grouping_folders_and_its_table(tmp_path):
    """One folder per patient inside diagnosis folders, cells directly in it."""
    root = tmp_path / "AML_Hehr"
    _table(
        root / "metadata.csv",
        "patient_id;diagnose;sex\nAAA;PML_RARA;f\nBBB;control;m\nCCC;NPM1;f\n",
    )
    _image(root / "PML_RARA" / "AAA" / "image_0.tif", 1)
    _image(root / "PML_RARA" / "AAA" / "image_1.tif", 2)
    _image(root / "control" / "BBB" / "image_0.tif", 3)
    _image(root / "NPM1" / "CCC" / "image_0.tif", 4)
    data = load_patient_folder(root, table="metadata.csv",
                               patient_column="patient_id", target="diagnose")
    assert data.patients.tolist() == ["AAA", "BBB", "CCC"]
    assert data.patient_target.tolist() == ["PML_RARA", "control", "NPM1"]
    assert data.groups.tolist() == ["AAA", "AAA", "BBB", "CCC"]
    assert data.target is None and data.target_names is None
    assert data.cell_types is None and data.patient_cell_types is None
    assert [len(c) for c in data.patient_cells] == [2, 1, 1]
    assert "no cell-level labels" in data.DESCR
    with pytest.raises(ValueError, match="have no cell-type folders"):
        load_patient_folder(root, table="metadata.csv",
                            patient_column="patient_id", return_X_y=True)


def test_table_outside_the_data_folder(deepapl, tmp_path):
    table = tmp_path / "elsewhere" / "labels.csv"
    _table(table, "patient,subtype\nPatient_00,M3\nPatient_01,M1\nPatient_02,M4\n")
    (deepapl / "patients.csv").unlink()
    data = load_patient_folder(deepapl, table=table, target="subtype")
    assert data.patient_target.tolist() == ["M3", "M1", "M4"]


def test_bom_and_tab_separated_tables(deepapl):
    (deepapl / "patients.csv").write_bytes(
        "\ufeffpatient\tdiagnosis\nPatient_00\tAPL\nPatient_01\tAML\n"
        "Patient_02\tAML\n".encode()
    )
    data = load_patient_folder(deepapl, target="diagnosis")
    assert data.patient_target.tolist() == ["APL", "AML", "AML"]


@pytest.mark.parametrize(
    "table, match",
    [
        ("id,diagnosis\nPatient_00,APL\n", r"no column 'patient'; its columns are "
                                           r"\['id', 'diagnosis'\]"),
        ("patient,diag\nPatient_00,APL\n", "no column 'diagnosis'"),
        ("patient,diagnosis\nPatient_00,APL\nPatient_00,AML\nPatient_01,AML\n"
         "Patient_02,AML\n", r"lists the patient\(s\) \['Patient_00'\] more than"),
        ("patient,diagnosis\nPatient_00,APL\nPatient_01,\nPatient_02,AML\n",
         r"'diagnosis' .* is empty in 1 row\(s\) \(row 3\)"),
        ("patient,diagnosis\nPatient_00,APL,x\n", "Row 2 .* has 3 fields"),
        ("", "is empty"),
        ("patient,diagnosis\n", "lists no patient"),
    ],
)
def test_bad_tables_name_the_column_or_row(deepapl, table, match):
    (deepapl / "patients.csv").write_text(table)
    with pytest.raises(ValueError, match=match):
        load_patient_folder(deepapl, target="diagnosis")


def test_missing_table(deepapl):
    (deepapl / "patients.csv").unlink()
    with pytest.raises(FileNotFoundError, match="patient table .*patients.csv"):
        load_patient_folder(deepapl)


def test_patient_without_folder_and_folder_without_patient(deepapl):
    table = deepapl / "patients.csv"
    table.write_text(table.read_text() + "Patient_99,AML,50\n")
    with pytest.raises(ValueError, match=r"have no folder .*\['Patient_99'\]"):
        load_patient_folder(deepapl)
    table.write_text("patient,diagnosis\nPatient_00,APL\nPatient_01,AML\n")
    with pytest.raises(ValueError, match=r"not patients of the table.*Patient_02"):
        load_patient_folder(deepapl)


def test_an_image_in_a_grouping_folder_is_refused(tmp_path):
    root = tmp_path / "hehr"
    _table(root / "patients.csv", "patient,diagnosis\nAAA,APL\n")
    _image(root / "APL" / "AAA" / "a.png")
    _image(root / "APL" / "stray.png")
    with pytest.raises(ValueError, match="stray.png.*no patient of the table"):
        load_patient_folder(root)


def test_same_patient_in_two_folders(tmp_path):
    root = tmp_path / "hehr"
    _table(root / "patients.csv", "patient,diagnosis\nAAA,APL\nBBB,AML\n")
    _image(root / "APL" / "AAA" / "a.png")
    _image(root / "AML" / "AAA" / "a.png")
    _image(root / "AML" / "BBB" / "b.png")
    with pytest.raises(ValueError, match="The patient 'AAA' has 2 folders"):
        load_patient_folder(root)


def test_patient_folder_without_readable_cells(deepapl):
    for path in (deepapl / "Patient_02").rglob("*.jpg"):
        path.write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="Left out 2"):
        with pytest.raises(ValueError, match=r"1 patient folder\(s\) hold no "
                           r"readable cell: .*Patient_02"):
            load_patient_folder(deepapl)


def test_mixed_levels_are_refused(deepapl):
    _image(deepapl / "Patient_02" / "loose.png")
    with pytest.raises(ValueError, match="holds both cells .*loose.png"):
        load_patient_folder(deepapl)
    (deepapl / "Patient_02" / "loose.png").unlink()
    for path in list((deepapl / "Patient_02").rglob("*.jpg")):
        path.rename(deepapl / "Patient_02" / path.name)
        path.parent.rmdir()
    with pytest.raises(ValueError, match="Patient folders differ in layout"):
        load_patient_folder(deepapl)


def test_non_image_files_follow_on_error(deepapl):
    (deepapl / "Patient_00" / "Promyelocyte" / "notes.txt").write_text("x")
    with pytest.warns(UserWarning, match="Skipped 1 file.*notes.txt"):
        data = load_patient_folder(deepapl)
    assert len(data.filenames) == 7
    with pytest.raises(ValueError, match="notes.txt.*not an image file"):
        load_patient_folder(deepapl, on_error="raise")


def test_bad_parameters(deepapl):
    with pytest.raises(TypeError, match="target must be the name of a column"):
        load_patient_folder(deepapl, target=1)
    with pytest.raises(TypeError, match="table must be the path"):
        load_patient_folder(deepapl, table=3)
    with pytest.raises(ValueError, match="on_error"):
        load_patient_folder(deepapl, on_error="ignore")


def test_the_loader_writes_nothing(deepapl):
    before = sorted((p, p.stat().st_mtime_ns) for p in deepapl.rglob("*"))
    load_patient_folder(deepapl, target="diagnosis", load_images=True, image_size=4)
    assert sorted((p, p.stat().st_mtime_ns) for p in deepapl.rglob("*")) == before


def test_real_deepapl(shared_data_dir):
    root = shared_data_dir / "aml-deepapl"
    if not root.is_dir():
        pytest.skip("aml-deepapl not available")
    with pytest.warns(UserWarning) as caught:
        data = load_patient_folder(root, target="diagnosis", n_jobs=2)
    messages = [str(w.message) for w in caught]
    assert any("Left out 3 of" in m for m in messages)
    assert any("sit under two cell types" in m for m in messages)
    assert len(data.patients) == 82
    assert sorted(set(data.patient_target)) == ["AML", "APL"]
    assert (data.patient_target == "APL").sum() == 22
    assert len(data.filenames) == len(data.groups) == len(data.target)
    assert sum(len(c) for c in data.patient_cells) == len(data.filenames)
    assert "Promyelocyte" in data.target_names


def test_without_a_table_every_folder_is_a_patient(deepapl):
    (deepapl / "patients.csv").unlink()
    data = load_patient_folder(deepapl, table=None)
    assert data.patients.tolist() == ["Patient_00", "Patient_01", "Patient_02"]
    assert data.patient_target is None
    assert data.patient_table == {"patient": data.patients}
    assert [len(c) for c in data.patient_cells] == [3, 2, 2]
    with pytest.raises(ValueError, match="table=None reads none"):
        load_patient_folder(deepapl, table=None, target="diagnosis")
