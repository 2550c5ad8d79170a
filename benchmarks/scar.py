"""Benchmark of the ``scar`` task: 3D scar reconstruction from sparse LGE slices on the synthetic LV phantom.

Case: ~40k-node LV (1.53 mm lattice, lumped node volumes), isthmus scar (transmural sector split by a 3-5 mm
healthy channel, plus patchy blobs), short-axis stack 1.5 x 1.5 mm pixels, 8 mm spacing = thickness, partial volume
(4 x 4 x 16 sub-samples per pixel), noise sd 0.05, per-slice in-plane misalignment N(0, 1 mm) per axis; 3 truth
seeds. Ours: the default recipe (``angiogen.tasks.scar.train.default_configs``), 20 MC-dropout samples. Wall time
= group building + fitting + MC inference (case synthesis excluded), torch on 2 threads. Baselines: nearest slice,
linear (trilinear) interpolation, signed-distance shape interpolation. Optionally the original's configuration
(4 x 128, cyclic lr, batches of 10,000, 3 MC passes, patience 500) under a wall-time cap, reporting its epochs.

With ``--warm-start``, each case is also fine-tuned (the default recipe at the fine-tuning peak learning rate 3e-4)
from a "foundation" model (the default recipe fitted in turn to truth seeds 100-103), with all layers free and with
the first two frozen.

Usage: python benchmarks/scar.py [--quick] [--seeds 0 1 2] [--spacings 8 10] [--original-cap-s 300] [--warm-start]
Writes benchmarks/results/scar.json (``--quick``: scar_quick.json, so a smoke run keeps the full result); prints a one-line summary last.
"""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from _harness import benchmark_parser, write_results

from angiogen.nets.coordinate_mlp import MLPConfig
from angiogen.tasks.scar.evaluate import score_baselines, score_field
from angiogen.tasks.scar.groups import build_groups
from angiogen.tasks.scar.infer import reconstruct
from angiogen.tasks.scar.model import ScarModel
from angiogen.tasks.scar.synthetic import CaseSpec, make_case
from angiogen.tasks.scar.train import FitConfig, default_configs, fit

TARGET = {"dice": 0.90, "abs_vol_err_pct": 3.0, "wall_s": 150.0}
# Peak learning rate of the warm-start fine-tuning (--warm-start). At the from-scratch 3e-3 (an earlier run) the
# fine-tuned fields reached Dice 0.954 / 0.957 on seeds 1 / 2 and collapsed to an empty field on seed 0; 3e-4 is
# what is measured now.
FINE_TUNE_LR = 3e-4


def run_ours(case, mlp: MLPConfig, config: FitConfig, init: ScarModel | None = None,
             freeze_layers: int = 0) -> dict[str, object]:
    """Group building + fit + 20-sample MC inference, timed; scores against the truth."""
    start = time.perf_counter()
    build_groups(case.data.points_mm, case.data.slices)  # timed as a user's prepare step would be
    result = fit(case.data, mlp, config, init=init, freeze_layers=freeze_layers)
    recon = reconstruct(result.model, case.data.points_mm, 20, seed=config.seed)
    wall = time.perf_counter() - start
    scores = score_field(case.data, recon.probability, recon.uncertainty)
    shifts = result.model.info.get("slice_shifts_mm")
    if shifts is not None:
        true = case.slices.shift_mm - case.slices.shift_mm.mean(0)
        scores["shift_rmse_mm"] = float(np.sqrt(((np.asarray(shifts) - true) ** 2).mean()))
        scores["shift_rms_true_mm"] = float(np.sqrt((true**2).mean()))
    return {**scores, "wall_s": wall, "train_s": result.wall_s, "epochs": result.epochs, "steps": result.steps,
            "stop_reason": result.stop_reason, "best_loss": result.best_loss}


def foundation_model(seeds: list[int], node_spacing: float, spacing: float, mlp: MLPConfig,
                     config: FitConfig) -> tuple[ScarModel, float]:
    """A "foundation" model: the default recipe fitted in turn to synthetic cases of other truth seeds, each fit
    after the first starting from the previous one's weights at the fine-tuning learning rate; returns it and the
    seconds it took."""
    started = time.perf_counter()
    model = None
    for seed in seeds:
        case = make_case(CaseSpec(node_spacing_mm=node_spacing, slice_spacing_mm=spacing, seed=seed))
        lr = config.lr if model is None else FINE_TUNE_LR
        model = fit(case.data, mlp, config.model_copy(update={"seed": seed, "lr": lr}), init=model).model
    return model, time.perf_counter() - started


