"""CT-like torso phantom: HU per organ, breathing and rigid motion."""

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.synth.torso import DIAPHRAGM_TRAVEL_MM, LABELS, heart_to_world, torso_phantom


@pytest.fixture(scope="module")
def torso():
    return torso_phantom((64, 64, 64), 5.0, seed=3)


def test_hu_ranges_per_organ(torso):
    hu, labels = torso.hu, torso.labels
    assert np.median(hu[labels == LABELS["lung"]]) < -700 and np.percentile(hu[labels == LABELS["lung"]], 99) < -500
    spine = labels == LABELS["vertebra"]
    assert spine.sum() > 100 and np.percentile(hu[spine], 1) > 300
    for organ in ("muscle", "soft_tissue", "myocardium", "blood", "liver", "aorta"):
        values = hu[labels == LABELS[organ]]
        assert values.size > 0 and 0 < np.median(values) < 100, organ
    assert np.median(hu[labels == LABELS["myocardium"]]) > np.median(hu[labels == LABELS["blood"]])
    assert np.all(hu[labels == LABELS["air"]] == -1000)
    assert np.median(hu[labels == LABELS["fat"]]) < -50


def test_grid_is_centred_on_isocentre_and_heart(torso):
    centre = torso.affine @ np.r_[(np.array(torso.hu.shape) - 1) / 2, 1]
    assert np.allclose(centre[:3], 0)
    assert torso.labels[32, 32, 32] in (LABELS["myocardium"], LABELS["blood"])


def test_breathing_lowers_the_diaphragm_and_moves_the_heart():
    expired = torso_phantom((48, 48, 96), 5.0, seed=0, breathing=0.0, texture=False)
    inspired = torso_phantom((48, 48, 96), 5.0, seed=0, breathing=1.0, texture=False)

    def lung_bottom_mm(phantom):  # lowest lung voxel (z, mm) in the right lung column
        k = np.nonzero((phantom.labels[12] == LABELS["lung"]).any(axis=0))[0].min()
        return (phantom.affine @ np.r_[0, 0, k, 1])[2]

    drop = lung_bottom_mm(expired) - lung_bottom_mm(inspired)
    assert drop == pytest.approx(DIAPHRAGM_TRAVEL_MM, abs=5.0 + 1e-9)
    assert (inspired.labels == LABELS["lung"]).sum() > (expired.labels == LABELS["lung"]).sum()
    _rotation, translation = heart_to_world(1.0)
    assert translation[2] < 0 and np.allclose(inspired.heart_translation_mm, translation)


def test_rigid_shift_moves_the_whole_body():
    still = torso_phantom((40, 40, 40), 5.0, seed=0, texture=False)
    moved = torso_phantom((40, 40, 40), 5.0, seed=0, texture=False, shift_mm=(10.0, 0.0, 0.0))
    assert np.array_equal(moved.labels[4:-4], still.labels[2:-6])  # 10 mm = 2 voxels along x


def _centroid_mm(phantom, organ: str) -> np.ndarray:
    """World (x, y, z) mm of the mean voxel centre labelled ``organ``."""
    voxels = np.argwhere(phantom.labels == LABELS[organ])
    return (phantom.affine @ np.c_[voxels, np.ones(len(voxels))].T)[:3].mean(axis=1)


@pytest.mark.parametrize("angle_deg", [20.0, -35.0])
def test_rigid_rotation_turns_the_spine_about_the_isocentre(angle_deg):
    still = torso_phantom((48, 48, 24), 6.0, seed=0, texture=False)
    rotated = torso_phantom((48, 48, 24), 6.0, seed=0, texture=False, rotation_deg=(0, 0, angle_deg))
    before, after = _centroid_mm(still, "vertebra"), _centroid_mm(rotated, "vertebra")
    turn = np.radians(angle_deg)
    expected = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    assert np.linalg.norm(after - expected @ before) < 2.0  # a third of a voxel
    moved_deg = np.degrees(np.arctan2(after[1], after[0]) - np.arctan2(before[1], before[0]))
    assert moved_deg == pytest.approx(angle_deg, abs=1.0)
    assert np.linalg.norm(after[:2]) == pytest.approx(np.linalg.norm(before[:2]), abs=2.0)  # about the isocentre
    assert np.allclose(rotated.heart_rotation, expected)


def test_seeded_texture_is_deterministic():
    a = torso_phantom((24, 24, 24), 10.0, seed=1)
    assert np.array_equal(a.hu, torso_phantom((24, 24, 24), 10.0, seed=1).hu)
    assert not np.array_equal(a.hu, torso_phantom((24, 24, 24), 10.0, seed=2).hu)


@pytest.mark.parametrize("kwargs", [dict(spacing_mm=0.0), dict(shape=(0, 4, 4)), dict(shape=(2048, 2048, 2048)),
                                    dict(breathing=1.5)])
def test_bad_input(kwargs):
    with pytest.raises(InputError):
        torso_phantom(**{"shape": (8, 8, 8), "spacing_mm": 5.0, **kwargs})
