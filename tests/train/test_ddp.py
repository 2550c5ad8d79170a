"""DDP with 2 gloo processes launched by torchrun equals single-process training on the global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("ddp_worker.py")
sys.path.insert(0, str(WORKER.parent))
import ddp_worker  # noqa: E402


def _single_process_weights(steps: int) -> dict[str, torch.Tensor]:
    model = ddp_worker.toy_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=ddp_worker.LEARNING_RATE)
    for step in range(steps):
        optimizer.zero_grad()
        ddp_worker.mse(model, ddp_worker.global_batch(step)).backward()
        optimizer.step()
    return model.state_dict()


def test_torchrun_two_processes_match_single_process(tmp_path: Path) -> None:
    out = tmp_path / "ddp.safetensors"
    pythonpath = os.pathsep.join(filter(None, [str(WORKER.parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath}
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--standalone",  # single node; the rendezvous picks a free port itself
        "--nproc_per_node=2",
        str(WORKER), "--out", str(out), "--run-dir", str(tmp_path / "run"), "--steps", "5", "--accumulate", "2",
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    ddp = load_file(str(out))
    single = _single_process_weights(steps=5)
    assert set(ddp) == set(single)
    initial = ddp_worker.toy_model().state_dict()
    for name, tensor in single.items():
        assert torch.allclose(ddp[name], tensor, atol=1e-6, rtol=0), name
        assert not torch.allclose(tensor, initial[name])  # the test is not vacuous
    assert (tmp_path / "run" / "checkpoints" / "step_5" / "model.safetensors").is_file()
