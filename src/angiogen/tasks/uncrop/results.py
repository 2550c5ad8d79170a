"""Runs of the evaluation and the demo step: score a dataset's test set and write its files, draw the demo frame."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from angiogen.io.atomic import check_writable, write_text_atomic
from angiogen.io.json_files import write_json
from angiogen.tasks.uncrop.baselines import BASELINES, TrainingSetBaselines, biharmonic, mean_fill
from angiogen.tasks.uncrop.data import TRAIN_PAIRS, DataConfig, UncropDataset, load_dataset, simulate_pair
from angiogen.tasks.uncrop.evaluate import evaluate, image_metrics
from angiogen.tasks.uncrop.figures import plot_examples
from angiogen.tasks.uncrop.infer import complete
from angiogen.tasks.uncrop.model import UncropModel, load_model

#: Training pairs drawn as the reference of the ``train_mean`` and ``nearest`` baselines on synthetic data.
REFERENCE_PAIRS = 512
RESULT_FILES = ("results.json", "per_image.csv", "examples.png")


def training_reference(data: UncropDataset, n_pairs: int = REFERENCE_PAIRS) -> np.ndarray:
    """(N, h, w) full-field training images: the folder's own, or ``n_pairs`` synthetic training pairs."""
    if data.train is not None:
        return data.train.full
    return np.stack([data.draw_pair(data.seed, TRAIN_PAIRS, index)[0] for index in range(n_pairs)])


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def evaluate_dataset(folder: Path, model: UncropModel, out: Path, samples: int = 8, steps: int = 25, seed: int = 0,
                     device: torch.device | str = "cpu", metric_set: str = "standard",
                     regression: UncropModel | None = None, quiet: bool = True,
                     overwrite: bool = False) -> tuple[dict, list[Path]]:
    """Evaluate ``model`` (and a ``regression`` model) with the baselines on ``folder``'s test set; write
    ``results.json`` (summaries), ``per_image.csv`` and ``examples.png`` to ``out``."""
    from angiogen.cli_common import progress_bar

    paths = [out / name for name in RESULT_FILES]
    for path in paths:
        check_writable(path, overwrite)
    data = load_dataset(folder)
    baselines = TrainingSetBaselines(training_reference(data)).all()

    def ours(collimated: np.ndarray, opening: np.ndarray, index: int):
        return complete(model, collimated, opening, samples, steps, seed + index, device)

    others = {}
    if regression is not None:
        others["regression"] = lambda collimated, opening, index: complete(regression, collimated, opening, 1, 1,
                                                                           seed + index, device)
    with progress_bar(quiet) as bar:
        task = bar.add_task("evaluate", total=len(data.test))
        results = evaluate(ours, data.test, baselines, others, metric_set, seed,
                           lambda done, total: bar.update(task, completed=done))
    examples = results.pop("examples")
    rows = results.pop("rows")
    out.mkdir(parents=True, exist_ok=True)
    columns = ["collimated", "ours", "std", "truth", "ours_one_sample", *BASELINES[2:]]
    plot_examples(paths[2], {data.test.names[i]: images for i, images in examples.items()}, columns, overwrite)
    write_text_atomic(paths[1], _csv(rows), overwrite=overwrite)
    summary = {**results, "samples": samples, "steps": steps, "seed": seed, "dataset": str(folder),
               "model_info": {key: model.info.get(key) for key in ("steps", "data_kind", "init")}}
    write_json(paths[0], summary, overwrite=overwrite)
    return results, paths


def demo_figure(out_dir: Path, seed: int, device: str, model_path: Path) -> tuple[Path, dict, list[str]]:
    """The demo frame: a held-out synthetic collimated frame at 256 px completed with K = 4, DDIM 25 steps;
    returns the figure, the metrics of ours and of the mean-fill and biharmonic baselines, and notes."""
    from angiogen.synth.backgrounds import background_views
    from angiogen.train.device import select_device

    config = DataConfig()
    rng = np.random.default_rng([seed, 99, 0])  # a stream no dataset draws from
    views = background_views(rng, config.views(config.test_size), 1, config.anatomies, ct_torso_fraction=1.0)
    truth, collimated, opening = simulate_pair(views[0], config, rng)
    model = load_model(model_path)
    completion = complete(model, collimated, opening, 4, 25, seed, select_device(device))
    estimates = {"ours": completion.mean, "ours_one_sample": completion.samples[0],
                 "mean_fill": mean_fill(collimated, opening), "biharmonic": biharmonic(collimated, opening)}
    metrics = {}
    for name, estimate in estimates.items():
        scores = image_metrics(estimate, truth, opening)
        metrics[f"{name}_psnr_missing_db"] = round(scores["psnr_missing"], 2)
        metrics[f"{name}_ssim_missing"] = round(scores["ssim_missing"], 3)
    metrics["opening_fraction"] = round(float(opening.mean()), 3)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {"collimated": collimated, **estimates, "std": completion.std, "truth": truth, "opening": opening}
    figure = plot_examples(out_dir / "uncrop_demo.png", {"CT torso, held-out view": images},
                           ["collimated", "ours", "std", "truth", "mean_fill", "biharmonic"], overwrite=True)
    notes = [f"The opening covers {100 * metrics['opening_fraction']:.0f} % of the field; everything outside it is "
             "synthesised, not measured. Missing-region PSNR: ours "
             f"{metrics['ours_psnr_missing_db']} dB, one sample {metrics['ours_one_sample_psnr_missing_db']} dB, "
             f"mean fill {metrics['mean_fill_psnr_missing_db']} dB, biharmonic {metrics['biharmonic_psnr_missing_db']} dB.",
             f"Bundled model: {model_path.name} ({model.info.get('steps', '?')} steps at {model.config.size} px); "
             "the benchmark (benchmarks/uncrop.py) scores it on 64 held-out synthetic images and on the real CT."]
    return figure, metrics, notes
