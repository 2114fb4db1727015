"""Procedural generator of blood-smear crops (being written)."""


def make_blood_smear(n_samples=300, **kwargs):  # replaced by the generator
    raise NotImplementedError("make_blood_smear is being written")
