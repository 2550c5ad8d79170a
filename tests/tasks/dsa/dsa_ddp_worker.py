"""Worker for test_ddp.py: a few dsa training steps under DDP (torchrun, 2 gloo CPU processes).

Every rank builds the same tiny banks, trains with :func:`angiogen.tasks.dsa.train.fit` on its share of each batch,
and writes its own final weights to ``<out>/rank<r>.safetensors`` (EMA off, so these are the trained weights). The
process group and run folder are set up by :func:`angiogen.train.run_context.training_run`, as in ``dsa train``.

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 dsa_ddp_worker.py --out DIR [--adversarial]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file

from angiogen.tasks.dsa.data import DataConfig, build_banks
from angiogen.tasks.dsa.pairs import PairConfig
from angiogen.tasks.dsa.train import RecipeConfig, fit
from angiogen.train.run_context import training_run

TINY = {"detector_px": 32, "pixel_mm": 6.0, "n_phantoms": 2, "views_per_phantom": 1, "n_scenes": 2,
        "views_per_scene": 1, "n_val": 2, "n_test": 1, "vessel_grid": 32, "vessel_spacing_mm": 6.0}


def recipe(adversarial: bool) -> RecipeConfig:
    """Three steps of a width-4 U-Net (and a [4, 8] critic) on batches of 4 crops of 32 px; no EMA."""
    return RecipeConfig(steps=3, base_channels=4, ema_decay=0.0, adversarial=adversarial, critic_channels=[4, 8],
                        n_critic=2, checkpoint_every=100, validate_every=100, log_every=1,
                        pairs=PairConfig(batch_size=4, crop_px=32))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--adversarial", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    banks = build_banks(DataConfig(**TINY), 0)
    chosen = recipe(args.adversarial)
    with training_run(args.out / "run", chosen, overwrite=True) as training:  # joins and leaves the process group
        fitted = fit(banks, chosen, training.run, seed=0, device=training.device, ctx=training.dist, quiet=True)
    weights = {name: tensor.contiguous() for name, tensor in fitted.model.net.state_dict().items()}
    save_file(weights, str(args.out / f"rank{training.dist.rank}.safetensors"))


if __name__ == "__main__":
    main()
