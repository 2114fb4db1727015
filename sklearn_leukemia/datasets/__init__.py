"""Loaders for published blood-smear datasets and a synthetic smear generator."""

from sklearn_leukemia.datasets._synthetic import make_blood_smear

__all__ = sorted(["make_blood_smear"])
