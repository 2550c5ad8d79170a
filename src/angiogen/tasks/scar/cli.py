"""``angiogen scar``: prepare / train / reconstruct / evaluate, and the demo step."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from angiogen.cli_common import OVERWRITE_HELP, global_options
from angiogen.errors import InputError
from angiogen.io.atomic import check_writable, write_text_atomic
from angiogen.tasks.registry import DemoContext, DemoResult, Figure, Task

log = logging.getLogger(__name__)
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _parse_slices(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise InputError(f"--slices expects comma-separated integers, got {text!r}") from error


@app.command()
def prepare(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="Training file (.npz); with --synthetic, a folder for the whole case."),
    mesh: Optional[Path] = typer.Option(
        None, help="LV mesh (.vtk/.vtu/.vtp) with tetrahedra, nodes in mm in patient coordinates (see --mesh-frame)."),
    slices: Optional[Path] = typer.Option(
        None, help="Slice stack: .nii/.nii.gz/.nrrd with its affine, a DICOM series folder (one file per slice) "
        "or a folder of the original's VTK grid layers (one .vtk/.vtu/.vtp per slice); values in [0, 1]."),
    pad_mm: float = typer.Option(0.0, help="Extra half-thickness of every pixel prism, mm."),
    thickness_mm: Optional[float] = typer.Option(
        None, help="Slice thickness, mm (default: the slice spacing; VTK layers: z range + 10 mm as the original)."),
    layer_array: Optional[str] = typer.Option(None, help="VTK layers: the cell array with the pixel values."),
    use_slices: Optional[str] = typer.Option(None, "--use-slices", help="Comma-separated slice indices to use."),
    mesh_frame: str = typer.Option(
        "auto", help="Frame of the mesh's nodes: ras (nibabel, NIfTI), lps (ITK, SimpleITK, DICOM, CemrgApp) or auto "
        "(decided from how the nodes fall on the slices). With --synthetic: the frame the mesh is written in "
        "(auto = ras)."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Simulate an LV phantom case with known truth."),
    kind: str = typer.Option("isthmus", help="Synthetic scar: isthmus, transmural, subendocardial, patchy."),
    node_spacing_mm: float = typer.Option(1.53, help="Synthetic mesh node spacing, mm (1.53 ~ 40k nodes)."),
    slice_spacing_mm: float = typer.Option(8.0, help="Synthetic slice spacing (= thickness), mm."),
    pixel_mm: float = typer.Option(1.5, help="Synthetic in-plane pixel size, mm."),
    tilt_deg: float = typer.Option(0.0, help="Synthetic stack tilt from the long axis, degrees."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Build the training file: pixel-prism groups of the mesh nodes (or a whole synthetic case)."""
    options = global_options(ctx)
    if synthetic:
        from angiogen.io.mesh_frame import require_frame_choice
        from angiogen.synth.lv_phantom import SCAR_KINDS
        from angiogen.tasks.scar.synthetic import CaseSpec, make_case, write_case

        if kind not in SCAR_KINDS:
            raise InputError(f"unknown scar kind {kind!r}; expected one of {', '.join(SCAR_KINDS)}")
        require_frame_choice(mesh_frame)
        for name in ("mesh.vtu", "slices.nii.gz", "data.npz"):
            check_writable(out / name, overwrite)
        case = make_case(CaseSpec(node_spacing_mm, kind, slice_spacing_mm, pixel_mm, tilt_deg, seed=options.seed))
        written_frame = "ras" if mesh_frame == "auto" else mesh_frame
        paths = write_case(case, out, overwrite, written_frame)
        summary = {**case.data.summary(), "mesh_frame": written_frame}
        typer.echo(f"wrote {', '.join(str(p) for p in paths.values())}")
    else:
        from angiogen.tasks.scar.data import prepare_case

        if mesh is None or slices is None:
            raise InputError("prepare needs --mesh and --slices (or --synthetic)")
        check_writable(out, overwrite)
        data = prepare_case(mesh, slices, pad_mm, thickness_mm, _parse_slices(use_slices), layer_array, mesh_frame)
        data.save(out, overwrite)
        summary = data.summary()
        how = "detected" if mesh_frame == "auto" else "as given"
        typer.echo(f"wrote {out} (mesh frame {data.mesh_frame.upper()}, {how})")
    typer.echo(json.dumps(summary, indent=1))


