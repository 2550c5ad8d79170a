"""MetricLogger writes a CSV and TensorBoard events; resume purges rows after the checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from angiogen.train import MetricLogger


def _read_csv(path: Path) -> list[tuple[int, str, float]]:
    with open(path, newline="") as handle:
        return [(int(r["step"]), r["name"], float(r["value"])) for r in csv.DictReader(handle)]


def test_writes_csv_and_tensorboard(tmp_path: Path) -> None:
    with MetricLogger(tmp_path) as logger:
        logger.log(1, {"train/loss": 0.5, "train/lr": torch.tensor(0.125)})
        logger.log(2, {"train/loss": 0.25})
    rows = _read_csv(tmp_path / "metrics.csv")
    assert rows == [(1, "train/loss", 0.5), (1, "train/lr", 0.125), (2, "train/loss", 0.25)]
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_purge_step_drops_rows_logged_after_checkpoint(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, tensorboard=False) as logger:
        for step in range(1, 6):
            logger.log(step, {"loss": float(step)})
    with MetricLogger(tmp_path, purge_step=4, tensorboard=False) as logger:
        logger.log(4, {"loss": 40.0})
    assert _read_csv(tmp_path / "metrics.csv") == [
        (1, "loss", 1.0),
        (2, "loss", 2.0),
        (3, "loss", 3.0),
        (4, "loss", 40.0),
    ]
    assert not list(tmp_path.glob(".metrics.csv.*"))  # no temporary files left behind
