"""Both training arms under DDP (torchrun, 2 gloo processes): the ranks stay in step and match one process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors.torch import load_file

from angiogen.io.rundir import create_run_dir
from angiogen.tasks.dsa.data import DataConfig, build_banks
from angiogen.tasks.dsa.model import build_unet
from angiogen.tasks.dsa.train import fit

WORKER = Path(__file__).with_name("dsa_ddp_worker.py")


def _worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dsa_ddp_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torchrun(out: Path, *options: str) -> list[dict[str, torch.Tensor]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
               "--out", str(out), *options]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return [load_file(out / f"rank{rank}.safetensors") for rank in range(2)]


@pytest.mark.slow
def test_plain_arm_under_ddp_matches_one_process(tmp_path: Path) -> None:
    worker = _worker()
    rank0, rank1 = _torchrun(tmp_path / "ddp")
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
    banks = build_banks(DataConfig(**worker.TINY), 0)
    single = fit(banks, worker.recipe(False), create_run_dir(tmp_path / "single"), seed=0,
                 device=torch.device("cpu"), quiet=True).model.net.state_dict()
    torch.manual_seed(0)
    initial = build_unet(4).state_dict()
    assert any(not torch.equal(initial[name], tensor) for name, tensor in single.items())  # it did train
    for name, tensor in single.items():  # each rank's half-batch gradients, averaged = the full batch's
        torch.testing.assert_close(rank0[name], tensor, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_adversarial_arm_under_ddp_keeps_the_ranks_in_step(tmp_path: Path) -> None:
    rank0, rank1 = _torchrun(tmp_path / "ddp", "--adversarial")
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
