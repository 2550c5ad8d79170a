"""Benchmark of the ``dsa`` task: the motion test set of docs/methods/dsa.md §2.8 with the bundled model (or ``--model``).

Case: 48 unseen synthetic cases (random anatomy among thorax / abdomen / pelvis / limb, 2-4 vessel trees filling
the field, iodine excess U(0.01, 0.05) 1/mm), 128 x 128 detector at 2 mm, SID 1000 / SOD 750 mm, random view
within LAO/RAO 30 and CRA/CAU 20 degrees; mask at pose A, live at pose B (rigid motion N(0, 2 mm) per axis,
N(0, 1 deg) rotation), static mask at B for the no-motion reference; Poisson noise at N0 = 5e4, 1.5e5, 5e5.
Methods: ours (live frame only), all-zero, live - mask, registered (phase correlation, 1/10 px), registered +
Gaussian 1 px, no-motion DSA. Ours is the mean over the 8 rotations / flips of each frame (as ``angiogen dsa
predict`` does by default); the single view (``--no-tta``) is scored too, as ``ours_single_view`` in the JSON.
Metrics on the central 112 x 112: vessel-ROI PSNR (range 0.5) and background RMS (the ranking pair), whole-image
PSNR and SSIM; a paired Wilcoxon test of ours vs registered. The test set is
synthesised from ``--seed`` here (same seed as `angiogen dsa prepare`, so the same cases).

Usage: python benchmarks/dsa.py [--quick] [--model PATH] [--seed 0] [--out PATH]
Writes benchmarks/results/dsa.json (``--quick``: 8 cases, dsa_quick.json); prints a one-line summary last.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from _harness import benchmark_parser, write_results

from angiogen.synth.parallel import dask_session
from angiogen.tasks.dsa.cli import BUNDLED_MODEL
from angiogen.tasks.dsa.data import DataConfig, build_motion_test
from angiogen.tasks.dsa.evaluate import summary_table
from angiogen.tasks.dsa.evaluate import evaluate as run_evaluation
from angiogen.tasks.dsa.model import load_model

MIDDLE_DOSE = "150000"


def main() -> None:
    """Synthesise the motion test set, evaluate, write the JSON and print the summary line."""
    parser = benchmark_parser("dsa", __doc__.splitlines()[0], "8 test cases (smoke profile).")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="Model .safetensors (default: bundled).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the test set (as `angiogen --seed`).")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers for the test set.")
    args = parser.parse_args()

    config = DataConfig(n_test=8 if args.quick else 48)
    start = time.perf_counter()
    with dask_session("local", args.workers) as session:
        test = build_motion_test(config, args.seed, session)
    synth_s = time.perf_counter() - start
    model = load_model(args.model)
    start = time.perf_counter()
    results = run_evaluation(model.predict, test,
                             variants={"ours_single_view": functools.partial(model.predict, tta=False)})
    results.pop("examples")
    eval_s = time.perf_counter() - start
    table = summary_table(results)
    for dose, row in table.items():
        print(f"N0 {dose}: " + ", ".join(f"{m} {v['roi_psnr']:.2f}/{v['bg_rms']:.4f}" for m, v in row.items()))
    middle = table[MIDDLE_DOSE]
    best_baseline = max(middle["zero"]["roi_psnr"], middle["registered_smoothed"]["roi_psnr"])
    target = {
        "roi_psnr_margin_db": middle["ours"]["roi_psnr"] - best_baseline,
        "roi_psnr_margin_target_db": 3.0,
        "bg_rms_below_registered": middle["ours"]["bg_rms"] < middle["registered"]["bg_rms"],
    }
    target["met"] = bool(target["roi_psnr_margin_db"] >= 3.0 and target["bg_rms_below_registered"])
    result = {
        "n_cases": len(test), "seed": args.seed,
        "model": str(args.model.name), "model_info": {k: model.info.get(k) for k in ("steps", "seed")},
        "methods": results["methods"], "doses": table,
        "secondary": {dose: {m: {k: by_dose[m][k]["mean"] for k in ("psnr", "ssim")} for m in results["methods"]}
                      for dose, by_dose in results["doses"].items()},
        "sd": {dose: {m: {k: by_dose[m][k]["sd"] for k in ("roi_psnr", "bg_rms")} for m in results["methods"]}
               for dose, by_dose in results["doses"].items()},
        "wilcoxon_ours_vs_registered": {dose: by_dose["wilcoxon_vs_registered"]
                                        for dose, by_dose in results["doses"].items()},
        "target_middle_dose": target, "synth_s": synth_s, "eval_s": eval_s,
    }
    out = write_results("dsa", result, args.quick, args.out)
    print(f"dsa: N0 1.5e5 ROI PSNR ours {middle['ours']['roi_psnr']:.2f} dB vs zero {middle['zero']['roi_psnr']:.2f}, "
          f"registered+smoothed {middle['registered_smoothed']['roi_psnr']:.2f}, no-motion "
          f"{middle['no_motion']['roi_psnr']:.2f}, ours single view {middle['ours_single_view']['roi_psnr']:.2f}; "
          f"bg RMS ours {middle['ours']['bg_rms']:.4f} vs registered "
          f"{middle['registered']['bg_rms']:.4f}; target {'met' if target['met'] else 'MISSED'} -> {out}")


if __name__ == "__main__":
    main()
