"""Non-learned reconstructions of the scar field from the slices, evaluated at the mesh nodes.

All three sample each slice in-plane (bilinear, at the node's orthogonal projection) and combine slices along the
normal:

- ``nearest_slice``: the value of the slice whose plane is nearest.
- ``linear``: linear interpolation between the two bracketing slices (= trilinear interpolation of a regular
  stack); beyond the first/last slice the outermost slice's value.
- ``sdf``: shape interpolation (log-odds style, Pohl et al. 2007): per slice the 2D signed distance in mm of the
  0.5-thresholded scar within the myocardium, interpolated linearly along the normal, probability
  logistic(-SDF / tau).

In-plane sampling is normalised over myocardial pixels (pixels with at least one mesh node), so the zeros
outside the myocardium do not bleed into border nodes; ``masked=False`` gives plain bilinear sampling.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from angiogen.tasks.scar.data import ScarData
from angiogen.io.slice_stack import SliceStack

BASELINES = ("nearest_slice", "linear", "sdf")


def _bilinear(image: np.ndarray, i: np.ndarray, j: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    # Bilinear sample of image (NI, NJ) at continuous indices; optionally normalised over mask; 0 outside.
    n_i, n_j = image.shape
    i0, j0 = np.floor(i).astype(np.int64), np.floor(j).astype(np.int64)
    fi, fj = i - i0, j - j0
    total = np.zeros(len(i))
    weight_sum = np.zeros(len(i))
    for di, dj, w in ((0, 0, (1 - fi) * (1 - fj)), (1, 0, fi * (1 - fj)), (0, 1, (1 - fi) * fj), (1, 1, fi * fj)):
        ii, jj = i0 + di, j0 + dj
        valid = (ii >= 0) & (ii < n_i) & (jj >= 0) & (jj < n_j)
        ii, jj = np.clip(ii, 0, n_i - 1), np.clip(jj, 0, n_j - 1)
        w = w * valid
        if mask is not None:
            w = w * mask[ii, jj]
        total += w * image[ii, jj]
        weight_sum += w
    if mask is None:
        return total
    return np.where(weight_sum > 1e-6, total / np.maximum(weight_sum, 1e-12), 0.0)


def _combine_along_normal(distance: np.ndarray, sampled: np.ndarray, how: str) -> np.ndarray:
    # distance, sampled: (S, N). Nearest plane or linear between the bracketing planes.
    n = distance.shape[1]
    columns = np.arange(n)
    if how == "nearest":
        return sampled[np.argmin(np.abs(distance), axis=0), columns]
    above = np.where(distance >= 0, distance, np.inf)  # node above (or on) the plane
    below = np.where(distance < 0, -distance, np.inf)
    s_above, s_below = np.argmin(above, axis=0), np.argmin(below, axis=0)
    d_above, d_below = above[s_above, columns], below[s_below, columns]
    v_above, v_below = sampled[s_above, columns], sampled[s_below, columns]
    both = np.isfinite(d_above) & np.isfinite(d_below)
    with np.errstate(invalid="ignore", divide="ignore"):
        linear = (d_below * v_above + d_above * v_below) / (d_above + d_below)
        linear = np.where(d_above + d_below == 0, v_above, linear)
    return np.where(both, linear, np.where(np.isfinite(d_above), v_above, v_below))


def myocardial_pixels(data: ScarData) -> np.ndarray:
    """(S, NI, NJ) boolean: pixels whose prism holds at least one mesh node."""
    mask = np.zeros(data.slices.values.shape, dtype=bool)
    pixel = data.groups.pixel
    mask[pixel[:, 0], pixel[:, 1], pixel[:, 2]] = True
    return mask


def signed_distance_slices(stack: SliceStack, myocardium: np.ndarray, cap_mm: float = 50.0) -> np.ndarray:
    """(S, NI, NJ) 2D signed distance in mm to the boundary of the 0.5-thresholded scar (negative inside).

    Inside the scar the distance runs to the nearest myocardial non-scar pixel; outside, to the nearest scar
    pixel; half a pixel is taken off so the zero level lies between pixel centres. Slices without scar (or all
    scar) hold +cap_mm (-cap_mm).
    """
    sdf = np.empty(stack.values.shape)
    for s in range(stack.n_slices):
        spacing = stack.pixel_mm[s]
        half = spacing.mean() / 2
        scar = stack.values[s] >= 0.5
        healthy = myocardium[s] & ~scar
        outside = distance_transform_edt(~scar, sampling=spacing) if scar.any() else np.full(scar.shape, cap_mm)
        inside = distance_transform_edt(~healthy, sampling=spacing) if healthy.any() else np.full(scar.shape, cap_mm)
        sdf[s] = np.clip(np.where(scar, -(inside - half), outside - half), -cap_mm, cap_mm)
    return sdf


def baseline_fields(data: ScarData, tau_mm: float = 1.0, masked: bool = True) -> dict[str, np.ndarray]:
    """Scar probability (N,) at every mesh node for each baseline in :data:`BASELINES`."""
    stack = data.slices
    myocardium = myocardial_pixels(data) if masked else None
    sdf_slices = signed_distance_slices(stack, myocardial_pixels(data))
    n_slices, n = stack.n_slices, len(data.points_mm)
    distance = np.empty((n_slices, n))
    values = np.empty((n_slices, n))
    sdf = np.empty((n_slices, n))
    for s in range(n_slices):
        i, j, distance[s] = stack.plane_coordinates(data.points_mm, s)
        values[s] = _bilinear(stack.values[s], i, j, None if myocardium is None else myocardium[s])
        sdf[s] = _bilinear(sdf_slices[s], i, j, None)
    node_sdf = _combine_along_normal(distance, sdf, "linear")
    return {
        "nearest_slice": _combine_along_normal(distance, values, "nearest"),
        "linear": _combine_along_normal(distance, values, "linear"),
        "sdf": 1.0 / (1.0 + np.exp(np.clip(node_sdf / tau_mm, -50, 50))),
    }
