"""The self-contained HTML report of ``angiogen demo``: inline PNG figures, metrics tables, versions, timing."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from angiogen.io.atomic import write_text_atomic
from angiogen.report.types import DemoResult

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.ok{color:#17702f}.failed{color:#b00020}.missing{color:#777}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#444;max-width:520px}
section{border-top:2px solid #eee;margin-top:1.5em}
"""


@dataclass
class StepRecord:
    """One demo step as the report shows it: task name, status, seconds taken, its result or error."""

    task: str
    summary: str
    status: str  # "ok", "failed" or "not built"
    seconds: float = 0.0
    result: DemoResult = field(default_factory=DemoResult)
    error: str = ""


def _table(rows: dict[str, Any]) -> str:
    """An HTML table of name/value rows; nested values are shown as compact JSON."""
    cells = []
    for name, value in rows.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        if isinstance(value, (dict, list)):
            shown = json.dumps(value, default=float)
        cells.append(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(shown))}</td></tr>")
    return "<table>" + "".join(cells) + "</table>"


def _figure(path: Path, caption: str) -> str:
    """An inline (base64) PNG figure with its caption."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _step_section(step: StepRecord) -> str:
    """The report section of one task."""
    parts = [
        f'<section id="{html.escape(step.task)}"><h2>{html.escape(step.task)} '
        f'<span class="{step.status.replace(" ", "-") if step.status != "not built" else "missing"}">'
        f"({html.escape(step.status)})</span></h2><p>{html.escape(step.summary)}</p>"
    ]
    if step.status == "not built":
        parts.append("<p class='missing'>This task is not built yet; it has no demo step.</p>")
    if step.error:
        parts.append(f"<p class='failed'>Error: {html.escape(step.error)}</p>")
    if step.status != "not built":
        parts.append(f"<p>Time: {step.seconds:.1f} s</p>")
    if step.result.metrics:
        parts.append("<h3>Metrics</h3>" + _table(step.result.metrics))
    parts.extend(f"<p>{html.escape(note)}</p>" for note in step.result.notes)
    parts.extend(_figure(figure.path, figure.caption) for figure in step.result.figures)
    parts.append("</section>")
    return "".join(parts)


def render_report(steps: list[StepRecord], environment: dict[str, Any], total_seconds: float,
                  task_names: Collection[str] | None = None) -> str:
    """The whole report as one self-contained HTML string.

    Args:
        steps: the demo steps in run order.
        environment: name/value rows of the environment table (versions, device).
        total_seconds: wall time of the whole demo.
        task_names: names of the steps that are task pipelines (the demo passes its planned tasks); when none
            of them ran, the report says no tasks are built yet. Default: every step counts as a task.
    """
    tasks = {step.task for step in steps} if task_names is None else set(task_names)
    ran = [step for step in steps if step.status != "not built"]
    overview = {step.task: step.status for step in steps}
    body = [
        "<h1>angiogen demo report</h1>",
        f"<p class='sub'>{len(ran)} of {len(steps)} demo steps ran; total {total_seconds:.1f} s</p>",
        "<h2>Steps</h2>" + _table(overview),
    ]
    if not any(step.status != "not built" for step in steps if step.task in tasks):
        body.append("<p>No tasks are built yet: this report lists the environment only.</p>")
    body.extend(_step_section(step) for step in steps)
    body.append("<section><h2>Environment</h2>" + _table(environment) + "</section>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>angiogen demo report</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(path: str | Path, steps: list[StepRecord], environment: dict[str, Any], total_seconds: float,
                 task_names: Collection[str] | None = None) -> Path:
    """Render the report (:func:`render_report`, same arguments) and write it atomically to ``path``."""
    return write_text_atomic(path, render_report(steps, environment, total_seconds, task_names))
