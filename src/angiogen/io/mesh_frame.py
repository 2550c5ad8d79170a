"""Which patient frame, RAS or LPS, a mesh's nodes are in, decided from how they fall on a slice stack.

Slice stacks are read in RAS whatever their format (NIfTI as nibabel reads it; DICOM and NRRD LPS are converted on
reading, :mod:`angiogen.io.coordinates`). A mesh file carries no frame: ITK, SimpleITK, CemrgApp and many 3D Slicer
exports write LPS, nibabel-based tools RAS, and the two differ by a half turn about z. Read in the wrong frame, a
mesh lands on the opposite wall, or beside the slices altogether.

For each candidate frame :func:`frame_fit` measures how many nodes lie inside a pixel prism of the stack (in the
image, within half a thickness of a slice plane, on a valid pixel), how many of those lie on signal (a non-zero
pixel: myocardium in a probability map, scar in a mask), how much of the stack's signal (the value of its valid
pixels) lies in prisms that hold a node, and how much of the mesh's bounding box lies in the stack's.
:func:`decide_mesh_frame` keeps the clearly better frame, or stops when neither fits or the two are too close to
call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from angiogen.errors import InputError
from angiogen.io.coordinates import PATIENT_FRAMES, points_to_ras
from angiogen.io.slice_stack import SliceStack

log = logging.getLogger(__name__)

# The better frame must score at least this many times the other's to be chosen by "auto".
CLEAR_RATIO = 1.5
# A frame whose score is below this fits nowhere (scores run from 0 to 1).
MIN_SCORE = 0.01


@dataclass(frozen=True)
class FrameFit:
    """How a mesh read in one frame falls on a slice stack.

    Attributes:
        frame: "ras" or "lps".
        nodes_in_stack: share of the nodes inside some slice's pixel prism on a valid pixel.
        nodes_on_signal: share of those nodes whose pixel (in some slice) is non-zero; NaN when none is inside.
        signal_covered: share of the stack's signal (sum of the values of valid pixels) in prisms that hold at
            least one node; NaN when the stack has no signal (all zeros).
        box_overlap: share of the mesh's bounding-box volume inside the stack's bounding box.
    """

    frame: str
    nodes_in_stack: float
    nodes_on_signal: float
    signal_covered: float
    box_overlap: float

    @property
    def score(self) -> float:
        """nodes_in_stack x nodes_on_signal x signal_covered (nodes_in_stack alone for a stack without signal), in
        [0, 1]: high when the nodes lie in the stack, on its signal, and cover it."""
        if np.isnan(self.signal_covered) or np.isnan(self.nodes_on_signal):
            return self.nodes_in_stack
        return self.nodes_in_stack * self.nodes_on_signal * self.signal_covered

    def describe(self) -> str:
        """One phrase: the three measures in percent."""
        signal = "no signal" if np.isnan(self.signal_covered) else f"{100 * self.signal_covered:.0f} % of the signal"
        on_signal = "" if np.isnan(self.nodes_on_signal) else f" ({100 * self.nodes_on_signal:.0f} % on signal)"
        return (f"{self.frame.upper()}: {100 * self.nodes_in_stack:.0f} % of the nodes in the stack{on_signal}, "
                f"{signal} under nodes, bounding boxes overlap {100 * self.box_overlap:.0f} %")


def frame_fit(points_mm: np.ndarray, stack: SliceStack, frame: str) -> FrameFit:
    """Measure how ``points_mm`` (N, 3), read as coordinates in ``frame``, fall on ``stack`` (RAS).

    A node is inside the prism of pixel (i, j) of slice s when its orthogonal projection rounds to (i, j) and it
    lies within half the slice thickness of the plane.
    """
    points = points_to_ras(points_mm, frame)
    in_stack = np.zeros(len(points), dtype=bool)
    on_signal = np.zeros(len(points), dtype=bool)
    covered_signal = total_signal = 0.0
    n_i, n_j = stack.values.shape[1:]
    for s in range(stack.n_slices):
        i, j, distance = stack.plane_coordinates(points, s)
        ii, jj = np.rint(i).astype(np.int64), np.rint(j).astype(np.int64)
        inside = (np.abs(distance) <= stack.thickness_mm[s] / 2) & (ii >= 0) & (ii < n_i) & (jj >= 0) & (jj < n_j)
        inside[inside] = stack.valid[s, ii[inside], jj[inside]]
        in_stack |= inside
        signal = np.where(stack.valid[s], stack.values[s], 0.0)
        on_signal[inside] |= signal[ii[inside], jj[inside]] > 0
        covered = np.zeros((n_i, n_j), dtype=bool)
        covered[ii[inside], jj[inside]] = True
        covered_signal += float(signal[covered].sum())
        total_signal += float(signal.sum())
    signal_covered = covered_signal / total_signal if total_signal > 0 else float("nan")
    share_on_signal = on_signal.sum() / in_stack.sum() if in_stack.any() else float("nan")
    return FrameFit(frame, float(in_stack.mean()), float(share_on_signal), signal_covered,
                    _box_overlap(points, stack))


def _box_overlap(points: np.ndarray, stack: SliceStack) -> float:
    """Share of the bounding box of ``points`` (RAS) inside the bounding box of the stack's pixel prisms."""
    n_i, n_j = stack.values.shape[1:]
    corners = []
    for s in range(stack.n_slices):
        half = stack.normals[s] * stack.thickness_mm[s] / 2
        for i in (-0.5, n_i - 0.5):
            for j in (-0.5, n_j - 0.5):
                centre = stack.affines[s, :3, :2] @ (i, j) + stack.affines[s, :3, 3]
                corners += [centre - half, centre + half]
    corners = np.array(corners)
    low, high = np.maximum(points.min(0), corners.min(0)), np.minimum(points.max(0), corners.max(0))
    extent = np.maximum(points.max(0) - points.min(0), 1e-6)
    return float(np.prod(np.clip(high - low, 0.0, None) / extent))


