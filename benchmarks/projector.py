"""Benchmark: angiogen's cone-beam projector against DiffDRR 0.6.1 (trilinear and Siddon) on the same case.

Case: an analytic ellipsoid (semi-axes 100/80/90 mm, rotated, mu 0.02/mm) voxelised with 4^3 partial-volume
supersampling into a 256^3 grid at 1 mm, projected at RAO30/CRA20 (SID 1200 mm, SOD 800 mm) onto a 256 x 256
detector at 1.6 mm; `--quick`: 128^3 at 2 mm onto 128 x 128 at 3.2 mm. Both run on 2 CPU threads in float32:
median of 5 forward projections (no autograd) and of 5 forward + backward passes (gradient w.r.t. the volume of
the image sum); ours is timed before and after DiffDRR and the two rounds pooled. Accuracy: relative L2 error of each image against the closed-form line integrals of the ellipsoid
(the voxelisation error is common to both), and the largest relative error on interior rays (chord > 70 % of max).

DiffDRR runs in a throw-away virtualenv (default /tmp/angiogen-diffdrr-venv), created when missing with
    python3 -m venv VENV && VENV/bin/pip install torch==2.14.1 torchvision==0.29.1 diffdrr==0.6.1
through benchmarks/references/diffdrr_worker.py; it gets our source and detector as a DiffDRR pose (same SID, pixel
spacing, angles; volume affine passed as it is), so both render the same rays.

Writes benchmarks/results/projector.json (``--quick``: projector_quick.json, so a smoke run keeps the full result; atomically) and prints a one-line summary last.
Usage: python benchmarks/projector.py [--quick] [--venv PATH] [--no-diffdrr] [--repeats 5]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _harness import benchmark_parser, write_results

from angiogen.xray import CArmGeometry, Ellipsoid, centred_affine, line_integrals, project, voxelise

WORKER = Path(__file__).resolve().parent / "references" / "diffdrr_worker.py"
DEFAULT_VENV = Path("/tmp/angiogen-diffdrr-venv")
DIFFDRR_PACKAGES = ["torch==2.14.1", "torchvision==0.29.1", "diffdrr==0.6.1"]
THREADS = 2


def build_case(quick: bool) -> tuple[torch.Tensor, np.ndarray, CArmGeometry, Ellipsoid]:
    """Volume (float32, 1/mm), affine, geometry and the analytic ellipsoid of the benchmark."""
    n, spacing, pixels, pixel_mm = (128, 2.0, 128, 3.2) if quick else (256, 1.0, 256, 1.6)
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    ellipsoid = Ellipsoid(
        center_mm=(4.0, -6.0, 3.0), semi_axes_mm=(100.0, 80.0, 90.0), mu_per_mm=0.02, rotation=tuple(map(tuple, rotation))
    )
    affine = centred_affine((n, n, n), spacing)
    volume = voxelise(ellipsoid, (n, n, n), affine, supersample=4, dtype=torch.float32)
    geometry = CArmGeometry.standard(
        "RAO30/CRA20", sid_mm=1200.0, sod_mm=800.0, rows=pixels, cols=pixels, pixel_spacing_mm=pixel_mm
    )
    return volume, affine, geometry, ellipsoid


def diffdrr_pose(geometry: CArmGeometry) -> np.ndarray:
    """4x4 camera-to-world pose for DiffDRR: camera x -> e_c, y -> -e_r, z -> u, origin at the source."""
    e_c, e_r, u = geometry.axes()
    pose = np.eye(4)
    pose[:3, :3] = np.stack([e_c, -e_r, u], axis=1)
    pose[:3, 3] = geometry.source_mm()
    return pose


def time_ours(volume: torch.Tensor, affine: np.ndarray, geometry: CArmGeometry, repeats: int) -> dict:
    """Median forward and forward+backward times of angiogen.xray.project, and its image."""
    with torch.no_grad():
        image = project(volume, affine, geometry)  # warm-up
        forward = []
        for _ in range(repeats):
            start = time.perf_counter()
            image = project(volume, affine, geometry)
            forward.append(time.perf_counter() - start)
    leaf = volume.clone().requires_grad_(True)
    both = []
    for _ in range(repeats):
        leaf.grad = None
        start = time.perf_counter()
        project(leaf, affine, geometry).sum().backward()
        both.append(time.perf_counter() - start)
    return {
        "forward_s": statistics.median(forward),
        "forward_times_s": forward,
        "forward_backward_s": statistics.median(both),
        "forward_backward_times_s": both,
        "image": image[0].numpy(),
    }


def ensure_venv(venv: Path) -> Path | None:
    """Python of DiffDRR's virtualenv, created if missing; None if it cannot be made."""
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import diffdrr"], capture_output=True).returncode == 0:
        return python
    print(f"creating DiffDRR's virtualenv at {venv} (large download, once)", file=sys.stderr)
    try:
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", *DIFFDRR_PACKAGES], check=True)
    except (subprocess.CalledProcessError, OSError) as error:
        print(f"could not set up DiffDRR: {error}", file=sys.stderr)
        return None
    return python


