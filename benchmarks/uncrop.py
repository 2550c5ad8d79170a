"""Benchmark of the ``uncrop`` task: quality against four baselines on two sets, uncertainty, speed, detection.

Sets (docs/methods/uncrop.md §4):

- ``synthetic``: the fixed test set of `angiogen uncrop prepare` (default config, ``--seed``): 64 held-out
  phantoms (analytic anatomies and the engine's CT torso) at held-out views, 256 x 256, random display and
  collimation (2-50 % open). The ``train_mean`` / ``nearest`` baselines see 512 training pairs of the same
  dataset. The bundled model (or ``--model``) is scored as it is.
- ``folder``: a user-style folder made from the real abdomen CT in ``../shared/data/ct/`` (TotalSegmentator test
  case, CC BY 4.0; never in the synthetic training data): DRRs at 40 C-arm views (LAO/RAO +-60, CRA/CAU +-25 deg),
  each displayed and collimated twice at random, written as 16-bit PNGs in ``A/ B/ masks/``, prepared by
  `angiogen uncrop prepare --full A --collimated B --masks masks` split by view (``group_pattern`` ``^(view\\d+)_``,
  20 % of the views held out); the model is fine-tuned from the bundled one on the training views for a fixed
  budget (``--finetune-steps``), then scored on the held-out views, as a user would (the bundled model without
  fine-tuning is scored too, as ``ours_bundled``).

Methods: ``ours`` (mean of K = 8 DDIM-25 samples), ``ours_one_sample``, ``mean_fill``, ``train_mean``, ``nearest``,
``biharmonic`` (and ``regression`` with ``--regression MODEL``). Metrics: PSNR and SSIM (data range 1) over the
missing region and the whole image; uncertainty Spearman (std vs |error|) and mean +- 2 std coverage. Speed: one
256 x 256 completion with K = 1 and with K = 8 (25 DDIM steps), best of 3, this machine's threads. Detection:
IoU of the automatic collimator detection against the true opening on the synthetic set.

Usage: python benchmarks/uncrop.py [--quick] [--model PATH] [--regression PATH] [--seed 0] [--out PATH]
Writes benchmarks/results/uncrop.json (``--quick``: 8 + 8 images, 5 fine-tuning steps; uncrop_quick.json);
prints a one-line summary last.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _harness import benchmark_parser, write_results

from angiogen.io.coordinates import ras_to_lps
from angiogen.io.images import write_png
from angiogen.io.nifti import read_nifti
from angiogen.synth.backgrounds import ViewSampler
from angiogen.synth.collimation import collimated_pair, detect_opening, display_frame, iou, random_opening
from angiogen.synth.parallel import dask_session
from angiogen.tasks.uncrop.baselines import BASELINES
from angiogen.tasks.uncrop.cli import BUNDLED_MODEL
from angiogen.tasks.uncrop.data import DataConfig, build_synthetic, write_dataset
from angiogen.tasks.uncrop.evaluate import best_baseline
from angiogen.tasks.uncrop.infer import complete
from angiogen.tasks.uncrop.model import load_model
from angiogen.tasks.uncrop.results import evaluate_dataset
from angiogen.xray.physics import hu_to_mu
from angiogen.xray.projector import project

CT_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct" / "abdomen_ct_3mm.nii.gz"
METRICS = ("psnr_missing", "ssim_missing", "psnr", "ssim")
TARGET_PSNR_DB, TARGET_SSIM, TARGET_SPEARMAN = 1.0, 0.03, 0.3
TARGET_ONE_S, TARGET_EIGHT_S = 10.0, 40.0


def set_summary(results: dict) -> dict:
    """Per method the mean of each metric, the uncertainty scores, and ours minus the best baseline."""
    methods = results["methods"]
    summary = {name: {metric: values[metric]["mean"] for metric in METRICS} | {
        f"{metric}_sd": values[metric]["sd"] for metric in ("psnr_missing", "ssim_missing")}
        for name, values in methods.items()}
    for name, values in results["uncertainty"].items():
        summary[name] = values["mean"]
    for metric in ("psnr_missing", "ssim_missing"):
        best, value = best_baseline(methods, metric, BASELINES)
        summary[f"best_baseline_{metric}"] = {"method": best, "value": value,
                                              "ours_minus_best": methods["ours"][metric]["mean"] - value}
    summary["n"] = results["n"]
    return summary


def ct_folder(root: Path, n_views: int, seed: int, size: int = 256) -> Path:
    """Write the real CT's collimated DRRs as a user folder ``root/{A,B,masks}`` (two collimations per view)."""
    volume = read_nifti(CT_PATH)
    hu = np.clip(volume.data, -1024, 3000)
    affine = ras_to_lps(volume.affine.copy())
    centre = affine[:3, :3] @ ((np.array(hu.shape) - 1) / 2) + affine[:3, 3]
    affine[:3, 3] -= centre  # the CT's centre at the isocentre
    views = ViewSampler(60.0, 25.0, detector_px=size, pixel_mm=3.0 * 128 / size)
    rng = np.random.default_rng([seed, 7])
    geometries = [views(rng) for _ in range(n_views)]
    mu = hu_to_mu(torch.from_numpy(hu.astype(np.float32)))
    projected = np.concatenate([project(mu, affine, geometries[start:start + 8]).numpy()
                                for start in range(0, n_views, 8)])
    for name in ("A", "B", "masks"):
        (root / name).mkdir(parents=True, exist_ok=True)
    config = DataConfig()
    for view, line_integrals in enumerate(np.clip(projected, 0, None)):
        _, settings = display_frame(line_integrals, rng)
        for copy in range(2):
            opening = random_opening(rng, line_integrals.shape, config.opening_fraction)
            pair = collimated_pair(line_integrals, opening, rng, float(rng.uniform(*config.photons_per_pixel)),
                                   config.outside_transmission, settings)
            stem = f"view{view:03d}_c{copy}"
            write_png(root / "A" / f"{stem}.png", pair.full, bits=16)
            write_png(root / "B" / f"{stem}.png", pair.collimated, bits=16)
            write_png(root / "masks" / f"{stem}_mask.png", pair.opening.astype(np.float32))
    return root


