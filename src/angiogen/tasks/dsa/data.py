"""Datasets of the dsa task: background and vessel banks, fixed validation pairs, the motion test set (docs/methods/dsa.md §2.3, §2.8).

Everything is a pure function of (seed, stream, index), so banks built on any number of Dask workers are identical:

- background bank: random analytic anatomies (thorax, abdomen, pelvis, limb) projected exactly at
  ``views_per_phantom`` random views (LAO/RAO U(-30, 30) deg, CRA/CAU U(-20, 20) deg), and a share
  ``ct_torso_fraction`` of the engine's voxel CT torso (curved ribs, spine, breathing diaphragm) at a random
  breathing state, pose and texture, projected by the ray-marching projector: (N, H, W) line integrals;
- vessel bank: scenes of 2-4 random trees filling the field, voxelised at 2 mm and projected at
  ``views_per_scene`` random views: (M, H, W) lumen path lengths in mm;
- validation: fixed pairs from held-out phantoms and scenes (other index streams), full frames;
- motion test set: per case a mask at pose A, and at pose B (rigid motion: translation N(0, 2 mm) per axis,
  rotation N(0, 1 deg) about a random axis) a static mask and the vessel-only image; live = mask_B + vessel.
  Noise is drawn per (case, dose, frame) when the set is used (:func:`noisy_case_frames`).

The dataset folder holds ``banks.npz``, ``motion_test.npz`` and ``manifest.json`` (config, counts, statistics,
sha256 of each file). Arrays are loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from angiogen.config import Config
from angiogen.errors import InputError
from angiogen.io.datasets import MANIFEST_FILE, read_dataset_arrays, read_manifest, write_dataset_folder
from angiogen.synth.anatomy import ANATOMIES
from angiogen.synth.angio import frame_generator
from angiogen.synth.backgrounds import ViewSampler, draw_anatomy
from angiogen.synth.backgrounds import background_views as synth_background_views
from angiogen.synth.lsystem import axis_angle_rotation
from angiogen.synth.parallel import map_indexed
from angiogen.synth.vessel_images import field_tree, path_length_images
from angiogen.xray.phantoms import line_integrals
from angiogen.xray.physics import add_noise

# Index streams: every sample of a stream depends only on (seed, stream, index).
TRAIN_PHANTOMS, VAL_PHANTOMS, TEST_PHANTOMS = 0, 1, 2
TRAIN_SCENES, VAL_SCENES, TEST_SCENES = 3, 4, 5
VAL_PAIRS, TEST_CASES = 6, 7
BANKS_FILE, TEST_FILE = "banks.npz", "motion_test.npz"


class DataConfig(Config):
    """How the dsa datasets are synthesised (defaults: the CPU setting of docs/methods/dsa.md §4)."""

    detector_px: int = Field(128, ge=16, le=4096, description="Detector rows = columns.")
    pixel_mm: float = Field(2.0, gt=0, description="Detector pixel spacing, mm.")
    sid_mm: float = Field(1000.0, gt=0, description="Source-to-detector distance, mm.")
    sod_mm: float = Field(750.0, gt=0, description="Source-to-isocentre distance, mm.")
    primary_range_deg: float = Field(30.0, ge=0, le=90, description="LAO/RAO drawn in +-this range.")
    secondary_range_deg: float = Field(20.0, ge=0, le=60, description="CRA/CAU drawn in +-this range.")
    anatomies: list[str] = Field(default_factory=lambda: list(ANATOMIES))
    ct_torso_fraction: float = Field(0.25, ge=0, le=1, description="Share of training and validation phantoms "
                                     "that are the voxel CT torso instead of an analytic anatomy.")
    n_phantoms: int = Field(48, ge=1, description="Training phantoms.")
    views_per_phantom: int = Field(6, ge=1)
    n_scenes: int = Field(96, ge=1, description="Training vessel scenes.")
    views_per_scene: int = Field(3, ge=1)
    trees_per_scene: tuple[int, int] = (2, 4)
    vessel_grid: int = Field(96, ge=16, description="Voxels per side of the vessel cube.")
    vessel_spacing_mm: float = Field(2.0, gt=0)
    n_val: int = Field(16, ge=1, description="Fixed validation pairs.")
    n_test: int = Field(48, ge=1, description="Motion test cases.")
    delta_mu_range: tuple[float, float] = (0.01, 0.05)
    dose_range: tuple[float, float] = (5e4, 5e5)
    test_doses: list[float] = Field(default_factory=lambda: [5e4, 1.5e5, 5e5])
    motion_translation_mm: float = Field(2.0, ge=0, description="SD of the rigid translation per axis, mm.")
    motion_rotation_deg: float = Field(1.0, ge=0, description="SD of the rigid rotation, degrees.")

    def check(self) -> DataConfig:
        """Refuse inconsistent settings with a clear message."""
        if self.sod_mm >= self.sid_mm:
            raise InputError(f"SOD ({self.sod_mm} mm) must be smaller than SID ({self.sid_mm} mm)")
        unknown = sorted(set(self.anatomies) - set(ANATOMIES))
        if unknown or not self.anatomies:
            raise InputError(f"anatomies must be taken from {', '.join(ANATOMIES)}, got {self.anatomies}")
        for name in ("delta_mu_range", "dose_range", "trees_per_scene"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise InputError(f"{name} must be 0 < low <= high, got {(low, high)}")
        return self

    @property
    def views(self) -> ViewSampler:
        """The random C-arm views of this dataset."""
        return ViewSampler(self.primary_range_deg, self.secondary_range_deg, self.sid_mm, self.sod_mm,
                           self.detector_px, self.pixel_mm)

    @property
    def field_mm(self) -> float:
        """Side of the field of view at the isocentre, mm."""
        return self.detector_px * self.pixel_mm * self.sod_mm / self.sid_mm


@dataclass
class Banks:
    """The training banks and the validation pairs.

    Attributes:
        backgrounds: (N, H, W) float32 background line integrals.
        vessels: (M, H, W) float32 lumen path lengths, mm.
        val_inputs, val_targets: (V, H, W) float32 noisy live frames and noise-free vessel line integrals.
        mean, std: statistics of all background pixels (global normalisation).
    """

    backgrounds: np.ndarray
    vessels: np.ndarray
    val_inputs: np.ndarray
    val_targets: np.ndarray
    mean: float
    std: float


@dataclass
class MotionTestSet:
    """Noise-free frames of the motion test set, (C, H, W) float32 line integrals each.

    Attributes:
        mask_a: mask at pose A. mask_b: static mask at pose B. vessel_b: vessel-only image at pose B (target).
        doses: dose levels N0 (photons per pixel). seed: seed of the noise draws.
    """

    mask_a: np.ndarray
    mask_b: np.ndarray
    vessel_b: np.ndarray
    doses: list[float]
    seed: int

    def __len__(self) -> int:
        return len(self.vessel_b)


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(stream), int(index)])


def background_views(config: DataConfig, seed: int, stream: int, index: int, n_views: int) -> np.ndarray:
    """(n_views, H, W) float32 line integrals of phantom ``index`` of ``stream`` at random views
    (:func:`angiogen.synth.backgrounds.background_views` with the configured anatomies and CT-torso share)."""
    return synth_background_views(_rng(seed, stream, index), config.views, n_views, config.anatomies,
                                  config.ct_torso_fraction)


def _scene(config: DataConfig, rng: np.random.Generator) -> list:
    low, high = config.trees_per_scene
    return [field_tree(rng, config.field_mm) for _ in range(int(rng.integers(low, high + 1)))]


def vessel_views(config: DataConfig, seed: int, stream: int, index: int, n_views: int) -> np.ndarray:
    """(n_views, H, W) float32 lumen path lengths (mm) of one random vessel scene at random views."""
    rng = _rng(seed, stream, index)
    trees = _scene(config, rng)
    views = [config.views(rng) for _ in range(n_views)]
    return path_length_images(trees, views, config.vessel_grid, config.vessel_spacing_mm)


def validation_pair(config: DataConfig, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """One fixed validation pair (noisy live, vessel-only target) from held-out phantoms and scenes."""
    rng = _rng(seed, VAL_PAIRS, index)
    background = background_views(config, seed, VAL_PHANTOMS, index, 1)[0]
    vessel = vessel_views(config, seed, VAL_SCENES, index, 1)[0]
    target = float(rng.uniform(*config.delta_mu_range)) * vessel
    dose = float(np.exp(rng.uniform(*np.log(config.dose_range))))
    live = add_noise(torch.from_numpy(background + target), dose, frame_generator(seed, VAL_PAIRS, index)).numpy()
    return live.astype(np.float32), target.astype(np.float32)


def motion_case(config: DataConfig, seed: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One motion test case: (mask at pose A, static mask at pose B, vessel-only at pose B), noise-free."""
    rng = _rng(seed, TEST_CASES, index)
    shapes = draw_anatomy(_rng(seed, TEST_PHANTOMS, index), config.anatomies)
    trees = _scene(config, _rng(seed, TEST_SCENES, index))
    view = config.views(rng)
    axis = rng.normal(size=3)  # rotation by N(0, sd) degrees about a uniformly random axis
    rotation = axis_angle_rotation(axis, float(rng.normal(0.0, config.motion_rotation_deg)))
    translation = rng.normal(0.0, config.motion_translation_mm, 3)
    delta_mu = float(rng.uniform(*config.delta_mu_range))
    mask_a = line_integrals(shapes, view)
    mask_b = line_integrals(shapes, view, rotation=rotation, translation_mm=translation)
    moved = [tree.transformed(rotation=rotation, translation_mm=translation) for tree in trees]
    vessel_b = delta_mu * path_length_images(moved, view, config.vessel_grid, config.vessel_spacing_mm)[0]
    return tuple(np.clip(a, 0, None).astype(np.float32) for a in (mask_a, mask_b, vessel_b))  # type: ignore[return-value]


