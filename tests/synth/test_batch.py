"""Batch synthesis on Dask: shards equal one run byte for byte; the CLI refuses bad input and writes nothing."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from angiogen.cli import app
from angiogen.cli import main as cli_main
from angiogen.errors import InputError
from angiogen.synth.batch import run_batch

ANGIO = {"torso_shape": (32, 32, 32), "torso_spacing_mm": 9.0, "vessel_spacing_mm": 1.5, "detector_px": 32,
         "pixel_spacing_mm": 6.0, "n_frames": 2, "frame_time_s": 0.5}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind, params", [
    ("vessels", {"generator": "lsystem", "n_iter": 4, "spacing_mm": 1.0}),
    ("phantom", {"shape": (16, 16, 16), "spacing_mm": 20.0}),
    ("angio", ANGIO),
])
def test_shards_equal_one_run_byte_for_byte(tmp_path, kind, params):
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    files = run_batch(kind, params, seed=7, out_dir=whole, n=8, start=0, scheduler="synchronous")
    run_batch(kind, params, seed=7, out_dir=shards, n=4, start=0, scheduler="synchronous")
    run_batch(kind, params, seed=7, out_dir=shards, n=4, start=4, scheduler="synchronous")
    assert len(files) == len(_tree(whole)) and all(path.exists() for path in files)
    assert _tree(whole) == _tree(shards)
    assert len({_tree(whole)[f"{kind}_000000/sidecar.json"], _tree(whole)[f"{kind}_000001/sidecar.json"]}) == 2


def test_local_cluster_matches_synchronous(tmp_path):
    params = {"generator": "coronary", "spacing_mm": 1.0}
    run_batch("vessels", params, seed=1, out_dir=tmp_path / "a", n=2, scheduler="synchronous")
    run_batch("vessels", params, seed=1, out_dir=tmp_path / "b", n=2, scheduler="local", workers=1)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_existing_files_need_overwrite(tmp_path):
    params = {"shape": (8, 8, 8), "spacing_mm": 40.0}
    run_batch("phantom", params, seed=0, out_dir=tmp_path, scheduler="synchronous")
    with pytest.raises(InputError, match="--overwrite"):
        run_batch("phantom", params, seed=0, out_dir=tmp_path, n=2, scheduler="synchronous")
    assert not (tmp_path / "phantom_000001").exists()
    run_batch("phantom", params, seed=0, out_dir=tmp_path, scheduler="synchronous", overwrite=True)


@pytest.mark.parametrize("args", [
    ["synth", "angio", "--sod-mm", "1200", "--sid-mm", "1000"],
    ["synth", "angio", "--pixel-mm", "0"],
    ["synth", "angio", "--detector-px", "100000"],
    ["synth", "phantom", "--spacing-mm", "-1"],
    ["synth", "phantom", "--size", "5000"],
    ["synth", "vessels", "--generator", "lsystem", "--n-iter", "2"],
    ["synth", "vessels", "--spacing-mm", "0"],
    ["synth", "vessels", "--n", "0"],
])
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args):
    out = tmp_path / "out"
    code = cli_main([*args, "--out", str(out), "--scheduler", "synchronous"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_cli_writes_a_vessel_sample(tmp_path):
    result = CliRunner().invoke(app, ["--quiet", "--seed", "3", "synth", "vessels", "--out", str(tmp_path),
                                      "--spacing-mm", "1.0", "--scheduler", "synchronous"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "vessels_000000")) == [
        "centerlines.vtk", "occupancy.nii.gz", "sidecar.json", "tree.json"]
