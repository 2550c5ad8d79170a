"""Datasets of the uncrop task (docs/methods/uncrop.md §4): synthetic from the engine, or from the user's folders.

- **synthetic**: a bank of X-ray line integrals of random phantoms (analytic anatomies and the engine's CT torso)
  at random C-arm views (``bank.npz``, at the core size); training pairs are drawn from it on the fly, each a pure
  function of (seed, index): optional devices (catheter, wire, ECG leads, markers), a random display (window,
  edge enhancement), a random opening (shutter, wedge or iris, 2-50 % of the field) and the collimated
  acquisition (:mod:`angiogen.synth.collimation`); random flips and quarter turns. The test set
  (``test.npz``) is fixed: held-out phantoms and views rendered at ``test_size``.
- **folder**: the user's images (:mod:`angiogen.io.image_triples`), split by name or patient ID. Training
  pairs are the user's own collimated images and masks where there are some, and otherwise (or half of the time
  when ``simulate_fraction`` says so) openings simulated on the full-field image, read as a display image.

A dataset folder holds ``manifest.json`` (kind, config, counts, sha256 of every file) beside its arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from angiogen.config import Config
from angiogen.errors import InputError
from angiogen.io.datasets import read_dataset_arrays, read_manifest, write_dataset_folder
from angiogen.io.image_triples import ImageTriple
from angiogen.synth.anatomy import ANATOMIES
from angiogen.synth.backgrounds import ViewSampler, background_views
from angiogen.synth.collimation import (CollimatedPair, DisplaySettings, add_devices, collimated_pair,
                                       display_frame, random_opening)
from angiogen.synth.parallel import map_indexed
from angiogen.tasks.uncrop.model import resize_image

# Index streams: every sample depends only on (seed, stream, index).
TRAIN_PHANTOMS, TEST_PHANTOMS, TRAIN_PAIRS, TEST_PAIRS, VAL_PAIRS = 0, 1, 2, 3, 4
BANK_FILE, TRAIN_FILE, TEST_FILE = "bank.npz", "train.npz", "test.npz"
WHAT = "an uncrop dataset folder"
HINT = "make one with `angiogen uncrop prepare`"
#: Line-integral span a display image in [0, 1] is read as when collimation is simulated on it.
DISPLAY_SPAN = 4.0


class DataConfig(Config):
    """How uncrop data is made (defaults: the CPU setting of docs/methods/uncrop.md §4)."""

    size: int = Field(128, ge=16, le=1024, description="Core (training) size, px; synthetic detector rows = cols.")
    test_size: int = Field(256, ge=16, le=2048, description="Size of the test images, px.")
    pixel_mm: float = Field(3.0, gt=0, description="Detector pixel at the core size, mm.")
    primary_range_deg: float = Field(60.0, ge=0, le=90)
    secondary_range_deg: float = Field(30.0, ge=0, le=60)
    anatomies: list[str] = Field(default_factory=lambda: list(ANATOMIES))
    ct_torso_fraction: float = Field(0.5, ge=0, le=1)
    n_phantoms: int = Field(120, ge=1, description="Training phantoms (synthetic).")
    views_per_phantom: int = Field(8, ge=1)
    n_test: int = Field(64, ge=1, description="Synthetic test images (one per held-out phantom).")
    n_val: int = Field(8, ge=1, description="Fixed validation pairs drawn like the training pairs.")
    device_probability: float = Field(0.5, ge=0, le=1, description="Share of frames with interventional devices.")
    opening_fraction: tuple[float, float] = (0.02, 0.5)
    photons_per_pixel: tuple[float, float] = (3e4, 3e5)
    outside_transmission: tuple[float, float] = (0.05, 0.2)
    simulate_fraction: float = Field(0.5, ge=0, le=1, description="Folder data: share of pairs whose opening is "
                                     "simulated even where the user gave a collimated image.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Folder data: share of groups held out.")
    group_pattern: str | None = Field(None, description="Folder data: regex whose first group is the patient ID.")

    def check(self) -> DataConfig:
        """Refuse inconsistent settings with one line."""
        unknown = sorted(set(self.anatomies) - set(ANATOMIES))
        if unknown or not self.anatomies:
            raise InputError(f"anatomies must be taken from {', '.join(ANATOMIES)}, got {self.anatomies}")
        for name in ("opening_fraction", "photons_per_pixel", "outside_transmission"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise InputError(f"{name} must be 0 < low <= high, got {(low, high)}")
        if self.opening_fraction[1] >= 1:
            raise InputError(f"opening_fraction must stay below 1, got {self.opening_fraction}")
        return self

    def views(self, size: int) -> ViewSampler:
        """Random C-arm views with a ``size`` px detector covering the same field as the core size."""
        return ViewSampler(self.primary_range_deg, self.secondary_range_deg, detector_px=size,
                           pixel_mm=self.pixel_mm * self.size / size)


@dataclass
class UncropPairs:
    """Images in [0, 1] and openings, (N, H, W) each: ``full`` (truth), ``collimated`` (input), ``opening``
    (bool, True = measured), with a name per image."""

    full: np.ndarray
    collimated: np.ndarray
    opening: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.full)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of a ``.npz`` file."""
        return {"full": self.full.astype(np.float32), "collimated": self.collimated.astype(np.float32),
                "opening": self.opening.astype(bool), "names": np.array(self.names)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> UncropPairs:
        """Inverse of :meth:`arrays`."""
        return cls(arrays["full"], arrays["collimated"], arrays["opening"].astype(bool),
                   [str(name) for name in arrays["names"]])


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream, int(index)])


