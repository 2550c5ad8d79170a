"""The DSA network and its normalisation, saved together as one safetensors file (weights + JSON metadata).

The network is MONAI's ``BasicUNet`` (2-D): an input double conv, four max-pool down levels (the last one the
method's extra level at the same width), transposed-conv up levels with skip concatenation, a 1x1 output conv,
LeakyReLU(0.01) and no normalisation, the topology of docs/methods/dsa.md §2.5. Channels are ``base * (1, 2, 4, 8, 8)``;
``base`` 16 gives 1.18 M parameters (the CPU model), 64 the original's width. Inputs are padded to a multiple of
16. Frames in line-integral units are normalised with the training background statistics (``global``); display
or log frames of unknown scale with their own run's mean and standard deviation (``local``). By default a prediction
is the mean over the eight rotations and flips of the frame (test-time augmentation: the network was trained with
those augmentations, so each view is an equally good estimate and their mean averages out part of its error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import BasicUNet
from torch import nn

from angiogen.errors import InputError
from angiogen.train.model_file import read_model_file, write_model_file

FORMAT = "angiogen.dsa.model/1"
MULTIPLE = 16  # 2 ** (number of down levels)
NORMALISATIONS = ("global", "local")
DIHEDRAL_VIEWS = 8  # the rotations by 0, 90, 180, 270 degrees, each with and without a flip


def dihedral_view(images: torch.Tensor, view: int, inverse: bool = False) -> torch.Tensor:
    """View ``view`` (0-7) of (N, C, H, W) images: rotation by ``view % 4`` quarter turns, then a left-right flip for
    views 4-7; ``inverse`` undoes it."""
    turns, flip = view % 4, view >= 4
    if not inverse:
        images = torch.rot90(images, turns, dims=(2, 3))
        return torch.flip(images, dims=(3,)) if flip else images
    images = torch.flip(images, dims=(3,)) if flip else images
    return torch.rot90(images, -turns, dims=(2, 3))


def build_unet(base_channels: int = 16, dropout: float = 0.0) -> nn.Module:
    """The DSA U-Net: one input and one output channel, channels ``base * (1, 2, 4, 8, 8)``, linear output."""
    if base_channels < 1:
        raise InputError(f"base channels must be >= 1, got {base_channels}")
    widths = tuple(base_channels * factor for factor in (1, 2, 4, 8, 8)) + (base_channels,)
    return BasicUNet(spatial_dims=2, in_channels=1, out_channels=1, features=widths,
                     act=("LeakyReLU", {"negative_slope": 0.01}), norm=None, dropout=dropout, upsample="deconv")


@dataclass
class DSAModel:
    """A trained DSA network with the statistics its inputs are normalised by.

    Attributes:
        net: the U-Net (input and output normalised).
        mean, std: background statistics in line-integral units (``global`` normalisation).
        base_channels: width of the first level.
        info: training facts stored with the weights (recipe, steps, metrics).
    """

    net: nn.Module
    mean: float
    std: float
    base_channels: int = 16
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write weights and metadata to a ``.safetensors`` file, atomically; refuse to replace without overwrite."""
        fields = {"base_channels": self.base_channels, "mean": self.mean, "std": self.std, "info": self.info}
        return write_model_file(path, self.net, FORMAT, fields, overwrite)

    @torch.no_grad()
    def predict(self, frames: np.ndarray, normalisation: str = "global", batch_size: int = 8,
                device: torch.device | str = "cpu", tta: bool = True) -> np.ndarray:
        """Vessel-only images of (F, H, W) frames of any size, in the frames' units; batched, reflect-padded.

        Args:
            frames: (F, H, W) live frames: line integrals (``global``) or any attenuation-positive scale (``local``).
            normalisation: ``global`` (training statistics) or ``local`` (the run's own mean and std).
            batch_size: frames per forward pass. device: where the network runs.
            tta: average the network over the eight rotations and flips of each frame (8x the compute); False
                runs it once on the frame as it is.
        """
        if normalisation not in NORMALISATIONS:
            raise InputError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, got {normalisation!r}")
        frames = np.asarray(frames, dtype=np.float32)
        if normalisation == "global":
            mean, std = self.mean, self.std
        else:
            mean, std = float(frames.mean()), float(frames.std()) or 1.0
        self.net.to(device).eval()
        height, width = frames.shape[-2:]
        pad_h, pad_w = -height % MULTIPLE, -width % MULTIPLE
        out = np.empty_like(frames)
        for start in range(0, len(frames), batch_size):
            block = torch.from_numpy((frames[start:start + batch_size] - mean) / std)[:, None].to(device)
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            block = F.pad(block, (0, pad_w, 0, pad_h), mode=mode)
            views = range(DIHEDRAL_VIEWS) if tta else range(1)
            estimate = sum(dihedral_view(self.net(dihedral_view(block, view)), view, inverse=True) for view in views)
            out[start:start + batch_size] = (estimate[:, 0, :height, :width] * (std / len(views))).cpu().numpy()
        return out


def load_model(path: str | Path) -> DSAModel:
    """Read a model written by :meth:`DSAModel.save`.

    Raises:
        InputError: missing or unreadable file, not a dsa model, or weights that do not fit the stored width.
    """
    model_file = read_model_file(path, FORMAT, "a dsa model")
    base = int(model_file.value("base_channels"))
    net = model_file.load_into(build_unet(base), f"a U-Net of width {base}")
    return DSAModel(net, float(model_file.value("mean")), float(model_file.value("std")), base,
                    model_file.value("info", {}))
