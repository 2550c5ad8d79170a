"""``angiogen demo``: run every built task's demo step and write ``report.html``."""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

from angiogen.environment import environment_summary
from angiogen.io.rundir import create_run_dir
from angiogen.report.html import StepRecord, write_report
from angiogen.tasks.registry import PLANNED_TASKS, DemoContext, registered_tasks

log = logging.getLogger("angiogen.demo")


def run_demo(out_dir: str | Path, device: str = "auto", seed: int = 0, quiet: bool = False,
             overwrite: bool = False, debug: bool = False) -> tuple[Path, list[StepRecord]]:
    """Run each registered task's demo step into ``out_dir/<task>/`` and write ``out_dir/report.html``.

    A failing step is recorded in the report (with its error) and the other steps still run.
    Returns the report path and the step records.
    """
    run = create_run_dir(out_dir, overwrite=overwrite)
    handler = run.attach_log()
    started = time.perf_counter()
    built = {task.name: task for task in registered_tasks()}
    steps: list[StepRecord] = []
    try:
        for name, summary in PLANNED_TASKS.items():
            task = built.get(name)
            if task is None or task.demo is None:
                steps.append(StepRecord(name, summary, "not built"))
                continue
            log.info("demo step %s", name)
            step_start = time.perf_counter()
            task_dir = run.root / name
            task_dir.mkdir(parents=True, exist_ok=True)
            try:
                result = task.demo(DemoContext(task_dir, device=device, seed=seed, quiet=quiet))
                steps.append(StepRecord(name, summary, "ok", time.perf_counter() - step_start, result))
            except Exception as error:  # a failed step is reported, not hidden
                if debug:
                    raise
                log.error("demo step %s failed:\n%s", name, traceback.format_exc())
                steps.append(StepRecord(name, summary, "failed", time.perf_counter() - step_start,
                                        error=f"{type(error).__name__}: {error}"))
        total = time.perf_counter() - started
        run.write_metrics({s.task: {"status": s.status, "seconds": s.seconds, **s.result.metrics} for s in steps})
        report = write_report(run.root / "report.html", steps, environment_summary(), total)
    finally:
        logging.getLogger("angiogen").removeHandler(handler)
        handler.close()
    return report, steps
