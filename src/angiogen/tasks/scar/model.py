"""A fitted scar field: the coordinate MLP, its coordinate normalisation and the case it was fitted to, saved
as one safetensors file (weights + JSON metadata; nothing is unpickled)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from angiogen.errors import InputError
from angiogen.io.atomic import atomic_path
from angiogen.nets.coordinate_mlp import CoordinateMLP, CoordinateNormaliser, MLPConfig
from angiogen.train.checkpoint import read_safetensors

FORMAT = "angiogen.scar.model/1"


@dataclass
class ScarModel:
    """A coordinate MLP bound to one case.

    Attributes:
        net: the network (inputs in normalised coordinates).
        normaliser: mm -> normalised coordinates.
        case_id: fingerprint of the mesh it was fitted to (:func:`angiogen.tasks.scar.data.case_id`).
        info: training facts stored with the weights (epochs, losses, schedule, wall time).
    """

    net: CoordinateMLP
    normaliser: CoordinateNormaliser
    case_id: str
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write weights and metadata to a ``.safetensors`` file, atomically."""
        path = Path(path)
        if path.suffix != ".safetensors":
            raise InputError("checkpoints are written as .safetensors", path)
        metadata = {
            "format": FORMAT,
            "architecture": json.dumps(self.net.config.to_dict()),
            "normaliser": json.dumps({"centre_mm": list(self.normaliser.centre_mm),
                                      "scale_mm": self.normaliser.scale_mm}),
            "case_id": self.case_id,
            "info": json.dumps(self.info),
        }
        tensors = {name: value.detach().cpu().contiguous() for name, value in self.net.state_dict().items()}
        with atomic_path(path, overwrite) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        return path

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
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise InputError(f"not a scar checkpoint (format {metadata.get('format')!r}, expected {FORMAT!r})", path)
    if expected_case_id is not None and metadata["case_id"] != expected_case_id:
        raise InputError(f"was fitted to another case (mesh id {metadata['case_id']}, this mesh is "
                         f"{expected_case_id}); fit it to this mesh with `angiogen scar train`", path)
    architecture = json.loads(metadata["architecture"])
    if architecture.get("fourier_normal") is not None:
        architecture["fourier_normal"] = tuple(architecture["fourier_normal"])
    config = MLPConfig(**architecture)
    net = CoordinateMLP(config)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as error:
        raise InputError(f"weights do not match the stored architecture ({error})", path) from error
    norm = json.loads(metadata["normaliser"])
    normaliser = CoordinateNormaliser(tuple(norm["centre_mm"]), float(norm["scale_mm"]))
    return ScarModel(net, normaliser, metadata["case_id"], json.loads(metadata.get("info", "{}")))
