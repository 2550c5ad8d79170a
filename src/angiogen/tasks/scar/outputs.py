"""Writing a reconstruction: the mesh with its point arrays, NIfTI volumes of the field and the figures."""

from __future__ import annotations

from pathlib import Path

import torch

from angiogen.io.atomic import check_writable
from angiogen.io.coordinates import points_to_ras
from angiogen.io.meshes import Mesh, write_mesh
from angiogen.io.nifti import write_nifti
from angiogen.tasks.scar.data import ScarData
from angiogen.tasks.scar.figures import plot_mesh_fields, plot_slice_overlays
from angiogen.tasks.scar.infer import Reconstruction, field_on_grid, slice_plane_fields
from angiogen.tasks.scar.model import ScarModel


def write_outputs(out_dir: str | Path, mesh: Mesh, recon: Reconstruction, model: ScarModel,
                  data: ScarData | None = None, grid_mm: float = 1.5, mesh_name: str = "scar.vtu",
                  seed: int = 0, overwrite: bool = False, device: torch.device | str = "cpu") -> dict[str, Path]:
    """Write the mesh with the three point arrays, the NIfTI volumes and the figures into ``out_dir``.

    ``mesh`` is the user's mesh as read, nodes in the model's ``mesh_frame``; it is written back with its own
    coordinates, while the volumes are RAS NIfTI. Every target is checked first, so nothing is written when one
    exists and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    paths = {
        "mesh": out_dir / mesh_name,
        "probability_nifti": out_dir / "scar_probability.nii.gz",
        "uncertainty_nifti": out_dir / "scar_uncertainty.nii.gz",
        "figure_3d": out_dir / "scar_3d.png",
    }
    if data is not None:
        paths["figure_slices"] = out_dir / "scar_slices.png"
    for path in paths.values():
        check_writable(path, overwrite)
    out_mesh = Mesh(mesh.points, mesh.cells, {**mesh.point_data, **recon.point_data()})
    write_mesh(paths["mesh"], out_mesh, overwrite=overwrite)
    points_ras = points_to_ras(mesh.points, model.mesh_frame)
    probability, uncertainty = field_on_grid(model, points_ras, grid_mm, recon.n_samples, seed, device)
    write_nifti(paths["probability_nifti"], probability, overwrite=overwrite)
    write_nifti(paths["uncertainty_nifti"], uncertainty, overwrite=overwrite)
    plot_mesh_fields(paths["figure_3d"], points_ras, recon.probability, recon.uncertainty, overwrite=overwrite)
    if data is not None:
        fields = slice_plane_fields(model, data, seed=seed, device=device)
        plot_slice_overlays(paths["figure_slices"], data.slices.values, fields, recon.threshold, overwrite=overwrite)
    return paths
