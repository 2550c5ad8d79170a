"""The scar CLI end to end on a tiny synthetic case, and each bad input -> InputError naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from angiogen.errors import InputError
from angiogen.io.meshes import Mesh, read_mesh, write_mesh
from angiogen.tasks.scar.cli import app

runner = CliRunner()
TINY = ["--node-spacing-mm", "3.5", "--pixel-mm", "2.0", "--kind", "transmural"]


def _invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _input_error(result) -> InputError:
    assert isinstance(result.exception, InputError), result.output
    return result.exception


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("case")
    result = _invoke("prepare", "--synthetic", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def model_path(case_dir: Path) -> Path:
    path = case_dir / "model.safetensors"
    result = _invoke("train", case_dir / "data.npz", "--out", path, "--epochs", "20", "--width", "32")
    assert result.exit_code == 0, result.output
    return path


def test_prepare_train_reconstruct_evaluate(case_dir: Path, model_path: Path, tmp_path: Path) -> None:
    prepared = tmp_path / "user.npz"
    result = _invoke("prepare", "--mesh", case_dir / "mesh.vtu", "--slices", case_dir / "slices.nii.gz",
                     "--out", prepared)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["groups"] > 100

    out_dir = tmp_path / "recon"
    result = _invoke("reconstruct", "--model", model_path, "--mesh", case_dir / "mesh.vtu", "--out-dir", out_dir,
                     "--data", prepared, "--samples", "4")
    assert result.exit_code == 0, result.output
    mesh = read_mesh(out_dir / "scar.vtu")
    for name in ("scar_probability", "scar_uncertainty", "scar_binary"):
        assert mesh.point_data[name].shape == (mesh.n_points,)
    assert np.array_equal(mesh.point_data["scar_binary"] == 1, mesh.point_data["scar_probability"] >= 0.5)
    for name in ("scar_probability.nii.gz", "scar_uncertainty.nii.gz", "scar_3d.png", "scar_slices.png"):
        assert (out_dir / name).stat().st_size > 0

    metrics = tmp_path / "metrics.json"
    result = _invoke("evaluate", case_dir / "data.npz", "--model", model_path, "--out", metrics, "--samples", "4")
    assert result.exit_code == 0, result.output
    report = json.loads(metrics.read_text())
    assert set(report["baselines"]) == {"nearest_slice", "linear", "sdf"}
    assert 0.0 <= report["ours"]["dice"] <= 1.0

    # never overwrite without --overwrite
    before = metrics.read_text()
    result = _invoke("evaluate", case_dir / "data.npz", "--model", model_path, "--out", metrics)
    assert "exists already" in str(_input_error(result)) and metrics.read_text() == before


def test_mesh_and_slices_that_do_not_overlap(case_dir: Path, tmp_path: Path) -> None:
    mesh = read_mesh(case_dir / "mesh.vtu")
    far = tmp_path / "far.vtu"
    write_mesh(far, Mesh(mesh.points + 500.0, mesh.cells, {"node_volume_mm3": mesh.point_data["node_volume_mm3"]}))
    result = _invoke("prepare", "--mesh", far, "--slices", case_dir / "slices.nii.gz", "--out", tmp_path / "d.npz")
    error = _input_error(result)
    assert "slices.nii.gz" in str(error) and "far.vtu" in str(error)
    assert not (tmp_path / "d.npz").exists()


def _write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None) -> Path:
    image = nib.Nifti1Image(data.astype(np.float32), affine)
    if affine is None:
        image.header["qform_code"] = 0
        image.header["sform_code"] = 0
    nib.save(image, path)
    return path


def test_slices_without_spatial_metadata(case_dir: Path, tmp_path: Path) -> None:
    bare = _write_nifti(tmp_path / "bare.nii", np.zeros((4, 4, 2)), None)
    result = _invoke("prepare", "--mesh", case_dir / "mesh.vtu", "--slices", bare, "--out", tmp_path / "d.npz")
    assert "bare.nii" in str(_input_error(result)) and "spatial metadata" in str(result.exception)


def test_slices_with_nan_pixels(case_dir: Path, tmp_path: Path) -> None:
    stack = nib.load(case_dir / "slices.nii.gz")
    data = np.asarray(stack.get_fdata())
    data[3, 3, 1] = np.nan
    bad = _write_nifti(tmp_path / "nan.nii.gz", data, stack.affine)
    result = _invoke("prepare", "--mesh", case_dir / "mesh.vtu", "--slices", bad, "--out", tmp_path / "d.npz")
    assert "nan.nii.gz" in str(_input_error(result)) and "NaN" in str(result.exception)


def test_empty_mesh(case_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.vtk"
    empty.write_text("# vtk DataFile Version 4.2\nempty\nASCII\nDATASET UNSTRUCTURED_GRID\nPOINTS 0 float\n"
                     "CELLS 0 0\nCELL_TYPES 0\n")
    result = _invoke("prepare", "--mesh", empty, "--slices", case_dir / "slices.nii.gz", "--out", tmp_path / "d.npz")
    assert "empty.vtk" in str(_input_error(result))


def test_checkpoint_from_another_case(case_dir: Path, model_path: Path, tmp_path: Path) -> None:
    # same settings, other seed: another mesh (jitter), so another case id
    other_seed = tmp_path / "other_seed"
    from angiogen.tasks.scar.synthetic import CaseSpec, make_case, write_case

    write_case(make_case(CaseSpec(node_spacing_mm=3.5, pixel_mm=2.0, scar_kind="transmural", seed=5)), other_seed)
    result = _invoke("reconstruct", "--model", model_path, "--mesh", other_seed / "mesh.vtu",
                     "--out-dir", tmp_path / "r")
    error = _input_error(result)
    assert "model.safetensors" in str(error) and "another case" in str(error)
    assert not (tmp_path / "r").exists()
    result = _invoke("evaluate", other_seed / "data.npz", "--model", model_path, "--out", tmp_path / "m.json")
    assert "another case" in str(_input_error(result))


def test_fine_tune_from_init_and_a_vtp_mesh_round_trip(case_dir: Path, model_path: Path, tmp_path: Path) -> None:
    from angiogen.tasks.scar.model import load_model

    tuned = tmp_path / "tuned.safetensors"
    result = _invoke("train", case_dir / "data.npz", "--out", tuned, "--epochs", "5", "--init", model_path,
                     "--freeze-layers", "1")
    assert result.exit_code == 0, result.output
    start, fine_tuned = load_model(model_path).net.linear_layers(), load_model(tuned).net.linear_layers()
    assert torch.equal(fine_tuned[0].weight, start[0].weight)  # frozen
    assert not torch.equal(fine_tuned[-1].weight, start[-1].weight)  # trained
    mesh = read_mesh(case_dir / "mesh.vtu")
    write_mesh(tmp_path / "lv.vtp", mesh)
    result = _invoke("reconstruct", "--model", tuned, "--mesh", tmp_path / "lv.vtp", "--out-dir", tmp_path / "recon",
                     "--samples", "2")
    assert result.exit_code == 0, result.output
    written = read_mesh(tmp_path / "recon" / "scar.vtp")  # written back as PolyData, like the input
    np.testing.assert_array_equal(written.points, mesh.points)
    assert written.point_data["scar_probability"].shape == (mesh.n_points,)
