"""Patient-level diagnosis: one sample per patient, from the patient's cells."""

from sklearn_leukemia.patient._classifier import PatientClassifier, make_cell_pipeline

__all__ = ["PatientClassifier", "make_cell_pipeline"]
