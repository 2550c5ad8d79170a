"""The run-directory layout shared by every task.

``<out>/config.yaml``, ``log.txt``, ``metrics.json``, ``checkpoints/``, ``outputs/``, ``tensorboard/``.
An existing non-empty directory is only reused with ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from angiogen.errors import InputError
from angiogen.io.atomic import write_text_atomic

SUBDIRS = ("checkpoints", "outputs", "tensorboard")


@dataclass(frozen=True)
class RunDir:
    """Paths of one run. Create it with :func:`create_run_dir` or open one with :func:`open_run_dir`."""

    root: Path

    @property
    def config(self) -> Path:
        """The run's configuration, YAML."""
        return self.root / "config.yaml"

    @property
    def log(self) -> Path:
        """The run's plain-text log."""
        return self.root / "log.txt"

    @property
    def metrics(self) -> Path:
        """The run's final metrics, JSON."""
        return self.root / "metrics.json"

    @property
    def checkpoints(self) -> Path:
        """Folder of checkpoints (safetensors weights + state)."""
        return self.root / "checkpoints"

    @property
    def outputs(self) -> Path:
        """Folder of the run's products (images, volumes, meshes, figures)."""
        return self.root / "outputs"

    @property
    def tensorboard(self) -> Path:
        """Folder of TensorBoard event files."""
        return self.root / "tensorboard"

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """Write ``metrics`` to ``metrics.json`` atomically (numbers, strings, nested dicts/lists)."""
        return write_text_atomic(self.metrics, json.dumps(metrics, indent=2, default=float) + "\n")

    def read_metrics(self) -> dict[str, Any]:
        """Read ``metrics.json`` (empty dict if absent)."""
        return json.loads(self.metrics.read_text()) if self.metrics.exists() else {}

    def attach_log(self, logger: logging.Logger | None = None) -> logging.Handler:
        """Copy ``logger``'s records (the ``angiogen`` logger by default) into ``log.txt``."""
        handler = logging.FileHandler(self.log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        target = logger or logging.getLogger("angiogen")
        target.setLevel(logging.INFO)
        target.addHandler(handler)
        return handler

    @contextlib.contextmanager
    def logging_to_file(self, enabled: bool = True) -> Iterator[None]:
        """Within the block, copy the ``angiogen`` logger's records into ``log.txt`` (nothing when not
        ``enabled``, e.g. on ranks other than 0); the handler is removed and closed on leaving."""
        if not enabled:
            yield
            return
        handler = self.attach_log()
        try:
            yield
        finally:
            logging.getLogger("angiogen").removeHandler(handler)
            handler.close()


def create_run_dir(path: str | Path, overwrite: bool = False) -> RunDir:
    """Create a fresh run directory with its sub-folders.

    Raises:
        InputError: ``path`` is a file, or a non-empty directory and ``overwrite`` is False.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise InputError("exists and is not a directory", root)
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise InputError("output directory is not empty; pass --overwrite to replace it", root)
        shutil.rmtree(root)
    for name in SUBDIRS:
        (root / name).mkdir(parents=True, exist_ok=True)
    return RunDir(root)


def open_run_dir(path: str | Path) -> RunDir:
    """Open an existing run directory (one holding ``config.yaml``)."""
    run = RunDir(Path(path))
    if not run.config.is_file():
        raise InputError("not a run directory (no config.yaml)", run.root)
    return run
