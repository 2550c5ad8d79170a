"""Synthetic collimated fluoroscopy: display of DRRs, collimator openings, collimated acquisitions, detection.

This is the engine's data simulator for the ``uncrop`` task (docs/methods/uncrop.md §2.1 "What the data looks
like" and §4). All functions are pure functions of the ``numpy.random.Generator`` handed in: the same seed gives
bit-identical output.

Physics model (:func:`collimated_pair`), for line integrals ``p`` (dimensionless, Beer-Lambert as
:mod:`angiogen.xray.physics`) and ``I0`` unattenuated photons per pixel at normal dose:

- **Primary:** ``I0 T(x) e^-p``. The collimator transmission ``T`` is 1 in the opening and ``t`` (random in
  ``outside_transmission``, e.g. 0.05-0.2) behind the blades, with a geometric penumbra (``T`` is the opening mask
  blurred by a Gaussian of about 1 px, so the edge takes a few px).
- **Scatter:** a smooth field, a random scatter-to-primary fraction of the primary blurred by a broad Gaussian
  (about 15 % of the field); it comes from the irradiated volume only, so collimation also reduces the scatter
  inside the opening (another contrast there) and fills the shadow of the blades with a smooth, anatomy-free
  floor.
- **Edge ramp:** real collimated frames show a bright ramp just inside the blade edge (detector/processing gain
  near the shadow); it is a gain ``1 + a exp(-d / w)`` on the counts, ``d`` the distance to the blade in px,
  ``w`` a few px, ``a`` random, so the display brightens towards the blade.
- **Quantum noise:** ``N ~ Poisson(lambda)``; the detector correlates it (scintillator light spread): the noise
  ``N - lambda`` is blurred by a Gaussian of about 0.6 px and rescaled to keep its variance, which gives a lag-1
  autocorrelation of about 0.5. Behind the blades the counts are ``t`` times lower, so the noise there is strong
  and low-count, over a faint, low-contrast copy of the anatomy.
- **Log domain:** ``p~ = -ln(max(N, 1) / I0)``, normalised by the *full* dose, so the blade shadow comes out dark.

Display model (:func:`display_frame`, :func:`apply_display`), as clinical fluoroscopy is shown: attenuation-dense
is dark, ``d = 1 - (p~ - low) / (high - low)`` for a window (low, high) in line-integral units (percentile-based
at random by default), then unsharp-mask edge enhancement ``d + amount (d - G_sigma * d)`` (sigma a few px,
amount random in [0, 1.5], as many systems show strongly edge-enhanced frames), clipped to [0, 1]. The full-field
image and its collimated acquisition are displayed with the same settings.

Devices (:func:`add_devices`): catheter (hollow radio-opaque tube, about 2 mm), guide wire (thin, dense), ECG
leads (copper wires ending in a metal snap electrode) and lead markers (dots or a ruler), each present at random,
as line integrals at the pixel size given, pixel-averaged by supersampling.

Detection (:func:`detect_opening`): the opening is one convex region whose border steps down outwards (bright
ramp inside, blade shadow outside). On the image reduced to at most 128 px, a polar dynamic-programming search
from a grid of centres finds the closed contour with the largest mean outward brightness drop (the image border
counts as a neutral edge, for openings clipped by it), re-centred twice; the convex hull of the best contour is
returned at full size, or an error when too little of its border steps down (no opening). It fails mostly where
a strong straight anatomical edge inside the opening outshines a weak blade edge (IoU in the benchmark).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from angiogen.errors import InputError

OPENING_KINDS = ("rectangle", "wedge", "iris")


# ----------------------------------------------------------------------------------------------- openings


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = shape
    return np.arange(rows, dtype=np.float64)[:, None] + 0.5, np.arange(cols, dtype=np.float64)[None, :] + 0.5


def _rectangle(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> np.ndarray:
    rows, cols = shape
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))  # width / height
    area = fraction * rows * cols
    height = float(np.clip(np.sqrt(area / aspect), 2.0, rows))
    width = float(np.clip(area / height, 2.0, cols))
    top = rng.uniform(0.0, rows - height)
    left = rng.uniform(0.0, cols - width)
    r, c = _grid(shape)
    return (r >= top) & (r < top + height) & (c >= left) & (c < left + width)


def _cut_corners(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Cut one or two corners of a rectangular mask by straight oblique edges (wedge blades)."""
    rr, cc = np.nonzero(mask)
    top, bottom, left, right = rr.min(), rr.max() + 1.0, cc.min(), cc.max() + 1.0
    height, width = bottom - top, right - left
    r, c = _grid(mask.shape)
    corners = [(top, left, 1, 1), (top, right, 1, -1), (bottom, left, -1, 1), (bottom, right, -1, -1)]
    out = mask.copy()
    for k in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
        r0, c0, sr, sc = corners[int(k)]
        a = rng.uniform(0.25, 0.7) * height  # how far the cut reaches along the side, rows
        b = rng.uniform(0.25, 0.7) * width  # along the top/bottom, cols
        # Points with (dr / a + dc / b) < 1 from the corner are behind the blade.
        out &= (sr * (r - r0)) / a + (sc * (c - c0)) / b >= 1.0
    return out