def noisy_case_frames(test: MotionTestSet, case: int, dose_index: int) -> dict[str, np.ndarray]:
    """Noisy frames of one case at one dose, each with its own seeded draw.

    Returns:
        ``live`` (mask_B + vessel at pose B), ``mask`` (pose A) and ``static_mask`` (pose B), (H, W) float32.
    """
    dose = test.doses[dose_index]
    clean = {"live": test.mask_b[case] + test.vessel_b[case], "mask": test.mask_a[case],
             "static_mask": test.mask_b[case]}
    return {
        name: add_noise(torch.from_numpy(image), dose,
                        frame_generator(test.seed, TEST_CASES, case, 3 * dose_index + frame)).numpy()
        for frame, (name, image) in enumerate(clean.items())
    }


def build_banks(config: DataConfig, seed: int, session: Any = "synchronous", progress: Any = None) -> Banks:
    """Synthesise the banks and the validation pairs on Dask (``progress(stage, done, total)``).

    Args:
        session: what :func:`angiogen.synth.parallel.dask_session` yielded (a client, or "synchronous").
    """
    config.check()

    def report(stage: str):  # noqa: ANN202 - a small adapter to the Dask progress callback
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    backgrounds = map_indexed(
        functools.partial(background_views, config, seed, TRAIN_PHANTOMS, n_views=config.views_per_phantom),
        range(config.n_phantoms), session, report("backgrounds"))
    vessels = map_indexed(
        functools.partial(vessel_views, config, seed, TRAIN_SCENES, n_views=config.views_per_scene),
        range(config.n_scenes), session, report("vessels"))
    pairs = map_indexed(functools.partial(validation_pair, config, seed), range(config.n_val), session,
                        report("validation"))
    background_bank = np.concatenate(backgrounds)
    return Banks(background_bank, np.concatenate(vessels), np.stack([p[0] for p in pairs]),
                 np.stack([p[1] for p in pairs]), float(background_bank.mean()), float(background_bank.std()))


