"""Checks that tests of several tasks make on a training run (importable from any test: pytest puts ``tests/`` on
``sys.path``, ``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

import csv
from pathlib import Path

import torch


def metric_rows(run: Path, name: str) -> list[tuple[int, float]]:
    """The (step, value) rows of series ``name`` in the run's ``metrics.csv``."""
    with open(run / "metrics.csv", newline="") as handle:
        return [(int(row["step"]), float(row["value"])) for row in csv.DictReader(handle) if row["name"] == name]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Two state dicts hold the same names and bit-identical tensors."""
    assert a.keys() == b.keys()
    for name, tensor in a.items():
        assert torch.equal(tensor, b[name]), name
