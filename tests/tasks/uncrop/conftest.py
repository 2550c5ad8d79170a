"""Tiny uncrop data and networks shared by the tests of this folder (built once, in-process).

Sizes: a 32 px core, U-Net channels [8, 16, 16] (norm_groups 8, head_channels 8), a one-level VAE prior; the
synthetic dataset is the CLI's smoke profile (6 phantoms x 2 views, 4 test images at 64 px).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from angiogen.tasks.uncrop.cli import SMOKE_DATA, SMOKE_MODEL
from angiogen.tasks.uncrop.data import DataConfig, UncropDataset, build_synthetic, load_dataset, write_dataset
from angiogen.tasks.uncrop.model import ModelConfig, UncropModel, UncropNet

SEED = 3
TINY_MODEL = {"size": 32, "channels": [8, 16, 16], "norm_groups": 8, "head_channels": 8, "prior_channels": [8]}
assert TINY_MODEL == SMOKE_MODEL  # the tests run the CLI's smoke network


def tiny_model_config(**changes: object) -> ModelConfig:
    """The smoke network's configuration with ``changes``."""
    return ModelConfig(**{**TINY_MODEL, **changes})


def tiny_model(seed: int = 0, **changes: object) -> UncropModel:
    """An untrained smoke network (seeded weights), in eval mode. MONAI initialises the last convolution of every
    block (and the output) to zero, so a fresh U-Net outputs exactly 0 whatever its input; those weights are
    drawn small instead, so that outputs depend on the inputs as a trained network's do."""
    torch.manual_seed(seed)
    net = UncropNet(tiny_model_config(**changes))
    with torch.no_grad():
        for parameter in net.parameters():
            if parameter.ndim > 1 and not parameter.any():
                parameter.normal_(0.0, 0.05)
    return UncropModel(net.eval(), {"steps": 0})


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread: None) -> None:
    """Every module here runs with :func:`one_torch_thread` (tests/conftest.py)."""


@pytest.fixture(scope="session")
def make_model() -> Callable[..., UncropModel]:
    """``make_model(seed=0, **config_changes)``: an untrained smoke network."""
    return tiny_model


@pytest.fixture(scope="session")
def make_config() -> Callable[..., ModelConfig]:
    """``make_config(**changes)``: the smoke network's configuration with changes."""
    return tiny_model_config


@pytest.fixture(scope="session")
def smoke_config() -> DataConfig:
    return DataConfig(**SMOKE_DATA)


@pytest.fixture(scope="session")
def smoke_folder(tmp_path_factory: pytest.TempPathFactory, smoke_config: DataConfig) -> Path:
    """A synthetic smoke dataset folder (what `uncrop prepare --profile smoke` writes)."""
    bank, test = build_synthetic(smoke_config, SEED, "synchronous")
    folder = tmp_path_factory.mktemp("uncrop_data") / "smoke"
    write_dataset(folder, "synthetic", smoke_config, SEED, test, bank=bank)
    return folder


@pytest.fixture(scope="session")
def smoke_dataset(smoke_folder: Path) -> UncropDataset:
    return load_dataset(smoke_folder)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained smoke network saved as a model file (for the input checks of the CLI)."""
    return tiny_model(0).save(tmp_path_factory.mktemp("uncrop_model") / "tiny.safetensors")
