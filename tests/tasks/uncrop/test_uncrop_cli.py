"""`angiogen uncrop`: prepare / train / predict / evaluate end to end on smoke sizes, and every bad input -> exit
2, one line naming the file, nothing written or overwritten."""

from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
import tifffile
import torch

from angiogen.cli import main
from angiogen.io import XAGeometry, read_dicom, write_dicom_xa, write_png, write_tiff
from angiogen.io.image_triples import read_grey
from angiogen.synth.anatomy import ANATOMIES
from angiogen.synth.backgrounds import ViewSampler, background_views
from angiogen.synth.collimation import collimated_pair, detect_opening, iou, random_opening
from angiogen.tasks.uncrop.cli import SMOKE_MODEL, SMOKE_RECIPE
from angiogen.tasks.uncrop.data import load_dataset
from angiogen.tasks.uncrop.model import load_model

GEOMETRY = XAGeometry(primary_deg=-30.0, secondary_deg=20.0, sid_mm=1100.0, sod_mm=760.0,
                      pixel_spacing_mm=(0.3, 0.3))
FAST = ["--samples", "2", "--steps", "2"]
PRISTINE_SMOKE_RECIPE = copy.deepcopy(SMOKE_RECIPE)  # at import, before any CLI run in this process
METHODS = {"ours", "ours_one_sample", "mean_fill", "train_mean", "nearest", "biharmonic"}


pytestmark = pytest.mark.usefixtures("angiogen_log_handlers")  # tests/conftest.py