def seconds_per_completion(model, n_samples: int, repeats: int = 3) -> float:
    """Best of ``repeats`` wall-clock seconds of one 256 x 256 completion with ``n_samples`` samples."""
    rng = np.random.default_rng(0)
    image = rng.random((256, 256)).astype(np.float32)
    opening = np.zeros((256, 256), bool)
    opening[96:160, 80:176] = True
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        complete(model, image, opening, n_samples, 25, 0)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Build both sets, fine-tune, evaluate, time, write the JSON and print the summary line."""
    from angiogen.cli import main as cli

    parser = benchmark_parser("uncrop", __doc__.splitlines()[0], "8 synthetic and 8 folder test images, a 12-phantom "
                              "bank, 5 fine-tuning steps, K = 2.")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="Model .safetensors (default: bundled).")
    parser.add_argument("--regression", type=Path, default=None, help="A regression-baseline model to score too.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the data (as `angiogen --seed`).")
    parser.add_argument("--finetune-steps", type=int, default=300, help="Fine-tuning budget on the CT folder.")
    parser.add_argument("--work", type=Path, default=None, help="Keep the data and runs here (default: a temp dir).")
    args = parser.parse_args()
    samples = 2 if args.quick else 8
    finetune_steps = 5 if args.quick else args.finetune_steps
    model = load_model(args.model)
    regression = load_model(args.regression) if args.regression else None
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        result: dict = {"model": str(args.model), "samples": samples, "ddim_steps": 25, "seed": args.seed}

        config = DataConfig(**({"n_phantoms": 12, "n_test": 8} if args.quick else {}))
        start = time.perf_counter()
        with dask_session("local", 2) as session:
            bank, test = build_synthetic(config, args.seed, session)
        write_dataset(work / "synthetic", "synthetic", config, args.seed, test, bank=bank, overwrite=True)
        synthetic, _ = evaluate_dataset(work / "synthetic", model, work / "eval_synthetic", samples, 25, args.seed,
                                        regression=regression, overwrite=True)
        result["synthetic"] = set_summary(synthetic)
        detected = []
        for collimated, opening in zip(test.collimated, test.opening):
            try:
                detected.append(iou(detect_opening(collimated), opening))
            except Exception:  # noqa: BLE001 - a miss counts as IoU 0
                detected.append(0.0)
        result["detection_iou"] = {"mean": float(np.mean(detected)), "median": float(np.median(detected)),
                                   "n": len(detected)}
        result["synthetic_seconds"] = time.perf_counter() - start

        start = time.perf_counter()
        folder = ct_folder(work / "ct_folder", 20 if args.quick else 40, args.seed)
        set_ = ["--set", "group_pattern=^(view\\d+)_"]
        assert cli(["--quiet", "--seed", str(args.seed), "uncrop", "prepare", "--out", str(work / "ct_data"),
                    "--full", str(folder / "A"), "--collimated", str(folder / "B"), "--masks", str(folder / "masks"),
                    *set_, "--overwrite"]) == 0
        tune_start = time.perf_counter()
        assert cli(["--quiet", "--device", "cpu", "--seed", str(args.seed), "uncrop", "train", str(work / "ct_data"),
                    "--out", str(work / "ct_finetune"), "--init", str(args.model), "--steps", str(finetune_steps),
                    "--set", "validate_every=100000", "--set", f"checkpoint_every={max(finetune_steps, 1)}",
                    "--overwrite"]) == 0
        finetune_s = time.perf_counter() - tune_start
        tuned = load_model(work / "ct_finetune" / "outputs" / "model.safetensors")
        folder_results, _ = evaluate_dataset(work / "ct_data", tuned, work / "eval_folder", samples, 25, args.seed,
                                             regression=regression, overwrite=True)
        bundled_results, _ = evaluate_dataset(work / "ct_data", model, work / "eval_folder_bundled", samples, 25,
                                              args.seed, overwrite=True)
        result["folder"] = set_summary(folder_results)
        result["folder"]["ours_bundled"] = set_summary(bundled_results)["ours"]
        n_train = sum(1 for _ in (folder / "A").iterdir()) - folder_results["n"]
        result["folder"]["finetune"] = {"steps": finetune_steps, "seconds": finetune_s, "train_images": n_train}
        result["folder_seconds"] = time.perf_counter() - start

    result["s_per_sample_256"] = seconds_per_completion(model, 1)
    result["s_per_8_samples_256"] = seconds_per_completion(model, 8, repeats=1 if args.quick else 2)
    for name in ("synthetic", "folder"):
        summary = result[name]
        result[name]["targets"] = {
            "psnr_missing_gain_db": summary["best_baseline_psnr_missing"]["ours_minus_best"],
            "psnr_missing_met": summary["best_baseline_psnr_missing"]["ours_minus_best"] >= TARGET_PSNR_DB,
            "ssim_missing_gain": summary["best_baseline_ssim_missing"]["ours_minus_best"],
            "ssim_missing_met": summary["best_baseline_ssim_missing"]["ours_minus_best"] >= TARGET_SSIM,
            "spearman_met": summary["uncertainty_spearman"] >= TARGET_SPEARMAN}
    result["speed_targets_met"] = {"one_sample": result["s_per_sample_256"] < TARGET_ONE_S,
                                   "eight_samples": result["s_per_8_samples_256"] < TARGET_EIGHT_S}
    path = write_results("uncrop", result, args.quick, args.out)
    line = []
    for name in ("synthetic", "folder"):
        summary = result[name]
        best = summary["best_baseline_psnr_missing"]
        line.append(f"{name}: ours {summary['ours']['psnr_missing']:.2f} dB vs {best['method']} {best['value']:.2f} dB "
                    f"({best['ours_minus_best']:+.2f}), SSIM {summary['best_baseline_ssim_missing']['ours_minus_best']:+.3f},"
                    f" rho {summary['uncertainty_spearman']:.2f}")
    print(f"uncrop ({path.name}): " + "; ".join(line) + f"; 256^2: {result['s_per_sample_256']:.1f} s (K=1), "
          f"{result['s_per_8_samples_256']:.1f} s (K=8); detection IoU {result['detection_iou']['mean']:.2f}")


if __name__ == "__main__":
    main()
