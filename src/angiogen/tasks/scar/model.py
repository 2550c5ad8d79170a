"""A fitted scar field: the coordinate MLP, its coordinate normalisation and the case it was fitted to, saved
as one safetensors file (weights + JSON metadata; nothing is unpickled)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from angiogen.errors import InputError
from angiogen.io.coordinates import PATIENT_FRAMES
from angiogen.nets.coordinate_mlp import CoordinateMLP, CoordinateNormaliser, MLPConfig
from angiogen.train.model_file import read_model_file, write_model_file

FORMAT = "angiogen.scar.model/1"


@dataclass
class ScarModel:
    """A coordinate MLP bound to one case.

    Attributes:
        net: the network (inputs in normalised coordinates).
        normaliser: mm -> normalised coordinates.
        case_id: fingerprint of the mesh it was fitted to (:func:`angiogen.tasks.scar.data.case_id`, of the nodes
            in the slices' frame).
        info: training facts stored with the weights (epochs, losses, schedule, wall time).
        mesh_frame: the frame of the mesh file's nodes ("ras" or "lps"); the network works in RAS.
    """

    net: CoordinateMLP
    normaliser: CoordinateNormaliser
    case_id: str
    info: dict[str, Any] = field(default_factory=dict)
    mesh_frame: str = "ras"

    def require_case(self, expected_case_id: str, path: str | Path) -> None:
        """Raise InputError naming ``path`` unless the model was fitted to the case ``expected_case_id``."""
        if self.case_id != expected_case_id:
            raise InputError(f"was fitted to another case (mesh id {self.case_id}, this mesh is "
                             f"{expected_case_id}); fit it to this mesh with `angiogen scar train`", path)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write weights and metadata to a ``.safetensors`` file, atomically."""
        fields = {
            "architecture": self.net.config.to_dict(),
            "normaliser": {"centre_mm": list(self.normaliser.centre_mm), "scale_mm": self.normaliser.scale_mm},
            "case_id": self.case_id,
            "mesh_frame": self.mesh_frame,
            "info": self.info,
        }
        return write_model_file(path, self.net, FORMAT, fields, overwrite)

    @torch.no_grad()
    def predict(self, points_mm: np.ndarray | torch.Tensor, n_samples: int = 1, chunk: int = 50_000,
                device: torch.device | str = "cpu") -> torch.Tensor:
        """(n_samples, N) probabilities at points (N, 3) in mm; dropout active when ``n_samples`` > 1."""
        self.net.to(device).mc_dropout(n_samples > 1)
        coords = self.normaliser(torch.as_tensor(np.asarray(points_mm), device=device))
        out = torch.empty(n_samples, len(coords), device=device)
        for start in range(0, len(coords), chunk):
            block = coords[start : start + chunk]
            for sample in range(n_samples):
                out[sample, start : start + chunk] = self.net(block)
        return out


def load_model(path: str | Path, expected_case_id: str | None = None) -> ScarModel:
    """Read a checkpoint written by :meth:`ScarModel.save`.

    Args:
        path: the ``.safetensors`` file.
        expected_case_id: when given, the checkpoint must have been fitted to this case.

    Raises:
        InputError: missing or unreadable file, not a scar checkpoint, or fitted to another case.
    """
    model_file = read_model_file(path, FORMAT, "a scar checkpoint")
    net = model_file.load_into(CoordinateMLP(MLPConfig(**model_file.value("architecture"))), "the stored architecture")
    norm = model_file.value("normaliser")
    normaliser = CoordinateNormaliser(tuple(norm["centre_mm"]), float(norm["scale_mm"]))
    mesh_frame = model_file.metadata.get("mesh_frame", "ras")  # files from before frames were recorded: RAS
    if mesh_frame not in PATIENT_FRAMES:
        raise InputError(f"has mesh_frame {mesh_frame!r}; expected one of {', '.join(PATIENT_FRAMES)}", path)
    model = ScarModel(net, normaliser, model_file.text("case_id"), model_file.value("info", {}), mesh_frame)
    if expected_case_id is not None:
        model.require_case(expected_case_id, path)
    return model
