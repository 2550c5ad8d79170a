"""The registry of task pipelines: their CLI sub-apps and their demo steps.

A task module ``angiogen.tasks.<name>.cli`` defines ``TASK = Task(...)``; it is registered by adding its
name to :data:`TASK_NAMES`. A task that is not listed does not appear in the CLI or the demo.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

#: Built tasks, in the order the demo runs them.
TASK_NAMES: tuple[str, ...] = ("scar", "dsa")

#: Every task of the toolkit's plan, with a one-line summary (shown by ``angiogen info`` and the README).
PLANNED_TASKS: dict[str, str] = {
    "scar": "3D myocardial scar probability on an LV mesh from sparse 2D LGE-MRI slices",
    "dsa": "vessel-only (DSA-like) images from live fluoroscopy, trained on synthetic pairs",
    "uncrop": "full field of view of collimated X-ray images (conditional diffusion, VAE prior)",
    "vessel3d": "3D vascular volumes such as Circle-of-Willis TOF-MRA (3D StyleGAN2)",
    "angio3d": "3D coronary arteries from two angiographic views with imperfect C-arm geometry",
}


@dataclass
class Figure:
    """A PNG figure for the report: ``path`` to the file and a one-line ``caption``."""

    path: Path
    caption: str


@dataclass
class DemoResult:
    """What a task's demo step reports: figures, a flat metrics table, and notes in plain sentences."""

    figures: list[Figure] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoContext:
    """Inputs of a demo step: its own output directory, device name, seed and whether to stay quiet."""

    out_dir: Path
    device: str = "auto"
    seed: int = 0
    quiet: bool = False


@dataclass(frozen=True)
class Task:
    """A task pipeline: its CLI name, summary, Typer sub-app and demo step."""

    name: str
    summary: str
    app: typer.Typer
    demo: Callable[[DemoContext], DemoResult] | None = None


def registered_tasks() -> list[Task]:
    """Import and return every built task, in demo order."""
    return [importlib.import_module(f"angiogen.tasks.{name}.cli").TASK for name in TASK_NAMES]
