"""What every benchmark script shares: the ``--quick`` and ``--out`` options, the results path
(``results/<name>.json``; ``--quick`` writes ``<name>_quick.json`` so a smoke run keeps the full result), the
environment stamped into the result, and the atomic JSON write."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from angiogen.environment import environment_summary
from angiogen.io.json_files import write_json

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def benchmark_parser(name: str, description: str, quick_help: str) -> argparse.ArgumentParser:
    """An argument parser with ``--quick`` (``quick_help`` says what it shrinks) and ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON path (default benchmarks/results/{name}.json, --quick: {name}_quick.json)")
    return parser


def results_path(name: str, quick: bool, out: Path | None = None) -> Path:
    """Where the result of benchmark ``name`` goes: ``out`` when given, else under ``benchmarks/results/``."""
    return out or RESULTS_DIR / f"{name}{'_quick' if quick else ''}.json"


def write_results(name: str, result: dict[str, Any], quick: bool, out: Path | None = None) -> Path:
    """Add ``benchmark``, ``quick`` and ``environment`` to ``result`` and write it as strict JSON (NaN as null)
    atomically, replacing the previous result; returns the path."""
    path = results_path(name, quick, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = {"benchmark": name, "quick": quick, **result, "environment": environment_summary()}
    return write_json(path, stamped, overwrite=True)
