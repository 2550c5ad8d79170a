"""Angiography sequences: torso + contrast-filled coronary tree + motion -> projected frames (docs/methods/engine.md §2.3-2.5).

Per frame f at time t_f = t_start + f * frame_time_s:

1. the torso phantom at the frame's breathing state (and rigid drift) is converted HU -> mu and projected:
   the *mask* line integrals (pre-contrast, torso only);
2. the coronary tree, built in the torso's heart (anatomical frame) and moved with it, is voxelised once on its
   own finer sub-grid; each frame paints the bolus concentration of every edge (``Bolus.edge_concentration``)
   into the voxels that edge owns, weights it by the partial-volume occupancy, converts iodine to mu and projects
   it with the frame's rigid heart pose: the exact *vessel-only* line integrals (ground truth);
3. *live* = mask + vessel (projection is linear, so this equals projecting the summed volume on the same rays);
4. noise: ``add_noise`` at ``photons_per_pixel`` with a ``torch.Generator`` seeded from (seed, index, frame) and a
   stream (live 0, mask 1), so every frame has its own reproducible draw.

Voxelising with per-edge labels and looking the concentrations up per frame gives the same volume as
``voxelize(tree, ..., edge_values=concentrations)`` for every frame (each voxel belongs to the edge that set its
occupancy), at the cost of one voxelisation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from angiogen.errors import InputError
from angiogen.synth.bolus import Bolus
from angiogen.synth.coronary import coronary_tree
from angiogen.synth.torso import HEART_CENTRE_MM, HEART_SEMI_AXES_MM, heart_to_world, torso_phantom
from angiogen.synth.tree import VesselTree
from angiogen.synth.voxelize import grid_around, voxelize
from angiogen.xray import CArmGeometry, add_noise, hu_to_mu, iodine_to_mu, project

MAX_FRAMES = 1000


@dataclass(frozen=True)
class Motion:
    """Patient motion during the run.

    Args:
        breathing_amplitude: peak respiratory state in [0, 1] (0 = breath hold). Default 0.5.
        breathing_period_s: respiratory period in seconds. Default 4.
        breathing_phase: phase of the breathing cycle at t = 0, in cycles [0, 1). Default 0.
        drift_mm_per_s: rigid table/patient drift (x, y, z) in mm/s. Default none.
    """

    breathing_amplitude: float = 0.5
    breathing_period_s: float = 4.0
    breathing_phase: float = 0.0
    drift_mm_per_s: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))

    def __post_init__(self) -> None:
        if not 0.0 <= self.breathing_amplitude <= 1.0:
            raise InputError(f"breathing_amplitude must be in [0, 1], got {self.breathing_amplitude}")
        if not (math.isfinite(self.breathing_period_s) and self.breathing_period_s > 0):
            raise InputError(f"breathing_period_s must be positive, got {self.breathing_period_s}")
        drift = np.asarray(self.drift_mm_per_s, dtype=float)
        if drift.shape != (3,) or not np.all(np.isfinite(drift)):
            raise InputError(f"drift_mm_per_s must be 3 finite numbers, got {self.drift_mm_per_s}")

    def breathing(self, time_s: float) -> float:
        """Respiratory state in [0, amplitude] at ``time_s``: amplitude * (1 - cos(2 pi (t/T + phase))) / 2."""
        cycle = time_s / self.breathing_period_s + self.breathing_phase
        return float(self.breathing_amplitude * 0.5 * (1.0 - math.cos(2.0 * math.pi * cycle)))

    def shift_mm(self, time_s: float) -> tuple[float, float, float]:
        """Rigid shift (x, y, z) in mm at ``time_s``."""
        return tuple(float(v) * time_s for v in self.drift_mm_per_s)  # type: ignore[return-value]


STILL = Motion(breathing_amplitude=0.0)


@dataclass
class AngioSequence:
    """One synthetic angiography run at one C-arm view.

    Attributes:
        mask: (F, rows, cols) float32 noise-free torso-only line integrals (pre-contrast).
        vessel: (F, rows, cols) float32 exact vessel-only (iodine) line integrals: the ground truth.
        live: (F, rows, cols) float32 noise-free ``mask + vessel``.
        noisy_mask, noisy_live: (F, rows, cols) float32 noisy line integrals (equal to mask / live when
            ``photons_per_pixel`` is None).
        times_s: (F,) frame times in seconds. breathing: (F,) respiratory state per frame.
        geometry: the C-arm geometry. tree: the coronary tree at rest (anatomical mm).
        params: everything that made the run (JSON-ready).
    """

    mask: np.ndarray
    vessel: np.ndarray
    live: np.ndarray
    noisy_mask: np.ndarray
    noisy_live: np.ndarray
    times_s: np.ndarray
    breathing: np.ndarray
    geometry: CArmGeometry
    tree: VesselTree
    params: dict

    def frames(self) -> dict[str, np.ndarray]:
        """The image stacks by name."""
        return {"mask": self.mask, "vessel": self.vessel, "live": self.live, "noisy_mask": self.noisy_mask,
                "noisy_live": self.noisy_live}


def frame_generator(seed: int, index: int, frame: int, stream: int = 0) -> torch.Generator:
    """CPU ``torch.Generator`` seeded from (seed, index, frame, stream) only."""
    state = np.random.SeedSequence([int(seed), int(index), int(frame), int(stream)]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def angiography_sequence(
    seed: int = 0,
    index: int = 0,
    view: str | CArmGeometry = "RAO30/CRA20",
    n_frames: int = 8,
    frame_time_s: float = 1.0 / 7.5,
    photons_per_pixel: float | None = 1.5e5,
    motion: Motion | None = None,
    bolus: Bolus | None = None,
    side: str = "left",
    start_time_s: float = 0.0,
    torso_shape: tuple[int, int, int] = (96, 96, 96),
    torso_spacing_mm: float = 3.2,
    vessel_spacing_mm: float = 0.75,
    detector_px: int = 128,
    pixel_spacing_mm: float = 2.0,
    sid_mm: float = 1000.0,
    sod_mm: float = 750.0,
    electronic_sigma: float = 0.0,
    blur_sigma_px: float = 0.0,
) -> AngioSequence:
    """Synthesise one angiography run: mask, live, vessel-only and noisy frames at one view.

    Args:
        seed, index: the run is a function of (seed, index) and the arguments only (tree, texture, noise).
        view: a standard view name ("RAO30/CRA20", "LAO45", ...) or a full :class:`CArmGeometry` (then
            ``detector_px``, ``pixel_spacing_mm``, ``sid_mm``, ``sod_mm`` are ignored).
        n_frames: number of frames F (1..1000). frame_time_s: time between frames in s (> 0).
        photons_per_pixel: dose N0 (unattenuated photons per detector pixel); None gives noise-free frames.
        motion: :class:`Motion`; default breathing with amplitude 0.5 over a 4 s cycle. Use ``STILL`` for none.
        bolus: :class:`Bolus`; default gamma variate (200 mg/mL peak, 1 s to peak, 200 mm/s).
        side: "left" or "right" coronary tree.
        start_time_s: time of frame 0 relative to the injection at the ostium.
        torso_shape, torso_spacing_mm: torso grid (centred on the isocentre); vessel_spacing_mm: vessel sub-grid.
        detector_px, pixel_spacing_mm, sid_mm, sod_mm: detector and C-arm distances (mm).
        electronic_sigma, blur_sigma_px: extra noise terms of :func:`angiogen.xray.add_noise`.

    Returns:
        :class:`AngioSequence`; the image stacks are (F, rows, cols) float32 line integrals.

    Raises:
        InputError: SOD >= SID, non-positive sizes or spacings, too many frames, bad view.
    """
    if int(n_frames) != n_frames or not 1 <= n_frames <= MAX_FRAMES:
        raise InputError(f"n_frames must be a whole number in 1..{MAX_FRAMES}, got {n_frames}")
    if not (math.isfinite(frame_time_s) and frame_time_s > 0):
        raise InputError(f"frame_time_s must be positive, got {frame_time_s}")
    if photons_per_pixel is not None and not (math.isfinite(photons_per_pixel) and photons_per_pixel > 0):
        raise InputError(f"photons_per_pixel must be positive, got {photons_per_pixel}")
    if not (math.isfinite(vessel_spacing_mm) and vessel_spacing_mm > 0):
        raise InputError(f"vessel voxel spacing must be positive (mm), got {vessel_spacing_mm}")
    if isinstance(view, CArmGeometry):
        geometry = view
    else:
        try:
            geometry = CArmGeometry.standard(view, sid_mm=sid_mm, sod_mm=sod_mm, rows=detector_px, cols=detector_px,
                                             pixel_spacing_mm=pixel_spacing_mm)
        except (KeyError, ValueError) as error:
            raise InputError(f"unknown view {view!r}: {error}") from error
    motion = Motion() if motion is None else motion
    bolus = Bolus() if bolus is None else bolus
    times = float(start_time_s) + frame_time_s * np.arange(int(n_frames), dtype=np.float64)
    breathing = np.array([motion.breathing(t) for t in times])

    tree = coronary_tree(side, seed=seed, index=index, centre_mm=HEART_CENTRE_MM, semi_axes_mm=HEART_SEMI_AXES_MM)
    shape, vessel_affine = grid_around(tree, vessel_spacing_mm, margin_mm=2.0 * vessel_spacing_mm)
    occupancy, edge_id = voxelize(tree, shape, affine=vessel_affine,
                                  edge_values=np.arange(1, tree.n_edges + 1, dtype=np.float64))
    owner = np.rint(edge_id).astype(np.int64)  # 0 outside, else 1 + the edge that set the occupancy
    inside = owner > 0
    occupancy_inside = torch.from_numpy(occupancy[inside].astype(np.float32))
    concentration = bolus.edge_concentration(tree, times)  # (F, E) mg/mL

    rows, cols = geometry.rows, geometry.cols
    stacks = {name: np.zeros((len(times), rows, cols), np.float32) for name in ("mask", "vessel")}
    torso_cache: dict[tuple, np.ndarray] = {}
    for frame, time_s in enumerate(times):
        shift = motion.shift_mm(time_s)
        key = (round(breathing[frame], 12), shift)
        if key not in torso_cache:
            torso = torso_phantom(torso_shape, torso_spacing_mm, seed=seed, breathing=breathing[frame], shift_mm=shift)
            mu = hu_to_mu(torch.from_numpy(torso.hu))
            torso_cache[key] = project(mu, torso.affine, geometry)[0].numpy()
        stacks["mask"][frame] = torso_cache[key]

        iodine = torch.zeros(occupancy.shape, dtype=torch.float32)
        table = torch.from_numpy(np.concatenate([[0.0], concentration[frame]]).astype(np.float32))
        iodine[torch.from_numpy(inside)] = occupancy_inside * table[torch.from_numpy(owner[inside])]
        rotation, translation = heart_to_world(breathing[frame], shift)
        moved = np.eye(4)
        moved[:3, :3], moved[:3, 3] = rotation, translation
        if float(iodine.max()) > 0:
            stacks["vessel"][frame] = project(iodine_to_mu(iodine), moved @ vessel_affine, geometry)[0].numpy()

    mask, vessel = stacks["mask"], stacks["vessel"]
    live = mask + vessel
    if photons_per_pixel is None:
        noisy_mask, noisy_live = mask.copy(), live.copy()
    else:
        noisy_mask, noisy_live = np.empty_like(mask), np.empty_like(live)
        for frame in range(len(times)):
            for stream, clean, noisy in ((0, live, noisy_live), (1, mask, noisy_mask)):
                noisy[frame] = add_noise(torch.from_numpy(clean[frame]), photons_per_pixel,
                                         frame_generator(seed, index, frame, stream), electronic_sigma,
                                         blur_sigma_px).numpy()
    params = {
        "seed": int(seed), "index": int(index), "view": geometry.name, "n_frames": int(n_frames),
        "frame_time_s": float(frame_time_s), "start_time_s": float(start_time_s),
        "photons_per_pixel": photons_per_pixel, "electronic_sigma": electronic_sigma,
        "blur_sigma_px": blur_sigma_px, "motion": asdict(motion), "bolus": asdict(bolus), "side": side,
        "torso_shape": list(torso_shape), "torso_spacing_mm": float(torso_spacing_mm),
        "vessel_spacing_mm": float(vessel_spacing_mm), "vessel_grid": list(shape),
        "geometry": geometry.to_dict(), "units": "line integrals (dimensionless, integral of mu in 1/mm over mm)",
    }
    return AngioSequence(mask, vessel, live, noisy_mask, noisy_live, times, breathing, geometry, tree, params)