def require_frame_choice(requested: str, path: str | Path | None = None) -> None:
    """Raise InputError (naming ``path`` when given) unless ``requested`` is "ras", "lps" or "auto"."""
    if requested not in (*PATIENT_FRAMES, "auto"):
        raise InputError(f"unknown mesh frame {requested!r}; expected ras, lps or auto", path)


def decide_mesh_frame(points_mm: np.ndarray, stack: SliceStack, requested: str, mesh_path: str | Path,
                      slices_path: str | Path) -> str:
    """The frame the mesh's nodes are in: ``requested`` when it is "ras" or "lps", decided from the data for "auto".

    "auto" measures both frames (:func:`frame_fit`) and keeps the one whose score is at least
    :data:`CLEAR_RATIO` times the other's, saying which in one log line.

    Raises:
        InputError (naming both files): an unknown ``requested``; no node inside the stack in either frame (or in
            the requested one); "auto" with no frame scoring :data:`MIN_SCORE`, or two frames too close to call.
    """
    names = f"mesh {Path(mesh_path).name} and slices {Path(slices_path).name}"
    require_frame_choice(requested, mesh_path)
    fits = {frame: frame_fit(points_mm, stack, frame) for frame in PATIENT_FRAMES}
    measured = "; ".join(fit.describe() for fit in fits.values())
    if requested != "auto":
        if fits[requested].nodes_in_stack == 0:
            raise InputError(f"{names}: no node lies inside the stack with the mesh in {requested.upper()} "
                             f"({measured})", mesh_path)
        return requested
    if max(fit.nodes_in_stack for fit in fits.values()) == 0:
        raise InputError(f"{names} do not overlap in either frame ({measured}); mesh and slices must share one "
                         "patient space in mm", mesh_path)
    best, other = sorted(fits.values(), key=lambda fit: fit.score, reverse=True)
    if best.score < MIN_SCORE:
        raise InputError(f"{names}: the mesh fits the slices in neither frame ({measured})", mesh_path)
    if best.score < CLEAR_RATIO * other.score:
        raise InputError(f"{names}: RAS and LPS fit the slices too closely to tell apart ({measured}); "
                         "say which frame the mesh is in with --mesh-frame ras or --mesh-frame lps", mesh_path)
    log.info("mesh frame %s (auto; %s)", best.frame.upper(), measured)
    return best.frame
