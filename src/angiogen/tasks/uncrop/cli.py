"""``angiogen uncrop``: prepare / train / predict / evaluate, and the demo step."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import typer

from angiogen.cli_common import (MODELS_DIR, OVERWRITE_HELP, SET_HELP, WORKERS_HELP, build_config, bundled_model_path,
                                 global_options, profile_values, progress_bar, training_recipe)
from angiogen.errors import InputError
from angiogen.tasks.registry import DemoContext, DemoResult, Figure, Task

log = logging.getLogger(__name__)
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

BUNDLED_MODEL = MODELS_DIR / "uncrop" / "uncrop_ddim_cpu.safetensors"
#: Small settings for CI and quick looks.
SMOKE_DATA = {"n_phantoms": 6, "views_per_phantom": 2, "n_test": 4, "n_val": 2, "size": 32, "test_size": 64}
SMOKE_MODEL = {"size": 32, "channels": [8, 16, 16], "norm_groups": 8, "head_channels": 8, "prior_channels": [8]}
SMOKE_RECIPE = {"steps": 20, "batch_size": 4, "validate_every": 10, "checkpoint_every": 10, "log_every": 5,
                "validation_steps": 3, "model": SMOKE_MODEL}
DATA_PROFILES = {"cpu": {}, "smoke": SMOKE_DATA}
RECIPE_PROFILES = {"cpu": {}, "smoke": SMOKE_RECIPE}
SAMPLES_HELP = "K, completions drawn per image (their mean is the estimate, their std the uncertainty)."
STEPS_HELP = "DDIM steps per completion."
MODEL_HELP = "Model .safetensors (default: the bundled CPU model)."


def _model_path(model: Optional[Path]) -> Path:
    return model or bundled_model_path("uncrop", BUNDLED_MODEL.name)


@app.command()
def prepare(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="Dataset folder: bank.npz or train.npz, test.npz, manifest.json."),
    full: Optional[Path] = typer.Option(None, help="Folder of full-field images (A)."),
    collimated: Optional[Path] = typer.Option(None, help="Folder of collimated images (B), paired by file name."),
    masks: Optional[Path] = typer.Option(None, help="Folder of opening masks (white = opening), paired by name."),
    profile: str = typer.Option("cpu", help="cpu (120 phantoms x 8 views, 64 test images) or smoke (seconds)."),
    config: Optional[Path] = typer.Option(None, help="YAML file of data settings."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + " E.g. --set group_pattern='^(P\\d+)_'."),
    scheduler: str = typer.Option("local", help="Dask: local, synchronous or a scheduler address."),
    workers: int = typer.Option(2, help=WORKERS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
) -> None:
    """Synthesise collimated pairs from the engine (no folder given), or read and split the user's folders."""
    from angiogen.io.image_triples import pair_folders, read_plain_folder, split_triples
    from angiogen.synth.parallel import dask_session
    from angiogen.tasks.uncrop.data import (TEST_PAIRS, TRAIN_PAIRS, DataConfig, build_synthetic, triples_to_pairs,
                                            write_dataset)

    options = global_options(ctx)
    data_config = build_config(DataConfig, profile_values(profile, DATA_PROFILES), config, set_).check()
    start = time.perf_counter()
    if full is None and collimated is None and masks is None:
        with progress_bar(options.quiet) as bar, dask_session(scheduler, workers) as session:
            tasks: dict[str, int] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done)

            bank, test = build_synthetic(data_config, options.seed, session, report)
        manifest = write_dataset(out, "synthetic", data_config, options.seed, test, bank=bank, overwrite=overwrite)
        typer.echo(f"wrote {out}: {len(bank)} bank views, {len(test)} test images in "
                   f"{time.perf_counter() - start:.0f} s; manifest {manifest}")
        return
    if full is None:
        raise InputError("uncrop needs the full-field images (--full) to train and evaluate on")
    triples = pair_folders(full, collimated, masks) if collimated or masks else read_plain_folder(full)
    train, test = split_triples(triples, data_config.test_fraction, options.seed, data_config.group_pattern)
    train_pairs, measured = triples_to_pairs(train, data_config.size, data_config, options.seed, TRAIN_PAIRS)
    test_pairs, _ = triples_to_pairs(test, data_config.test_size, data_config, options.seed, TEST_PAIRS)
    sources = {"full": str(full), "collimated": str(collimated or ""), "masks": str(masks or "")}
    manifest = write_dataset(out, "folder", data_config, options.seed, test_pairs, train=train_pairs,
                             measured=measured, sources=sources, overwrite=overwrite)
    typer.echo(f"wrote {out}: {len(train_pairs)} training images ({int(measured.sum())} with their own collimated "
               f"image), {len(test_pairs)} test images; manifest {manifest}")


