"""The engine's step of ``angiogen demo``: a torso phantom with a contrast-filled coronary tree, projected at two
standard views. It lives in the demo layer, next to :mod:`angiogen.demo`, so that ``synth/`` needs no report types."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from angiogen.io.atomic import atomic_path  # noqa: E402
from angiogen.io.coordinates import lps_to_ras  # noqa: E402
from angiogen.io.nifti import Volume, write_nifti  # noqa: E402
from angiogen.report.types import DemoContext, DemoResult, Figure  # noqa: E402
from angiogen.synth.angio import STILL, AngioSequence, angiography_sequence  # noqa: E402
from angiogen.synth.torso import torso_phantom  # noqa: E402

VIEWS = ("RAO30/CRA20", "LAO45")
FRAME_TIME_S = 1.6  # after the injection: the bolus fills the proximal and middle vessels
PHOTONS_PER_PIXEL = 5e4  # low end of the dose range of docs/methods/engine.md §2.5
TORSO_SHAPE = (128, 128, 128)
TORSO_SPACING_MM = 2.5


def engine_demo(context: DemoContext) -> DemoResult:
    """Torso phantom (NIfTI, HU) and a left coronary run at two views: exact vessel-only and noisy live frames."""
    out = context.out_dir
    torso = torso_phantom(TORSO_SHAPE, TORSO_SPACING_MM, seed=context.seed)
    write_nifti(out / "torso_hu.nii.gz", Volume(torso.hu, lps_to_ras(torso.affine)), overwrite=True)

    started = time.perf_counter()
    runs = [angiography_sequence(context.seed, 0, view=name, n_frames=1, start_time_s=FRAME_TIME_S,
                                 photons_per_pixel=PHOTONS_PER_PIXEL, motion=STILL, torso_shape=TORSO_SHAPE,
                                 torso_spacing_mm=TORSO_SPACING_MM, detector_px=192, pixel_spacing_mm=1.2)
            for name in VIEWS]
    angio_seconds = time.perf_counter() - started
    runs[0].tree.write_vtk(out / "coronary_centerlines.vtk", overwrite=True)
    runs[0].tree.write_json(out / "coronary_tree.json", overwrite=True)

    figure = out / "coronary_torso_views.png"
    _plot(torso.hu, runs, figure)
    return DemoResult(
        figures=[Figure(figure, "engine: torso phantom (coronal mean, HU) and a left coronary injection at "
                                "RAO30/CRA20 and LAO45: exact vessel-only line integrals and the noisy live image")],
        metrics={
            "torso_grid": "x".join(map(str, TORSO_SHAPE)),
            "torso_spacing_mm": TORSO_SPACING_MM,
            "tree_nodes": runs[0].tree.n_nodes,
            "tree_edges": runs[0].tree.n_edges,
            "frame_time_s": FRAME_TIME_S,
            "photons_per_pixel": PHOTONS_PER_PIXEL,
            "max_vessel_line_integral": float(max(run.vessel.max() for run in runs)),
            "synthesis_and_projection_s": round(angio_seconds, 2),
        },
    )


def _plot(hu: np.ndarray, runs: list[AngioSequence], path: Path) -> None:
    """Figure: coronal mean projection of the torso, then for each view the vessel-only and the noisy live frame."""
    fig, axes = plt.subplots(1, 1 + 2 * len(runs), figsize=(4 * (1 + 2 * len(runs)), 4.3))
    axes[0].imshow(hu.mean(axis=1).T, cmap="gray", origin="lower")
    axes[0].set_title("torso, coronal mean (HU)")
    for index, run in enumerate(runs):
        name = run.geometry.name
        axes[1 + 2 * index].imshow(run.vessel[0], cmap="gray_r")
        axes[1 + 2 * index].set_title(f"{name}: vessels only (truth)")
        live = run.noisy_live[0]
        low, high = np.percentile(live, [1, 99])  # display window: the body's range of line integrals
        axes[2 + 2 * index].imshow(live, cmap="gray_r", vmin=low, vmax=high)
        axes[2 + 2 * index].set_title(f"{name}: live, noisy")
    for axis in axes:
        axis.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
