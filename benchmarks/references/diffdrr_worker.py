"""Run DiffDRR 0.6.1 on a volume and a pose given by benchmarks/projector.py; runs in DiffDRR's own virtualenv.

Usage: python diffdrr_worker.py WORKDIR RENDERER
Reads WORKDIR/volume.npy ((D, H, W) float32 attenuation in 1/mm) and WORKDIR/spec.json (affine, pose matrix,
detector, repeats, threads); writes WORKDIR/diffdrr_<RENDERER>.npy (the (rows, cols) image) and
WORKDIR/diffdrr_<RENDERER>.json (times in seconds). It must not import angiogen: it runs under another torch.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diffdrr.drr import DRR
from diffdrr.pose import RigidTransform
from torchio import ScalarImage, Subject


def main() -> None:
    workdir, renderer = Path(sys.argv[1]), sys.argv[2]
    spec = json.loads((workdir / "spec.json").read_text())
    torch.set_num_threads(spec["threads"])
    volume = torch.from_numpy(np.load(workdir / "volume.npy"))
    affine = np.asarray(spec["affine"], dtype=np.float64)

    # The volume as DiffDRR's Subject, density = our attenuation (no HU rescaling), world = our LPS frame.
    image = ScalarImage(tensor=volume[None], affine=affine)
    subject = Subject(
        volume=image,
        mask=None,
        orientation=None,
        reorient=torch.eye(4),
        density=ScalarImage(tensor=volume[None].clone(), affine=affine),
        fiducials=None,
    )
    # Camera frame of DiffDRR: source at 0, detector plane at z = sdd, pixel (i, j) at
    # x = (j - (W-1)/2) delx, y = ((H-1)/2 - i) dely without reverse_x_axis; the pose maps it to the world.
    drr = DRR(
        subject,
        sdd=spec["sid_mm"],
        height=spec["rows"],
        width=spec["cols"],
        delx=spec["spacing_col_mm"],
        dely=spec["spacing_row_mm"],
        reverse_x_axis=False,
        renderer=renderer,
    )
    pose = RigidTransform(torch.tensor(spec["pose"], dtype=torch.float32)[None])

    forward_times, backward_times = [], []
    with torch.no_grad():
        drr(pose)  # warm-up
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            img = drr(pose)
            forward_times.append(time.perf_counter() - start)
    np.save(workdir / f"diffdrr_{renderer}.npy", img[0, 0].numpy())

    if spec.get("backward", True):
        drr.density.requires_grad_(True)
        for _ in range(spec["repeats"]):
            drr.density.grad = None
            start = time.perf_counter()
            drr(pose).sum().backward()
            backward_times.append(time.perf_counter() - start)

    result = {
        "renderer": renderer,
        "forward_s": statistics.median(forward_times),
        "forward_times_s": forward_times,
        "forward_backward_s": statistics.median(backward_times) if backward_times else None,
        "forward_backward_times_s": backward_times,
        "torch": torch.__version__,
    }
    (workdir / f"diffdrr_{renderer}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