@app.command()
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Dataset folder from `angiogen uncrop prepare`."),
    out: Path = typer.Option(..., help="Run folder (config.yaml, metrics.csv, checkpoints/, outputs/)."),
    profile: str = typer.Option("cpu", help="cpu (2,000 steps at 128 px, ~40 min on 2 quiet cores) or smoke."),
    steps: Optional[int] = typer.Option(None, help="Optimiser steps (overrides the profile)."),
    objective: Optional[str] = typer.Option(None, help="diffusion (default) or regression (the same U-Net, L1)."),
    prior: Optional[str] = typer.Option(None, help="VAE prior: none (default), rows (the method's) or spatial."),
    init: Optional[str] = typer.Option(None, help="Fine-tune from 'bundled' or a model file (its network "
                                       "settings replace the recipe's)."),
    config: Optional[Path] = typer.Option(None, help="YAML file of the recipe."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its latest checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
) -> None:
    """Train the conditional diffusion model (or the regression baseline); writes OUT/outputs/model.safetensors."""
    from angiogen.report.figures import plot_training_curves
    from angiogen.tasks.uncrop.data import load_dataset
    from angiogen.tasks.uncrop.train import RecipeConfig, fit
    from angiogen.train.run_context import training_run

    options = global_options(ctx)
    overrides = [*set_, *([f"model.objective={objective}"] if objective else []),
                 *([f"model.prior={prior}"] if prior else [])]
    recipe = training_recipe(RecipeConfig, out, profile_values(profile, RECIPE_PROFILES), config, overrides, steps,
                             resume)
    init_path = None if init is None else _model_path(None) if init == "bundled" else Path(init)
    dataset = load_dataset(data)
    with training_run(out, recipe, options.device, resume, overwrite) as training:
        fitted = fit(dataset, recipe, training.run, options.seed, training.device, training.dist, resume,
                     options.quiet, init_path)
    if not training.is_main:
        return
    run = training.run
    model_path = fitted.model.save(run.outputs / "model.safetensors", overwrite=True)
    curves = plot_training_curves(run.outputs / "training_curves.png", run.root / "metrics.csv", overwrite=True,
                                  validation_series={"val_psnr_missing": "model (one sample)",
                                                     "val_psnr_missing_mean_fill": "mean fill"},
                                  loss_title="training loss (masked noise MSE)",
                                  validation_title="validation PSNR over the missing region (dB)")
    metrics = dict(fitted.result.last_metrics)
    run.write_metrics({**metrics, "steps": fitted.result.step})
    typer.echo(f"wrote {model_path} and {curves}: {fitted.result.step} steps, validation missing-region PSNR "
               f"{metrics.get('val_psnr_missing', float('nan')):.2f} dB (mean fill "
               f"{metrics.get('val_psnr_missing_mean_fill', float('nan')):.2f} dB)")


