"""Rendering of blood-smear crops from per-image parameters.

The parameters drawn by :func:`~sklearn_leukemia.datasets.make_blood_smear`
become pixels here, a batch at a time on coordinate grids: shapes are
soft-edged distance fields, colour follows Beer-Lambert absorption (optical
densities of the stains add up, so overlapping red cells look darker), and the
red-cell backdrop, chromatin and sensor noise are windows cut from a small bank
of noise fields. Apart from the bank and the choice of windows, drawn once per
call, rendering is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft, ndimage

# Noise-bank fields: red cells, coarse, medium and fine texture, then the
# three sensor-noise channels (R, G, B).
_RBC, _COARSE, _MEDIUM, _FINE, _SENSOR = range(5)
_N_FIELDS = 7
_N_TILES = 16


# ---------------------------------------------------------------- textures


def noise_bank(rng: np.random.Generator, image_size: int) -> np.ndarray:
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
        # Each disc touches only the pixels of its bounding box.
        lo_y, hi_y = _bounds(cy, 1.3 * r, size)
        lo_x, hi_x = _bounds(cx, 1.3 * r, size)
        if lo_y >= hi_y or lo_x >= hi_x:
            continue
        dy = grid[lo_y:hi_y, None] - cy
        dx = grid[None, lo_x:hi_x] - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) * np.sqrt(aspect) / r
        v = (dy * np.cos(theta) - dx * np.sin(theta)) / np.sqrt(aspect) / r
        rho = np.sqrt(u * u + v * v)
        body = _ramp((rho - 1) * r, 0.8)
        # Biconcave: thick rim, thin centre (the central pallor).
        pallor = rng.uniform(0.4, 0.6)
        profile = 1.0 - pallor * np.exp(-((rho / rng.uniform(0.5, 0.6)) ** 4))
        density[lo_y:hi_y, lo_x:hi_x] += body * profile
    return np.minimum(density, 1.8)


def _bounds(centre: float, reach: float, size: int) -> tuple[int, int]:
    """Pixel range, clipped to the tile, covering ``centre +- reach``."""
    return max(int(centre - reach), 0), min(int(centre + reach) + 2, size)


def draw_layout(
    rng: np.random.Generator, n: int, bank: np.ndarray, image_size: int
) -> dict:
    """Window of the noise bank for each of ``n`` images: tile, offset, turn."""
    span = bank.shape[-1] - image_size + 1
    return {
        "tile": rng.integers(0, len(bank), n),
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


# --------------------------------------------------------- distance fields


def _col(v: np.ndarray) -> np.ndarray:
    return v[:, None, None]


def _rgb(v: np.ndarray) -> np.ndarray:
    """(m, 3) colours to (m, 3, 1, 1) for channel-first broadcasting."""
    return v[:, :, None, None]


def _polar(length: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cartesian components of vectors of the given length and direction."""
    return length * np.cos(angle), length * np.sin(angle)


def _offset(dx, dy, x, y):
    """Coordinates ``(dx, dy)`` made relative to one point ``(x, y)`` per image."""
    return dx - _col(x), dy - _col(y)


def _mix(a, b, t):
    """Linear blend: ``a`` at ``t = 0``, ``b`` at ``t = 1``."""
    return (1 - t) * a + t * b


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


# --------------------------------------------------------------- rendering


def render_smears(cells: dict, bank: np.ndarray, layout: dict, size: int) -> np.ndarray:
    """RGB images (m, size, size, 3), uint8, of the cells in ``cells``.

    ``cells`` maps parameter names to arrays of one row per image, ``layout``
    gives each image's window of ``bank``.
    """
    textures = _cut_textures(bank, layout, size)
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
    rgb += textures[:, _SENSOR:] * _col(cells["noise"])[:, None]
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
    grid_x, grid_y = xs[None, None, :], xs[None, :, None]
    cx, cy = cells["centre"].T
    dx, dy = _offset(grid_x, grid_y, cx, cy)
    radius = cells["radius"]
    distance = _ellipse_distance(dx, dy, radius, cells["aspect"], cells["angle"])
    distance += _col(0.03 * radius) * textures[:, _COARSE]
    cell = _ramp(distance, edge)

    # Nucleus: an (optionally indented) ellipse, or a string of lobes.
    r_n = cells["nc"] * radius
    d0 = cells["direction"][:, 0]
    shift = cells["eccentricity"] * np.maximum(radius - r_n, 0.0) * 0.9
    sx, sy = _polar(shift, d0)
    ndx, ndy = _offset(grid_x, grid_y, cx + sx, cy + sy)
    nucleus = _ellipse_distance(
        ndx, ndy, r_n, cells["nucleus_aspect"], cells["nucleus_angle"]
    )
    lobed = np.flatnonzero(cells["lobe_count"] > 1)
    if len(lobed):
        nucleus[lobed] = _lobes(cells, lobed, dx[lobed], dy[lobed])
    notched = np.flatnonzero((cells["notch"] > 0.03) & (cells["lobe_count"] == 1))
    if len(notched):
        r_k = 0.45 * r_n[notched]
        reach = r_n[notched] * (1.0 - cells["notch"][notched]) + r_k
        kx, ky = _offset(
            ndx[notched], ndy[notched], *_polar(reach, cells["direction"][notched, 1])
        )
        notch = np.sqrt(kx * kx + ky * ky) - _col(r_k)
        nucleus[notched] = np.maximum(nucleus[notched], -notch)
    nuc = _ramp(nucleus, edge)
    nuc *= cell

    coarse = _col(cells["coarseness"])
    chromatin = _mix(textures[:, _FINE], textures[:, _MEDIUM], coarse)
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
    od_cyto = _mix(cells["od_blue"], cells["od_pink"], pink)
    od_granule = _mix(cells["od_azurophil"], cells["od_granule"], pink)
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
    for k in range(lx.shape[1]):
        # Missing lobes are sent far away instead of being masked out.
        far = np.where(count > k, 0.0, 10.0).astype(np.float32)
        d = _ellipse_distance(
            *_offset(dx, dy, lx[:, k] + far, ly[:, k]), lr[:, k], aspect, angle[:, k]
        )
        result = d if result is None else _smooth_min(result, d, smooth)
    return result


def _nucleoli(cells, ndx, ndy, r_n):
    count = cells["nucleoli"]
    if not (count > 0).any():
        return None
    spots = np.zeros(ndx.shape[:1] + ndy.shape[1:2] + ndx.shape[2:], np.float32)
    for j in range(cells["nucleolus_angle"].shape[1]):
        idx = np.flatnonzero(count > j)
        if not len(idx):
            break
        rn = r_n[idx]
        reach = cells["nucleolus_distance"][idx, j] * rn
        theta = cells["nucleolus_angle"][idx, j]
        ex, ey = _offset(ndx[idx], ndy[idx], *_polar(reach, theta))
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
    ux, uy = _polar(length, tilt)
    mx, my = _polar(middle, d0)
    # Offsets from the rod's first end, at -(middle + u) from the cell centre.
    ax, ay = _offset(dx, dy, -(mx + ux), -(my + uy))
    t = (ax * _col(ux) + ay * _col(uy)) / _col(2 * length * length)
    np.clip(t, 0.0, 1.0, out=t)
    ex, ey = ax - t * _col(2 * ux), ay - t * _col(2 * uy)
    # At least about a pixel wide, or small images lose the rod entirely.
    thickness = np.maximum(0.006 + 0.004 * shape[:, 2], 0.6 * edge)
    return _ramp(np.sqrt(ex * ex + ey * ey) - _col(thickness), edge)