def build_motion_test(config: DataConfig, seed: int, session: Any = "synchronous",
                      progress: Any = None) -> MotionTestSet:
    """Synthesise the motion test set on Dask (``progress(done, total)``; ``session`` as in :func:`build_banks`)."""
    config.check()
    cases = map_indexed(functools.partial(motion_case, config, seed), range(config.n_test), session, progress)
    return MotionTestSet(*(np.stack([case[k] for case in cases]) for k in range(3)), list(config.test_doses),
                         int(seed))


def write_dataset(folder: str | Path, config: DataConfig, seed: int, banks: Banks, test: MotionTestSet,
                  overwrite: bool = False) -> Path:
    """Write ``banks.npz``, ``motion_test.npz`` and ``manifest.json`` atomically; return the manifest path."""
    arrays = {
        BANKS_FILE: {"backgrounds": banks.backgrounds, "vessels": banks.vessels, "val_inputs": banks.val_inputs,
                     "val_targets": banks.val_targets},
        TEST_FILE: {"mask_a": test.mask_a, "mask_b": test.mask_b, "vessel_b": test.vessel_b},
    }
    manifest = {
        "format": "angiogen-dsa-dataset/1", "seed": int(seed), "config": config.model_dump(mode="json"),
        "counts": {"backgrounds": len(banks.backgrounds), "vessels": len(banks.vessels),
                   "validation": len(banks.val_inputs), "test_cases": len(test)},
        "background_mean": banks.mean, "background_std": banks.std, "test_doses": test.doses,
        "units": {"backgrounds": "line integrals", "vessels": "lumen path length, mm",
                  "val_targets": "iodine line integrals", "test": "line integrals"},
    }
    return write_dataset_folder(folder, arrays, manifest, overwrite)


def load_dataset(folder: str | Path) -> tuple[DataConfig, Banks, MotionTestSet]:
    """Read a dataset folder written by :func:`write_dataset` (checks the files' presence and digests)."""
    manifest = read_manifest(folder, "a dsa dataset folder", "run `angiogen dsa prepare`")
    try:
        config = DataConfig.model_validate(manifest["config"])
    except (ValueError, KeyError) as error:
        raise InputError(f"unreadable manifest ({type(error).__name__})", Path(folder) / MANIFEST_FILE) from error
    loaded = read_dataset_arrays(folder, manifest, (BANKS_FILE, TEST_FILE))
    bank = loaded[BANKS_FILE]
    banks = Banks(bank["backgrounds"], bank["vessels"], bank["val_inputs"], bank["val_targets"],
                  float(manifest["background_mean"]), float(manifest["background_std"]))
    test = loaded[TEST_FILE]
    return config, banks, MotionTestSet(test["mask_a"], test["mask_b"], test["vessel_b"],
                                        list(manifest["test_doses"]), int(manifest["seed"]))
