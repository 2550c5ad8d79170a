"""Reconstruction: MC-dropout mean and spread of a fitted field at the mesh nodes, on a grid and on the slice planes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from angiogen.io.nifti import Volume
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


def slice_plane_fields(model: ScarModel, data: ScarData, n_samples: int = 10, seed: int = 0,
                       device: torch.device | str = "cpu") -> np.ndarray:
    """(S, NI, NJ) float MC-mean probability at the pixel centres of each slice of ``data``; NaN at pixels farther
    than one node spacing (median nearest-neighbour distance) from every node, i.e. outside the myocardium."""
    stack = data.slices
    tree = cKDTree(data.points_mm)
    node_spacing = float(np.median(tree.query(data.points_mm[:: max(1, len(data.points_mm) // 2000)], k=2)[0][:, 1]))
    fields = np.full(stack.values.shape, np.nan)
    for s in range(stack.n_slices):
        centres = stack.pixel_centres(s).reshape(-1, 3)
        field = mc_samples(model, centres, n_samples, seed, device).mean(0).numpy().reshape(stack.values.shape[1:])
        near = tree.query(centres, k=1, distance_upper_bound=node_spacing)[0] < np.inf
        fields[s] = np.where(near.reshape(field.shape), field, np.nan)
    return fields
