"""Tiny dsa datasets shared by the tests of this folder (built once per module, in-process)."""

from __future__ import annotations

import pytest

from angiogen.tasks.dsa.data import Banks, DataConfig, MotionTestSet, build_banks, build_motion_test

SEED = 3
# A 32 px detector at 6 mm (144 mm field at the isocentre), trees voxelised in 32^3 at 6 mm: vessels still cover
# half of each vessel view and 15-40 % of the pixels of the validation and test targets.
TINY = {"detector_px": 32, "pixel_mm": 6.0, "n_phantoms": 2, "views_per_phantom": 2, "n_scenes": 2,
        "views_per_scene": 2, "n_val": 2, "n_test": 2, "vessel_grid": 32, "vessel_spacing_mm": 6.0}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread: None) -> None:
    """Every module here runs with :func:`one_torch_thread` (tests/conftest.py)."""


@pytest.fixture(scope="module")
def tiny_seed() -> int:
    return SEED


@pytest.fixture(scope="module")
def tiny_config() -> DataConfig:
    return DataConfig(**TINY)


@pytest.fixture(scope="module")
def tiny_banks(tiny_config: DataConfig) -> Banks:
    return build_banks(tiny_config, SEED, "synchronous")


@pytest.fixture(scope="module")
def tiny_test(tiny_config: DataConfig) -> MotionTestSet:
    return build_motion_test(tiny_config, SEED, "synchronous")