@app.command()
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Training file from `angiogen scar prepare`."),
    out: Path = typer.Option(..., help="Checkpoint to write (.safetensors)."),
    schedule: str = typer.Option("fast", help="fast (full batch, cosine) or original (cyclic lr, batches, 3 MC)."),
    epochs: Optional[int] = typer.Option(None, help="Maximum epochs (default 200 fast, 10000 original)."),
    lr: Optional[float] = typer.Option(None, help="Peak (fast) or base (original) learning rate."),
    width: int = typer.Option(128, help="Hidden units."),
    depth: int = typer.Option(4, help="Hidden Linear layers."),
    dropout: float = typer.Option(0.1, help="Dropout probability."),
    dropout_every_layer: bool = typer.Option(False, help="Dropout after every hidden layer."),
    fourier_features: Optional[int] = typer.Option(
        None, help="Random Fourier features (0 = plain coordinates; default 32 fast, 0 original)."),
    fourier_sigma: Optional[float] = typer.Option(
        None, help="Fourier frequency scale (cycles per normalised unit; default that of MLPConfig, 1)."),
    learn_shifts: Optional[bool] = typer.Option(
        None, "--learn-shifts/--no-learn-shifts", help="Fit a per-slice in-plane shift (default: off)."),
    time_budget_s: Optional[float] = typer.Option(None, help="Stop after this many seconds."),
    val_fraction: float = typer.Option(0.0, help="Share of pixels held out to monitor (0 = training loss)."),
    init: Optional[Path] = typer.Option(None, help="Warm start from this checkpoint (any case)."),
    freeze_layers: int = typer.Option(0, help="With --init: leading Linear layers kept fixed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing checkpoint."),
) -> None:
    """Fit the coordinate MLP to the slices' pixel-group means; keep the best weights."""
    from angiogen.nets.coordinate_mlp import MLPConfig
    from angiogen.tasks.scar.data import load_data
    from angiogen.tasks.scar.model import load_model
    from angiogen.tasks.scar.train import FitConfig, default_configs, fit
    from angiogen.train.device import select_device

    options = global_options(ctx)
    check_writable(out, overwrite)
    if out.suffix != ".safetensors":
        raise InputError("checkpoints are written as .safetensors", out)
    if schedule not in ("fast", "original"):
        raise InputError(f"unknown schedule {schedule!r}; expected fast or original")
    case = load_data(data)
    overrides: dict[str, object] = {"seed": options.seed, "time_budget_s": time_budget_s,
                                    "val_fraction": val_fraction}
    if epochs is not None:
        overrides["epochs"] = epochs
    if lr is not None:
        overrides["lr"] = lr
    if learn_shifts is not None:
        overrides["learn_shifts"] = learn_shifts
    recipe_mlp, recipe = default_configs(options.seed)
    if schedule == "original":
        config = FitConfig.original(**overrides)
        n_fourier = 0 if fourier_features is None else fourier_features
    else:
        config = recipe.model_copy(update=overrides)
        n_fourier = recipe_mlp.fourier_features if fourier_features is None else fourier_features
    sigma = {} if fourier_sigma is None else {"fourier_sigma": fourier_sigma}
    mlp = MLPConfig(width=width, depth=depth, dropout=dropout, dropout_every_layer=dropout_every_layer,
                    fourier_features=n_fourier, fourier_seed=options.seed, **sigma)
    start = load_model(init) if init is not None else None
    result = fit(case, mlp, config, select_device(options.device), start, freeze_layers)
    result.model.save(out, overwrite)
    typer.echo(f"wrote {out}: {result.epochs} epochs, best loss {result.best_loss:.4g} at epoch "
               f"{result.best_epoch}, {result.wall_s:.1f} s ({result.stop_reason})")