def run_diffdrr(python: Path, volume: torch.Tensor, affine: np.ndarray, geometry: CArmGeometry, repeats: int,
                renderer: str, backward: bool) -> dict:
    """Time DiffDRR in its own process and virtualenv; returns its times and image."""
    with tempfile.TemporaryDirectory(prefix="angiogen-diffdrr-") as workdir:
        work = Path(workdir)
        np.save(work / "volume.npy", volume.numpy())
        spec = {
            "affine": affine.tolist(),
            "pose": diffdrr_pose(geometry).tolist(),
            "sid_mm": geometry.sid_mm,
            "rows": geometry.rows,
            "cols": geometry.cols,
            "spacing_row_mm": geometry.pixel_spacing_mm[0],
            "spacing_col_mm": geometry.pixel_spacing_mm[1],
            "repeats": repeats,
            "threads": THREADS,
            "backward": backward,
        }
        (work / "spec.json").write_text(json.dumps(spec))
        env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
        subprocess.run([str(python), str(WORKER), str(work), renderer], check=True, env=env)
        result = json.loads((work / f"diffdrr_{renderer}.json").read_text())
        result["image"] = np.load(work / f"diffdrr_{renderer}.npy")
    return result


def errors(image: np.ndarray, exact: np.ndarray) -> dict:
    """Relative L2 error over the detector and the largest relative error on interior rays."""
    interior = exact > 0.7 * exact.max()
    return {
        "rel_error": float(np.linalg.norm(image - exact) / np.linalg.norm(exact)),
        "interior_max_rel_error": float(np.max(np.abs(image - exact)[interior] / exact[interior])),
    }


