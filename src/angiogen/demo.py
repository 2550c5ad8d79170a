"""``angiogen demo``: run the engine's and every built task's demo step, then write ``report.html``."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from angiogen.demo_engine import engine_demo
from angiogen.environment import environment_summary
from angiogen.io.rundir import create_run_dir
from angiogen.report.html import StepRecord, write_report
from angiogen.report.types import DemoContext, DemoResult
from angiogen.tasks.registry import PLANNED_TASKS, registered_tasks

ENGINE_SUMMARY = "shared engine: vessel-tree synthesis, voxelisation, C-arm geometry and the X-ray projector"
DemoStep = Callable[[DemoContext], DemoResult]

log = logging.getLogger("angiogen.demo")


def demo_steps() -> list[tuple[str, str, DemoStep | None]]:
    """(name, summary, step) in run order: the engine first, then every planned task (step None if not built)."""
    built = {task.name: task.demo for task in registered_tasks()}
    return [("engine", ENGINE_SUMMARY, engine_demo)] + [
        (name, summary, built.get(name)) for name, summary in PLANNED_TASKS.items()
    ]


def run_demo(out_dir: str | Path, device: str = "auto", seed: int = 0, quiet: bool = False,
             overwrite: bool = False, debug: bool = False) -> tuple[Path, list[StepRecord]]:
    """Run each demo step into ``out_dir/<name>/`` and write ``out_dir/report.html``.

    A failing step is recorded in the report (with its error) and the other steps still run.
    Returns the report path and the step records.
    """
    run = create_run_dir(out_dir, overwrite=overwrite)
    started = time.perf_counter()
    steps: list[StepRecord] = []
    with run.logging_to_file():
        for name, summary, step in demo_steps():
            if step is None:
                steps.append(StepRecord(name, summary, "not built"))
                continue
            log.info("demo step %s", name)
            step_start = time.perf_counter()
            step_dir = run.root / name
            step_dir.mkdir(parents=True, exist_ok=True)
            try:
                result = step(DemoContext(step_dir, device=device, seed=seed, quiet=quiet))
                steps.append(StepRecord(name, summary, "ok", time.perf_counter() - step_start, result))
            except Exception as error:  # a failed step is reported, not hidden
                if debug:
                    raise
                log.error("demo step %s failed:\n%s", name, traceback.format_exc())
                steps.append(StepRecord(name, summary, "failed", time.perf_counter() - step_start,
                                        error=f"{type(error).__name__}: {error}"))
        total = time.perf_counter() - started
        run.write_metrics({s.task: {"status": s.status, "seconds": s.seconds, **s.result.metrics} for s in steps})
        report = write_report(run.root / "report.html", steps, environment_summary(), total, PLANNED_TASKS)
    return report, steps
