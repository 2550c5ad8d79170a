"""uncrop datasets: the synthetic bank and test set, on-the-fly pairs, user folders, the dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.io.image_triples import ImageTriple
from angiogen.tasks.uncrop.data import (TRAIN_PAIRS, VAL_PAIRS, DataConfig, UncropDataset, build_synthetic,
                                        load_dataset, triples_to_pairs, write_dataset)


def test_build_synthetic_runs_in_process_without_a_session() -> None:
    """The documented default (``session=None``: no Dask) must compute in this process."""
    config = DataConfig(size=32, test_size=32, n_phantoms=1, views_per_phantom=1, n_test=1, n_val=1)
    bank, test = build_synthetic(config, 0)
    assert bank.shape == (1, 32, 32) and len(test) == 1


def test_the_synthetic_set_is_a_function_of_the_seed(smoke_config: DataConfig, smoke_dataset: UncropDataset) -> None:
    bank, test = build_synthetic(smoke_config, 3, "synchronous")  # SEED of conftest
    assert np.array_equal(bank, smoke_dataset.bank)
    assert bank.shape == (6 * 2, 32, 32) and bank.dtype == np.float32
    assert test.full.shape == test.collimated.shape == test.opening.shape == (4, 64, 64)
    assert np.array_equal(test.collimated, smoke_dataset.test.collimated)
    assert test.names == [f"synthetic_{i:04d}" for i in range(4)]
    fractions = test.opening.mean(axis=(1, 2))
    assert np.all((fractions >= 0.02) & (fractions <= 0.5))
    for full, collimated, opening in zip(test.full, test.collimated, test.opening):
        assert 0 <= full.min() and full.max() <= 1 and 0 <= collimated.min() and collimated.max() <= 1
        assert collimated[~opening].mean() < full[~opening].mean()  # darker behind the blades


def test_training_pairs_are_pure_functions_of_their_index(smoke_dataset: UncropDataset) -> None:
    first = smoke_dataset.batch(1, TRAIN_PAIRS, 2, 3)
    again = smoke_dataset.batch(1, TRAIN_PAIRS, 2, 3)
    assert set(first) == {"full", "collimated", "missing"}
    for name, tensor in first.items():
        assert tensor.shape == (3, 1, 32, 32) and tensor.dtype.is_floating_point
        assert np.array_equal(tensor.numpy(), again[name].numpy())
    # sample i of micro-batch 2 is pair 2 * 3 + i
    full, collimated, opening = smoke_dataset.draw_pair(1, TRAIN_PAIRS, 7)
    assert np.array_equal(first["full"][1, 0].numpy(), full)
    assert np.array_equal(first["missing"][1, 0].numpy(), (~opening).astype(np.float32))
    other = smoke_dataset.batch(1, VAL_PAIRS, 2, 3)
    assert not np.array_equal(other["full"].numpy(), first["full"].numpy())
    assert set(np.unique(first["missing"].numpy())) == {0.0, 1.0}


def test_the_dataset_folder_round_trips_and_checks_its_files(smoke_folder: Path, tmp_path: Path,
                                                             smoke_dataset: UncropDataset) -> None:
    manifest = json.loads((smoke_folder / "manifest.json").read_text())
    assert manifest["task"] == "uncrop" and manifest["kind"] == "synthetic"
    assert manifest["counts"] == {"bank": 12, "train": 0, "test": 4}
    assert smoke_dataset.kind == "synthetic" and smoke_dataset.seed == 3 and smoke_dataset.train is None
    assert smoke_dataset.config.size == 32 and smoke_dataset.test.opening.dtype == bool
    with pytest.raises(InputError, match="exist"):
        write_dataset(smoke_folder, "synthetic", smoke_dataset.config, 3, smoke_dataset.test, bank=smoke_dataset.bank)
    # a damaged copy is refused
    copy = tmp_path / "copy"
    write_dataset(copy, "synthetic", smoke_dataset.config, 3, smoke_dataset.test, bank=smoke_dataset.bank)
    data = bytearray((copy / "test.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "test.npz").write_bytes(bytes(data))
    with pytest.raises(InputError, match="test.npz"):
        load_dataset(copy)
    with pytest.raises(InputError):
        load_dataset(tmp_path / "nowhere")


def test_user_triples_become_pairs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [rng.uniform(0.2, 0.8, (64, 64)).astype(np.float32) for _ in range(3)]
    mask = np.zeros((64, 64), bool)
    mask[16:40, 10:50] = True
    triples = [ImageTriple("a", images[0], images[0] * 0.5, mask),  # the user's own collimated image and mask
               ImageTriple("b", images[1], None, None),  # collimation simulated
               ImageTriple("c", images[2], None, None)]
    config = DataConfig(size=32, test_size=32)
    pairs, measured = triples_to_pairs(triples, 32, config, seed=1, stream=TRAIN_PAIRS)
    assert measured.tolist() == [True, False, False] and pairs.names == ["a", "b", "c"]
    assert pairs.full.shape == pairs.collimated.shape == pairs.opening.shape == (3, 32, 32)
    assert np.array_equal(pairs.opening[0], mask[::2, ::2])
    again, _ = triples_to_pairs(triples, 32, config, seed=1, stream=TRAIN_PAIRS)
    assert np.array_equal(again.collimated, pairs.collimated)
    with pytest.raises(InputError, match="full-field"):
        triples_to_pairs([ImageTriple("d", None, images[0], mask)], 32, config, 1, TRAIN_PAIRS)
    write_dataset(tmp_path / "folder", "folder", config, 1, pairs, train=pairs, measured=measured)
    loaded = load_dataset(tmp_path / "folder")
    assert loaded.kind == "folder" and loaded.bank is None and loaded.measured.tolist() == [True, False, False]
    full, collimated, opening = loaded.draw_pair(0, TRAIN_PAIRS, 0)
    assert full.shape == collimated.shape == opening.shape == (32, 32)


def test_bad_settings_are_refused() -> None:
    for changes, words in [({"anatomies": ["tail"]}, "anatomies"), ({"opening_fraction": (0.3, 0.2)}, "opening"),
                           ({"opening_fraction": (0.3, 1.0)}, "below 1")]:
        with pytest.raises(InputError, match=words):
            DataConfig(**changes).check()
