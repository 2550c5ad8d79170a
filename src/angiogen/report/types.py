"""What a demo step takes and returns: its context, and the figures, metrics and notes the report shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
