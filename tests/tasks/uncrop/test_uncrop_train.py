"""Training uncrop with the shared Trainer: a falling loss, validation against mean fill, exact resume."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from run_checks import assert_same_weights, metric_rows
from safetensors.torch import load_file

from angiogen.io.rundir import RunDir, create_run_dir
from angiogen.tasks.uncrop.cli import SMOKE_RECIPE
from angiogen.tasks.uncrop.data import UncropDataset
from angiogen.tasks.uncrop.train import FitResult, RecipeConfig, fit

CPU = torch.device("cpu")
# The smoke recipe as the CLI module defines it (copied at import, before any CLI run in this process).
RECIPE = copy.deepcopy(SMOKE_RECIPE)
RECIPE["model"] = {**RECIPE["model"], "objective": "diffusion", "prior": "none"}


def _recipe(**changes: object) -> RecipeConfig:
    return RecipeConfig(**{**copy.deepcopy(RECIPE), **changes})


def _fit(data: UncropDataset, recipe: RecipeConfig, run: Path, resume: bool = False) -> FitResult:
    run_dir = RunDir(run) if resume else create_run_dir(run, overwrite=True)
    return fit(data, recipe, run_dir, seed=0, device=CPU, resume=resume, quiet=True)


def test_training_lowers_the_loss(smoke_dataset: UncropDataset, tmp_path: Path) -> None:
    recipe = _recipe(steps=50, lr=1e-3, log_every=1, validate_every=25, checkpoint_every=25)
    fitted = _fit(smoke_dataset, recipe, tmp_path / "run")
    losses = [value for _, value in metric_rows(tmp_path / "run", "train/loss")]
    assert len(losses) == 50 and np.isfinite(losses).all()
    first, last = float(np.mean(losses[:10])), float(np.mean(losses[-10:]))
    assert last < 0.8 * first, (first, last)
    validation = metric_rows(tmp_path / "run", "val_psnr_missing")
    assert [step for step, _ in validation] == [25, 50]
    mean_fill = metric_rows(tmp_path / "run", "val_psnr_missing_mean_fill")
    assert mean_fill[0][1] == mean_fill[1][1] and np.isfinite(mean_fill[0][1])
    assert fitted.result.step == 50 and fitted.model.info["steps"] == 50
    assert fitted.model.info["data_kind"] == "synthetic" and fitted.model.info["recipe"]["lr"] == 1e-3
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["latest", "step_25", "step_50"]
    assert not fitted.model.net.training


@pytest.mark.parametrize("prior", ["none", "rows"])
def test_resume_is_exact(smoke_dataset: UncropDataset, tmp_path: Path, prior: str) -> None:
    model = {**RECIPE["model"], "prior": prior}
    recipe = _recipe(steps=8, log_every=2, validate_every=4, checkpoint_every=4, model=model)
    straight = _fit(smoke_dataset, recipe, tmp_path / "straight")

    _fit(smoke_dataset, _recipe(steps=4, log_every=2, validate_every=4, checkpoint_every=4, model=model),
         tmp_path / "resumed")
    torch.rand(100)  # disturb the RNG: the resume must restore it
    resumed = _fit(smoke_dataset, recipe, tmp_path / "resumed", resume=True)

    assert resumed.result.start_step == 4 and resumed.result.step == 8
    assert_same_weights(straight.model.net.state_dict(), resumed.model.net.state_dict())  # EMA weights
    raw = [load_file(tmp_path / run / "checkpoints" / "step_8" / "model.safetensors")
           for run in ("straight", "resumed")]
    assert_same_weights(*raw)
    assert metric_rows(tmp_path / "resumed", "train/loss") == metric_rows(tmp_path / "straight", "train/loss")
    assert metric_rows(tmp_path / "resumed", "val_psnr_missing") == metric_rows(tmp_path / "straight", "val_psnr_missing")


def test_fine_tuning_takes_the_network_of_the_start_model(smoke_dataset: UncropDataset, tmp_path: Path,
                                                          make_model) -> None:  # noqa: ANN001
    start = make_model(seed=9, channels=[8, 8, 16]).save(tmp_path / "start.safetensors")
    recipe = _recipe(steps=2, log_every=1, validate_every=2, checkpoint_every=2)
    fitted = fit(smoke_dataset, recipe, create_run_dir(tmp_path / "run"), 0, CPU, quiet=True, init=start)
    assert fitted.model.config.channels == [8, 8, 16] and fitted.model.info["init"] == str(start)
