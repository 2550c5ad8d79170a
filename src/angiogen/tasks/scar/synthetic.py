"""Synthetic scar cases with known truth: LV phantom + scar + simulated LGE stack -> :class:`ScarData`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from angiogen.io.atomic import check_writable
from angiogen.io.meshes import Mesh, write_mesh
from angiogen.synth.lv_phantom import LVMesh, ScarField, make_lv_mesh, random_scar
from angiogen.tasks.scar.data import ScarData
from angiogen.tasks.scar.groups import build_groups
from angiogen.synth.lge_slices import SimulatedSlices, simulate_slices
from angiogen.tasks.scar.slices import write_slices


@dataclass(frozen=True)
class CaseSpec:
    """A synthetic case.

    Args:
        node_spacing_mm: lattice spacing of the LV nodes (1.53 mm ~ 40k nodes, 2.2 mm ~ 14k, 3.5 mm ~ 3.5k).
        scar_kind: ``"isthmus"``, ``"transmural"``, ``"subendocardial"`` or ``"patchy"``.
        slice_spacing_mm: distance between slices (thickness = spacing).
        pixel_mm: in-plane pixel size.
        tilt_deg: tilt of the stack from the long axis.
        noise_sd: pixel noise.
        shift_sd_mm: per-slice in-plane misalignment.
        seed: seed of the scar, the mesh jitter, the slice phase, noise and shifts.
    """

    node_spacing_mm: float = 1.53
    scar_kind: str = "isthmus"
    slice_spacing_mm: float = 8.0
    pixel_mm: float = 1.5
    tilt_deg: float = 0.0
    noise_sd: float = 0.05
    shift_sd_mm: float = 1.0
    seed: int = 0


@dataclass
class SyntheticCase:
    """A case with its truth: ``data.truth`` holds the true scar per node."""

    spec: CaseSpec
    data: ScarData
    mesh: LVMesh
    scar: ScarField
    slices: SimulatedSlices


def make_case(spec: CaseSpec | None = None) -> SyntheticCase:
    """Build a synthetic case (a pure function of ``spec``)."""
    spec = spec or CaseSpec()
    mesh = make_lv_mesh(spec.node_spacing_mm, seed=spec.seed)
    scar = random_scar(spec.seed, spec.scar_kind, mesh.geometry)
    slices = simulate_slices(scar, spec.slice_spacing_mm, spec.pixel_mm, tilt_deg=spec.tilt_deg,
                             noise_sd=spec.noise_sd, shift_sd_mm=spec.shift_sd_mm, seed=spec.seed)
    groups = build_groups(mesh.points_mm, slices.stack)
    channel, low, high = scar.channel_ends(mesh.points_mm)
    isthmus = {"channel": channel, "low": low, "high": high} if scar.channel is not None else {}
    data = ScarData(mesh.points_mm, mesh.node_volume_mm3, groups, slices.stack, 0.0, scar(mesh.points_mm),
                    isthmus, {"synthetic": str(spec)})
    return SyntheticCase(spec, data, mesh, scar, slices)


def write_case(case: SyntheticCase, out_dir: str | Path, overwrite: bool = False) -> dict[str, Path]:
    """Write a synthetic case as a user would have it: ``mesh.vtu`` (vertex cells; point arrays
    ``node_volume_mm3`` and ``scar_truth``), ``slices.nii.gz`` and the training file ``data.npz``."""
    out_dir = Path(out_dir)
    points = case.mesh.points_mm
    mesh = Mesh(points, {"vertex": np.arange(len(points))[:, None]},
                {"node_volume_mm3": case.mesh.node_volume_mm3, "scar_truth": case.data.truth.astype(np.float32)})
    paths = {"mesh": out_dir / "mesh.vtu", "slices": out_dir / "slices.nii.gz", "data": out_dir / "data.npz"}
    for path in paths.values():  # refuse before writing anything
        check_writable(path, overwrite)
    write_mesh(paths["mesh"], mesh, overwrite=overwrite)
    write_slices(paths["slices"], case.slices.stack, overwrite=overwrite)
    case.data.save(paths["data"], overwrite=overwrite)
    return paths
