"""Benchmark of the ``scar`` task: 3D scar reconstruction from sparse LGE slices on the synthetic LV phantom.

Case: ~40k-node LV (1.53 mm lattice, lumped node volumes), isthmus scar (transmural sector split by a 3-5 mm
healthy channel, plus patchy blobs), short-axis stack 1.5 x 1.5 mm pixels, 8 mm spacing = thickness, partial volume
(4 x 4 x 16 sub-samples per pixel), noise sd 0.05, per-slice in-plane misalignment N(0, 1 mm) per axis; 3 truth
seeds. Ours: the default recipe (``angiogen.tasks.scar.train.default_configs``), 20 MC-dropout samples. Wall time
= group building + fitting + MC inference (case synthesis excluded), torch on 2 threads. Baselines: nearest slice,
linear (trilinear) interpolation, signed-distance shape interpolation. Optionally the original's configuration
(4 x 128, cyclic lr, batches of 10,000, 3 MC passes, patience 500) under a wall-time cap, reporting its epochs.

New cases (``--new-cases``, on by default outside ``--quick``): other truth seeds, pixel sizes 1.25-1.8 mm, slice
spacings 9-10 mm, oblique stacks and 20-60k nodes, reported apart from the headline cases and together with them in
``per_case``. Frame check: every case's mesh is taken as written in RAS and in LPS, and the automatic frame
detection (``angiogen.io.mesh_frame.decide_mesh_frame``) must name the frame it was written in.

With ``--warm-start``, each case is also fine-tuned (the default recipe at the fine-tuning peak learning rate 3e-4)
from a "foundation" model (the default recipe fitted in turn to truth seeds 100-103), with all layers free and with
the first two frozen.

Usage: python benchmarks/scar.py [--quick] [--seeds 0 1 2] [--spacings 8 10] [--no-new-cases] [--original-cap-s 300]
[--warm-start]
Writes benchmarks/results/scar.json (``--quick``: scar_quick.json, so a smoke run keeps the full result); prints a one-line summary last.
"""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from _harness import benchmark_parser, write_results

from angiogen.io.coordinates import PATIENT_FRAMES, points_from_ras
from angiogen.io.mesh_frame import decide_mesh_frame
from angiogen.nets.coordinate_mlp import MLPConfig
from angiogen.tasks.scar.evaluate import score_baselines, score_field
from angiogen.tasks.scar.groups import build_groups
from angiogen.tasks.scar.infer import reconstruct
from angiogen.tasks.scar.model import ScarModel
from angiogen.tasks.scar.synthetic import CaseSpec, make_case
from angiogen.tasks.scar.train import FitConfig, default_configs, fit

TARGET = {"dice": 0.90, "dice_over_linear": 0.015, "abs_vol_err_pct": 3.0, "wall_s": 150.0}
# Held-out cases beyond the headline ones: (seed, scar kind, pixel mm, slice spacing mm, tilt deg, node spacing mm).
NEW_CASES = [(20, "isthmus", 1.25, 9.0, 0.0, 1.53), (21, "patchy", 1.8, 10.0, 15.0, 1.53),
             (22, "transmural", 1.4, 8.0, 20.0, 1.9), (23, "subendocardial", 1.6, 10.0, 10.0, 1.33)]
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


def frame_checks(case) -> list[dict[str, object]]:
    """The case's mesh taken as written in RAS and in LPS: the frame ``decide_mesh_frame`` names for each."""
    checks = []
    for written in PATIENT_FRAMES:
        points = points_from_ras(case.data.points_mm, written)
        detected = decide_mesh_frame(points, case.data.slices, "auto", "mesh", "slices")
        checks.append({"written": written, "detected": detected, "right": detected == written})
    return checks