@app.command()
def reconstruct(
    ctx: typer.Context,
    model: Path = typer.Option(..., help="Checkpoint from `angiogen scar train`."),
    mesh: Path = typer.Option(..., help="The LV mesh the model was fitted to (.vtk/.vtu/.vtp; written back in the "
                              "same format and frame)."),
    out_dir: Path = typer.Option(..., help="Output folder."),
    data: Optional[Path] = typer.Option(None, help="Training file, for the slice overlay figure."),
    samples: int = typer.Option(20, help="MC dropout samples."),
    threshold: float = typer.Option(0.5, help="Binarisation level of the mean probability."),
    grid_mm: float = typer.Option(1.5, help="Voxel size of the NIfTI volumes, mm."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """MC-dropout reconstruction: mesh with scar_probability/uncertainty/binary, NIfTI volumes, figures."""
    from angiogen.io.coordinates import points_to_ras
    from angiogen.tasks.scar.data import case_id, load_data, load_mesh
    from angiogen.tasks.scar.infer import reconstruct as run_reconstruct
    from angiogen.tasks.scar.outputs import write_outputs
    from angiogen.tasks.scar.model import load_model
    from angiogen.train.device import select_device

    options = global_options(ctx)
    if samples < 1:
        raise InputError(f"--samples must be >= 1, got {samples}")
    user_mesh = load_mesh(mesh)
    fitted = load_model(model)
    points_ras = points_to_ras(user_mesh.points, fitted.mesh_frame)
    fitted.require_case(case_id(points_ras), model)
    case = load_data(data) if data is not None else None
    if case is not None and case.case_id != fitted.case_id:
        raise InputError("holds another case than the model and mesh", data)
    device = select_device(options.device)
    recon = run_reconstruct(fitted, points_ras, samples, threshold, options.seed, device)
    mesh_name = "scar" + (mesh.suffix.lower() if mesh.suffix.lower() in (".vtk", ".vtp") else ".vtu")
    paths = write_outputs(out_dir, user_mesh, recon, fitted, case, grid_mm, mesh_name, options.seed, overwrite,
                          device)
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


@app.command()
def evaluate(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Training file (truth is used when it holds one)."),
    model: Path = typer.Option(..., help="Checkpoint fitted to this case."),
    out: Path = typer.Option(..., help="Metrics file (.json)."),
    samples: int = typer.Option(20, help="MC dropout samples."),
    threshold: float = typer.Option(0.5, help="Binarisation level."),
    truth_mesh: Optional[Path] = typer.Option(None, help="Mesh with a point array scar_truth (same nodes)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing metrics file."),
) -> None:
    """Score the reconstruction (and the non-learned baselines) against the truth; slice residuals always."""
    from angiogen.tasks.scar.data import load_data, load_mesh
    from angiogen.tasks.scar.evaluate import score_baselines, score_field, slice_residuals
    from angiogen.tasks.scar.infer import reconstruct as run_reconstruct
    from angiogen.tasks.scar.model import load_model

    options = global_options(ctx)
    check_writable(out, overwrite)
    case = load_data(data)
    fitted = load_model(model, expected_case_id=case.case_id)
    if truth_mesh is not None:
        reference = load_mesh(truth_mesh)
        if "scar_truth" not in reference.point_data or len(reference.points) != len(case.points_mm):
            raise InputError("needs a point array scar_truth on the same nodes as the training file", truth_mesh)
        case.truth = np.asarray(reference.point_data["scar_truth"]).reshape(-1) >= 0.5
    recon = run_reconstruct(fitted, case.points_mm, samples, threshold, options.seed)
    report: dict[str, object] = {"slice_residuals": slice_residuals(case, recon.probability),
                                 "train": fitted.info}
    if case.truth is not None:
        report["ours"] = score_field(case, recon.probability, recon.uncertainty, threshold)
        report["baselines"] = score_baselines(case, threshold)
    write_text_atomic(out, json.dumps(report, indent=1), overwrite)
    if case.truth is not None:
        ours = report["ours"]
        typer.echo(f"dice {ours['dice']:.4f}, volume error {ours['vol_err_pct']:+.2f} %; wrote {out}")  # type: ignore[index]
    else:
        typer.echo(f"no truth: wrote slice residuals to {out}")


def run_demo_step(context: DemoContext) -> DemoResult:
    """Synthetic patient (~12k-node LV, patchy scar with an isthmus, 1.5 mm pixels, 8 mm slices) reconstructed
    with the fast schedule and 20 MC samples; figures and metrics vs the non-learned baselines."""
    from angiogen.io.meshes import Mesh
    from angiogen.tasks.scar.evaluate import score_baselines, score_field
    from angiogen.tasks.scar.infer import reconstruct as run_reconstruct
    from angiogen.tasks.scar.outputs import write_outputs
    from angiogen.tasks.scar.synthetic import CaseSpec, make_case, write_case
    from angiogen.tasks.scar.train import default_configs, fit
    from angiogen.train.device import select_device

    started = time.perf_counter()
    device = select_device(context.device)
    out = Path(context.out_dir)
    case = make_case(CaseSpec(node_spacing_mm=DEMO_NODE_SPACING_MM, seed=context.seed))
    write_case(case, out, overwrite=True)
    mlp, config = default_configs(context.seed)
    result = fit(case.data, mlp, config, device)
    result.model.save(out / "model.safetensors", overwrite=True)
    recon = run_reconstruct(result.model, case.data.points_mm, 20, 0.5, context.seed, device)
    mesh = Mesh(case.data.points_mm, {"vertex": np.arange(len(case.data.points_mm))[:, None]},
                {"scar_truth": case.data.truth.astype(np.float32)})
    paths = write_outputs(out, mesh, recon, result.model, case.data, 1.5, "scar.vtu", context.seed, True, device)
    ours = score_field(case.data, recon.probability, recon.uncertainty)
    baselines = score_baselines(case.data)
    wall = time.perf_counter() - started
    metrics: dict[str, object] = {
        "nodes": len(case.data.points_mm), "groups": case.data.groups.n_groups,
        "epochs": result.epochs, "train_s": round(result.wall_s, 1), "total_s": round(wall, 1),
        "dice": round(ours["dice"], 4), "vol_err_pct": round(ours["vol_err_pct"], 2),  # type: ignore[arg-type]
        "isthmus_open": ours["isthmus_open"], "uncertainty_auroc": round(ours["uncertainty_auroc"], 3),  # type: ignore[arg-type]
    }
    for name, scores in baselines.items():
        metrics[f"dice_{name}"] = round(scores["dice"], 4)  # type: ignore[arg-type]
    write_text_atomic(out / "metrics.json", json.dumps({"ours": ours, "baselines": baselines, **metrics},
                                                        indent=1), overwrite=True)
    return DemoResult(
        figures=[Figure(paths["figure_3d"], "scar: reconstructed probability and MC-dropout uncertainty on the LV"),
                 Figure(paths["figure_slices"], "scar: each LGE slice with the reconstruction's cross-section")],
        metrics=metrics,
        notes=[f"Synthetic LV ({metrics['nodes']} nodes, 8 mm slices, 1.5 mm pixels, noise and misalignment); "
               f"volume-weighted Dice {metrics['dice']} vs linear interpolation {metrics['dice_linear']}."],
    )


DEMO_NODE_SPACING_MM = 2.2


TASK = Task(
    name="scar",
    summary="3D myocardial scar probability on an LV mesh from sparse 2D LGE-MRI slices, with uncertainty",
    app=app,
    demo=run_demo_step,
)