@app.command()
def predict(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="A collimated image (PNG, TIFF, JPEG, DICOM) or a folder of them."),
    out: Path = typer.Option(..., help="Output folder."),
    masks: Optional[Path] = typer.Option(None, help="Opening mask file or folder (white = opening), paired by "
                                         "name; without it the opening is detected from the collimator edges."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    samples: int = typer.Option(8, min=1, help=SAMPLES_HELP),
    steps: int = typer.Option(25, min=1, max=1000, help=STEPS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Full-field completions (K-sample mean) and per-pixel std, in the input's format, with PNG previews."""
    from angiogen.io.atomic import check_writable
    from angiogen.io.json_files import write_json
    from angiogen.tasks.uncrop.infer import check_opening, complete
    from angiogen.tasks.uncrop.model import load_model
    from angiogen.tasks.uncrop.outputs import output_paths, read_inputs, write_outputs
    from angiogen.train.device import select_device

    options = global_options(ctx)
    inputs = read_inputs(source, masks)
    for item in inputs:
        check_opening(item.opening, item.mask_source)
        for path in [*output_paths(out, item).values(), out / "predictions.json"]:
            check_writable(path, overwrite)
    model_path = _model_path(model)
    net = load_model(model_path)
    device = select_device(options.device)
    records = []
    with progress_bar(options.quiet) as bar:
        task = bar.add_task("uncrop", total=len(inputs))
        for index, item in enumerate(inputs):
            completion = complete(net, item.image, item.opening, samples, steps, options.seed + index, device)
            records.append(write_outputs(out, item, completion, overwrite))
            bar.update(task, completed=index + 1)
    summary = write_json(out / "predictions.json", {"model": str(model_path), "samples": samples,
                                                     "steps": steps, "seed": options.seed, "images": records,
                                                     "note": "outside the opening the image is synthesised, "
                                                             "not measured"}, overwrite=overwrite)
    typer.echo(f"{len(inputs)} image(s) -> {out} ({summary.name})")


@app.command()
def evaluate(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Dataset folder from `angiogen uncrop prepare` (its test set)."),
    out: Path = typer.Option(..., help="Output folder: results.json, per_image.csv, examples.png."),
    model: Optional[Path] = typer.Option(None, help=MODEL_HELP),
    regression: Optional[Path] = typer.Option(None, help="A regression-baseline model to score beside ours."),
    samples: int = typer.Option(8, min=1, help=SAMPLES_HELP),
    steps: int = typer.Option(25, min=1, max=1000, help=STEPS_HELP),
    metrics: str = typer.Option("standard", help="standard, or original (adds the method's MSE on [-1, 1] and its "
                                "SSIM variant, to set numbers beside its published table)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Ours (K-sample mean and one sample) vs mean fill, training mean, nearest image and biharmonic inpainting."""
    from angiogen.tasks.uncrop.evaluate import METRIC_SETS
    from angiogen.tasks.uncrop.model import load_model
    from angiogen.tasks.uncrop.results import evaluate_dataset
    from angiogen.train.device import select_device

    options = global_options(ctx)
    if metrics not in METRIC_SETS:
        raise InputError(f"--metrics must be one of {', '.join(METRIC_SETS)}, got {metrics!r}")
    net = load_model(_model_path(model))
    other = load_model(regression) if regression is not None else None
    results, paths = evaluate_dataset(data, net, out, samples, steps, options.seed, select_device(options.device),
                                      metrics, other, options.quiet, overwrite)
    for name, values in results["methods"].items():
        typer.echo(f"{name:>16}: missing PSNR {values['psnr_missing']['mean']:.2f} dB, SSIM "
                   f"{values['ssim_missing']['mean']:.3f}; whole PSNR {values['psnr']['mean']:.2f} dB")
    typer.echo(f"uncertainty Spearman {results['uncertainty']['uncertainty_spearman']['mean']:.2f}, coverage "
               f"{results['uncertainty']['coverage_2sd']['mean']:.2f}; wrote {', '.join(str(p) for p in paths)}")


def demo_step(context: DemoContext) -> DemoResult:
    """The bundled model on a held-out synthetic collimated frame: input | mean | std | truth, with baselines."""
    from angiogen.tasks.uncrop.results import demo_figure

    figure, metrics, notes = demo_figure(context.out_dir, context.seed, context.device,
                                         bundled_model_path("uncrop", BUNDLED_MODEL.name))
    return DemoResult(figures=[Figure(figure, "uncrop on a held-out synthetic collimated frame: collimated input "
                                              "(opening outlined) | ours (mean of 4 DDIM samples) | std | truth | "
                                              "best baselines")], metrics=metrics, notes=notes)


TASK = Task(name="uncrop", summary="Full field of view of collimated X-ray images by conditional diffusion.",
            app=app, demo=demo_step)
