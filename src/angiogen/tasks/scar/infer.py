"""Reconstruction: MC-dropout mean and spread of a fitted field at the mesh nodes, on a grid, and as figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from angiogen.io.meshes import Mesh, write_mesh
from angiogen.io.nifti import Volume, write_nifti
from angiogen.tasks.scar.data import ScarData
from angiogen.tasks.scar.model import ScarModel


@dataclass
class Reconstruction:
    """Per-node result of MC dropout.

    Attributes:
        probability: (N,) float32 mean over the samples (``scar_probability``).
        uncertainty: (N,) float32 population standard deviation over the samples (``scar_uncertainty``).
        binary: (N,) bool, probability >= threshold (``scar_binary``).
        n_samples: MC samples drawn.
        threshold: the binarisation level.
    """

    probability: np.ndarray
    uncertainty: np.ndarray
    binary: np.ndarray
    n_samples: int
    threshold: float

    def point_data(self) -> dict[str, np.ndarray]:
        return {"scar_probability": self.probability, "scar_uncertainty": self.uncertainty,
                "scar_binary": self.binary.astype(np.uint8)}


def mc_samples(model: ScarModel, points_mm: np.ndarray, n_samples: int = 20, seed: int = 0,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """(n_samples, N) predictions with dropout active, reproducible under ``seed`` (the global torch RNG is
    left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model.predict(points_mm, n_samples=n_samples, device=device).cpu()


def reconstruct(model: ScarModel, points_mm: np.ndarray, n_samples: int = 20, threshold: float = 0.5,
                seed: int = 0, device: torch.device | str = "cpu") -> Reconstruction:
    """MC-dropout reconstruction at points (N, 3) in mm: mean, population std, and mean >= threshold."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    samples = mc_samples(model, points_mm, n_samples, seed, device)
    mean = samples.mean(0).numpy()
    std = samples.std(0, unbiased=False).numpy()
    return Reconstruction(mean.astype(np.float32), std.astype(np.float32), mean >= threshold, n_samples, threshold)


def field_on_grid(model: ScarModel, points_mm: np.ndarray, spacing_mm: float = 1.5, n_samples: int = 20,
                  seed: int = 0, device: torch.device | str = "cpu") -> tuple[Volume, Volume]:
    """The MC mean and std on an axis-aligned grid over the mesh bounds (+ one voxel); voxels farther than 1.5
    node spacings (median nearest-neighbour distance) from every node are 0.

    Returns:
        (probability, uncertainty) volumes (X, Y, Z) with a diagonal affine in mm.
    """
    low = points_mm.min(0) - spacing_mm
    shape = np.ceil((points_mm.max(0) + spacing_mm - low) / spacing_mm).astype(int) + 1
    axes = [low[a] + spacing_mm * np.arange(shape[a]) for a in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    tree = cKDTree(points_mm)
    node_spacing = float(np.median(tree.query(points_mm[:: max(1, len(points_mm) // 5000)], k=2)[0][:, 1]))
    near = tree.query(grid, k=1, distance_upper_bound=1.5 * max(node_spacing, spacing_mm / 2))[0] < np.inf
    probability = np.zeros(len(grid), np.float32)
    uncertainty = np.zeros(len(grid), np.float32)
    if near.any():
        samples = mc_samples(model, grid[near], n_samples, seed, device)
        probability[near] = samples.mean(0).numpy()
        uncertainty[near] = samples.std(0, unbiased=False).numpy()
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = low
    return (Volume(probability.reshape(shape), affine), Volume(uncertainty.reshape(shape), affine))


def write_outputs(out_dir: str | Path, mesh: Mesh, recon: Reconstruction, model: ScarModel,
                  data: ScarData | None = None, grid_mm: float = 1.5, mesh_name: str = "scar.vtu",
                  seed: int = 0, overwrite: bool = False, device: torch.device | str = "cpu") -> dict[str, Path]:
    """Write the mesh with the three point arrays, the NIfTI volumes and the figures into ``out_dir``.

    Every target is checked first, so nothing is written when one exists and ``overwrite`` is False.
    """
    from angiogen.io.atomic import check_writable

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
    probability, uncertainty = field_on_grid(model, mesh.points, grid_mm, recon.n_samples, seed, device)
    write_nifti(paths["probability_nifti"], probability, overwrite=overwrite)
    write_nifti(paths["uncertainty_nifti"], uncertainty, overwrite=overwrite)
    from angiogen.tasks.scar.figures import plot_mesh_fields, plot_slice_overlays

    plot_mesh_fields(paths["figure_3d"], mesh.points, recon, overwrite=overwrite)
    if data is not None:
        plot_slice_overlays(paths["figure_slices"], data, model, recon.threshold, seed=seed, overwrite=overwrite)
    return paths
