"""The dsa datasets: banks as pure functions of (seed, stream, index), the motion test set, the dataset files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.tasks.dsa.data import (
    TRAIN_PHANTOMS,
    TRAIN_SCENES,
    VAL_PHANTOMS,
    Banks,
    DataConfig,
    MotionTestSet,
    background_views,
    build_motion_test,
    load_dataset,
    motion_case,
    noisy_case_frames,
    validation_pair,
    vessel_views,
    write_dataset,
)
from angiogen.tasks.dsa.pairs import VESSEL_THRESHOLD


def test_tiny_banks_hold_visible_vessels_and_body_backgrounds(tiny_banks: Banks) -> None:
    assert tiny_banks.backgrounds.shape == tiny_banks.vessels.shape == (4, 32, 32)
    assert tiny_banks.backgrounds.dtype == tiny_banks.vessels.dtype == np.float32
    assert tiny_banks.backgrounds.min() >= 0 and 2.0 < tiny_banks.backgrounds.max() < 10.0
    assert tiny_banks.mean == pytest.approx(float(tiny_banks.backgrounds.mean()), rel=1e-6)
    assert tiny_banks.std == pytest.approx(float(tiny_banks.backgrounds.std()), rel=1e-6)
    for vessel in tiny_banks.vessels:  # path lengths in mm: most of a 2-8 mm lumen, on a good share of pixels
        assert vessel.min() >= 0 and 1.0 < vessel.max() < 20.0
        assert (vessel > 0.5).mean() > 0.05
    assert tiny_banks.val_inputs.shape == tiny_banks.val_targets.shape == (2, 32, 32)
    for target in tiny_banks.val_targets:  # iodine line integrals: delta_mu (0.01-0.05 / mm) * path length
        assert target.min() >= 0 and (target > VESSEL_THRESHOLD).mean() > 0.05 and target.max() < 1.0


def test_views_are_a_pure_function_of_seed_stream_and_index(tiny_config: DataConfig, tiny_seed: int,
                                                            tiny_banks: Banks) -> None:
    # the banks, built in one go, hold exactly what each (seed, stream, index) gives on its own
    second = background_views(tiny_config, tiny_seed, TRAIN_PHANTOMS, 1, 2)
    assert np.array_equal(second, tiny_banks.backgrounds[2:4])
    assert np.array_equal(vessel_views(tiny_config, tiny_seed, TRAIN_SCENES, 1, 2), tiny_banks.vessels[2:4])
    again = background_views(tiny_config, tiny_seed, TRAIN_PHANTOMS, 1, 2)
    assert np.array_equal(again, second)
    assert not np.array_equal(background_views(tiny_config, tiny_seed, TRAIN_PHANTOMS, 0, 2), second)
    assert not np.array_equal(background_views(tiny_config, tiny_seed, VAL_PHANTOMS, 1, 2), second)
    assert not np.array_equal(background_views(tiny_config, tiny_seed + 1, TRAIN_PHANTOMS, 1, 2), second)
    assert np.array_equal(vessel_views(tiny_config, tiny_seed, TRAIN_SCENES, 0, 1),
                          vessel_views(tiny_config, tiny_seed, TRAIN_SCENES, 0, 1))
    live, target = validation_pair(tiny_config, tiny_seed, 1)
    assert np.array_equal(live, tiny_banks.val_inputs[1]) and np.array_equal(target, tiny_banks.val_targets[1])


def test_ct_torso_backgrounds_show_the_spine_between_the_lungs(tiny_config: DataConfig, tiny_seed: int) -> None:
    """With ct_torso_fraction 1 every phantom is the voxel CT torso: near-AP views put the spine (dense) in the
    middle columns, with the lungs (air) on both sides; with 0, the analytic anatomies come back unchanged."""
    torso_only = tiny_config.model_copy(update={"ct_torso_fraction": 1.0})
    views = background_views(torso_only, tiny_seed, TRAIN_PHANTOMS, 0, 3)
    assert views.shape == (3, 32, 32) and views.dtype == np.float32 and np.isfinite(views).all()
    columns = views.mean(axis=1)  # (views, cols): attenuation profile across the body
    middle, lateral = columns[:, 13:19].mean(axis=1), np.r_["1", columns[:, 5:9], columns[:, 23:27]].mean(axis=1)
    assert np.all(middle > lateral + 0.3), (middle, lateral)
    analytic = tiny_config.model_copy(update={"ct_torso_fraction": 0.0})
    assert not np.array_equal(background_views(analytic, tiny_seed, TRAIN_PHANTOMS, 0, 3), views)


def test_validation_live_is_held_out_background_plus_target(tiny_config: DataConfig, tiny_seed: int,
                                                            tiny_banks: Banks) -> None:
    for index in range(2):
        background = background_views(tiny_config, tiny_seed, VAL_PHANTOMS, index, 1)[0].astype(np.float64)
        noise = tiny_banks.val_inputs[index] - tiny_banks.val_targets[index] - background
        # dose >= 5e4 photons: noise sd <= sqrt(e^p / 5e4) per pixel, zero mean
        bound = np.sqrt(np.exp(background) / 5e4)
        assert np.sqrt(np.mean((noise / bound) ** 2)) < 1.1
        assert abs(noise.mean()) < 5 * bound.mean() / 32
        assert not any(np.array_equal(background, bank) for bank in tiny_banks.backgrounds)  # held out


def test_motion_moves_the_mask_and_no_motion_keeps_it(tiny_config: DataConfig, tiny_seed: int,
                                                      tiny_test: MotionTestSet) -> None:
    assert len(tiny_test) == 2 and tiny_test.doses == [5e4, 1.5e5, 5e5]
    for case in range(2):
        assert not np.array_equal(tiny_test.mask_a[case], tiny_test.mask_b[case])
        assert np.abs(tiny_test.mask_a[case] - tiny_test.mask_b[case]).max() > 0.01
        assert tiny_test.vessel_b[case].min() >= 0 and (tiny_test.vessel_b[case] > VESSEL_THRESHOLD).mean() > 0.05
    still_config = tiny_config.model_copy(update={"motion_translation_mm": 0.0, "motion_rotation_deg": 0.0})
    still = build_motion_test(still_config, tiny_seed)
    assert np.array_equal(still.mask_a, still.mask_b)
    assert np.array_equal(still.mask_a, tiny_test.mask_a)  # same anatomy and view, only the motion is gone
    assert np.all(still.vessel_b >= 0)
    a, b, v = motion_case(tiny_config, tiny_seed, 1)
    assert np.array_equal(a, tiny_test.mask_a[1]) and np.array_equal(v, tiny_test.vessel_b[1])


def test_noisy_case_frames_are_seeded_and_live_is_static_mask_plus_vessel(tiny_test: MotionTestSet) -> None:
    first, again = noisy_case_frames(tiny_test, 1, 0), noisy_case_frames(tiny_test, 1, 0)
    assert set(first) == {"live", "mask", "static_mask"}
    for name in first:
        assert np.array_equal(first[name], again[name])
    other_dose = noisy_case_frames(tiny_test, 1, 2)
    assert not np.array_equal(other_dose["live"], first["live"])
    # an independent draw per frame: the two masks' noise differs even without motion
    still = dataclasses.replace(tiny_test, mask_a=tiny_test.mask_b)
    frames = noisy_case_frames(still, 0, 0)
    assert not np.array_equal(frames["mask"], frames["static_mask"])
    # at a dose where noise vanishes, live - static mask is the vessel image
    clean = noisy_case_frames(dataclasses.replace(tiny_test, doses=[1e11]), 0, 0)
    np.testing.assert_allclose(clean["live"] - clean["static_mask"], tiny_test.vessel_b[0], atol=3e-4)
    np.testing.assert_allclose(clean["mask"], tiny_test.mask_a[0], atol=3e-4)
    # at the lowest test dose the noise is Poisson: var = e^p / N0 per pixel
    residual = (first["static_mask"] - tiny_test.mask_b[1]) / np.sqrt(np.exp(tiny_test.mask_b[1]) / 5e4)
    assert np.std(residual) == pytest.approx(1.0, abs=0.12)


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_dataset_round_trip(tmp_path: Path, tiny_config: DataConfig, tiny_seed: int, tiny_banks: Banks,
                            tiny_test: MotionTestSet) -> None:
    manifest = write_dataset(tmp_path / "data", tiny_config, tiny_seed, tiny_banks, tiny_test)
    assert manifest == tmp_path / "data" / "manifest.json"
    assert json.loads(manifest.read_text())["counts"] == {"backgrounds": 4, "vessels": 4, "validation": 2,
                                                          "test_cases": 2}
    config, banks, test = load_dataset(tmp_path / "data")
    assert config == tiny_config
    for name in ("backgrounds", "vessels", "val_inputs", "val_targets"):
        assert np.array_equal(getattr(banks, name), getattr(tiny_banks, name))
        assert getattr(banks, name).dtype == np.float32
    assert (banks.mean, banks.std) == (tiny_banks.mean, tiny_banks.std)
    for name in ("mask_a", "mask_b", "vessel_b"):
        assert np.array_equal(getattr(test, name), getattr(tiny_test, name))
    assert test.doses == tiny_test.doses and test.seed == tiny_seed
    # the loaded test set draws the same noise
    assert np.array_equal(noisy_case_frames(test, 0, 1)["live"], noisy_case_frames(tiny_test, 0, 1)["live"])


def test_truncated_or_missing_dataset_files_are_named(tmp_path: Path, tiny_config: DataConfig, tiny_banks: Banks,
                                                      tiny_test: MotionTestSet) -> None:
    folder = tmp_path / "data"
    write_dataset(folder, tiny_config, 0, tiny_banks, tiny_test)
    banks_file = folder / "banks.npz"
    banks_file.write_bytes(banks_file.read_bytes()[: banks_file.stat().st_size // 2])
    with pytest.raises(InputError, match="banks.npz") as error:
        load_dataset(folder)
    assert error.value.path == banks_file
    write_dataset(folder, tiny_config, 0, tiny_banks, tiny_test, overwrite=True)
    (folder / "motion_test.npz").unlink()
    with pytest.raises(InputError, match="motion_test.npz"):
        load_dataset(folder)
    with pytest.raises(InputError, match="manifest"):
        load_dataset(tmp_path)  # not a dataset folder
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="manifest.json"):
        load_dataset(folder)


def test_existing_dataset_is_kept_without_overwrite(tmp_path: Path, tiny_config: DataConfig, tiny_banks: Banks,
                                                    tiny_test: MotionTestSet) -> None:
    folder = tmp_path / "data"
    write_dataset(folder, tiny_config, 0, tiny_banks, tiny_test)
    before = _files(folder)
    smaller = dataclasses.replace(tiny_banks, backgrounds=tiny_banks.backgrounds[:1])
    with pytest.raises(InputError, match="exists"):
        write_dataset(folder, tiny_config, 1, smaller, tiny_test)
    assert _files(folder) == before
    # only one of the three files there (a user's file): still refused, and nothing else is written
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "manifest.json").write_text("mine")
    with pytest.raises(InputError, match="manifest.json"):
        write_dataset(lone, tiny_config, 0, tiny_banks, tiny_test)
    assert _files(lone) == {"manifest.json": b"mine"}
    write_dataset(folder, tiny_config, 1, smaller, tiny_test, overwrite=True)
    _, banks, test = load_dataset(folder)
    assert len(banks.backgrounds) == 1 and test.seed == 1
