"""Coordinate MLP: f(x, y, z) -> [0, 1], with optional random Fourier features and MC dropout (cardioscar).

Layer layout (``depth`` = L Linear layers before the output, ``width`` = H):
Linear(in, H) -> ReLU; for i = 1 ... L-1: Linear(H, H) -> [Dropout(p) when i is even, or always with
``dropout_every_layer``] -> ReLU; Linear(H, 1) -> sigmoid. With the defaults (L = 4, H = 128, p = 0.1, no Fourier
features) this is the original's 50,177-parameter network with one dropout layer after the third Linear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import ConfigDict
from torch import nn

from angiogen.config import Config


class MLPConfig(Config):
    """Architecture of a :class:`CoordinateMLP` (stored with every checkpoint).

    Args:
        width: hidden units H.
        depth: hidden Linear layers L (>= 1).
        dropout: dropout probability p.
        dropout_every_layer: dropout after every hidden Linear but the first, instead of every second one.
        fourier_features: number of random frequencies (0 = plain coordinates).
        fourier_sigma: standard deviation of the frequencies, in cycles per normalised unit.
        fourier_seed: seed of the frequency matrix.
        fourier_sigma_normal: frequency scale along ``fourier_normal`` (None = ``fourier_sigma``, isotropic):
            for slice stacks, sharp in-plane and smooth across the planes.
        fourier_normal: unit direction (x, y, z) of the anisotropy (e.g. the slice normal).
    """

    width: int = 128
    depth: int = 4
    dropout: float = 0.1
    dropout_every_layer: bool = False
    fourier_features: int = 0
    fourier_sigma: float = 1.0
    fourier_seed: int = 0
    fourier_sigma_normal: float | None = None
    fourier_normal: tuple[float, float, float] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values (``MLPConfig(**d)`` rebuilds it)."""
        return self.model_dump(mode="json")


class FourierFeatures(nn.Module):
    """[x, sin(2 pi x B), cos(2 pi x B)] with a fixed B ~ N(0, sigma^2) of shape (3, F).

    With ``sigma_normal`` and ``normal`` n, the frequencies' component along n has standard deviation
    ``sigma_normal`` instead: B = (I + (sigma_normal / sigma - 1) n n^T) sigma Z, Z ~ N(0, 1).

    Input (B, 3) normalised coordinates; output (B, 3 + 2F).
    """

    def __init__(self, n_features: int, sigma: float, seed: int, in_features: int = 3,
                 sigma_normal: float | None = None, normal: tuple[float, float, float] | None = None) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        frequencies = torch.randn(in_features, n_features, generator=generator) * sigma
        if sigma_normal is not None and normal is not None:
            unit = torch.as_tensor(normal, dtype=torch.float32)
            unit = unit / unit.norm()
            frequencies = frequencies + (sigma_normal / sigma - 1) * torch.outer(unit, unit @ frequencies)
        self.register_buffer("frequencies", frequencies)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        phase = 2 * math.pi * coords @ self.frequencies
        return torch.cat([coords, torch.sin(phase), torch.cos(phase)], dim=-1)


class CoordinateMLP(nn.Module):
    """Scar probability at normalised coordinates.

    Input: (B, 3) float32 coordinates in [-1, 1] (see :class:`CoordinateNormaliser`). Output: (B,) in (0, 1).
    """

    def __init__(self, config: MLPConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MLPConfig()
        if config.depth < 1 or config.width < 1:
            raise ValueError(f"depth and width must be >= 1, got {config.depth}, {config.width}")
        if not 0.0 <= config.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
        self.encoding = (
            FourierFeatures(config.fourier_features, config.fourier_sigma, config.fourier_seed,
                            sigma_normal=config.fourier_sigma_normal, normal=config.fourier_normal)
            if config.fourier_features
            else nn.Identity()
        )
        in_features = 3 + 2 * config.fourier_features
        layers: list[nn.Module] = [nn.Linear(in_features, config.width), nn.ReLU()]
        for i in range(1, config.depth):
            layers.append(nn.Linear(config.width, config.width))
            if config.dropout > 0 and (config.dropout_every_layer or i % 2 == 0):
                layers.append(nn.Dropout(config.dropout))
            layers.append(nn.ReLU())
        layers.append(nn.Linear(config.width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.layers(self.encoding(coords))).squeeze(-1)

    def linear_layers(self) -> list[nn.Linear]:
        """The Linear layers in order (for freezing the first k when fine-tuning)."""
        return [module for module in self.layers if isinstance(module, nn.Linear)]

    def mc_dropout(self, enabled: bool = True) -> CoordinateMLP:
        """Evaluation mode with dropout layers left stochastic (``enabled``) or not."""
        self.eval()
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.train(enabled)
        return self


@dataclass(frozen=True)
class CoordinateNormaliser:
    """Isotropic map from mm to network coordinates: (x - centre) / scale, aspect ratio kept.

    ``centre`` is the bounding-box centre of the mesh nodes and ``scale`` half its largest extent, so every node
    lies in [-1, 1]^3.
    """

    centre_mm: tuple[float, float, float]
    scale_mm: float

    @classmethod
    def fit(cls, points_mm: torch.Tensor | np.ndarray) -> CoordinateNormaliser:
        points = torch.as_tensor(points_mm, dtype=torch.float64)
        low, high = points.min(dim=0).values, points.max(dim=0).values
        centre = (low + high) / 2
        scale = float((high - low).max()) / 2
        return cls(tuple(float(c) for c in centre), max(scale, 1e-6))  # type: ignore[arg-type]

    def __call__(self, points_mm: torch.Tensor) -> torch.Tensor:
        centre = torch.tensor(self.centre_mm, dtype=torch.float64, device=points_mm.device)
        return ((points_mm.to(torch.float64) - centre) / self.scale_mm).to(torch.float32)