def _iris(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> np.ndarray:
    rows, cols = shape
    r, c = _grid(shape)
    area = fraction * rows * cols
    ratio = float(np.exp(rng.uniform(np.log(0.75), np.log(1.33)))) if rng.random() < 0.5 else 1.0
    radius = np.sqrt(area / np.pi) * rng.uniform(1.0, 1.25)  # a little larger: clipping takes some away
    a, b = radius * np.sqrt(ratio), radius / np.sqrt(ratio)  # row and column semi-axes
    centre_r = rng.uniform(0.1 * rows, 0.9 * rows)
    centre_c = rng.uniform(0.1 * cols, 0.9 * cols)
    mask = ((r - centre_r) / a) ** 2 + ((c - centre_c) / b) ** 2 <= 1.0
    if rng.random() < 0.4:  # combined with rectangular shutters closing in on the circle
        half_r = a * rng.uniform(0.6, 1.0)
        half_c = b * rng.uniform(0.6, 1.0)
        mask &= (np.abs(r - centre_r) <= half_r) & (np.abs(c - centre_c) <= half_c)
    return mask


def random_opening(rng: np.random.Generator, shape: tuple[int, int], fraction_range: tuple[float, float] = (0.02, 0.5),
                   kinds: Sequence[str] = OPENING_KINDS) -> np.ndarray:
    """A random collimator opening: bool (H, W), True = the exposed field.

    Rectangle: axis-aligned shutters, aspect 1:2-2:1, anywhere in the field. Wedge: such a rectangle with one or
    two corners cut by oblique blade edges. Iris: a circle or ellipse, possibly clipped by the image border or
    combined with rectangular shutters. The target area fraction is drawn log-uniform in ``fraction_range``;
    shapes are redrawn (deterministically under ``rng``) until the area fraction lies in that range.

    Args:
        rng: the generator everything is drawn from.
        shape: (rows, cols) of the image, each >= 8.
        fraction_range: (low, high) area fraction of the opening, 0 < low <= high < 1.
        kinds: the kinds to draw from, any of "rectangle", "wedge", "iris".
    """
    rows, cols = (int(shape[0]), int(shape[1]))
    low, high = (float(fraction_range[0]), float(fraction_range[1]))
    if rows < 8 or cols < 8:
        raise InputError(f"image shape must be at least 8 x 8 for an opening, got {rows} x {cols}")
    if not 0 < low <= high < 1:
        raise InputError(f"opening fraction range must satisfy 0 < low <= high < 1, got {fraction_range}")
    kinds = list(kinds)
    if not kinds or any(k not in OPENING_KINDS for k in kinds):
        raise InputError(f"opening kinds must be among {OPENING_KINDS}, got {kinds}")
    for _ in range(1000):
        kind = kinds[int(rng.integers(len(kinds)))]
        fraction = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        if kind == "rectangle":
            mask = _rectangle(rng, (rows, cols), fraction)
        elif kind == "wedge":
            mask = _cut_corners(rng, _rectangle(rng, (rows, cols), fraction * rng.uniform(1.1, 1.5)))
        else:
            mask = _iris(rng, (rows, cols), fraction)
        if low <= mask.mean() <= high:
            return mask
    raise InputError(f"could not draw an opening of {low:g}-{high:g} of a {rows} x {cols} field")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks of the same shape (1.0 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise InputError(f"masks differ in shape: {a.shape} and {b.shape}")
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


# ------------------------------------------------------------------------------------------------ devices


def _smooth_curve(rng: np.random.Generator, shape: tuple[int, int], length_px: float,
                  curviness: float = 1.0) -> np.ndarray:
    """(n, 2) (row, col) points, 0.25 px apart, of a smooth random curve entering the field from a border."""
    rows, cols = shape
    side = int(rng.integers(4))
    u = rng.uniform(0.1, 0.9)
    # (row, col) start on the top, bottom, left or right border, heading (angle from +col towards +row) inward.
    start = [(0.0, u * cols), (float(rows), u * cols), (u * rows, 0.0), (u * rows, float(cols))][side]
    heading = [np.pi / 2, -np.pi / 2, 0.0, np.pi][side]
    heading += rng.uniform(-0.6, 0.6)
    step = 0.25
    n = max(2, int(length_px / step))
    size = max(rows, cols)
    # Curvature (rad/px): a smoothed random process, larger curvature for smaller images.
    kick = rng.normal(0.0, 1.0, n)
    kappa = ndimage.gaussian_filter1d(kick, sigma=0.15 * size / step, mode="nearest")
    kappa = kappa / (np.abs(kappa).max() + 1e-9) * curviness * rng.uniform(0.5, 2.5) / size
    headings = heading + np.cumsum(kappa) * step
    points = np.array(start) + np.cumsum(step * np.stack([np.sin(headings), np.cos(headings)], axis=1), axis=0)
    inside = (points[:, 0] > -2) & (points[:, 0] < rows + 2) & (points[:, 1] > -2) & (points[:, 1] < cols + 2)
    first_out = np.argmin(inside) if not inside.all() else len(points)
    return points[: max(first_out, 2)]


def _supersampled(shape: tuple[int, int], near: np.ndarray, value_at) -> np.ndarray:
    """Pixel-average ``value_at((m, 2) row/col points)`` over a 4 x 4 sub-grid of the pixels in ``near``."""
    out = np.zeros(shape, dtype=np.float64)
    rr, cc = np.nonzero(near)
    if rr.size == 0:
        return out
    offsets = (np.arange(4) + 0.5) / 4.0
    sub = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 2)
    pts = np.stack([rr, cc], axis=1)[:, None, :] + sub[None, :, :]
    out[rr, cc] = value_at(pts.reshape(-1, 2)).reshape(len(rr), -1).mean(axis=1)
    return out


def _render_curve(shape: tuple[int, int], points: np.ndarray, pixel_mm: float, outer_mm: float, inner_mm: float,
                  mu_per_mm: float) -> np.ndarray:
    """Line integrals of a (hollow) tube of radii ``outer_mm`` / ``inner_mm`` along ``points`` (row, col px)."""
    tree = cKDTree(points)
    r, c = _grid(shape)
    centres = np.stack(np.broadcast_arrays(r, c), axis=-1).reshape(-1, 2)
    reach = outer_mm / pixel_mm + 1.5
    dist, _ = tree.query(centres, distance_upper_bound=reach)
    near = np.isfinite(dist).reshape(shape)

    def chord(pts: np.ndarray) -> np.ndarray:
        d_mm = tree.query(pts)[0] * pixel_mm
        outer = np.sqrt(np.clip(outer_mm**2 - d_mm**2, 0.0, None))
        inner = np.sqrt(np.clip(inner_mm**2 - d_mm**2, 0.0, None))
        return 2.0 * mu_per_mm * (outer - inner)

    return _supersampled(shape, near, chord)


def _render_disks(shape: tuple[int, int], centres: np.ndarray, pixel_mm: float, radius_mm: float, peak: float,
                  ring: float = 0.0) -> np.ndarray:
    """Line integrals of small dense disks (sphere-like profile ``peak sqrt(1 - (d/R)^2)``, optional ring)."""
    if len(centres) == 0:
        return np.zeros(shape)
    tree = cKDTree(centres)
    r, c = _grid(shape)
    grid = np.stack(np.broadcast_arrays(r, c), axis=-1).reshape(-1, 2)
    dist, _ = tree.query(grid, distance_upper_bound=radius_mm / pixel_mm + 1.5)
    near = np.isfinite(dist).reshape(shape)

    def profile(pts: np.ndarray) -> np.ndarray:
        x = tree.query(pts)[0] * pixel_mm / radius_mm
        value = peak * np.sqrt(np.clip(1.0 - x**2, 0.0, None))
        if ring > 0:
            value = value + ring * ((x > 0.75) & (x <= 1.0))
        return value

    return _supersampled(shape, near, profile)


def add_devices(line_integrals: np.ndarray, rng: np.random.Generator, pixel_mm: float = 2.0) -> np.ndarray:
    """(H, W) float32 line integrals with random interventional devices added, each present at random.

    Catheter (p = 0.6): a smooth curve from a border, hollow tube of outer diameter 1.6-2.4 mm, effective
    attenuation 0.3-0.8 /mm (radio-opaque braid). Guide wire (p = 0.5): solid, diameter 0.36-0.9 mm, 0.9-2 /mm
    (steel/nitinol at 60 keV). ECG leads (p = 0.4, 1-3 of them): copper wires (0.6-1 mm, 1.4 /mm) ending in a
    metal snap electrode (disk of 2.5-4.5 mm radius with a dense rim). Lead markers (p = 0.3): 1-4 dots or a
    ruler of 5-12 dots 10 mm apart, radius 0.5-1.5 mm, peak 1-3. Pixel-averaged (4 x 4 supersampling).

    Args:
        line_integrals: (H, W) line integrals of the anatomy (typically 0-8).
        rng: the generator everything is drawn from.
        pixel_mm: detector pixel size at the device plane, mm (> 0).
    """
    image = np.asarray(line_integrals, dtype=np.float64)
    if image.ndim != 2:
        raise InputError(f"line integrals must be one (H, W) image, got shape {image.shape}")
    if pixel_mm <= 0:
        raise InputError(f"pixel size must be > 0 mm, got {pixel_mm}")
    shape = image.shape
    size = max(shape)
    out = image.copy()
    if rng.random() < 0.6:  # catheter
        outer = rng.uniform(0.8, 1.2)
        points = _smooth_curve(rng, shape, rng.uniform(0.6, 1.6) * size)
        out += _render_curve(shape, points, pixel_mm, outer, 0.6 * outer, rng.uniform(0.3, 0.8))
    if rng.random() < 0.5:  # guide wire
        points = _smooth_curve(rng, shape, rng.uniform(0.6, 1.8) * size, curviness=1.5)
        out += _render_curve(shape, points, pixel_mm, rng.uniform(0.18, 0.45), 0.0, rng.uniform(0.9, 2.0))
    if rng.random() < 0.4:  # ECG leads with electrodes
        for _ in range(int(rng.integers(1, 4))):
            points = _smooth_curve(rng, shape, rng.uniform(0.2, 0.7) * size, curviness=0.7)
            out += _render_curve(shape, points, pixel_mm, rng.uniform(0.3, 0.5), 0.0, 1.4)
            out += _render_disks(shape, points[-1:], pixel_mm, rng.uniform(2.5, 4.5), rng.uniform(0.3, 0.8),
                                 ring=rng.uniform(0.3, 1.0))
    if rng.random() < 0.3:  # lead markers
        radius, peak = rng.uniform(0.5, 1.5), rng.uniform(1.0, 3.0)
        if rng.random() < 0.5:  # a ruler
            n = int(rng.integers(5, 13))
            angle = rng.uniform(0, np.pi)
            direction = np.array([np.sin(angle), np.cos(angle)])
            start = np.array([rng.uniform(0.1, 0.9) * shape[0], rng.uniform(0.1, 0.9) * shape[1]])
            centres = start + np.arange(n)[:, None] * (10.0 / pixel_mm) * direction
        else:
            centres = rng.uniform(0.05, 0.95, (int(rng.integers(1, 5)), 2)) * np.array(shape)
        out += _render_disks(shape, centres, pixel_mm, radius, peak)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------------------ display


@dataclass(frozen=True)
class DisplaySettings:
    """How line integrals were displayed: window (low, high) in line-integral units (low shown white, high
    black), unsharp-mask Gaussian sigma in px and amount (0 = no edge enhancement)."""

    window: tuple[float, float]
    edge_sigma_px: float
    edge_amount: float


def apply_display(line_integrals: np.ndarray, settings: DisplaySettings) -> np.ndarray:
    """(H, W) float32 display in [0, 1] of line integrals under ``settings``: ``1 - (p - low) / (high - low)``,
    then unsharp masking ``d + amount (d - G_sigma * d)``, then clipping to [0, 1]."""
    low, high = settings.window
    if not high > low:
        raise InputError(f"display window must have high > low, got {settings.window}")
    display = 1.0 - (np.asarray(line_integrals, dtype=np.float64) - low) / (high - low)
    if settings.edge_amount != 0 and settings.edge_sigma_px > 0:
        display = display + settings.edge_amount * (display - ndimage.gaussian_filter(
            display, settings.edge_sigma_px, mode="nearest"))
    return np.clip(display, 0.0, 1.0).astype(np.float32)


def random_display_settings(line_integrals: np.ndarray, rng: np.random.Generator,
                            window: tuple[float, float] | None = None,
                            edge_strength: float | None = None) -> DisplaySettings:
    """Display settings for ``line_integrals``: the window given, or percentiles (0-3 %, 97-100 %) widened by
    up to 10 % / 15 % of the span; edge sigma 1.5-4 px (scaled with the image size relative to 128 px) and
    amount ``edge_strength`` or uniform in [0, 1.5]."""
    values = np.asarray(line_integrals, dtype=np.float64)
    q_low, q_high, widen_low, widen_high = rng.uniform(0, 3), rng.uniform(97, 100), rng.uniform(0, 0.1), \
        rng.uniform(0, 0.15)
    scale = max(0.5, min(values.shape[-2:]) / 128.0)
    sigma = float(rng.uniform(1.5, 4.0) * scale)
    amount = float(rng.uniform(0.0, 1.5))
    if window is None:
        low, high = np.percentile(values, [q_low, q_high])
        span = max(high - low, 1e-3)
        window = (float(low - widen_low * span), float(high + widen_high * span))
    window = (float(window[0]), float(window[1]))
    if not window[1] > window[0]:
        raise InputError(f"display window must have high > low, got {window}")
    if edge_strength is not None:
        if edge_strength < 0:
            raise InputError(f"edge enhancement strength must be >= 0, got {edge_strength}")
        amount = float(edge_strength)
    return DisplaySettings(window=window, edge_sigma_px=sigma, edge_amount=amount)


def display_frame(line_integrals: np.ndarray, rng: np.random.Generator, window: tuple[float, float] | None = None,
                  edge_strength: float | None = None) -> tuple[np.ndarray, DisplaySettings]:
    """Render (H, W) line integrals as clinical fluoroscopy is displayed (dense = dark), see
    :func:`random_display_settings` for the random window and edge enhancement; returns (image in [0, 1]
    float32, the settings), the image being ``apply_display(line_integrals, settings)``."""
    values = np.asarray(line_integrals)
    if values.ndim != 2:
        raise InputError(f"line integrals must be one (H, W) image, got shape {values.shape}")
    settings = random_display_settings(values, rng, window, edge_strength)
    return apply_display(values, settings), settings


# ------------------------------------------------------------------------------------------ acquisitions


@dataclass(frozen=True)
class CollimatedPair:
    """A full-field frame and its collimated acquisition, displayed with the same ``settings``: ``full`` and
    ``collimated`` (H, W) float32 in [0, 1], ``opening`` bool (True = exposed field), ``transmission`` of the
    blades."""

    full: np.ndarray
    collimated: np.ndarray
    opening: np.ndarray
    settings: DisplaySettings
    transmission: float


ELECTRONIC_NOISE_FRACTION = (3e-4, 1.5e-3)  # electronic noise sigma, photon equivalents per unattenuated photon
NOISE_CORRELATION_SIGMA_PX = 0.6  # Gaussian detector correlation of the noise: lag-1 autocorrelation about 0.5


def _correlated_counts(expected: np.ndarray, rng: np.random.Generator, sigma_px: float,
                       electronic_sigma: float) -> np.ndarray:
    """Counts: Poisson(expected) + Normal(0, electronic_sigma^2), the noise spatially correlated by a Gaussian
    of ``sigma_px`` and rescaled to keep its variance."""
    noise = rng.poisson(expected).astype(np.float64) - expected
    noise += electronic_sigma * rng.standard_normal(expected.shape)
    radius = max(1, int(np.ceil(4 * sigma_px)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    kernel /= kernel.sum()
    smooth = ndimage.convolve1d(ndimage.convolve1d(noise, kernel, axis=0, mode="reflect"), kernel, axis=1,
                                mode="reflect")
    return expected + smooth / np.sum(kernel**2)  # variance kept: 2-D sum of squares = (1-D sum)^2


def _broad_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """A Gaussian blur of large ``sigma_px`` (scatter) computed on a grid ``sigma / 3`` times coarser and enlarged
    back bilinearly: the same smooth result for a fraction of the cost."""
    factor = max(1, int(sigma_px // 3))
    if factor == 1:
        return ndimage.gaussian_filter(image, sigma_px, mode="reflect")
    small_shape = tuple(int(np.ceil(n / factor)) for n in image.shape)
    small = ndimage.zoom(image, [m / n for m, n in zip(small_shape, image.shape)], order=1, mode="nearest",
                         grid_mode=True)
    small = ndimage.gaussian_filter(small, sigma_px / factor, mode="reflect")
    return ndimage.zoom(small, [n / m for n, m in zip(image.shape, small.shape)], order=1, mode="nearest",
                        grid_mode=True)


def collimated_pair(line_integrals: np.ndarray, opening: np.ndarray, rng: np.random.Generator,
                    photons_per_pixel: float = 1e5, outside_transmission: tuple[float, float] = (0.05, 0.2),
                    settings: DisplaySettings | None = None) -> CollimatedPair:
    """A full-field frame at normal dose and its collimated acquisition through ``opening`` (module docstring).

    Args:
        line_integrals: (H, W) clean line integrals (anatomy, devices).
        opening: bool (H, W), True = the exposed field.
        rng: the generator everything is drawn from.
        photons_per_pixel: unattenuated photons per pixel at normal dose (> 0).
        outside_transmission: (low, high) range of the blades' transmission, 0 < low <= high <= 1.
        settings: the display; default random (:func:`display_frame` of the measured full-field frame).
    """
    p = np.asarray(line_integrals, dtype=np.float64)
    mask = np.asarray(opening, dtype=bool)
    if p.ndim != 2 or mask.shape != p.shape:
        raise InputError(f"line integrals {p.shape} and opening {mask.shape} must be one (H, W) image each")
    if photons_per_pixel <= 0:
        raise InputError(f"photons per pixel must be > 0, got {photons_per_pixel}")
    t_low, t_high = outside_transmission
    if not 0 < t_low <= t_high <= 1:
        raise InputError(f"outside transmission range must satisfy 0 < low <= high <= 1, got {outside_transmission}")
    if not mask.any():
        raise InputError("the collimator opening is empty")
    size = min(p.shape)
    scale = size / 128.0
    transmission = float(rng.uniform(t_low, t_high))
    penumbra_px = float(rng.uniform(0.6, 1.4) * max(0.5, scale))
    ramp_amount = float(rng.uniform(0.3, 1.0))
    ramp_px = float(rng.uniform(1.5, 4.0) * max(0.5, scale))
    scatter_fraction = float(rng.uniform(0.02, 0.15))
    scatter_px = 0.15 * size
    electronic = float(photons_per_pixel * rng.uniform(*ELECTRONIC_NOISE_FRACTION))

    primary = np.exp(-p)
    t_map = transmission + (1.0 - transmission) * np.clip(ndimage.gaussian_filter(
        mask.astype(np.float64), penumbra_px, mode="nearest"), 0.0, 1.0)
    if mask.all():
        gain = np.ones_like(p)
    else:
        distance = ndimage.distance_transform_edt(mask)
        gain = 1.0 + ramp_amount * np.where(mask, np.exp(-(distance - 0.5) / ramp_px), 0.0)
        gain = ndimage.gaussian_filter(gain, 0.5 * penumbra_px, mode="nearest")
    scatter_full = scatter_fraction * _broad_blur(primary, scatter_px)
    scatter_coll = scatter_fraction * _broad_blur(primary * t_map, scatter_px)
    expected_full = photons_per_pixel * (primary + scatter_full)
    expected_coll = photons_per_pixel * gain * (primary * t_map + scatter_coll)
    counts_full = _correlated_counts(expected_full, rng, NOISE_CORRELATION_SIGMA_PX, electronic)
    counts_coll = _correlated_counts(expected_coll, rng, NOISE_CORRELATION_SIGMA_PX, electronic)
    measured_full = -np.log(np.maximum(counts_full, 1.0) / photons_per_pixel)
    measured_coll = -np.log(np.maximum(counts_coll, 1.0) / photons_per_pixel)
    if settings is None:
        full, settings = display_frame(measured_full, rng)
    else:
        full = apply_display(measured_full, settings)
    collimated = apply_display(measured_coll, settings)
    return CollimatedPair(full=full, collimated=collimated, opening=mask.copy(), settings=settings,
                          transmission=transmission)


# ---------------------------------------------------------------------------------------------- detection


def _boundary_drop(smooth: np.ndarray, region: np.ndarray, width: int) -> tuple[float, float, float]:
    """(mean * sqrt(count), median, fraction > 0) over the region's blade boundary of the step from just inside (1-``width`` px) to
    just outside (1-``width`` px); boundary along the image border does not count."""
    structure = ndimage.generate_binary_structure(2, 1)
    inner = region & ~ndimage.binary_erosion(region, structure, iterations=width, border_value=1)
    outer = ndimage.binary_dilation(region, structure, iterations=width) & ~region
    if not inner.any() or outer.sum() < 4:
        return -np.inf, 0.0, 0.0
    _, (ir, ic) = ndimage.distance_transform_edt(~inner, return_indices=True)
    drop = smooth[ir[outer], ic[outer]] - smooth[outer]
    return float(np.mean(drop) * np.sqrt(drop.size)), float(np.median(drop)), float(np.mean(drop > 0))


def _polar_contours(g_row: np.ndarray, g_col: np.ndarray, centres: np.ndarray, n_angles: int = 96,
                    log_step: float = 0.025, max_slope: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """For each (row, col) centre, the closed star-shaped contour that maximises the mean outward drop of the
    image (``-grad . ray``, from the Gaussian derivatives ``g_row``, ``g_col``), by dynamic programming over
    ``n_angles`` rays with log-spaced radii (``log_step``) and a bounded slope ``|d ln r / d theta| <=
    max_slope``; where a ray leaves the image its first sample outside is allowed at a neutral score 0 (the
    opening may be clipped by the image border). Returns the contour points (C, A, 2) and their outward drops
    (C, A)."""
    from numpy.lib.stride_tricks import sliding_window_view

    rows, cols = g_row.shape
    radii = np.exp(np.arange(0.0, np.log(np.hypot(rows, cols)) + log_step, log_step))  # 1 px to the diagonal
    angles = np.linspace(0.0, 2 * np.pi, n_angles, endpoint=False)
    dirs = np.stack([np.sin(angles), np.cos(angles)], axis=1)
    n_centres, n_radii = len(centres), radii.size
    pts = centres[:, None, None, :] + radii[None, None, :, None] * dirs[None, :, None, :]  # (C, A, R, 2)
    inside = (pts[..., 0] >= 0) & (pts[..., 0] < rows) & (pts[..., 1] >= 0) & (pts[..., 1] < cols)
    coords = [np.clip(pts[..., 0] - 0.5, 0, rows - 1).ravel(), np.clip(pts[..., 1] - 0.5, 0, cols - 1).ravel()]
    drop = -(ndimage.map_coordinates(g_row, coords, order=1).reshape(inside.shape) * dirs[None, :, None, 0]
             + ndimage.map_coordinates(g_col, coords, order=1).reshape(inside.shape) * dirs[None, :, None, 1])
    drop = np.where(inside, drop, -1e9)
    first_out = np.argmin(inside, axis=2)  # every ray leaves the image before the diagonal
    ci, ai = np.meshgrid(np.arange(n_centres), np.arange(n_angles), indexing="ij")
    drop[ci, ai, first_out] = 0.0
    jump = max(1, int(round(max_slope * (2 * np.pi / n_angles) / log_step)))
    total = n_angles + n_angles // 2  # one and a half turns: the last turn's path is (nearly) closed
    acc = drop[:, 0, :].copy()
    back = np.zeros((total, n_centres, n_radii), dtype=np.int16)
    for t in range(1, total):
        window = sliding_window_view(np.pad(acc, ((0, 0), (jump, jump)), constant_values=-1e18), 2 * jump + 1,
                                     axis=1)
        k = np.argmax(window, axis=2)
        back[t] = k - jump
        acc = np.take_along_axis(window, k[..., None], axis=2)[..., 0] + drop[:, t % n_angles, :]
    path = np.zeros((n_centres, total), dtype=np.int64)
    path[:, -1] = np.argmax(acc, axis=1)
    for t in range(total - 1, 0, -1):
        path[:, t - 1] = path[:, t] + back[t][np.arange(n_centres), path[:, t]]
    last = path[:, total - n_angles:]
    ang = np.arange(total - n_angles, total) % n_angles
    order = np.argsort(ang)
    last, ang = last[:, order], ang[order]
    values = drop[np.arange(n_centres)[:, None], ang[None, :], last]
    points = centres[:, None, :] + radii[last][..., None] * dirs[None, :, :]
    return points, values


def _hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Bool mask of the convex hull of (n, 2) (row, col) points (pixel-edge coordinates), clipped to the image."""
    from scipy.spatial import ConvexHull, QhullError
    from skimage.draw import polygon

    rows, cols = shape
    p = np.stack([np.clip(points[:, 0], 0, rows), np.clip(points[:, 1], 0, cols)], axis=1)
    try:
        hull = p[ConvexHull(p).vertices]
    except (QhullError, ValueError):
        return None
    mask = np.zeros(shape, dtype=bool)
    rr, cc = polygon(hull[:, 0] - 0.5, hull[:, 1] - 0.5, shape=shape)
    mask[rr, cc] = True
    return mask if mask.sum() >= 3 else None


WORKING_PX = 128  # detection runs on the image reduced to at most this size (speed; the contour is scaled back)


def detect_opening(collimated: np.ndarray) -> np.ndarray:
    """The collimator opening estimated from a collimated display image alone (no mask): bool (H, W).

    The opening is one convex region (rectangle, wedge, iris) whose boundary is the blade edge: all around it the
    image drops, outwards, from the bright ramp just inside to the dark blade shadow (a step of about ``ln(1/t)``
    in line-integral units, the same all around before display clipping). The image is reduced to at most
    ``WORKING_PX`` px and differentiated (Gaussian derivatives, sigma about 1 px); from a 7 x 7 grid of centres,
    a polar dynamic programme (:func:`_polar_contours`) finds the closed contour with the largest mean outward
    drop; the best contour is re-centred on its own centroid twice, and the convex hull of the best of all is
    returned. Raises InputError("no collimator opening found in the image") when no contour has a clear drop
    all around (uniform images, noise).
    """
    image = np.asarray(collimated, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 8:
        raise InputError(f"collimated image must be one (H, W) image of at least 8 x 8, got shape {image.shape}")
    none_found = InputError("no collimator opening found in the image")
    if not np.isfinite(image).all() or np.ptp(image) < 1e-6:
        raise none_found
    rows, cols = image.shape
    factor = max(1.0, max(rows, cols) / WORKING_PX)
    work = image
    if factor > 1:
        work = ndimage.zoom(ndimage.gaussian_filter(image, 0.5 * factor, mode="nearest"), 1.0 / factor, order=1,
                            mode="nearest", grid_mode=True)
    w_rows, w_cols = work.shape
    sigma = max(0.8, min(w_rows, w_cols) / 128.0)
    g_row = ndimage.gaussian_filter(work, sigma, order=(1, 0), mode="nearest")
    g_col = ndimage.gaussian_filter(work, sigma, order=(0, 1), mode="nearest")
    n = 7
    grid_r, grid_c = np.meshgrid((np.arange(n) + 0.5) / n * w_rows, (np.arange(n) + 0.5) / n * w_cols, indexing="ij")
    points, values = _polar_contours(g_row, g_col, np.stack([grid_r.ravel(), grid_c.ravel()], axis=1))
    for _ in range(2):  # re-centre the best contour on its centroid
        best = int(np.argmax(values.mean(axis=1)))
        mask = _hull_mask(points[best], (w_rows, w_cols))
        if mask is None:
            break
        rr, cc = np.nonzero(mask)
        more_points, more_values = _polar_contours(g_row, g_col, np.array([[rr.mean() + 0.5, cc.mean() + 0.5]]))
        points, values = np.concatenate([points, more_points]), np.concatenate([values, more_values])
    best = int(np.argmax(values.mean(axis=1)))
    contour = points[best]
    mask = _hull_mask(contour * np.array([rows / w_rows, cols / w_cols]), (rows, cols))
    if mask is None or mask.all():
        raise none_found
    # A real opening: the image just inside is brighter than just outside nearly all around, by more than the
    # pixel noise (noise images give a contour too, but not this).
    smooth = ndimage.gaussian_filter(work, sigma, mode="nearest")
    work_mask = _hull_mask(contour, (w_rows, w_cols))
    _, median_drop, positive = _boundary_drop(smooth, work_mask, max(2, int(round(2 * sigma))))
    noise = 1.4826 * np.median(np.abs(np.diff(work, axis=1))) / np.sqrt(2)
    if positive < 0.6 or median_drop < 1.4 * noise:
        raise none_found
    return mask