def _collimated(seed: int = 0, size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(full, collimated, opening) of a synthetic view with a rectangular opening (seed 0: detectable)."""
    rng = np.random.default_rng(seed)
    view = background_views(rng, ViewSampler(detector_px=size, pixel_mm=4.0), 1, ANATOMIES)[0]
    opening = random_opening(rng, view.shape, (0.15, 0.4), kinds=("rectangle",))
    pair = collimated_pair(view, opening, rng)
    return pair.full, pair.collimated, opening


def _mask_png(path: Path, opening: np.ndarray) -> Path:
    return write_png(path, opening.astype(np.float64))


def _run(*args: str) -> int:
    return main(["--quiet", "--device", "cpu", "uncrop", *args])


def _predict(model: Path, source: Path, out: Path, *options: str) -> int:
    return _run("predict", str(source), "--out", str(out), "--model", str(model), *FAST, *options)


def _bad_input(capsys: pytest.CaptureFixture[str], code: int, name: str, out: Path | None = None) -> str:
    """Exit 2, one line on stderr naming ``name``, no traceback, no output folder."""
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert name in err and "Traceback" not in err and "\n" not in err, err
    if out is not None:
        assert not out.exists()
    return err


# ------------------------------------------------------------------------------------------- bad inputs


@pytest.fixture
def png_input(tmp_path: Path) -> tuple[Path, Path]:
    _, collimated, opening = _collimated(1)
    return write_png(tmp_path / "image.png", collimated, bits=16), _mask_png(tmp_path / "image_mask.png", opening)


def test_masks_without_an_opening_or_a_missing_region(tiny_model_path: Path, png_input: tuple[Path, Path],
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, _ = png_input
    for name, value in (("black.png", 0.0), ("white.png", 1.0)):
        mask = write_png(tmp_path / name, np.full((64, 64), value))
        err = _bad_input(capsys, _predict(tiny_model_path, image, tmp_path / "out", "--masks", str(mask)), name,
                         tmp_path / "out")
        assert ("no opening" in err or "without an opening" in err) if value == 0 else "white" in err


def test_a_mask_of_another_aspect(tiny_model_path: Path, png_input: tuple[Path, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    image, _ = png_input
    opening = np.zeros((64, 80), bool)
    opening[10:30, 10:40] = True
    mask = _mask_png(tmp_path / "wide.png", opening)
    err = _bad_input(capsys, _predict(tiny_model_path, image, tmp_path / "out", "--masks", str(mask)), "wide.png",
                     tmp_path / "out")
    assert "(80, 64)" in err and "(64, 64)" in err


def test_a_colour_image_and_a_truncated_png(tiny_model_path: Path, png_input: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import imageio.v3 as iio

    image, mask = png_input
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    iio.imwrite(tmp_path / "colour.png", rgb)
    err = _bad_input(capsys, _predict(tiny_model_path, tmp_path / "colour.png", tmp_path / "out", "--masks",
                                      str(mask)), "colour.png", tmp_path / "out")
    assert "colour" in err
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(image.read_bytes()[:200])
    _bad_input(capsys, _predict(tiny_model_path, truncated, tmp_path / "out", "--masks", str(mask)),
               "truncated.png", tmp_path / "out")
    _bad_input(capsys, _predict(tmp_path / "nowhere.safetensors", image, tmp_path / "out", "--masks", str(mask)),
               "nowhere.safetensors", tmp_path / "out")
    _bad_input(capsys, _predict(tiny_model_path, tmp_path / "missing.png", tmp_path / "out"), "missing.png",
               tmp_path / "out")


def test_existing_outputs_are_not_overwritten(tiny_model_path: Path, png_input: tuple[Path, Path],
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, mask = png_input
    out = tmp_path / "out"
    assert _predict(tiny_model_path, image, out, "--masks", str(mask)) == 0
    files = sorted(out.iterdir())
    assert [p.name for p in files] == ["image_preview.png", "image_std.tif", "image_uncropped.png",
                                       "predictions.json"]
    before = {p.name: p.read_bytes() for p in files}
    capsys.readouterr()
    capsys.readouterr()
    code = _predict(tiny_model_path, image, out, "--masks", str(mask))
    err = _bad_input(capsys, code, "image_")
    assert "--overwrite" in err or "exists" in err
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == before
    assert main(["--quiet", "--device", "cpu", "--seed", "5", "uncrop", "predict", str(image), "--out", str(out),
                 "--model", str(tiny_model_path), "--masks", str(mask), *FAST, "--overwrite"]) == 0
    assert (out / "image_std.tif").read_bytes() != before["image_std.tif"]  # another seed, other draws


def test_prepare_refuses_a_missing_partner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full, collimated = tmp_path / "A", tmp_path / "B"
    for k in range(3):
        write_png(full / f"p0{k}_a.png", np.full((32, 32), 0.5))
        if k != 1:
            write_png(collimated / f"p0{k}_a.png", np.full((32, 32), 0.4))
    out = tmp_path / "data"
    code = _run("prepare", "--out", str(out), "--full", str(full), "--collimated", str(collimated),
                "--profile", "smoke")
    err = _bad_input(capsys, code, "p01_a.png", out)
    assert "no partner" in err and str(collimated) in err
    _bad_input(capsys, _run("prepare", "--out", str(out), "--collimated", str(collimated)), "--full", out)
    _bad_input(capsys, _run("prepare", "--out", str(out), "--profile", "huge"), "--profile", out)


# ------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A smoke dataset and a smoke model, both made through the CLI (once for this module)."""
    root = tmp_path_factory.mktemp("uncrop_cli")
    data, run = root / "data", root / "run"
    assert main(["--quiet", "--seed", "2", "uncrop", "prepare", "--out", str(data), "--profile", "smoke",
                 "--scheduler", "synchronous"]) == 0
    assert _run("train", str(data), "--out", str(run), "--profile", "smoke") == 0
    logger = logging.getLogger("angiogen")
    for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        logger.removeHandler(handler)
        handler.close()
    return {"root": root, "data": data, "run": run, "model": run / "outputs" / "model.safetensors"}


def test_prepare_and_train_the_smoke_profile(trained: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert {p.name for p in trained["data"].iterdir()} == {"bank.npz", "test.npz", "manifest.json"}
    data = load_dataset(trained["data"])
    assert data.kind == "synthetic" and data.bank.shape == (12, 32, 32) and data.test.full.shape == (4, 64, 64)
    model = load_model(trained["model"])
    assert model.info["steps"] == 20 and model.config.size == 32 and model.config.channels == [8, 16, 16]
    assert (trained["run"] / "outputs" / "training_curves.png").stat().st_size > 0
    assert (trained["run"] / "config.yaml").is_file() and (trained["run"] / "metrics.csv").is_file()
    # a second prepare into the same folder is refused before any work
    capsys.readouterr()
    _bad_input(capsys, main(["--quiet", "uncrop", "prepare", "--out", str(trained["data"]), "--profile", "smoke",
                             "--scheduler", "synchronous"]), "data")


def test_train_resume_through_the_cli_is_exact(trained: dict[str, Path], tmp_path: Path) -> None:
    data = str(trained["data"])
    common = ["--profile", "smoke", "--set", "checkpoint_every=2", "--set", "validate_every=4"]
    assert _run("train", data, "--out", str(tmp_path / "straight"), "--steps", "8", *common) == 0
    assert _run("train", data, "--out", str(tmp_path / "resumed"), "--steps", "4", *common) == 0
    assert _run("train", data, "--out", str(tmp_path / "resumed"), "--steps", "8", "--resume") == 0
    straight, resumed = (load_model(tmp_path / run / "outputs" / "model.safetensors") for run in ("straight",
                                                                                                   "resumed"))
    assert straight.info["steps"] == resumed.info["steps"] == 8
    a, b = straight.net.state_dict(), resumed.net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    assert "steps: 8" in (tmp_path / "resumed" / "config.yaml").read_text()


def test_predict_a_png_with_its_mask(trained: dict[str, Path], tmp_path: Path) -> None:
    _, collimated, opening = _collimated(1, size=80)
    collimated = collimated[:, 8:72]  # 80 x 64: not square, not the core size
    opening = opening[:, 8:72]
    image = write_png(tmp_path / "in" / "frame.png", collimated, bits=16)
    mask = _mask_png(tmp_path / "in" / "frame_mask.png", opening)
    out = tmp_path / "out"
    assert _predict(trained["model"], image, out, "--masks", str(mask)) == 0
    uncropped = out / "frame_uncropped.png"
    import imageio.v3 as iio

    pixels = iio.imread(uncropped)
    assert pixels.dtype == np.uint16 and pixels.shape == (80, 64)
    measured = read_grey(image)
    np.testing.assert_allclose(read_grey(uncropped)[opening], measured[opening], atol=1 / 65535)
    std = tifffile.imread(out / "frame_std.tif")
    assert std.shape == (80, 64) and std.dtype == np.float32 and np.all(std[opening] == 0)
    preview = iio.imread(out / "frame_preview.png")
    assert preview.shape[:2] == (80, 3 * 64)
    record = json.loads((out / "predictions.json").read_text())
    assert record["samples"] == 2 and record["steps"] == 2 and len(record["images"]) == 1
    assert record["images"][0]["opening"] == str(mask) and record["images"][0]["name"] == "frame"
    assert record["images"][0]["opening_fraction"] == pytest.approx(opening.mean(), abs=1e-4)
    assert set(record["images"][0]["files"]) == {"uncropped", "std", "preview"}


def test_predict_a_tiff_and_a_dicom(trained: dict[str, Path], tmp_path: Path) -> None:
    _, collimated, opening = _collimated(2)
    mask = _mask_png(tmp_path / "mask.png", opening)
    tiff = write_tiff(tmp_path / "frame.tif", collimated.astype(np.float32))
    assert _predict(trained["model"], tiff, tmp_path / "tif_out", "--masks", str(mask)) == 0
    result = tifffile.imread(tmp_path / "tif_out" / "frame_uncropped.tif")
    assert result.shape == (64, 64) and result.dtype == np.float32
    assert np.array_equal(result[opening], collimated.astype(np.float32)[opening])

    stored = 1000.0 + 3000.0 * collimated  # the file's own units
    dicom = write_dicom_xa(tmp_path / "frame.dcm", stored, GEOMETRY)
    assert _predict(trained["model"], dicom, tmp_path / "dcm_out", "--masks", str(mask)) == 0
    path = tmp_path / "dcm_out" / "frame_uncropped.dcm"
    dataset = pydicom.dcmread(path)
    assert (int(dataset.Rows), int(dataset.Columns)) == (64, 64)
    result = read_dicom(path)
    assert result.geometry.primary_deg == -30.0 and result.geometry.secondary_deg == 20.0
    assert (result.geometry.sid_mm, result.geometry.sod_mm) == (1100.0, 760.0)
    assert tuple(result.geometry.pixel_spacing_mm) == (0.3, 0.3)
    frame = result.frames[0]
    np.testing.assert_allclose(frame[opening], stored[opening], atol=0.2)  # back in the file's own units
    assert (tmp_path / "dcm_out" / "frame_std.tif").is_file()


def test_predict_without_a_mask_detects_the_opening(trained: dict[str, Path], tmp_path: Path) -> None:
    _, collimated, opening = _collimated(0)
    image = write_png(tmp_path / "detect.png", collimated, bits=16)
    assert iou(detect_opening(read_grey(image)), opening) > 0.8  # the collimator edges are clear here
    assert _predict(trained["model"], image, tmp_path / "out") == 0
    record = json.loads((tmp_path / "out" / "predictions.json").read_text())["images"][0]
    assert record["opening"] == "detected"
    assert record["opening_fraction"] == pytest.approx(opening.mean(), abs=0.05)


def test_evaluate_reports_ours_and_the_baselines(trained: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert _run("evaluate", str(trained["data"]), "--out", str(out), "--model", str(trained["model"]), *FAST) == 0
    assert {p.name for p in out.iterdir()} == {"results.json", "per_image.csv", "examples.png"}
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == METHODS and results["n"] == 4 and results["samples"] == 2
    for scores in results["methods"].values():
        assert {"psnr_missing", "ssim_missing", "psnr", "ssim"} <= set(scores)
        assert "mse_original" not in scores and np.isfinite(scores["psnr_missing"]["mean"])
    assert set(results["uncertainty"]) == {"uncertainty_spearman", "coverage_2sd"}
    lines = (out / "per_image.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 4 * len(METHODS) and lines[0].startswith("image,method,")
    assert (out / "examples.png").stat().st_size > 0
    # again without --overwrite: refused, nothing touched
    before = (out / "results.json").read_bytes()
    assert _run("evaluate", str(trained["data"]), "--out", str(out), "--model", str(trained["model"]), *FAST) == 2
    assert (out / "results.json").read_bytes() == before
    assert _run("evaluate", str(trained["data"]), "--out", str(tmp_path / "x"), "--model", str(trained["model"]),
                "--metrics", "fancy") == 2 and not (tmp_path / "x").exists()


def _user_folders(root: Path) -> tuple[Path, Path, Path]:
    """Five patients with two acquisitions each: full fields, collimated images and masks, PNG and TIFF."""
    full, collimated, masks = root / "A", root / "B", root / "masks"
    for patient in range(1, 6):
        for index, view in enumerate("ab"):
            name = f"p{patient:02d}_{view}"
            truth, image, opening = _collimated(10 * patient + index)
            if view == "a":
                write_png(full / f"{name}.png", truth, bits=16)
                write_png(collimated / f"{name}.png", image, bits=16)
            else:
                write_tiff(full / f"{name}.tif", truth.astype(np.float32))
                write_tiff(collimated / f"{name}.tiff", image.astype(np.float32))
            _mask_png(masks / f"{name}_mask.png", opening)
    return full, collimated, masks


def test_user_folders_split_by_patient_and_evaluate_with_more_metrics(trained: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    full, collimated, masks = _user_folders(tmp_path)
    data = tmp_path / "data"
    assert _run("prepare", "--out", str(data), "--full", str(full), "--collimated", str(collimated), "--masks",
                str(masks), "--profile", "smoke", "--set", r"group_pattern=^(p\d+)_") == 0
    dataset = load_dataset(data)
    assert dataset.kind == "folder" and len(dataset.train) + len(dataset.test) == 10
    assert dataset.measured.all() and dataset.test.full.shape[1:] == (64, 64)
    assert dataset.train.full.shape[1:] == (32, 32)
    patient = re.compile(r"^(p\d+)_")
    train_groups = {patient.match(name).group(1) for name in dataset.train.names}
    test_groups = {patient.match(name).group(1) for name in dataset.test.names}
    assert test_groups and not train_groups & test_groups  # no patient on both sides
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["config"]["group_pattern"] == r"^(p\d+)_"
    assert manifest["counts"] == {"bank": 0, "train": len(dataset.train), "test": len(dataset.test)}

    regression_run = tmp_path / "regression"
    assert _run("train", str(data), "--out", str(regression_run), "--profile", "smoke", "--steps", "4",
                "--objective", "regression") == 0
    regression = regression_run / "outputs" / "model.safetensors"
    assert load_model(regression).config.objective == "regression"
    out = tmp_path / "eval"
    assert _run("evaluate", str(data), "--out", str(out), "--model", str(trained["model"]), "--regression",
                str(regression), "--metrics", "original", *FAST) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == METHODS | {"regression"} and results["metric_set"] == "original"
    for scores in results["methods"].values():
        assert {"mse_original", "ssim_original", "psnr_missing", "ssim"} <= set(scores)
        assert scores["mse_original"]["mean"] == pytest.approx(4 * scores["mse"]["mean"])


def test_train_options_leave_the_profiles_alone(trained: dict[str, Path], tmp_path: Path) -> None:
    """`--objective` / `--prior` (nested `model.*` overrides) must not change the module's smoke profile, or every
    later smoke run in the same process (tests, the demo) trains that network."""
    assert _run("train", str(trained["data"]), "--out", str(tmp_path / "run"), "--profile", "smoke", "--steps", "1",
                "--objective", "regression", "--prior", "rows", "--set", "model.outside_blur_px=2.0") == 0
    assert load_model(tmp_path / "run" / "outputs" / "model.safetensors").config.prior == "rows"
    assert SMOKE_RECIPE == PRISTINE_SMOKE_RECIPE and "objective" not in SMOKE_MODEL and "prior" not in SMOKE_MODEL
