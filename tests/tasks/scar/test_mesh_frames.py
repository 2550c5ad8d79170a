"""Meshes in LPS (ITK, SimpleITK, CemrgApp) or RAS: detected from the data, kept in data.npz and the model, written
back in their own frame; every output opens in VTK's readers and nibabel; bad pairs stop with one line."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner
from vtkmodules.util.numpy_support import vtk_to_numpy

from angiogen.errors import InputError
from angiogen.io.coordinates import points_from_ras
from angiogen.io.mesh_frame import decide_mesh_frame, frame_fit
from angiogen.io.meshes import Mesh, read_mesh, write_mesh
from angiogen.tasks.scar.cli import app
from angiogen.tasks.scar.data import load_data, prepare_case
from angiogen.tasks.scar.model import load_model
from angiogen.tasks.scar.synthetic import CaseSpec, make_case, write_case
from vtk_checks import read_with_vtk

runner = CliRunner()
SMALL = dict(node_spacing_mm=3.5, pixel_mm=2.0, scar_kind="transmural")


def _invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def lps_case(tmp_path_factory) -> Path:
    """A tetrahedral case whose mesh.vtk is in LPS, as ITK writes it, beside a RAS NIfTI stack."""
    out = tmp_path_factory.mktemp("lps")
    write_case(make_case(CaseSpec(**SMALL, tetra=True, seed=3)), out, mesh_frame="lps", mesh_name="mesh.vtk")
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("written", ["ras", "lps"])
def test_auto_picks_the_frame_the_mesh_was_written_in(seed: int, written: str) -> None:
    case = make_case(CaseSpec(**SMALL, seed=seed, tilt_deg=5.0 * seed))
    points = points_from_ras(case.data.points_mm, written)
    assert decide_mesh_frame(points, case.data.slices, "auto", "mesh.vtk", "slices.nii.gz") == written
    other = {"ras": "lps", "lps": "ras"}[written]
    right, wrong = (frame_fit(points, case.data.slices, frame) for frame in (written, other))
    assert right.nodes_in_stack > 0.95 and right.score > 2 * wrong.score


def test_a_phantom_centred_on_the_isocentre_is_too_close_to_call() -> None:
    case = make_case(CaseSpec(**SMALL, pose="phantom"))
    with pytest.raises(InputError, match="too closely to tell apart.*--mesh-frame"):
        decide_mesh_frame(case.data.points_mm, case.data.slices, "auto", "mesh.vtk", "slices.nii.gz")
    assert decide_mesh_frame(case.data.points_mm, case.data.slices, "lps", "mesh.vtk", "slices.nii.gz") == "lps"


def test_lps_mesh_end_to_end(lps_case: Path, tmp_path: Path) -> None:
    data_path = tmp_path / "data.npz"
    result = _invoke("prepare", "--mesh", lps_case / "mesh.vtk", "--slices", lps_case / "slices.nii.gz",
                     "--out", data_path)
    assert result.exit_code == 0, result.output
    assert "mesh frame LPS, detected" in result.output
    prepared, synthetic = load_data(data_path), load_data(lps_case / "data.npz")
    assert prepared.mesh_frame == synthetic.mesh_frame == "lps"
    np.testing.assert_allclose(prepared.points_mm, synthetic.points_mm)  # back in the slices' RAS frame
    # the same nodes written in RAS give the same training data
    lps_mesh = read_mesh(lps_case / "mesh.vtk")
    ras_path = write_mesh(tmp_path / "mesh_ras.vtk", Mesh(points_from_ras(lps_mesh.points, "lps"), lps_mesh.cells,
                                                         lps_mesh.point_data))
    from_ras = prepare_case(ras_path, lps_case / "slices.nii.gz")
    assert from_ras.mesh_frame == "ras"
    np.testing.assert_array_equal(from_ras.groups.member_node, prepared.groups.member_node)
    np.testing.assert_array_equal(from_ras.groups.target, prepared.groups.target)

    # an explicit frame is obeyed; taken as RAS, this mesh falls beside the slices' signal
    wrong = prepare_case(lps_case / "mesh.vtk", lps_case / "slices.nii.gz", mesh_frame="ras")
    assert wrong.mesh_frame == "ras"
    np.testing.assert_allclose(wrong.points_mm, lps_mesh.points)
    fits = {frame: frame_fit(lps_mesh.points, prepared.slices, frame) for frame in ("ras", "lps")}
    assert fits["lps"].score > 2 * fits["ras"].score

    model = tmp_path / "model.safetensors"
    assert _invoke("train", data_path, "--out", model, "--epochs", "10", "--width", "32").exit_code == 0
    assert load_model(model).mesh_frame == "lps"
    out_dir = tmp_path / "recon"
    result = _invoke("reconstruct", "--model", model, "--mesh", lps_case / "mesh.vtk", "--out-dir", out_dir,
                     "--data", data_path, "--samples", "2")
    assert result.exit_code == 0, result.output
    written = read_mesh(out_dir / "scar.vtk")
    np.testing.assert_array_equal(written.points, read_mesh(lps_case / "mesh.vtk").points)  # the input's own frame
    assert len(written.cells["tetra"]) > 0

    # VTK's legacy reader (ParaView, PyVista) keeps every array, scar_binary (uint8) included
    grid = read_with_vtk(out_dir / "scar.vtk")
    for name in ("scar_probability", "scar_uncertainty", "scar_binary", "node_volume_mm3", "scar_truth"):
        array = grid.GetPointData().GetArray(name)
        assert array is not None, name
        np.testing.assert_allclose(vtk_to_numpy(array), written.point_data[name], rtol=1e-6)
    # the NIfTI volumes are RAS and hold the field where the nodes are (in RAS)
    volume = nib.load(out_dir / "scar_probability.nii.gz")

    def agreement(points_mm: np.ndarray) -> tuple[float, float]:
        voxels = np.rint(nib.affines.apply_affine(np.linalg.inv(volume.affine), points_mm)).astype(int)
        inside = np.all((voxels >= 0) & (voxels < volume.shape), axis=1)
        sampled = np.asarray(volume.dataobj)[tuple(voxels[inside].T)]
        return inside.mean(), np.corrcoef(sampled, written.point_data["scar_probability"][inside])[0, 1]

    inside, correlation = agreement(prepared.points_mm)
    assert inside > 0.99 and correlation > 0.6
    assert agreement(written.points)[1] < 0.3  # the volume read at the LPS numbers would not match


def test_vtu_and_vtp_outputs_open_in_vtk(lps_case: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.safetensors"
    assert _invoke("train", lps_case / "data.npz", "--out", model, "--epochs", "5", "--width", "16").exit_code == 0
    mesh = read_mesh(lps_case / "mesh.vtk")
    for suffix, surface in ((".vtu", False), (".vtp", True)):
        path = tmp_path / f"lv{suffix}"
        cells = {"vertex": np.arange(mesh.n_points)[:, None]} if surface else mesh.cells
        write_mesh(path, Mesh(mesh.points, cells, mesh.point_data))
        out_dir = tmp_path / f"recon{suffix}"
        result = _invoke("reconstruct", "--model", model, "--mesh", path, "--out-dir", out_dir, "--samples", "2")
        assert result.exit_code == 0, result.output
        data = read_with_vtk(out_dir / f"scar{suffix}")
        assert data.GetNumberOfPoints() == mesh.n_points
        assert vtk_to_numpy(data.GetPointData().GetArray("scar_binary")).dtype == np.uint8


def test_bad_pairs_stop_with_one_line_naming_the_files(lps_case: Path, tmp_path: Path) -> None:
    mesh = read_mesh(lps_case / "mesh.vtk")
    slices = lps_case / "slices.nii.gz"

    far = tmp_path / "far.vtk"
    write_mesh(far, Mesh(mesh.points + 400.0, mesh.cells))
    result = _invoke("prepare", "--mesh", far, "--slices", slices, "--out", tmp_path / "a.npz")
    assert isinstance(result.exception, InputError) and result.exit_code != 0
    assert "do not overlap in either frame" in str(result.exception)
    assert "far.vtk" in str(result.exception) and "slices.nii.gz" in str(result.exception)

    points_only = tmp_path / "points.vtu"
    write_mesh(points_only, Mesh(mesh.points, {"vertex": np.arange(mesh.n_points)[:, None]}))
    result = _invoke("prepare", "--mesh", points_only, "--slices", slices, "--out", tmp_path / "b.npz")
    assert "no tetrahedra" in str(result.exception) and "points.vtu" in str(result.exception)

    result = _invoke("prepare", "--mesh", lps_case / "mesh.vtk", "--slices", slices, "--use-slices", "2",
                     "--out", tmp_path / "c.npz")
    assert "at least two" in str(result.exception)

    image = nib.load(slices)
    single = tmp_path / "single.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:, :, 2:3], image.affine), single)
    result = _invoke("prepare", "--mesh", lps_case / "mesh.vtk", "--slices", single, "--out", tmp_path / "d.npz")
    assert "at least two" in str(result.exception) and "single.nii.gz" in str(result.exception)

    result = _invoke("prepare", "--mesh", lps_case / "mesh.vtk", "--slices", slices, "--mesh-frame", "xyz",
                     "--out", tmp_path / "e.npz")
    assert "unknown mesh frame" in str(result.exception)
    assert not any(tmp_path.glob("*.npz"))


def test_synthetic_prepare_refuses_an_unknown_frame(tmp_path: Path) -> None:
    result = _invoke("prepare", "--synthetic", "--out", tmp_path / "case", "--mesh-frame", "xyz")
    assert isinstance(result.exception, InputError) and "unknown mesh frame 'xyz'" in str(result.exception)
    assert not (tmp_path / "case").exists()
