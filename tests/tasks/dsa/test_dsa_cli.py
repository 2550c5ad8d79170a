"""`angiogen dsa predict`: round trips in TIFF and DICOM, and every bad input -> exit 2, one line, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from angiogen.cli import main
from angiogen.io import XAGeometry, read_dicom, read_tiff_stack, write_dicom_xa, write_png, write_tiff
from angiogen.tasks.dsa.model import DSAModel, build_unet, load_model

TINY_DATA = {"detector_px": 32, "pixel_mm": 6.0, "n_phantoms": 2, "views_per_phantom": 1, "n_scenes": 2,
             "views_per_scene": 1, "n_val": 2, "n_test": 2, "vessel_grid": 32, "vessel_spacing_mm": 6.0}
GEOMETRY = XAGeometry(primary_deg=-30.0, secondary_deg=20.0, sid_mm=1100.0, sod_mm=760.0,
                      pixel_spacing_mm=(0.3, 0.3), frame_time_ms=66.7)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return DSAModel(build_unet(4), mean=3.0, std=1.2, base_channels=4).save(path)


def _frames(n: int = 3, size: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(2.0, 5.0, (n, size, size)).astype(np.float32)


def _predict(model_path: Path, source: Path, out: Path, *options: str) -> int:
    return main(["--device", "cpu", "--quiet", "dsa", "predict", str(source), "--out", str(out),
                 "--model", str(model_path), *options])


def _bad_input(capsys: pytest.CaptureFixture[str], code: int, name: str, out: Path) -> str:
    """Exit 2, one line on stderr naming ``name``, no traceback, no output folder."""
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert name in err and "Traceback" not in err and "\n" not in err, err
    assert not out.exists()
    return err


def test_predict_a_float_tiff_stack(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _frames()
    source = write_tiff(tmp_path / "run.tif", frames)
    mask = write_tiff(tmp_path / "mask.tif", frames[:2] - 0.25)
    out = tmp_path / "out"
    assert _predict(model_path, source, out, "--mask", str(mask)) == 0
    assert "global normalisation" in capsys.readouterr().out
    predicted = read_tiff_stack(out / "dsa.tif")
    assert predicted.shape == frames.shape
    np.testing.assert_allclose(predicted, load_model(model_path).predict(frames), atol=1e-5, rtol=1e-5)
    conventional = read_tiff_stack(out / "conventional_dsa.tif")
    np.testing.assert_allclose(conventional, frames - (frames[:2] - 0.25).mean(axis=0), atol=1e-5)
    previews = sorted(p.name for p in out.glob("preview_*.png"))
    assert previews == ["preview_000.png", "preview_001.png", "preview_002.png"]
    # a second run does not replace the results without --overwrite
    before = (out / "dsa.tif").read_bytes()
    assert _predict(model_path, source, out) == 2
    assert "--overwrite" in capsys.readouterr().err and (out / "dsa.tif").read_bytes() == before
    assert _predict(model_path, source, out, "--overwrite", "--no-tta") == 0  # one view on request
    single_view = load_model(model_path).predict(frames, tta=False)
    np.testing.assert_allclose(read_tiff_stack(out / "dsa.tif"), single_view, atol=1e-5, rtol=1e-5)
    assert np.abs(single_view - predicted).max() > 1e-4


def test_predict_a_multiframe_dicom_keeps_its_geometry(model_path: Path, tmp_path: Path) -> None:
    frames = _frames(seed=1)
    source = write_dicom_xa(tmp_path / "run.dcm", frames, GEOMETRY)
    out = tmp_path / "out"
    assert _predict(model_path, source, out) == 0
    result = read_dicom(out / "dsa.dcm")
    assert result.frames.shape == frames.shape
    original = read_dicom(source)
    assert result.geometry == original.geometry
    assert (result.geometry.primary_deg, result.geometry.secondary_deg) == (-30.0, 20.0)
    assert (result.geometry.sid_mm, result.geometry.sod_mm, result.geometry.pixel_spacing_mm) == (
        1100.0, 760.0, (0.3, 0.3))
    predicted = read_tiff_stack(out / "dsa.tif")
    np.testing.assert_allclose(predicted, load_model(model_path).predict(original.frames), atol=1e-5, rtol=1e-5)
    span = float(np.ptp(predicted))
    np.testing.assert_allclose(result.frames, predicted, atol=1e-4 * span)


def test_frames_of_different_sizes(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "pngs"
    write_png(folder / "frame1.png", np.full((20, 20), 0.5))
    write_png(folder / "frame2.png", np.full((24, 20), 0.5))
    err = _bad_input(capsys, _predict(model_path, folder, tmp_path / "out"), "frame2.png", tmp_path / "out")
    assert "differs" in err


def test_mask_of_another_size(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_tiff(tmp_path / "run.tif", _frames())
    mask = write_tiff(tmp_path / "mask.tif", _frames(1, 32))
    code = _predict(model_path, source, tmp_path / "out", "--mask", str(mask))
    err = _bad_input(capsys, code, "mask.tif", tmp_path / "out")
    assert "(32, 32)" in err and "(40, 40)" in err


def test_empty_folder(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    err = _bad_input(capsys, _predict(model_path, tmp_path / "empty", tmp_path / "out"), str(tmp_path / "empty"),
                     tmp_path / "out")
    assert "empty" in err.replace(str(tmp_path / "empty"), "")


def test_tiff_with_nan(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _frames()
    frames[1, 5, 7] = np.nan
    source = tmp_path / "nan.tif"
    tifffile.imwrite(source, frames)
    err = _bad_input(capsys, _predict(model_path, source, tmp_path / "out"), "nan.tif", tmp_path / "out")
    assert "1 NaN" in err


def test_missing_source_and_model(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad_input(capsys, _predict(model_path, tmp_path / "nowhere.dcm", tmp_path / "out"), "nowhere.dcm",
               tmp_path / "out")
    source = write_tiff(tmp_path / "run.tif", _frames())
    _bad_input(capsys, _predict(tmp_path / "no_model.safetensors", source, tmp_path / "out"),
               "no_model.safetensors", tmp_path / "out")
    _bad_input(capsys, _predict(model_path, source, tmp_path / "out", "--normalisation", "median"),
               "--normalisation", tmp_path / "out")


def test_a_folder_of_non_images(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("no frames here")
    _bad_input(capsys, _predict(model_path, folder, tmp_path / "out"), str(folder), tmp_path / "out")




@pytest.mark.usefixtures("angiogen_log_handlers")
def test_prepare_train_evaluate_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, run, scores = tmp_path / "data", tmp_path / "run", tmp_path / "eval"
    tiny = [item for key, value in TINY_DATA.items() for item in ("--set", f"{key}={value}")]
    assert main(["--quiet", "--seed", "2", "dsa", "prepare", "--out", str(data), "--scheduler", "synchronous",
                 *tiny]) == 0
    assert {p.name for p in data.iterdir()} == {"banks.npz", "motion_test.npz", "manifest.json"}
    recipe = ["--set", "base_channels=4", "--set", "pairs.batch_size=4", "--set", "pairs.crop_px=32",
              "--set", "validate_every=2", "--set", "checkpoint_every=2", "--set", "log_every=1"]
    assert main(["--quiet", "--device", "cpu", "dsa", "train", str(data), "--out", str(run), "--steps", "4",
                 *recipe]) == 0
    model = run / "outputs" / "model.safetensors"
    assert load_model(model).info["steps"] == 4 and (run / "outputs" / "training_curves.png").stat().st_size > 0
    # --resume takes the run's saved recipe (width 4, not the profile's 16); --steps trains on to step 6
    assert main(["--quiet", "--device", "cpu", "dsa", "train", str(data), "--out", str(run), "--steps", "6",
                 "--resume"]) == 0
    assert load_model(model).info["steps"] == 6 and load_model(model).base_channels == 4
    assert "steps: 6" in (run / "config.yaml").read_text()
    assert main(["--quiet", "--device", "cpu", "dsa", "evaluate", str(data), "--out", str(scores),
                 "--model", str(model)]) == 0
    results = json.loads((scores / "results.json").read_text())
    assert results["n_cases"] == 2 and set(results["doses"]) == {"50000", "150000", "500000"}
    assert (scores / "comparison.png").stat().st_size > 0
    capsys.readouterr()
    # a second prepare into the same folder is refused before any work
    assert main(["--quiet", "dsa", "prepare", "--out", str(data), "--scheduler", "synchronous", *tiny]) == 2
    assert "banks.npz" in capsys.readouterr().err


def test_a_folder_of_float_tiffs_is_treated_like_the_tiff_stack(model_path: Path, tmp_path: Path) -> None:
    frames = _frames()
    stack = write_tiff(tmp_path / "run.tif", frames)
    folder = tmp_path / "frames"
    for k, frame in enumerate(frames):
        write_tiff(folder / f"frame{k}.tif", frame)
    assert _predict(model_path, stack, tmp_path / "from_stack") == 0
    assert _predict(model_path, folder, tmp_path / "from_folder") == 0
    np.testing.assert_allclose(read_tiff_stack(tmp_path / "from_folder" / "dsa.tif"),
                               read_tiff_stack(tmp_path / "from_stack" / "dsa.tif"), atol=1e-5, rtol=1e-5)
