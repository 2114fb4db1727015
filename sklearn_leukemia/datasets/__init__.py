"""Loaders for published blood-smear datasets and a synthetic smear generator."""

from sklearn_leukemia.datasets._all_idb import load_all_idb
from sklearn_leukemia.datasets._aml import load_aml_cytomorphology
from sklearn_leukemia.datasets._cnmc import load_cnmc
from sklearn_leukemia.datasets._folder import load_image_folder
from sklearn_leukemia.datasets._patients import load_patient_folder
from sklearn_leukemia.datasets._synthetic import make_blood_smear

__all__ = [
    "load_all_idb",
    "load_aml_cytomorphology",
    "load_cnmc",
    "load_image_folder",
    "load_patient_folder",
    "make_blood_smear",
]
