"""Scalar metric logging: TensorBoard events and a CSV table in the run directory.

Layout: ``<run_dir>/tensorboard/`` (event files) and ``<run_dir>/metrics.csv`` with columns
``step,name,value`` (long format: one row per scalar, so metrics may come and go between steps).
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from angiogen.io.atomic import atomic_path
from angiogen.io.rundir import RunDir

CSV_NAME = "metrics.csv"


class MetricLogger:
    """Write scalars to TensorBoard and to ``metrics.csv``; use as a context manager or call :meth:`close`.

    The CSV is kept in memory and rewritten atomically on :meth:`flush` (at most every ``flush_secs``
    seconds while logging, and on close), so it is never half-written.

    Args:
        run_dir: the run directory (created if missing).
        purge_step: when resuming, drop rows (CSV and TensorBoard) with ``step >= purge_step``, i.e.
            what a crashed run logged after its last checkpoint. None keeps existing rows.
        tensorboard: also write TensorBoard events.
        flush_secs: longest time between automatic flushes while logging.
    """

    def __init__(
        self,
        run_dir: str | Path,
        purge_step: int | None = None,
        tensorboard: bool = True,
        flush_secs: float = 10.0,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / CSV_NAME
        self.flush_secs = flush_secs
        self._rows: list[tuple[int, str, float]] = self._read_existing(purge_step)
        self._last_flush = time.monotonic()
        self._closed = False
        self._writer: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # imported lazily: slow to import

            self._writer = SummaryWriter(log_dir=str(RunDir(self.run_dir).tensorboard), purge_step=purge_step)

    def _read_existing(self, purge_step: int | None) -> list[tuple[int, str, float]]:
        if not self.csv_path.exists():
            return []
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            rows = [(int(row["step"]), row["name"], float(row["value"])) for row in csv.DictReader(handle)]
        return [row for row in rows if purge_step is None or row[0] < purge_step]

    def log(self, step: int, metrics: Mapping[str, float | torch.Tensor]) -> None:
        """Record scalar ``metrics`` (name -> number or 0-d tensor) at training ``step``."""
        if self._closed:
            raise RuntimeError("MetricLogger is closed")
        for name, value in metrics.items():
            number = float(value.item() if isinstance(value, torch.Tensor) else value)
            self._rows.append((int(step), str(name), number))
            if self._writer is not None:
                self._writer.add_scalar(name, number, global_step=int(step))
        if time.monotonic() - self._last_flush >= self.flush_secs:
            self.flush()

    def rows(self) -> list[tuple[int, str, float]]:
        """All rows logged so far as ``(step, name, value)``."""
        return list(self._rows)

    def latest(self, name: str) -> float:
        """The most recently logged value of ``name`` (NaN if never logged)."""
        for _, row_name, value in reversed(self._rows):
            if row_name == name:
                return value
        return math.nan

    def flush(self) -> None:
        """Rewrite ``metrics.csv`` atomically and flush the TensorBoard writer."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("step", "name", "value"))
        writer.writerows((step, name, repr(value)) for step, name, value in self._rows)
        with atomic_path(self.csv_path) as tmp:
            tmp.write_text(buffer.getvalue(), encoding="utf-8")
        if self._writer is not None:
            self._writer.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close; further :meth:`log` calls raise."""
        if self._closed:
            return
        self.flush()
        if self._writer is not None:
            self._writer.close()
        self._closed = True

    def __enter__(self) -> MetricLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
