"""The shared training-run context: folder, saved recipe, resume, device and the log file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from pydantic import Field

from angiogen.cli_common import training_recipe
from angiogen.config import Config
from angiogen.errors import InputError
from angiogen.train.run_context import training_run


class Recipe(Config):
    steps: int = Field(10, ge=1)
    lr: float = 1e-3


def test_creates_the_run_saves_the_recipe_and_logs_to_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with training_run(out, Recipe(steps=3), device="cpu") as training:
        assert training.is_main and not training.resume and training.device == torch.device("cpu")
        logging.getLogger("angiogen.test").info("inside the run")
    assert Recipe.from_yaml(out / "config.yaml") == Recipe(steps=3)
    assert "inside the run" in (out / "log.txt").read_text()
    logging.getLogger("angiogen.test").info("after the run")
    assert "after the run" not in (out / "log.txt").read_text()  # the handler was removed on leaving


def test_an_existing_run_needs_overwrite_or_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with training_run(out, Recipe(), device="cpu") as training:
        (training.run.checkpoints / "marker").write_text("kept")
    with pytest.raises(InputError, match="--overwrite"), training_run(out, Recipe(), device="cpu"):
        pass
    with training_run(out, Recipe(steps=20), device="cpu", resume=True) as training:
        assert training.resume and (training.run.checkpoints / "marker").read_text() == "kept"
    assert Recipe.from_yaml(out / "config.yaml").steps == 20
    with pytest.raises(InputError, match="not a run directory"), training_run(tmp_path / "none", Recipe(),
                                                                              resume=True):
        pass


def test_training_recipe_resumes_with_the_saved_recipe_and_applies_steps_last(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config_file = tmp_path / "recipe.yaml"
    Recipe(steps=5, lr=0.5).save(config_file)
    # --steps applies over a --config file too (it used to be dropped when a file was given)
    assert training_recipe(Recipe, out, {"steps": 7}, config_file, [], steps=9) == Recipe(steps=9, lr=0.5)
    assert training_recipe(Recipe, out, {"steps": 7}, None, ["lr=0.1"]) == Recipe(steps=7, lr=0.1)
    with training_run(out, Recipe(steps=4, lr=0.2), device="cpu"):
        pass
    resumed = training_recipe(Recipe, out, {"steps": 7}, None, [], steps=12, resume=True)
    assert resumed == Recipe(steps=12, lr=0.2)  # the run's own lr, not the profile's defaults
