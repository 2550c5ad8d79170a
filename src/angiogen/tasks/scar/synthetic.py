"""Synthetic scar cases with known truth: LV phantom + scar + simulated LGE stack -> :class:`ScarData`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from angiogen.io.atomic import check_writable
from angiogen.io.coordinates import points_from_ras
from angiogen.io.meshes import Mesh, write_mesh
from angiogen.io.slice_stack import SliceStack
from angiogen.synth.lv_phantom import LVMesh, ScarField, make_lv_mesh, random_scar, scanner_pose
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
        seed: seed of the scar, the mesh jitter, the slice phase, noise, shifts and the pose.
        pose: ``"scanner"`` places the case as a patient's LV lies in a scanner's RAS frame
            (:func:`angiogen.synth.lv_phantom.scanner_pose`: oblique long axis, centre off the isocentre);
            ``"phantom"`` keeps the phantom frame (long axis +z, shell centred at the origin), where a mesh read
            as LPS instead of RAS still lies on the slices.
        tetra: also build the tetrahedra (Delaunay of the nodes; seconds at 40k nodes), written with the mesh.
    """

    node_spacing_mm: float = 1.53
    scar_kind: str = "isthmus"
    slice_spacing_mm: float = 8.0
    pixel_mm: float = 1.5
    tilt_deg: float = 0.0
    noise_sd: float = 0.05
    shift_sd_mm: float = 1.0
    seed: int = 0
    pose: Literal["scanner", "phantom"] = "scanner"
    tetra: bool = False


@dataclass
class SyntheticCase:
    """A case with its truth: ``data.truth`` holds the true scar per node.

    ``mesh``, ``scar`` and ``slices`` are in the phantom frame; ``data`` (nodes and slices) is placed by ``pose``,
    the (4, 4) phantom-to-world transform, as a user's case would be.
    """

    spec: CaseSpec
    data: ScarData
    mesh: LVMesh
    scar: ScarField
    slices: SimulatedSlices
    pose: np.ndarray


def make_case(spec: CaseSpec | None = None) -> SyntheticCase:
    """Build a synthetic case (a pure function of ``spec``)."""
    spec = spec or CaseSpec()
    mesh = make_lv_mesh(spec.node_spacing_mm, seed=spec.seed, tetra=spec.tetra)
    scar = random_scar(spec.seed, spec.scar_kind, mesh.geometry)
    slices = simulate_slices(scar, spec.slice_spacing_mm, spec.pixel_mm, tilt_deg=spec.tilt_deg,
                             noise_sd=spec.noise_sd, shift_sd_mm=spec.shift_sd_mm, seed=spec.seed)
    if spec.pose not in ("scanner", "phantom"):
        raise ValueError(f"unknown pose {spec.pose!r}; expected scanner or phantom")
    pose = scanner_pose(spec.seed, mesh.geometry) if spec.pose == "scanner" else np.eye(4)
    points = mesh.points_mm @ pose[:3, :3].T + pose[:3, 3]
    stack = SliceStack(slices.stack.values, pose[None] @ slices.stack.affines, slices.stack.thickness_mm,
                       slices.stack.valid)
    groups = build_groups(points, stack)
    channel, low, high = scar.channel_ends(mesh.points_mm)
    isthmus = {"channel": channel, "low": low, "high": high} if scar.channel is not None else {}
    data = ScarData(points, mesh.node_volume_mm3, groups, stack, 0.0, scar(mesh.points_mm), isthmus,
                    {"synthetic": str(spec)})
    return SyntheticCase(spec, data, mesh, scar, slices, pose)


def write_case(case: SyntheticCase, out_dir: str | Path, overwrite: bool = False, mesh_frame: str = "ras",
               mesh_name: str = "mesh.vtu") -> dict[str, Path]:
    """Write a synthetic case as a user would have it: the mesh (vertex cells, or the tetrahedra when the phantom
    has them; point arrays ``node_volume_mm3`` and ``scar_truth``; node coordinates in ``mesh_frame``, "ras" or
    "lps" as ITK-based tools write them), ``slices.nii.gz`` (RAS, as NIfTI is) and the training file
    ``data.npz`` (which records the mesh's frame)."""
    out_dir = Path(out_dir)
    points = points_from_ras(case.data.points_mm, mesh_frame)
    cells = {"tetra": case.mesh.tetra} if case.mesh.tetra is not None else {"vertex": np.arange(len(points))[:, None]}
    mesh = Mesh(points, cells, {"node_volume_mm3": case.mesh.node_volume_mm3,
                                "scar_truth": case.data.truth.astype(np.float32)})
    paths = {"mesh": out_dir / mesh_name, "slices": out_dir / "slices.nii.gz", "data": out_dir / "data.npz"}
    for path in paths.values():  # refuse before writing anything
        check_writable(path, overwrite)
    write_mesh(paths["mesh"], mesh, overwrite=overwrite)
    write_slices(paths["slices"], case.data.slices, overwrite=overwrite)
    replace(case.data, mesh_frame=mesh_frame).save(paths["data"], overwrite=overwrite)
    return paths
