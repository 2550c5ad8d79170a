"""uncrop training under DDP (torchrun, 2 gloo processes): the ranks stay in step and match one process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from angiogen.io.rundir import create_run_dir
from angiogen.tasks.uncrop.train import fit

WORKER = Path(__file__).with_name("uncrop_ddp_worker.py")


@pytest.mark.slow
def test_two_processes_match_one(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
               "--out", str(tmp_path)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rank0, rank1 = (load_file(tmp_path / f"rank{rank}.safetensors") for rank in range(2))
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
    spec = importlib.util.spec_from_file_location("uncrop_ddp_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    single = fit(worker.dataset(), worker.recipe(), create_run_dir(tmp_path / "single"), seed=0,
                 device=torch.device("cpu"), quiet=True).model.net.state_dict()
    initial = fit(worker.dataset(), worker.recipe().model_copy(update={"steps": 1, "lr": 1e-12}),
                  create_run_dir(tmp_path / "initial"), seed=0, device=torch.device("cpu"), quiet=True).model.net
    start = initial.state_dict()
    # Each rank's half-batch gradients, averaged, are the full batch's. Adam divides every update by the
    # gradient's own size, so parameters whose gradient is ~0 (MONAI zero-initialises output convolutions) move
    # by +-lr on float rounding alone: compare the whole update instead of each element.
    ddp_update = torch.cat([(rank0[name] - start[name]).flatten() for name in single])
    single_update = torch.cat([(tensor - start[name]).flatten() for name, tensor in single.items()])
    assert single_update.norm() > 0  # the runs trained
    assert (ddp_update - single_update).norm() <= 0.05 * single_update.norm()
