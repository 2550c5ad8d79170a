"""The context of one training run, shared by every task's ``train`` command.

:func:`training_run` does, in one place, what each task would otherwise repeat: join the torchrun process group
when there is one, create the run directory on rank 0 (or open it to resume), save the recipe as
``config.yaml``, pick the device (this rank's GPU under DDP, else ``--device``), copy the log into ``log.txt`` on
rank 0 only, and leave the process group at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from angiogen.io.rundir import RunDir, create_run_dir, open_run_dir
from angiogen.train.device import select_device
from angiogen.train.distributed import DistributedContext, barrier, cleanup, init_distributed

if TYPE_CHECKING:
    from angiogen.config import Config


@dataclass(frozen=True)
class TrainingRun:
    """Where a training process writes and computes.

    Attributes:
        run: the run directory (created by rank 0).
        dist: this process's place in the DDP job (one process when not launched by torchrun).
        device: where this process trains.
        resume: True when the run continues from its latest checkpoint.
    """

    run: RunDir
    dist: DistributedContext
    device: torch.device
    resume: bool

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files (rank 0)."""
        return self.dist.is_main


@contextlib.contextmanager
def training_run(out: str | Path, recipe: Config, device: str = "auto", resume: bool = False,
                 overwrite: bool = False) -> Iterator[TrainingRun]:
    """Open the run in ``out`` for training with ``recipe``; see the module docstring for what it sets up.

    Args:
        out: the run directory. recipe: the training recipe, saved as ``out/config.yaml`` on rank 0.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (ignored under DDP: each rank takes its own GPU).
        resume: open the existing run (it must hold ``config.yaml``) instead of creating one.
        overwrite: replace a non-empty ``out`` (without it, an existing run is refused).

    Raises:
        InputError: ``out`` is not a run directory when resuming, or is not empty when not.
    """
    environment = DistributedContext.from_env()
    joined = environment.is_distributed
    dist = init_distributed() if joined else environment
    try:
        if dist.is_main:
            run = open_run_dir(out) if resume else create_run_dir(out, overwrite)
            recipe.save(run.config)
        barrier()  # the others write nothing; they wait until the folder exists
        if not dist.is_main:
            run = RunDir(Path(out))
        chosen = dist.device() if dist.is_distributed else select_device(device)
        with run.logging_to_file(enabled=dist.is_main):
            yield TrainingRun(run, dist, chosen, resume)
    finally:
        if joined:
            cleanup()