def case_label(spec: CaseSpec, nodes: int) -> str:
    """A short name of a case: seed, scar, pixel, spacing, tilt, nodes."""
    return (f"seed {spec.seed} {spec.scar_kind} {spec.pixel_mm:g} mm px {spec.slice_spacing_mm:g} mm slices "
            f"tilt {spec.tilt_deg:g} {nodes // 1000}k nodes")


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
    parser.add_argument("--no-new-cases", action="store_true", help="Only the headline cases.")
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
    specs = [("headline", CaseSpec(node_spacing_mm=node_spacing, slice_spacing_mm=spacing, seed=seed))
             for spacing in spacings for seed in seeds]
    if not args.quick and not args.no_new_cases:
        specs += [("new", CaseSpec(node_spacing_mm=nodes, scar_kind=kind, slice_spacing_mm=spacing, pixel_mm=pixel,
                                   tilt_deg=tilt, seed=seed)) for seed, kind, pixel, spacing, tilt, nodes in NEW_CASES]
    cases = []
    for group, spec in specs:
        seed, spacing = spec.seed, spec.slice_spacing_mm
        started = time.perf_counter()
        case = make_case(spec)
        synth_s = time.perf_counter() - started
        ours = run_ours(case, mlp, config.model_copy(update={"seed": seed}))
        started = time.perf_counter()
        baselines = score_baselines(case.data)
        baseline_s = time.perf_counter() - started
        entry = {"group": group, "case": case_label(spec, len(case.data.points_mm)), "seed": seed,
                 "slice_spacing_mm": spacing, "nodes": len(case.data.points_mm), "frames": frame_checks(case),
                 "groups": case.data.groups.n_groups, "synth_s": synth_s, "baselines_s": baseline_s,
                 "ours": ours, "baselines": baselines}
        if foundation is not None and group == "headline" and spacing == spacings[0]:
            tuned = config.model_copy(update={"seed": seed, "lr": FINE_TUNE_LR})
            entry["warm_start"] = {f"freeze_{k}": run_ours(case, mlp, tuned, foundation, k) for k in (0, 2)}
        cases.append(entry)
        print(f"{entry['case']}: ours dice {ours['dice']:.4f} vol {ours['vol_err_pct']:+.2f}% "
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

    headline = [c for c in cases if c["group"] == "headline" and c["slice_spacing_mm"] == spacings[0]]
    new = [c for c in cases if c["group"] == "new"]
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
        "per_case": [{"case": c["case"], "group": c["group"], "dice": c["ours"]["dice"],
                      "vol_err_pct": c["ours"]["vol_err_pct"], "linear_dice": c["baselines"]["linear"]["dice"],
                      "wall_s": c["ours"]["wall_s"]} for c in cases],
        "groups": {name: group_summary(members) for name, members in (("headline", headline), ("new", new),
                                                                       ("all", cases)) if members},
        "frame_detection": {"checks": sum(len(c["frames"]) for c in cases),
                            "right": sum(check["right"] for c in cases for check in c["frames"])},
        "cases": cases,
    }
    result["frame_detection"]["all_right"] = result["frame_detection"]["right"] == result["frame_detection"]["checks"]
    result["target_met"] = bool(all(group["target_met"] for group in result["groups"].values())
                                and result["frame_detection"]["all_right"])
    out = write_results("scar", result, args.quick, args.out)
    base = ", ".join(f"{k} {v['dice']:.3f}" for k, v in result["baselines"].items())
    every = result["groups"]["all"]
    frames = result["frame_detection"]
    print(f"scar: headline dice {result['dice']:.3f} (baselines: {base}), vol err {result['vol_err_pct']:+.1f}%, "
          f"wall max {result['wall_s_max']:.0f} s; all {len(cases)} cases: dice - linear "
          f"{every['dice_over_linear']:+.4f}, "
          f"{every['cases_below_linear']} below linear, |vol err| {every['abs_vol_err_pct']:.1f}%; frames "
          f"{frames['right']}/{frames['checks']} right; target {'met' if result['target_met'] else 'NOT met'} -> {out}")


def group_summary(cases: list[dict]) -> dict[str, object]:
    """Means over a group of cases and whether they meet the issue's targets."""
    dice = np.array([c["ours"]["dice"] for c in cases])
    linear = np.array([c["baselines"]["linear"]["dice"] for c in cases])
    vol = np.array([c["ours"]["vol_err_pct"] for c in cases])
    wall = np.array([c["ours"]["wall_s"] for c in cases])
    summary = {"cases": len(cases), "dice": float(dice.mean()), "linear_dice": float(linear.mean()),
               "dice_over_linear": float((dice - linear).mean()), "cases_below_linear": int((dice < linear).sum()),
               "abs_vol_err_pct": float(np.abs(vol).mean()), "wall_s_max": float(wall.max())}
    summary["target_met"] = bool(summary["dice_over_linear"] >= TARGET["dice_over_linear"]
                                 and summary["cases_below_linear"] == 0
                                 and summary["abs_vol_err_pct"] <= TARGET["abs_vol_err_pct"]
                                 and summary["wall_s_max"] <= TARGET["wall_s"])
    return summary


if __name__ == "__main__":
    main()