def _collimate(line_integrals: np.ndarray, settings: DisplaySettings, config: DataConfig,
               rng: np.random.Generator) -> CollimatedPair:
    """A random opening and dose, and the collimated acquisition of ``line_integrals`` shown with ``settings``."""
    opening = random_opening(rng, line_integrals.shape, config.opening_fraction)
    return collimated_pair(line_integrals, opening, rng, float(rng.uniform(*config.photons_per_pixel)),
                           config.outside_transmission, settings)


def simulate_pair(line_integrals: np.ndarray, config: DataConfig,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(full, collimated, opening) of one random display and collimation of (H, W) ``line_integrals``, devices
    added with probability ``device_probability``."""
    if rng.random() < config.device_probability:
        line_integrals = add_devices(line_integrals, rng, pixel_mm=config.pixel_mm * config.size
                                     / line_integrals.shape[-1])
    _, settings = display_frame(line_integrals, rng)
    pair = _collimate(line_integrals, settings, config, rng)
    return pair.full, pair.collimated, pair.opening


def simulate_on_display(full: np.ndarray, config: DataConfig,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(full, collimated, opening) for a user's display image ``full`` in [0, 1] (dark = dense): it is read as
    line integrals ``(1 - full) * DISPLAY_SPAN`` under a plain window, collimated at random, and kept as the truth."""
    line_integrals = ((1.0 - full) * DISPLAY_SPAN).astype(np.float32)
    _, settings = display_frame(line_integrals, rng, window=(0.0, DISPLAY_SPAN), edge_strength=0.0)
    pair = _collimate(line_integrals, settings, config, rng)
    return full.astype(np.float32), pair.collimated, pair.opening


def _augment(images: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flip and quarter turn of every image."""
    turns, flip = int(rng.integers(4)), bool(rng.integers(2))
    out = [np.rot90(image, turns) for image in images]
    return [np.ascontiguousarray(image[:, ::-1] if flip else image) for image in out]


# -- synthetic -------------------------------------------------------------------------------------------------


def _bank_phantom(config: DataConfig, seed: int, index: int) -> np.ndarray:
    rng = _rng(seed, TRAIN_PHANTOMS, index)
    return background_views(rng, config.views(config.size), config.views_per_phantom, config.anatomies,
                            config.ct_torso_fraction)


def _test_pair(config: DataConfig, seed: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = _rng(seed, TEST_PHANTOMS, index)
    views = background_views(rng, config.views(config.test_size), 1, config.anatomies, config.ct_torso_fraction)
    return simulate_pair(views[0], config, rng)


def build_synthetic(config: DataConfig, seed: int, session: Any = "synchronous",
                    progress: Callable[[str, int, int], None] | None = None) -> tuple[np.ndarray, UncropPairs]:
    """The line-integral bank (N, size, size) and the fixed test pairs at ``test_size``, computed in this process
    or on the Dask ``session`` (see :func:`angiogen.synth.parallel.map_indexed`); ``progress(stage, done, total)``
    is told how far each stage is."""
    def report(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else functools.partial(progress, stage)

    phantoms = map_indexed(functools.partial(_bank_phantom, config, seed), range(config.n_phantoms),
                           session, report("phantom bank"))
    tests = map_indexed(functools.partial(_test_pair, config, seed), range(config.n_test), session,
                        report("test set"))
    full, collimated, opening = (np.stack(part) for part in zip(*tests))
    names = [f"synthetic_{index:04d}" for index in range(config.n_test)]
    return np.concatenate(phantoms).astype(np.float32), UncropPairs(full, collimated, opening, names)


# -- user folders ----------------------------------------------------------------------------------------------


def triples_to_pairs(triples: Sequence[ImageTriple], size: int, config: DataConfig, seed: int,
                     stream: int) -> tuple[UncropPairs, np.ndarray]:
    """User triples at ``size`` px, as pairs plus a (N,) bool array saying which carry the user's own collimated
    image and mask; a triple without them gets a simulated, fixed collimation (seeded by its index)."""
    full, collimated, opening, measured = [], [], [], []
    for index, triple in enumerate(triples):
        if triple.full is None:
            raise InputError("uncrop needs the full-field image of every training or test image", triple.name)
        image = resize_image(triple.full, size)
        if triple.collimated is not None and triple.mask is not None:
            full.append(image)
            collimated.append(resize_image(triple.collimated, size))
            opening.append(resize_image(triple.mask.astype(np.float32), size, nearest=True) > 0.5)
            measured.append(True)
        else:
            parts = simulate_on_display(np.clip(image, 0, 1), config, _rng(seed, stream, index))
            for values, part in zip((full, collimated, opening), parts):
                values.append(part)
            measured.append(False)
    pairs = UncropPairs(np.stack(full), np.stack(collimated), np.stack(opening), [t.name for t in triples])
    return pairs, np.array(measured)


# -- the dataset folder ----------------------------------------------------------------------------------------


@dataclass
class UncropDataset:
    """A loaded dataset folder.

    Attributes:
        kind: ``synthetic`` or ``folder``. config: how it was made. seed: its seed.
        bank: (N, size, size) line integrals (synthetic) or None.
        train: training pairs at the core size (folder) or None; ``measured`` says which hold the user's own
            collimated image.
        test: the test pairs.
    """

    kind: str
    config: DataConfig
    seed: int
    bank: np.ndarray | None
    train: UncropPairs | None
    measured: np.ndarray | None
    test: UncropPairs

    def draw_pair(self, seed: int, stream: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training pair ``index`` of ``stream``: (full, collimated, opening) at the core size, augmented."""
        rng = _rng(seed, stream, index)
        if self.bank is not None:
            parts = simulate_pair(self.bank[int(rng.integers(len(self.bank)))], self.config, rng)
        else:
            pick = int(rng.integers(len(self.train)))
            if self.measured[pick] and rng.random() >= self.config.simulate_fraction:
                parts = (self.train.full[pick], self.train.collimated[pick], self.train.opening[pick])
            else:
                parts = simulate_on_display(self.train.full[pick], self.config, rng)
        full, collimated, opening = _augment(parts, rng)
        return full, collimated, opening

    def batch(self, seed: int, stream: int, index: int, batch_size: int) -> dict[str, torch.Tensor]:
        """Micro-batch ``index``: ``full``, ``collimated`` and ``missing`` (1 outside the opening) as
        (B, 1, H, W) float32 tensors; sample i is pair ``index * batch_size + i`` of ``stream``."""
        pairs = [self.draw_pair(seed, stream, index * batch_size + i) for i in range(batch_size)]
        full, collimated, opening = (np.stack(part)[:, None] for part in zip(*pairs))
        return {"full": torch.from_numpy(full), "collimated": torch.from_numpy(collimated),
                "missing": torch.from_numpy((~opening).astype(np.float32))}


def write_dataset(out: Path, kind: str, config: DataConfig, seed: int, test: UncropPairs,
                  bank: np.ndarray | None = None, train: UncropPairs | None = None,
                  measured: np.ndarray | None = None, sources: dict[str, str] | None = None,
                  overwrite: bool = False) -> Path:
    """Write a dataset folder (arrays, then ``manifest.json``); returns the manifest path."""
    arrays: dict[str, dict[str, np.ndarray]] = {TEST_FILE: test.arrays()}
    if bank is not None:
        arrays[BANK_FILE] = {"line_integrals": bank}
    if train is not None:
        arrays[TRAIN_FILE] = {**train.arrays(), "measured": np.asarray(measured, dtype=bool)}
    manifest = {"task": "uncrop", "kind": kind, "seed": seed, "config": config.model_dump(mode="json"),
                "counts": {"bank": 0 if bank is None else len(bank), "train": 0 if train is None else len(train),
                           "test": len(test)}, "sources": sources or {},
                "units": "images in [0, 1], dark = dense; opening True = measured; bank in line integrals"}
    return write_dataset_folder(out, arrays, manifest, overwrite)


def load_dataset(folder: str | Path) -> UncropDataset:
    """Read a dataset folder written by :func:`write_dataset`, checking every file's sha256."""
    manifest = read_manifest(folder, WHAT, HINT)
    if manifest.get("task") != "uncrop" or manifest.get("kind") not in ("synthetic", "folder"):
        raise InputError(f"not {WHAT} (its manifest is of another task)", folder)
    config = DataConfig.build(manifest["config"], source=Path(folder) / "manifest.json")
    kind = manifest["kind"]
    files = [TEST_FILE, BANK_FILE if kind == "synthetic" else TRAIN_FILE]
    arrays = read_dataset_arrays(folder, manifest, files)
    test = UncropPairs.from_arrays(arrays[TEST_FILE])
    if kind == "synthetic":
        return UncropDataset(kind, config, int(manifest["seed"]), arrays[BANK_FILE]["line_integrals"], None, None,
                             test)
    train = arrays[TRAIN_FILE]
    return UncropDataset(kind, config, int(manifest["seed"]), None, UncropPairs.from_arrays(train),
                         train["measured"].astype(bool), test)
