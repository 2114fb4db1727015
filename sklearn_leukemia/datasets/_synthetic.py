"""Procedural generator of Wright-Giemsa blood-smear crops.

Every image is rendered from a handful of per-image numbers (cell radius,
nucleus size, chromatin texture, ...) on coordinate grids, a whole batch at a
time: shapes are soft-edged distance fields, colour follows Beer-Lambert
absorption (optical densities of the stains add up, so overlapping red cells
look darker), and textures are cut from a small bank of smooth noise fields.
All random numbers are drawn before rendering starts, so the images do not
depend on how the batch is split into chunks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from scipy import fft, ndimage
from sklearn.utils import check_random_state

from sklearn_leukemia.utils._validation import is_integral

SUPPORTED_CLASSES = ("normal", "ALL", "AML")

# Cell types drawn; "normal" is a mixture of the first two.
_LYMPHOCYTE, _NEUTROPHIL, _LYMPHOBLAST, _MYELOBLAST = range(4)

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
_AUER_PROBABILITY = (0.0, 0.0, 0.0, 0.25)
_MAX_LOBES = 5
_MAX_NUCLEOLI = 5

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
# Noise-bank fields: red cells, coarse, medium and fine texture, sensor RGB.
_RBC, _COARSE, _MEDIUM, _FINE = range(4)
_N_FIELDS = 7
_N_TILES = 16


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
    _check_int(n_samples, "n_samples", minimum=1)
    _check_int(image_size, "image_size", minimum=16)
    if n_samples < n_classes:
        raise ValueError(
            f"n_samples={n_samples} is smaller than the number of classes "
            f"({n_classes}); every class needs at least one image."
        )
    if n_patients is None:
        n_patients = max(n_classes, n_samples // 20)
    _check_int(n_patients, "n_patients", minimum=1)
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
    bank = _noise_bank(rng, image_size)
    layout = _draw_layout(rng, n_samples, image_size, bank.shape[-1])

    images = np.empty((n_samples, image_size, image_size, 3), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // image_size**2)
    for start in range(0, n_samples, chunk):
        rows = slice(start, min(start + chunk, n_samples))
        textures = _cut_textures(
            bank, {k: v[rows] for k, v in layout.items()}, image_size
        )
        images[rows] = _render(
            {k: v[rows] for k, v in cells.items()}, textures, image_size
        )
    return images, np.asarray(classes)[target], groups


# --------------------------------------------------------------- validation


def _check_int(value, name: str, *, minimum: int) -> None:
    if not is_integral(value):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}.")


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
    cells["radius"] = np.clip(cells["radius"] * patients["size"][groups], 0.06, 0.2)
    cells["aspect"] = np.maximum(cells["aspect"], 1.0)
    cells["nucleus_aspect"] = np.maximum(cells["nucleus_aspect"], 1.0)
    cells["nc"] = np.clip(cells["nc"] + patients["nc_shift"][groups], 0.2, 0.95)
    for name in ("eccentricity", "notch", "coarseness", "pinkness", "granularity"):
        cells[name] = np.clip(cells[name], 0.0, 1.0)
    cells["nucleoli"] = np.clip(np.floor(cells["nucleoli"]), 0, _MAX_NUCLEOLI)
    cells["nucleus_density"] = np.maximum(cells["nucleus_density"], 0.4)
    cells["cytoplasm_density"] = np.maximum(cells["cytoplasm_density"], 0.2)
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


def _noise_bank(rng, image_size: int) -> np.ndarray:
    """Tiles (n_tiles, 7, T, T) of red cells, smooth textures and sensor noise.

    Tiles are larger than an image so that each image cuts its own window.
    """
    size = image_size + max(image_size // 2, 8)
    bank = rng.standard_normal((_N_TILES, _N_FIELDS, size, size), dtype=np.float32)
    for field, sigma in ((_COARSE, 0.04), (_MEDIUM, 0.012), (_FINE, 0.006)):
        smooth = ndimage.gaussian_filter(
            bank[:, field], sigma * image_size, mode="wrap", axes=(1, 2)
        )
        bank[:, field] = (smooth - smooth.mean()) / smooth.std()
    for tile in bank:
        tile[_RBC] = _red_cells(rng, size, image_size)
    return bank


def _red_cells(rng, size: int, image_size: int) -> np.ndarray:
    """Optical density (in red-cell units) of a field of biconcave discs."""
    density = np.zeros((size, size), dtype=np.float32)
    radius = image_size * rng.uniform(0.085, 0.11)
    n_cells = int(rng.uniform(0.45, 0.65) * size**2 / (np.pi * radius**2))
    centres = np.empty((0, 2))
    for _ in range(8 * n_cells):
        if len(centres) == n_cells:
            break
        c = rng.uniform(-radius, size + radius, 2)
        # Partial overlap is common in smears; near-total overlap is not.
        if len(centres) and np.min(np.hypot(*(centres - c).T)) < 1.45 * radius:
            continue
        centres = np.vstack([centres, c])
    grid = np.arange(size, dtype=np.float32) + 0.5
    for cy, cx in centres:
        r = radius * rng.uniform(0.9, 1.1)
        aspect = rng.uniform(1.0, 1.12)
        theta = rng.uniform(0, np.pi)
        lo_y, hi_y = max(int(cy - 1.3 * r), 0), min(int(cy + 1.3 * r) + 2, size)
        lo_x, hi_x = max(int(cx - 1.3 * r), 0), min(int(cx + 1.3 * r) + 2, size)
        if lo_y >= hi_y or lo_x >= hi_x:
            continue
        dy = grid[lo_y:hi_y, None] - cy
        dx = grid[None, lo_x:hi_x] - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) * np.sqrt(aspect) / r
        v = (dy * np.cos(theta) - dx * np.sin(theta)) / np.sqrt(aspect) / r
        rho = np.sqrt(u * u + v * v)
        body = np.clip(0.5 - (rho - 1) * r / 0.8, 0, 1)
        # Biconcave: thick rim, thin centre (the central pallor).
        pallor = rng.uniform(0.4, 0.6)
        profile = 1.0 - pallor * np.exp(-((rho / rng.uniform(0.5, 0.6)) ** 4))
        density[lo_y:hi_y, lo_x:hi_x] += body * profile
    return np.minimum(density, 1.8)


def _draw_layout(rng, n: int, image_size: int, tile_size: int) -> dict:
    span = tile_size - image_size + 1
    return {
        "tile": rng.integers(0, _N_TILES, n),
        "offset": rng.integers(0, span, (n, 2)),
        "rotation": rng.integers(0, 4, n),
        "flip": rng.random(n) < 0.5,
    }


def _cut_textures(bank: np.ndarray, layout: dict, image_size: int) -> np.ndarray:
    """Windows of the bank, turned and flipped, one per image."""
    n = len(layout["tile"])
    out = np.empty((n, _N_FIELDS, image_size, image_size), dtype=np.float32)
    for i in range(n):
        y, x = layout["offset"][i]
        window = bank[layout["tile"][i], :, y : y + image_size, x : x + image_size]
        window = np.rot90(window, layout["rotation"][i], axes=(1, 2))
        out[i] = window[:, :, ::-1] if layout["flip"][i] else window
    return out


# ---------------------------------------------------------------- rendering


def _col(v: np.ndarray) -> np.ndarray:
    return v[:, None, None]


def _rgb(v: np.ndarray) -> np.ndarray:
    """(m, 3) colours to (m, 3, 1, 1) for channel-first broadcasting."""
    return v[:, :, None, None]


def _ramp(signed_distance: np.ndarray, width: float) -> np.ndarray:
    """Soft inside mask: 1 inside, 0 outside, linear over ``width``."""
    mask = 0.5 - signed_distance / width
    return np.clip(mask, 0.0, 1.0, out=mask)


def _ellipse_distance(dx, dy, radius, aspect, angle):
    """Approximate signed distance to ellipses of mean radius ``radius``.

    ``angle`` is the direction of the short axis; the axes are
    ``radius / sqrt(aspect)`` and ``radius * sqrt(aspect)``.
    """
    cos, sin = np.cos(angle), np.sin(angle)
    ia, ib = np.sqrt(aspect) / radius, 1 / (np.sqrt(aspect) * radius)
    u = dx * _col(cos * ia) + dy * _col(sin * ia)
    v = dy * _col(cos * ib) - dx * _col(sin * ib)
    rho = np.sqrt(u * u + v * v)
    rho -= 1.0
    rho *= _col(radius)
    return rho


def _smooth_min(a, b, k):
    """Polynomial smooth minimum: unions of lobes joined by thin necks."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _render(cells: dict, textures: np.ndarray, size: int) -> np.ndarray:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    # The white cell lies well inside the central 60%: draw it only there.
    half = min(math.ceil(0.3 * size), size // 2)
    lo, hi = size // 2 - half, size // 2 + half
    crop = (slice(None), slice(lo, hi), slice(lo, hi))
    crop_rgb = (slice(None), slice(None), slice(lo, hi), slice(lo, hi))
    edge = 0.8 / size
    od_white, cell = _white_cell(cells, textures[crop_rgb], coords[lo:hi], edge)

    rbc = textures[:, _RBC]
    rbc[crop] *= 1.0 - 0.9 * cell
    cover = np.minimum(2.0 * rbc, 1.0)
    np.maximum(cover[crop], cell, out=cover[crop])
    # Cells push the plasma aside, so the background tint fades under them.
    plasma = (1.0 + 0.12 * textures[:, _COARSE]) * (1.0 - 0.85 * cover)
    od = plasma[:, None] * _rgb(cells["od_background"])
    od += rbc[:, None] * _rgb(cells["od_rbc"])
    od[crop_rgb] += od_white
    np.negative(od, out=od)
    rgb = np.exp(od, out=od)
    rgb *= _rgb(cells["light"])

    _blur(rgb, cells["blur"] * (size / 64))
    rgb += textures[:, _FINE + 1 :] * _col(cells["noise"])[:, None]
    rgb *= 255.0
    rgb += 0.5
    np.clip(rgb, 0.0, 255.0, out=rgb)
    return rgb.astype(np.uint8).transpose(0, 2, 3, 1)


def _blur(rgb: np.ndarray, sigma: np.ndarray) -> None:
    """Gaussian blur of each image (m, 3, S, S) in place, mirrored borders."""
    size = rgb.shape[-1]
    if size < 128:
        # Narrow kernels: direct convolution, images grouped by rounded sigma.
        sigma = np.round(sigma / 0.1) * 0.1
        for level in np.unique(sigma[sigma >= 0.3]):
            idx = np.flatnonzero(sigma == level)
            rgb[idx] = ndimage.gaussian_filter(
                rgb[idx], float(level), mode="reflect", truncate=3.0, axes=(2, 3)
            )
        return
    # Wide kernels: the DCT-II diagonalises convolution with mirrored borders,
    # so the cost no longer grows with sigma.
    frequency = np.pi * np.arange(size, dtype=np.float32) / size
    gain = np.exp(-0.5 * (sigma[:, None] * frequency) ** 2).astype(np.float32)
    spectrum = fft.dctn(rgb, type=2, axes=(2, 3), norm="ortho")
    spectrum *= gain[:, None, :, None]
    spectrum *= gain[:, None, None, :]
    rgb[...] = fft.idctn(spectrum, type=2, axes=(2, 3), norm="ortho")


def _white_cell(cells, textures, xs, edge):
    """Optical density (m, 3, S, S) of the white cell and its mask (m, S, S)."""
    cx, cy = cells["centre"].T
    dx, dy = xs[None, None, :] - _col(cx), xs[None, :, None] - _col(cy)
    radius = cells["radius"]
    distance = _ellipse_distance(dx, dy, radius, cells["aspect"], cells["angle"])
    distance += _col(0.03 * radius) * textures[:, _COARSE]
    cell = _ramp(distance, edge)

    # Nucleus: an (optionally indented) ellipse, or a string of lobes.
    r_n = cells["nc"] * radius
    d0 = cells["direction"][:, 0]
    shift = cells["eccentricity"] * np.maximum(radius - r_n, 0.0) * 0.9
    nx, ny = cx + shift * np.cos(d0), cy + shift * np.sin(d0)
    ndx, ndy = xs[None, None, :] - _col(nx), xs[None, :, None] - _col(ny)
    nucleus = _ellipse_distance(
        ndx, ndy, r_n, cells["nucleus_aspect"], cells["nucleus_angle"]
    )
    lobed = np.flatnonzero(cells["lobe_count"] > 1)
    if len(lobed):
        nucleus[lobed] = _lobes(cells, lobed, dx[lobed], dy[lobed])
    notched = np.flatnonzero((cells["notch"] > 0.03) & (cells["lobe_count"] == 1))
    if len(notched):
        d1 = cells["direction"][notched, 1]
        r_k = 0.45 * r_n[notched]
        reach = r_n[notched] * (1.0 - cells["notch"][notched]) + r_k
        kx = _col(reach * np.cos(d1)) - ndx[notched]
        ky = _col(reach * np.sin(d1)) - ndy[notched]
        notch = np.sqrt(kx * kx + ky * ky) - _col(r_k)
        nucleus[notched] = np.maximum(nucleus[notched], -notch)
    nuc = _ramp(nucleus, edge)
    nuc *= cell

    coarse = _col(cells["coarseness"])
    chromatin = coarse * textures[:, _MEDIUM] + (1 - coarse) * textures[:, _FINE]
    chromatin *= _col(cells["contrast"])
    chromatin += 1.0
    np.maximum(chromatin, 0.2, out=chromatin)
    chromatin *= _col(cells["nucleus_density"])

    nucleoli = _nucleoli(cells, ndx, ndy, r_n)
    if nucleoli is not None:
        chromatin *= 1.0 - 0.7 * nucleoli
    nuc_density = chromatin * nuc

    cytoplasm = cell * (1.0 - nuc)
    granules = np.clip((textures[:, _FINE] - 0.5) * 0.8, 0.0, 1.0)
    granules *= cytoplasm
    granules *= _col(cells["granularity"])
    cytoplasm *= 1.0 + 0.1 * textures[:, _COARSE]
    cytoplasm *= _col(cells["cytoplasm_density"])

    pink = cells["pinkness"][:, None]
    od_cyto = (1 - pink) * cells["od_blue"] + pink * cells["od_pink"]
    od_granule = (1 - pink) * cells["od_azurophil"] + pink * cells["od_granule"]
    od = nuc_density[:, None] * _rgb(cells["od_nucleus"])
    od += cytoplasm[:, None] * _rgb(od_cyto)
    od += granules[:, None] * _rgb(od_granule)
    if nucleoli is not None:
        # Nucleoli are paler and a little bluer than the chromatin around them.
        od += (0.25 * nucleoli * nuc)[:, None] * _rgb(cells["od_blue"])

    rods = np.flatnonzero(cells["auer"] > 0)
    if len(rods):
        rod = _auer_rods(cells, rods, dx[rods], dy[rods], r_n[rods], shift[rods], edge)
        rod *= cell[rods] * (1.0 - nuc[rods])
        od[rods] += rod[:, None] * _rgb(cells["od_auer"][rods])
    return od, cell


def _lobes(cells, idx, dx, dy):
    radius = cells["radius"][idx, None]
    count = cells["lobe_count"][idx]
    lx = cells["lobe_x"][idx] * radius
    ly = cells["lobe_y"][idx] * radius
    lr = cells["lobe_radius"][idx] * radius
    angle = cells["lobe_angle"][idx]
    smooth = _col(0.15 * lr[:, 0])
    aspect = np.full(len(idx), 1.5, dtype=np.float32)
    result = None
    for k in range(_MAX_LOBES):
        # Missing lobes are sent far away instead of being masked out.
        far = np.where(count > k, 0.0, 10.0).astype(np.float32)
        d = _ellipse_distance(
            dx - _col(lx[:, k] + far),
            dy - _col(ly[:, k]),
            lr[:, k],
            aspect,
            angle[:, k],
        )
        result = d if result is None else _smooth_min(result, d, smooth)
    return result


def _nucleoli(cells, ndx, ndy, r_n):
    count = cells["nucleoli"]
    if not (count > 0).any():
        return None
    spots = np.zeros(ndx.shape[:1] + ndy.shape[1:2] + ndx.shape[2:], np.float32)
    for j in range(_MAX_NUCLEOLI):
        idx = np.flatnonzero(count > j)
        if not len(idx):
            break
        rn = r_n[idx]
        reach = cells["nucleolus_distance"][idx, j] * rn
        theta = cells["nucleolus_angle"][idx, j]
        ex = ndx[idx] - _col(reach * np.cos(theta))
        ey = ndy[idx] - _col(reach * np.sin(theta))
        size = cells["nucleolus_radius"][idx, j] * rn
        spot = 1.5 * (1.0 - (ex * ex + ey * ey) / _col(size * size))
        spots[idx] = np.maximum(spots[idx], np.clip(spot, 0.0, 1.0))
    return spots


def _auer_rods(cells, idx, dx, dy, r_n, shift, edge):
    """Thin needles across the widest part of the cytoplasm."""
    radius = cells["radius"][idx]
    d0 = cells["direction"][idx, 0]
    # The cytoplasm is widest opposite the displaced nucleus.
    middle = (r_n - shift + radius) / 2
    shape = cells["auer_shape"][idx]
    tilt = d0 + np.pi / 2 + (shape[:, 0] - 0.5)
    length = (0.25 + 0.15 * shape[:, 1]) * radius
    ux, uy = length * np.cos(tilt), length * np.sin(tilt)
    # Offsets from the rod's first end, relative to the cell centre.
    ax = dx + _col(middle * np.cos(d0) + ux)
    ay = dy + _col(middle * np.sin(d0) + uy)
    t = (ax * _col(ux) + ay * _col(uy)) / _col(2 * length * length)
    np.clip(t, 0.0, 1.0, out=t)
    ex, ey = ax - t * _col(2 * ux), ay - t * _col(2 * uy)
    # At least about a pixel wide, or small images lose the rod entirely.
    thickness = np.maximum(0.006 + 0.004 * shape[:, 2], 0.6 * edge)
    return _ramp(np.sqrt(ex * ex + ey * ey) - _col(thickness), edge)