def main() -> None:
    parser = benchmark_parser("projector", __doc__.split("\n")[0], "128^3 onto 128^2 (under a minute)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="DiffDRR's throw-away virtualenv")
    parser.add_argument("--no-diffdrr", action="store_true", help="time angiogen only")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)

    volume, affine, geometry, ellipsoid = build_case(args.quick)
    exact = line_integrals(ellipsoid, geometry)
    ours = time_ours(volume, affine, geometry, args.repeats)
    result: dict = {
        "case": {
            "volume": list(volume.shape),
            "voxel_mm": float(affine[0, 0]),
            "detector": [geometry.rows, geometry.cols],
            "pixel_mm": geometry.pixel_spacing_mm[0],
            "view": geometry.name,
            "sid_mm": geometry.sid_mm,
            "sod_mm": geometry.sod_mm,
            "phantom": "ellipsoid 100/80/90 mm, mu 0.02/mm, 4^3 supersampled partial volume",
            "dtype": "float32",
            "threads": THREADS,
            "repeats": args.repeats,
            "statistic": "median",
        },
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "torch": torch.__version__},
        "ours_s": ours["forward_s"],
        "ours_forward_backward_s": ours["forward_backward_s"],
        "ours_times_s": ours["forward_times_s"],
        "ours_forward_backward_times_s": ours["forward_backward_times_s"],
    }
    ours_err = errors(ours["image"], exact)
    result["ours_rel_error"] = ours_err["rel_error"]
    result["ours_interior_max_rel_error"] = ours_err["interior_max_rel_error"]

    python = None
    if not args.no_diffdrr:
        python = ensure_venv(args.venv) if not args.quick or (args.venv / "bin" / "python").exists() else None
        if python is None:
            note = "DiffDRR skipped: its virtualenv is absent (run without --quick once to create it)"
            print(note, file=sys.stderr)
            result["diffdrr_note"] = note
    if python is not None:
        trilinear = run_diffdrr(python, volume, affine, geometry, args.repeats, "trilinear", backward=True)
        # Time ours again after DiffDRR and pool both rounds: the load of a shared machine drifts over minutes.
        again = time_ours(volume, affine, geometry, args.repeats)
        for key in ("forward", "forward_backward"):
            ours[f"{key}_times_s"] += again[f"{key}_times_s"]
            ours[f"{key}_s"] = statistics.median(ours[f"{key}_times_s"])
        result.update(
            {
                "ours_s": ours["forward_s"],
                "ours_forward_backward_s": ours["forward_backward_s"],
                "ours_times_s": ours["forward_times_s"],
                "ours_forward_backward_times_s": ours["forward_backward_times_s"],
            }
        )
        siddon = run_diffdrr(python, volume, affine, geometry, max(1, min(args.repeats, 3)), "siddon", backward=False)
        tri_err, sid_err = errors(trilinear["image"], exact), errors(siddon["image"], exact)
        result.update(
            {
                "diffdrr_version": "0.6.1",
                "diffdrr_torch": trilinear["torch"],
                "diffdrr_s": trilinear["forward_s"],
                "diffdrr_forward_backward_s": trilinear["forward_backward_s"],
                "diffdrr_times_s": trilinear["forward_times_s"],
                "diffdrr_rel_error": tri_err["rel_error"],
                "diffdrr_interior_max_rel_error": tri_err["interior_max_rel_error"],
                "diffdrr_siddon_s": siddon["forward_s"],
                "diffdrr_siddon_rel_error": sid_err["rel_error"],
                "diffdrr_siddon_interior_max_rel_error": sid_err["interior_max_rel_error"],
                "speedup_vs_diffdrr": trilinear["forward_s"] / ours["forward_s"],
                "speedup_forward_backward_vs_diffdrr": trilinear["forward_backward_s"] / ours["forward_backward_s"],
                "speedup_vs_diffdrr_siddon": siddon["forward_s"] / ours["forward_s"],
            }
        )

    results = write_results("projector", result, args.quick, args.out)
    shape = "x".join(map(str, volume.shape))
    detector = f"{geometry.rows}x{geometry.cols}"
    summary = (
        f"projector {shape} -> {detector}: ours {result['ours_s']:.3f} s fwd, {result['ours_forward_backward_s']:.3f} s "
        f"fwd+bwd, rel. error {result['ours_rel_error']:.4f}"
    )
    if "diffdrr_s" in result:
        summary += (
            f"; DiffDRR trilinear {result['diffdrr_s']:.2f} s fwd, {result['diffdrr_forward_backward_s']:.2f} s fwd+bwd, "
            f"rel. error {result['diffdrr_rel_error']:.4f}; speed-up {result['speedup_vs_diffdrr']:.1f}x fwd, "
            f"{result['speedup_forward_backward_vs_diffdrr']:.1f}x fwd+bwd; Siddon {result['diffdrr_siddon_s']:.2f} s"
        )
    else:
        summary += "; DiffDRR not run"
    print(f"{summary} -> {results}")


if __name__ == "__main__":
    main()
