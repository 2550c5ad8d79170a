"""Dataset folders: arrays round-trip, digests are checked, nothing is overwritten without asking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.io.datasets import MANIFEST_FILE, read_dataset_arrays, read_manifest, write_dataset_folder


def _write(folder: Path, overwrite: bool = False) -> dict:
    arrays = {"a.npz": {"x": np.arange(6.0).reshape(2, 3)}, "b.npz": {"y": np.ones(3, np.float32)}}
    write_dataset_folder(folder, arrays, {"format": "test/1", "counts": {"a": 2}}, overwrite)
    return arrays


def test_round_trip_with_digests(tmp_path: Path) -> None:
    arrays = _write(tmp_path)
    manifest = read_manifest(tmp_path, "a test folder", "make one")
    assert manifest["format"] == "test/1" and set(manifest["sha256"]) == {"a.npz", "b.npz"}
    loaded = read_dataset_arrays(tmp_path, manifest, ["a.npz", "b.npz"])
    np.testing.assert_array_equal(loaded["a.npz"]["x"], arrays["a.npz"]["x"])
    assert loaded["b.npz"]["y"].dtype == np.float32


def test_changed_missing_and_absent_manifest_are_refused(tmp_path: Path) -> None:
    _write(tmp_path)
    manifest = read_manifest(tmp_path, "a test folder", "make one")
    (tmp_path / "a.npz").write_bytes((tmp_path / "a.npz").read_bytes()[:-10])
    with pytest.raises(InputError, match="sha256"):
        read_dataset_arrays(tmp_path, manifest, ["a.npz"])
    (tmp_path / "b.npz").unlink()
    with pytest.raises(InputError, match="missing dataset file"):
        read_dataset_arrays(tmp_path, manifest, ["b.npz"])
    (tmp_path / MANIFEST_FILE).unlink()
    with pytest.raises(InputError, match=r"not a test folder \(no manifest.json\); make one"):
        read_manifest(tmp_path, "a test folder", "make one")


def test_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    _write(tmp_path)
    before = (tmp_path / "a.npz").read_bytes()
    with pytest.raises(InputError):
        write_dataset_folder(tmp_path, {"a.npz": {"x": np.zeros(1)}}, {})
    assert (tmp_path / "a.npz").read_bytes() == before
    _write(tmp_path, overwrite=True)
