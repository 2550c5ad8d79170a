"""What every CLI command shares: the global options and how a sub-command reads them, the progress bar,
``--profile`` presets with ``--config`` / ``--set key=value`` overrides, the bundled-model lookup and common help
texts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from angiogen.errors import InputError

if TYPE_CHECKING:
    from rich.progress import Progress

    from angiogen.config import Config

ConfigT = TypeVar("ConfigT", bound="Config")


@dataclass(frozen=True)
class GlobalOptions:
    """Options given before the sub-command: ``angiogen --device cpu --seed 1 scar train ...``."""

    device: str = "auto"
    seed: int = 0
    debug: bool = False
    quiet: bool = False


def global_options(ctx: typer.Context) -> GlobalOptions:
    """Return the global options of the running command (defaults when called outside the CLI)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()


# Option help texts shared by the commands.
SET_HELP = "Override a setting, key=value (repeatable), e.g. --set n_phantoms=96 or --set pairs.crop_px=96."
WORKERS_HELP = "Worker processes of the local Dask cluster."
OVERWRITE_HELP = "Replace existing outputs."

#: Where the models shipped with the package live: ``models/<task>/<file>``.
MODELS_DIR = Path(__file__).resolve().parent / "models"


def progress_bar(quiet: bool = False) -> Progress:
    """A rich progress bar on stderr (description | bar | done/total | elapsed); silent when ``quiet``.

    Use as a context manager; each ``add_task(description, total=...)`` adds a line.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), disable=quiet)


def profile_values(name: str, presets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of the settings of profile ``name`` (``--profile``) from ``presets`` ``{profile: {key: value}}``.

    Raises:
        InputError: ``name`` is none of the presets' names (the message lists them).
    """
    if name not in presets:
        names = list(presets)
        expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise InputError(f"--profile must be {expected}, got {name!r}")
    return copy.deepcopy(dict(presets[name]))


def build_config(config_class: type[ConfigT], base: Mapping[str, Any], config_file: Path | None,
                 overrides: list[str] | None) -> ConfigT:
    """The typed config of a command: the YAML ``config_file`` if given (``--config``), else the profile's
    ``base`` values; then the ``--set key.sub=value`` ``overrides`` (values parsed as YAML: ints, floats, lists).

    Raises:
        InputError: an override not of the form key=value, or a key or value the config refuses (the message
            names the key).
    """
    if config_file is not None:
        return config_class.from_yaml(config_file, overrides)
    return config_class.build(dict(base), overrides)


def training_recipe(config_class: type[ConfigT], out: Path, base: Mapping[str, Any], config_file: Path | None,
                    overrides: list[str] | None, steps: int | None = None, resume: bool = False) -> ConfigT:
    """The recipe of a ``train`` command: on ``--resume`` the run's own ``OUT/config.yaml``, else
    :func:`build_config` of the profile ``base`` / ``--config`` file; in both cases ``--set`` ``overrides`` and
    ``--steps`` (to train longer) apply last.

    Raises:
        InputError: ``out`` holds no run to resume, or a setting the config refuses.
    """
    from angiogen.io.rundir import open_run_dir

    overrides = [*(overrides or []), *([f"steps={steps}"] if steps is not None else [])]
    if resume:
        return config_class.from_yaml(open_run_dir(out).config, overrides)
    return build_config(config_class, base, config_file, overrides)


def bundled_model_path(task: str, name: str = "model.safetensors") -> Path:
    """The model file ``name`` shipped with the package for ``task`` (``angiogen/models/<task>/<name>``).

    Raises:
        InputError: the file is not in this installation (the message says to pass --model).
    """
    path = MODELS_DIR / task / name
    if not path.is_file():
        raise InputError(f"the bundled {task} model is missing from this installation; pass --model", path)
    return path
