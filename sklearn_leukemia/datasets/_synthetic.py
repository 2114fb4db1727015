"""Procedural generator of Wright-Giemsa blood-smear crops.

Every image is rendered from a handful of per-image numbers (cell radius,
nucleus size, chromatin texture, stain colours, ...). This module validates
the parameters and draws those numbers: classes and patients, per-patient
stain and optics, per-cell morphology. :mod:`._smear_render` turns them into
pixels. All random numbers are drawn before rendering starts, so the images do
not depend on how the batch is split into chunks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from sklearn.utils import check_random_state

from sklearn_leukemia.datasets._smear_render import (
    draw_layout,
    noise_bank,
    render_smears,
)
from sklearn_leukemia.utils._validation import check_int, is_integral

SUPPORTED_CLASSES = ("normal", "ALL", "AML")

# Cell types drawn; "normal" is a mixture of the first two.
_LYMPHOCYTE, _NEUTROPHIL, _LYMPHOBLAST, _MYELOBLAST = range(4)

# Slots drawn per cell; the renderer reads these sizes from the arrays.
_MAX_LOBES = 5
_MAX_NUCLEOLI = 5

# (low, high) of each morphology parameter per cell type, in the order
# lymphocyte, neutrophil, lymphoblast, myeloblast.  Lengths are fractions of
# the image side (a red cell has a radius of about 0.1).  ``difficulty``
# widens every range around its centre.
_MORPHOLOGY = {
    "radius": [(0.085, 0.105), (0.135, 0.160), (0.120, 0.150), (0.150, 0.180)],
    "aspect": [(1.00, 1.10), (1.00, 1.10), (1.00, 1.15), (1.00, 1.20)],
    # nucleus radius / cell radius: the square root of the N:C area ratio;
    # neutrophils use lobes instead and ignore the nucleus shape entries
    "nc": [(0.80, 0.90), (0.27, 0.32), (0.82, 0.92), (0.58, 0.70)],
    "nucleus_aspect": [(1.00, 1.15), (1.00, 1.10), (1.00, 1.20), (1.05, 1.30)],
    "eccentricity": [(0.30, 0.90), (0.00, 0.20), (0.20, 0.80), (0.30, 0.90)],
    "notch": [(0.00, 0.15), (0.00, 0.00), (0.00, 0.40), (0.00, 0.15)],
    "coarseness": [(0.80, 1.00), (0.60, 0.85), (0.00, 0.20), (0.00, 0.20)],
    "contrast": [(0.35, 0.50), (0.30, 0.40), (0.08, 0.15), (0.08, 0.15)],
    "nucleus_density": [(1.15, 1.40), (1.05, 1.30), (0.75, 0.95), (0.70, 0.90)],
    "nucleoli": [(0.00, 0.99), (0.00, 0.99), (1.00, 2.99), (2.00, 5.99)],
    "pinkness": [(0.00, 0.15), (0.80, 1.00), (0.00, 0.10), (0.25, 0.55)],
    "cytoplasm_density": [(0.45, 0.70), (0.45, 0.60), (0.80, 1.05), (0.45, 0.70)],
    "granularity": [(0.00, 0.05), (0.50, 0.90), (0.00, 0.05), (0.25, 0.55)],
}
# Bounds of the drawn values, which the widening by ``difficulty`` (and the
# per-patient size and N:C changes) can push out of their meaningful range.
_LIMITS = {
    "radius": (0.06, 0.2),
    "aspect": (1.0, None),
    "nucleus_aspect": (1.0, None),
    "nc": (0.2, 0.95),
    "eccentricity": (0.0, 1.0),
    "notch": (0.0, 1.0),
    "coarseness": (0.0, 1.0),
    "pinkness": (0.0, 1.0),
    "granularity": (0.0, 1.0),
    "nucleoli": (0, _MAX_NUCLEOLI),
    "nucleus_density": (0.4, None),
    "cytoplasm_density": (0.2, None),
}
_AUER_PROBABILITY = (0.0, 0.0, 0.0, 0.25)

# Optical density per unit of stain (R, G, B) before per-patient changes.
# Azure-eosin (purple) nuclei absorb green most, eosin (red cells, pink
# cytoplasm) green and some blue, methylene blue (basophilic cytoplasm) red.
_STAIN = {
    "nucleus": (0.94, 1.55, 0.48),
    "rbc": (0.17, 0.48, 0.36),
    "blue": (0.58, 0.56, 0.20),
    "pink": (0.33, 0.53, 0.33),
    "granule": (0.30, 0.45, 0.15),
    "azurophil": (0.45, 0.75, 0.25),
    "auer": (0.90, 1.70, 0.70),
    "cream": (0.01, 0.11, 0.24),
    "lavender": (0.06, 0.10, 0.02),
}

# Pixels rendered per chunk; bounds memory at large ``image_size``.
_CHUNK_PIXELS = 2**21


def make_blood_smear(
    n_samples: int = 300,
    *,
    image_size: int = 64,
    classes: Sequence[str] = ("normal", "ALL", "AML"),
    n_patients: int | None = None,
    difficulty: float = 0.3,
    weights: Sequence[float] | None = None,
    random_state=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate synthetic blood-smear crops of normal and leukemic white cells.

    Each image shows a pale background, red blood cells (pink discs with a
    lighter centre, overlapping, some cut by the border) and one white cell
    near the centre whose morphology depends on the class:

    - ``"normal"``: small mature lymphocytes (dense, clumped, round nucleus
      filling most of the cell, thin rim of pale blue cytoplasm) and larger
      segmented neutrophils (3-5 connected lobes, pink granular cytoplasm);
    - ``"ALL"``: lymphoblasts, larger cells with a very high nucleus to
      cytoplasm ratio, a round or indented nucleus with fine chromatin, one or
      two pale nucleoli and scant blue cytoplasm;
    - ``"AML"``: myeloblasts, large cells with more cytoplasm, a round or
      oval nucleus with fine chromatin and several nucleoli, faint granules
      and, in about a quarter of the cells, an Auer rod (a thin dark
      red-purple needle in the cytoplasm).

    Images come from synthetic patients. A patient has one class and its own
    stain (hue, saturation, blue/pink balance, background tint), brightness,
    focus blur, sensor noise, cell size and N:C ratio, so that a split by
    patient (``groups``) is harder than a random split, as with real slides.

    Parameters
    ----------
    n_samples : int, default=300
        Number of images, at least the number of classes.
    image_size : int, default=64
        Height and width of the square images, at least 16. Shapes scale with
        it, so the same cell is drawn at every size.
    classes : sequence of str, default=("normal", "ALL", "AML")
        Class names to generate, a non-empty subset of ``"normal"``,
        ``"ALL"`` and ``"AML"`` without duplicates; ``("normal", "ALL")``
        gives a binary task.
    n_patients : int, default=None
        Number of synthetic patients, between the number of classes and
        ``n_samples``. Every class gets at least one patient and every
        patient at least one image. Defaults to
        ``max(len(classes), n_samples // 20)``.
    difficulty : float, default=0.3
        Between 0 and 1. At 0 the classes have separate morphology ranges and
        blur and noise are mild. Increasing it (a) widens every class's
        morphology range around its centre by a factor ``1 + difficulty``, so
        that neighbouring classes overlap, (b) draws the morphology of a
        fraction ``0.4 * difficulty`` of the images from another class of
        ``classes`` while keeping their label (irreducible error, so no
        classifier reaches 100% at 1), and (c) gives a fraction
        ``0.3 * difficulty`` of the images heavy blur and noise and every
        patient more blur and noise.
    weights : sequence of float, default=None
        Class proportions, as in :func:`sklearn.datasets.make_classification`:
        ``len(classes)`` positive values summing to 1, or one fewer, the last
        being ``1 - sum(weights)``. Class counts are ``n_samples * weights``
        rounded. ``None`` gives balanced classes.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed of all randomness; an int gives the same images on every call.

    Returns
    -------
    images : ndarray of shape (n_samples, image_size, image_size, 3)
        RGB images, dtype uint8, channels last.
    target : ndarray of shape (n_samples,)
        Class name of each image, a numpy string array.
    groups : ndarray of shape (n_samples,)
        Integer id of the synthetic patient of each image, in
        ``range(n_patients)``; use it with
        :class:`sklearn.model_selection.GroupKFold`.

    Raises
    ------
    ValueError
        If a parameter is out of range, ``classes`` holds an unsupported name
        or a duplicate, or ``weights`` has the wrong length or sum.
    TypeError
        If an integer parameter is not an integer.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_leukemia.datasets import make_blood_smear
    >>> images, target, groups = make_blood_smear(
    ...     n_samples=12, image_size=32, random_state=0
    ... )
    >>> images.shape, images.dtype
    ((12, 32, 32, 3), dtype('uint8'))
    >>> print(np.unique(target))
    ['ALL' 'AML' 'normal']
    >>> _, y, g = make_blood_smear(6, classes=("normal", "ALL"), n_patients=2,
    ...                            random_state=0)
    >>> print(sorted({(int(p), str(c)) for p, c in zip(g, y)}))
    [(0, 'normal'), (1, 'ALL')]
    """
    classes = _check_classes(classes)
    n_classes = len(classes)
    check_int(n_samples, "n_samples", min_value=1)
    check_int(image_size, "image_size", min_value=16)
    if n_samples < n_classes:
        raise ValueError(
            f"n_samples={n_samples} is smaller than the number of classes "
            f"({n_classes}); every class needs at least one image."
        )
    if n_patients is None:
        n_patients = max(n_classes, n_samples // 20)
    check_int(n_patients, "n_patients", min_value=1)
    if not n_classes <= n_patients <= n_samples:
        raise ValueError(
            f"n_patients={n_patients} must lie between the number of classes "
            f"({n_classes}) and n_samples ({n_samples}): every class needs a "
            "patient and every patient an image."
        )
    if (
        not isinstance(difficulty, numbers.Real)
        or isinstance(difficulty, bool)
        or not 0.0 <= difficulty <= 1.0
    ):
        raise ValueError(f"difficulty={difficulty!r} must be a real number in [0, 1].")
    weights = _check_weights(weights, n_classes)
    rng = _as_generator(random_state)

    target, groups = _assign_patients(rng, n_samples, n_patients, weights)
    patients = _draw_patients(rng, n_patients, difficulty)
    cells = _draw_cells(rng, target, groups, classes, patients, difficulty)
    bank = noise_bank(rng, image_size)
    layout = draw_layout(rng, n_samples, bank, image_size)

    images = np.empty((n_samples, image_size, image_size, 3), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // image_size**2)
    for start in range(0, n_samples, chunk):
        rows = slice(start, start + chunk)
        images[rows] = render_smears(
            _take(cells, rows), bank, _take(layout, rows), image_size
        )
    return images, np.asarray(classes)[target], groups


def _take(columns: dict, rows: slice) -> dict:
    return {name: values[rows] for name, values in columns.items()}


# --------------------------------------------------------------- validation


def _check_classes(classes) -> tuple[str, ...]:
    if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray):
        raise ValueError(
            f"classes={classes!r} must be a sequence of class names, e.g. "
            f"{SUPPORTED_CLASSES}."
        )
    classes = tuple(classes)
    if not classes:
        raise ValueError(f"classes is empty; give one or more of {SUPPORTED_CLASSES}.")
    unknown = [c for c in classes if c not in SUPPORTED_CLASSES]
    if unknown:
        raise ValueError(
            f"classes holds unsupported name(s) {unknown}; the supported "
            f"classes are {SUPPORTED_CLASSES}."
        )
    if len(set(classes)) != len(classes):
        raise ValueError(
            f"classes={classes} holds duplicates; give each of "
            f"{SUPPORTED_CLASSES} at most once."
        )
    return tuple(str(c) for c in classes)


def _check_weights(weights, n_classes: int) -> np.ndarray:
    if weights is None:
        return np.full(n_classes, 1.0 / n_classes)
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or len(w) not in (n_classes, n_classes - 1) or len(w) == 0:
        raise ValueError(
            f"weights has shape {w.shape}; expected {n_classes} class "
            f"proportions (or {n_classes - 1}, the last being inferred)."
        )
    if not np.isfinite(w).all() or (w <= 0).any():
        raise ValueError(f"weights={w.tolist()} must be positive and finite.")
    if len(w) == n_classes - 1:
        w = np.append(w, 1.0 - w.sum())
        if w[-1] <= 0:
            raise ValueError(
                f"weights={list(weights)} sum to {1 - w[-1]:g}; with "
                f"{n_classes - 1} values the sum must be below 1 so that the "
                "last class gets a positive share."
            )
    elif not math.isclose(w.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"weights={w.tolist()} sum to {w.sum():g}; expected 1.")
    return w


def _as_generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if is_integral(random_state):
        return np.random.default_rng(int(random_state))
    seed = check_random_state(random_state).randint(
        np.iinfo(np.uint32).max, size=4, dtype=np.uint32
    )
    return np.random.default_rng(seed)


# ---------------------------------------------------------- random drawing


def _allocate(total: int, weights: np.ndarray, minimum: np.ndarray) -> np.ndarray:
    """Integers near ``total * weights``, at least ``minimum``, summing to total."""
    ideal = total * weights
    counts = np.maximum(np.floor(ideal).astype(int), minimum)
    while counts.sum() < total:
        counts[np.argmax(ideal - counts)] += 1
    while counts.sum() > total:
        excess = np.where(counts > minimum, counts - ideal, -np.inf)
        counts[np.argmax(excess)] -= 1
    return counts


def _assign_patients(rng, n_samples, n_patients, weights):
    n_classes = len(weights)
    per_class_patients = _allocate(n_patients, weights, np.ones(n_classes, int))
    per_class_images = _allocate(n_samples, weights, per_class_patients)
    # Shuffled ids, so that a patient id says nothing about its class.
    patient_class = rng.permutation(np.repeat(np.arange(n_classes), per_class_patients))
    target = np.empty(n_samples, dtype=np.intp)
    groups = np.empty(n_samples, dtype=np.intp)
    start = 0
    for c in range(n_classes):
        ids = np.flatnonzero(patient_class == c)
        # Patients contribute unequal numbers of images, one at least.
        share = rng.gamma(2.0, size=len(ids))
        extra = rng.multinomial(per_class_images[c] - len(ids), share / share.sum())
        sizes = 1 + extra
        stop = start + per_class_images[c]
        target[start:stop] = c
        groups[start:stop] = np.repeat(ids, sizes)
        start = stop
    order = rng.permutation(n_samples)
    return target[order], groups[order]


def _rotation_about_grey(angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotations (n, 3, 3) about the grey axis: a stain hue shift."""
    k = np.full(3, 1 / np.sqrt(3))
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    outer = np.outer(k, k)
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return c * np.eye(3) + s * cross + (1 - c) * outer


def _draw_patients(rng, n_patients: int, difficulty: float) -> dict:
    n = n_patients
    hue = np.clip(rng.normal(0.0, np.deg2rad(7), n), -0.3, 0.3)
    saturation = rng.uniform(0.8, 1.2, n)
    grey = np.full((3, 3), 1 / 3)
    # Saturation scales the chroma of the optical densities around grey.
    colour = (grey + saturation[:, None, None] * (np.eye(3) - grey)) @ (
        _rotation_about_grey(hue)
    )
    tint = rng.uniform(0.0, 1.0, n)[:, None]
    background = (
        (1 - tint) * np.array(_STAIN["cream"]) + tint * np.array(_STAIN["lavender"])
    ) * rng.uniform(0.6, 1.3, n)[:, None]
    light = rng.uniform(0.9, 1.04, n)[:, None] * (1 + rng.normal(0, 0.015, (n, 3)))
    return {
        "colour": colour,
        "azure": rng.uniform(0.8, 1.2, n),
        "eosin": rng.uniform(0.8, 1.2, n),
        "background": background,
        "light": light,
        "blur": rng.uniform(0.25, 0.8, n) + difficulty * rng.uniform(0.0, 0.6, n),
        "noise": rng.uniform(0.006, 0.018, n) + difficulty * rng.uniform(0, 0.02, n),
        "size": rng.uniform(0.93, 1.07, n),
        "nc_shift": rng.uniform(-0.03, 0.03, n),
        "neutrophil_share": rng.uniform(0.35, 0.75, n),
    }


def _draw_cells(rng, target, groups, classes, patients, difficulty) -> dict:
    n = len(target)
    supported = np.array([SUPPORTED_CLASSES.index(c) for c in classes])
    # Morphology class: the label, or another class for the mimics.
    morph = supported[target]
    if len(classes) > 1:
        mimic = rng.random(n) < 0.4 * difficulty
        shift = rng.integers(1, len(classes), n)
        morph = np.where(mimic, supported[(target + shift) % len(classes)], morph)
    neutrophil = rng.random(n) < patients["neutrophil_share"][groups]
    cell_type = np.select(
        [morph == 0, morph == 1],
        [np.where(neutrophil, _NEUTROPHIL, _LYMPHOCYTE), _LYMPHOBLAST],
        _MYELOBLAST,
    )

    cells = {"type": cell_type}
    for name, ranges in _MORPHOLOGY.items():
        low, high = np.array(ranges, dtype=float)[cell_type].T
        centre, half = (low + high) / 2, (high - low) / 2 * (1 + difficulty)
        cells[name] = centre + half * rng.uniform(-1.0, 1.0, n)
    cells["radius"] = cells["radius"] * patients["size"][groups]
    cells["nc"] = cells["nc"] + patients["nc_shift"][groups]
    cells["nucleoli"] = np.floor(cells["nucleoli"])
    for name, (low, high) in _LIMITS.items():
        cells[name] = np.clip(cells[name], low, high)
    cells["auer"] = rng.random(n) < np.array(_AUER_PROBABILITY)[cell_type]

    cells["centre"] = np.clip(rng.normal(0.0, 0.02, (n, 2)), -0.04, 0.04)
    cells["angle"] = rng.uniform(0, np.pi, n)
    cells["nucleus_angle"] = rng.uniform(0, np.pi, n)
    cells["direction"] = rng.uniform(0, 2 * np.pi, (n, 3))
    _draw_lobes(rng, cells)
    nucleoli = rng.uniform(0.0, 1.0, (n, _MAX_NUCLEOLI, 3))
    cells["nucleolus_radius"] = 0.13 + 0.07 * nucleoli[..., 0]
    cells["nucleolus_angle"] = 2 * np.pi * nucleoli[..., 1]
    cells["nucleolus_distance"] = 0.5 * np.sqrt(nucleoli[..., 2])
    cells["auer_shape"] = rng.uniform(0.0, 1.0, (n, 3))

    # Stains: per-patient colour, intensities and background.
    colour = patients["colour"][groups]
    azure = patients["azure"][groups][:, None]
    eosin = patients["eosin"][groups][:, None]
    for name in ("nucleus", "rbc", "blue", "pink", "granule", "azurophil", "auer"):
        # Eosin stains red cells and pink cytoplasm, azure everything else.
        intensity = eosin if name in ("rbc", "pink") else azure
        scaled = np.asarray(_STAIN[name]) * intensity
        cells["od_" + name] = np.einsum("nij,nj->ni", colour, scaled)
    cells["od_background"] = patients["background"][groups]
    cells["light"] = patients["light"][groups]

    bad = rng.random(n) < 0.3 * difficulty
    jitter = rng.uniform(0.85, 1.15, n)
    cells["blur"] = patients["blur"][groups] * jitter + bad * rng.uniform(0.8, 1.8, n)
    cells["noise"] = patients["noise"][groups] + bad * rng.uniform(0.01, 0.03, n)
    return {k: np.asarray(v, dtype=np.float32) for k, v in cells.items()}


def _draw_lobes(rng, cells: dict) -> None:
    """Neutrophil lobes: 3 to 5 discs strung along an arc around the centre."""
    n = len(cells["type"])
    count = np.where(
        cells["type"] == _NEUTROPHIL, rng.integers(3, _MAX_LOBES + 1, n), 1
    )
    lobe = rng.uniform(0.24, 0.30, n)
    arc = rng.uniform(0.42, 0.52, n)
    # Lobes are elongated along the arc and nearly touch end to end.
    spacing = rng.uniform(1.9, 2.3, n) * lobe
    step = 2 * np.arcsin(np.minimum(spacing / (2 * arc), 1.0))
    step = step * np.where(rng.random(n) < 0.5, -1, 1)
    k = np.arange(_MAX_LOBES)
    angle = rng.uniform(0, 2 * np.pi, n)[:, None] + step[:, None] * (
        k - (count[:, None] - 1) / 2
    )
    distance = arc[:, None] + rng.uniform(-0.06, 0.06, (n, _MAX_LOBES))
    cells["lobe_count"] = count
    cells["lobe_x"] = distance * np.cos(angle)
    cells["lobe_y"] = distance * np.sin(angle)
    cells["lobe_radius"] = lobe[:, None] * rng.uniform(0.85, 1.15, (n, _MAX_LOBES))
    # Angle of the short axis: radial, so that lobes lie along the arc.
    cells["lobe_angle"] = angle + rng.uniform(-0.3, 0.3, (n, _MAX_LOBES))