def main() -> None:
    parser = benchmark_parser("scar", __doc__.split("\n")[0], "The demo case only (~12k nodes, one seed).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--spacings", type=float, nargs="+", default=[8.0], help="Slice spacings in mm.")
    parser.add_argument("--original-cap-s", type=float, default=0.0,
                        help="Also run the original configuration on the first case, capped at this many seconds.")
    parser.add_argument("--warm-start", action="store_true",
                        help="Also fine-tune from a foundation model pre-fitted on truth seeds 100-103 "
                             "(all layers, and the first two frozen).")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    node_spacing = 2.2 if args.quick else 1.53
    seeds = args.seeds[:1] if args.quick else args.seeds
    spacings = args.spacings[:1] if args.quick else args.spacings
    mlp, config = default_configs()
    foundation, foundation_s = None, None
    if args.warm_start and not args.quick:
        foundation, foundation_s = foundation_model([100, 101, 102, 103], node_spacing, spacings[0], mlp, config)
        print(f"foundation model: 4 cases in {foundation_s:.0f} s", flush=True)
    cases = []
    for spacing in spacings:
        for seed in seeds:
            started = time.perf_counter()
            case = make_case(CaseSpec(node_spacing_mm=node_spacing, slice_spacing_mm=spacing, seed=seed))
            synth_s = time.perf_counter() - started
            ours = run_ours(case, mlp, config.model_copy(update={"seed": seed}))
            started = time.perf_counter()
            baselines = score_baselines(case.data)
            baseline_s = time.perf_counter() - started
            entry = {"seed": seed, "slice_spacing_mm": spacing, "nodes": len(case.data.points_mm),
                     "groups": case.data.groups.n_groups, "synth_s": synth_s, "baselines_s": baseline_s,
                     "ours": ours, "baselines": baselines}
            if foundation is not None and spacing == spacings[0]:
                tuned = config.model_copy(update={"seed": seed, "lr": FINE_TUNE_LR})
                entry["warm_start"] = {f"freeze_{k}": run_ours(case, mlp, tuned, foundation, k) for k in (0, 2)}
            cases.append(entry)
            print(f"spacing {spacing:g} mm seed {seed}: ours dice {ours['dice']:.4f} vol {ours['vol_err_pct']:+.2f}% "
                  f"({ours['wall_s']:.0f} s, {ours['epochs']} epochs) | "
                  + ", ".join(f"{k} {v['dice']:.4f}" for k, v in baselines.items()), flush=True)

    original = None
    if args.original_cap_s > 0 and not args.quick:
        case = make_case(CaseSpec(node_spacing_mm=node_spacing, slice_spacing_mm=spacings[0], seed=seeds[0]))
        config_original = FitConfig.original(time_budget_s=args.original_cap_s, seed=seeds[0])
        original = run_ours(case, MLPConfig(), config_original)
        original["cap_s"] = args.original_cap_s
        print(f"original config: dice {original['dice']:.4f} after {original['epochs']} epochs "
              f"({original['wall_s']:.0f} s, {original['stop_reason']})", flush=True)

    headline = [c for c in cases if c["slice_spacing_mm"] == spacings[0]]
    mean = lambda values: float(np.mean(values))  # noqa: E731
    result = {
        "task": "scar",
        "case": f"LV phantom {headline[0]['nodes']} nodes, isthmus scar, 1.5x1.5x{spacings[0]:g} mm partial-volume "
                "slices, noise 0.05, misalignment 1 mm; means over seeds " + ", ".join(map(str, seeds)),
        "wall_s": mean([c["ours"]["wall_s"] for c in headline]),
        "wall_s_max": float(np.max([c["ours"]["wall_s"] for c in headline])),
        "dice": mean([c["ours"]["dice"] for c in headline]),
        "dice_nodes": mean([c["ours"]["dice_nodes"] for c in headline]),
        "vol_err_pct": mean([c["ours"]["vol_err_pct"] for c in headline]),
        "mae": mean([c["ours"]["mae"] for c in headline]),
        "uncertainty_auroc": mean([c["ours"]["uncertainty_auroc"] for c in headline]),
        "isthmus_open": [c["ours"]["isthmus_open"] for c in headline],
        "epochs": int(np.max([c["ours"]["epochs"] for c in headline])),
        "baselines": {
            name: {"dice": mean([c["baselines"][name]["dice"] for c in headline]),
                   "vol_err_pct": mean([c["baselines"][name]["vol_err_pct"] for c in headline]),
                   "isthmus_open": [c["baselines"][name]["isthmus_open"] for c in headline]}
            for name in headline[0]["baselines"]
        },
        "original_config": original,
        "warm_start": None if foundation is None else {
            "foundation": "default recipe fitted in turn to truth seeds 100-103 (lr 3e-4 after the first)",
            "fine_tune_lr": FINE_TUNE_LR,
            "foundation_s": foundation_s,
            **{name: {"dice": mean([c["warm_start"][name]["dice"] for c in headline]),
                      "vol_err_pct": mean([c["warm_start"][name]["vol_err_pct"] for c in headline]),
                      "wall_s": mean([c["warm_start"][name]["wall_s"] for c in headline])}
               for name in ("freeze_0", "freeze_2")}},
        "settings": {"mlp": mlp.to_dict(), "train": config.model_dump(mode="json"), "mc_samples": 20, "threads": args.threads},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_threads": args.threads},
        "target": TARGET,
        "cases": cases,
    }
    best_baseline = max(v["dice"] for v in result["baselines"].values())
    result["target_met"] = bool(result["dice"] >= TARGET["dice"] and result["dice"] > best_baseline
                                and abs(result["vol_err_pct"]) <= TARGET["abs_vol_err_pct"]
                                and result["wall_s_max"] <= TARGET["wall_s"])
    out = write_results("scar", result, args.quick, args.out)
    base = ", ".join(f"{k} {v['dice']:.3f}" for k, v in result["baselines"].items())
    print(f"scar: dice {result['dice']:.3f} (baselines: {base}), vol err {result['vol_err_pct']:+.1f}%, "
          f"wall {result['wall_s']:.0f} s (max {result['wall_s_max']:.0f}), epochs {result['epochs']}, "
          f"target {'met' if result['target_met'] else 'NOT met'} -> {out}")


if __name__ == "__main__":
    main()
