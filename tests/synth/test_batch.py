"""Batch synthesis on Dask: shards equal one run byte for byte; the CLI refuses bad input and writes nothing."""

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from angiogen.cli import app
from angiogen.cli import main as cli_main
from angiogen.errors import InputError
from angiogen.synth.batch import CONFIGS, AngioBatchConfig, VesselBatchConfig, run_batch, validate

ANGIO = {"torso_shape": (32, 32, 32), "torso_spacing_mm": 9.0, "vessel_spacing_mm": 1.5, "detector_px": 32,
         "pixel_spacing_mm": 6.0, "n_frames": 2, "frame_time_s": 0.5}


# The full parameter dicts of the former hand validator for empty params (the sidecars' "params").
OLD_DEFAULTS = {
    "vessels": {"generator": "coronary", "side": "left", "n_iter": 7, "variant": "random", "spacing_mm": 0.5,
                "surface": False},
    "phantom": {"shape": [128, 128, 128], "spacing_mm": 2.5, "breathing": 0.0, "texture": True},
    "angio": {"view": "RAO30/CRA20", "n_frames": 8, "frame_time_s": 1.0 / 7.5, "photons_per_pixel": 1.5e5,
              "breathing_amplitude": 0.5, "side": "left", "detector_px": 128, "pixel_spacing_mm": 2.0,
              "sid_mm": 1000.0, "sod_mm": 750.0, "torso_shape": [96, 96, 96], "torso_spacing_mm": 3.2,
              "vessel_spacing_mm": 0.75},
}


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


@pytest.mark.parametrize("kind", sorted(OLD_DEFAULTS))
def test_config_defaults_equal_the_former_parameter_dicts(kind):
    for full in (CONFIGS[kind]().model_dump(), validate(kind, {})):
        assert full == OLD_DEFAULTS[kind]
        assert {name: type(value) for name, value in full.items()} == {
            name: type(value) for name, value in OLD_DEFAULTS[kind].items()}


def test_validate_resolves_spacing_and_shapes_like_before():
    assert VesselBatchConfig(generator="willis").spacing_mm == 0.6
    assert validate("vessels", {"generator": "lsystem", "spacing_mm": None})["spacing_mm"] == 0.5
    assert validate("vessels", {"generator": "willis", "spacing_mm": 1.2})["spacing_mm"] == 1.2
    full = validate("angio", {"torso_shape": (32, 16, 8), "photons_per_pixel": None})
    assert full["torso_shape"] == [32, 16, 8] and full["photons_per_pixel"] is None
    assert validate("phantom", {"shape": (8, 8, 8)})["shape"] == [8, 8, 8]


def test_configs_are_frozen():
    config = AngioBatchConfig()
    with pytest.raises(ValidationError):
        config.sod_mm = 2000.0  # type: ignore[misc]


@pytest.mark.parametrize("kind, params, named", [
    ("vessels", {"colour": "red"}, "'colour'"),
    ("phantom", {"spacing_mm": -1.0}, "'spacing_mm'"),
    ("vessels", {"spacing_mm": -1.0}, "'spacing_mm'"),
    ("vessels", {"spacing_mm": float("inf")}, "'spacing_mm'"),
    ("vessels", {"generator": "voronoi"}, "'generator'"),
    ("vessels", {"side": "up"}, "'side'"),
    ("vessels", {"generator": "lsystem", "n_iter": 2}, "n_iter 2 < 3"),
    ("vessels", {"generator": "lsystem", "n_iter": 13}, "n_iter 13 > 12"),
    ("vessels", {"generator": "willis", "spacing_mm": 0.1}, "willis spacing_mm 0.1"),
    ("vessels", {"variant": "missing_everything"}, "variant must be"),
    ("phantom", {"shape": (8, 8)}, "grid shape must be three positive integers"),
    ("phantom", {"shape": (600, 600, 600)}, "torso grid (600, 600, 600)"),
    ("phantom", {"breathing": 1.5}, "'breathing'"),
    ("angio", {"sod_mm": 1200.0}, "sod_mm (1200) must be smaller than sid_mm (1000)"),
    ("angio", {"sod_mm": 1000.0}, "sod_mm (1000) must be smaller than sid_mm (1000)"),
    ("angio", {"sid_mm": -1.0}, "sid_mm"),
    ("angio", {"view": "SIDEWAYS"}, "view 'SIDEWAYS'"),
    ("angio", {"detector_px": 4097}, "'detector_px'"),
    ("angio", {"n_frames": 0}, "n_frames must be a whole number"),
    ("angio", {"frame_time_s": float("nan")}, "'frame_time_s'"),
    ("angio", {"photons_per_pixel": 0.0}, "'photons_per_pixel'"),
    ("angio", {"breathing_amplitude": -0.1}, "'breathing_amplitude'"),
    ("angio", {"vessel_spacing_mm": 0.05}, "'vessel_spacing_mm'"),
    ("angio", {"torso_shape": (0, 8, 8)}, "grid shape must be three positive integers"),
    ("angio", {"pixel_spacing_mm": 0.0}, "'pixel_spacing_mm'"),
])
def test_bad_parameters_raise_one_line_input_error_naming_them(kind, params, named):
    with pytest.raises(InputError) as caught:
        validate(kind, params)
    assert named in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


@pytest.mark.parametrize("kind, start, n", [("angiography", 0, 1), ("phantom", 0, 0), ("phantom", -1, 1),
                                            ("phantom", 0, 1.5)])
def test_bad_kind_or_range_raises_input_error(kind, start, n):
    with pytest.raises(InputError):
        validate(kind, {}, start, n)
