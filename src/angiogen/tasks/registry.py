"""The registry of task pipelines: their CLI sub-apps and their demo steps.

A task module ``angiogen.tasks.<name>.cli`` defines ``TASK = Task(...)``; it is registered by adding its
name to :data:`TASK_NAMES`. A task that is not listed does not appear in the CLI or the demo.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import typer

from angiogen.report.types import DemoContext, DemoResult, Figure

__all__ = ["PLANNED_TASKS", "TASK_NAMES", "DemoContext", "DemoResult", "Figure", "Task", "registered_tasks"]

#: Built tasks, in the order the demo runs them.
TASK_NAMES: tuple[str, ...] = ("scar", "dsa", "uncrop")

#: Every task of the toolkit's plan, with a one-line summary (shown by ``angiogen info`` and the README).
PLANNED_TASKS: dict[str, str] = {
    "scar": "3D myocardial scar probability on an LV mesh from sparse 2D LGE-MRI slices",
    "dsa": "vessel-only (DSA-like) images from live fluoroscopy, trained on synthetic pairs",
    "uncrop": "full field of view of collimated X-ray images (conditional diffusion, VAE prior)",
    "vessel3d": "3D vascular volumes such as Circle-of-Willis TOF-MRA (3D StyleGAN2)",
    "angio3d": "3D coronary arteries from two angiographic views with imperfect C-arm geometry",
}


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
