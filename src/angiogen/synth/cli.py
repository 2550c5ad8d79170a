"""``angiogen synth``: vessel trees, torso phantoms and angiography runs, in batches on Dask.

Heavy modules (numpy, torch, dask) are imported inside the commands so that ``angiogen --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from angiogen.cli_common import WORKERS_HELP, global_options, progress_bar

app = typer.Typer(no_args_is_help=True, help="Synthesise vessel trees, phantoms and angiography runs (engine).")

_OUT_HELP = "Output folder; sample i goes to OUT/<kind>_<i:06d>/."
_SCHEDULER_HELP = ("Dask scheduler: 'local' (a local cluster of --workers processes), 'synchronous' (no cluster), "
                   "or the address of a running scheduler (tcp://host:8786).")

# Batch options shared by every synth command.
N_OPTION = typer.Option(1, "--n", help="Number of samples.")
START_OPTION = typer.Option(0, "--start", help="Index of the first sample.")
SCHEDULER_OPTION = typer.Option("local", "--scheduler", help=_SCHEDULER_HELP)
WORKERS_OPTION = typer.Option(2, "--workers", help=WORKERS_HELP)
OVERWRITE_OPTION = typer.Option(False, "--overwrite", help="Replace existing files.")


def _run(ctx: typer.Context, kind: str, params: dict[str, Any], out: Path, n: int, start: int, scheduler: str,
         workers: int, overwrite: bool) -> None:
    """Validate, then generate samples start..start+n-1 with a progress bar; print where they went."""
    from angiogen.synth.batch import run_batch, validate

    options = global_options(ctx)
    validate(kind, params, start, n)  # bad input fails here, before the progress bar and any file
    with progress_bar(options.quiet) as bar:
        task = bar.add_task(f"synth {kind}", total=n)
        files = run_batch(kind, params, options.seed, out, n=n, start=start, scheduler=scheduler, workers=workers,
                          overwrite=overwrite, progress=lambda done, total: bar.update(task, completed=done))
    typer.echo(f"{n} {kind} sample(s), {len(files)} files in {out}")


@app.command()
def vessels(
    ctx: typer.Context,
    out: Path = typer.Option(Path("runs/synth/vessels"), help=_OUT_HELP),
    generator: str = typer.Option("coronary", help="'coronary' (left/right coronary tree), 'lsystem' or 'willis' "
                                  "(Circle of Willis with a TOF-MRA-like image and segment labels)."),
    side: str = typer.Option("left", help="Coronary side: left or right."),
    n_iter: int = typer.Option(7, help="L-system depth (3..12)."),
    variant: str = typer.Option("random", help="Circle-of-Willis variant: 'random' (drawn with population "
                                "frequencies), complete, missing_acom, missing_pcom_l|r|both, missing_a1_l|r, "
                                "fetal_pcom_l|r."),
    spacing_mm: Optional[float] = typer.Option(
        None, help="Voxel size of the NIfTI files in mm (default 0.5; willis 0.6: a 32 x 128 x 128 grid, "
                   "1.2: 16 x 64 x 64)."),
    surface: bool = typer.Option(False, "--surface", help="Also write the lumen surface (surface.vtk)."),
    n: int = N_OPTION,
    start: int = START_OPTION,
    scheduler: str = SCHEDULER_OPTION,
    workers: int = WORKERS_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Vessel trees: tree JSON, VTK centrelines, NIfTI occupancy (and surface), JSON sidecar per sample; willis
    adds the TOF-MRA-like image (tof_mra.nii.gz) and segment labels (labels.nii.gz)."""
    params = {"generator": generator, "side": side, "n_iter": n_iter, "variant": variant, "spacing_mm": spacing_mm,
              "surface": surface}
    _run(ctx, "vessels", params, out, n, start, scheduler, workers, overwrite)


@app.command()
def phantom(
    ctx: typer.Context,
    out: Path = typer.Option(Path("runs/synth/phantom"), help=_OUT_HELP),
    size: int = typer.Option(128, help="Grid size (voxels per side, cubic)."),
    spacing_mm: float = typer.Option(2.5, help="Voxel size in mm."),
    breathing: float = typer.Option(0.0, help="Respiratory state 0 (expiration) .. 1 (inspiration)."),
    texture: bool = typer.Option(True, "--texture/--no-texture", help="Seeded smooth tissue texture."),
    n: int = N_OPTION,
    start: int = START_OPTION,
    scheduler: str = SCHEDULER_OPTION,
    workers: int = WORKERS_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """CT-like torso phantoms: NIfTI in HU, tissue labels and a JSON sidecar per sample."""
    params = {"shape": (size, size, size), "spacing_mm": spacing_mm, "breathing": breathing, "texture": texture}
    _run(ctx, "phantom", params, out, n, start, scheduler, workers, overwrite)


@app.command()
def angio(
    ctx: typer.Context,
    out: Path = typer.Option(Path("runs/synth/angio"), help=_OUT_HELP),
    view: str = typer.Option("RAO30/CRA20", help="C-arm view, e.g. RAO30/CRA20, LAO45, AP/CAU30."),
    frames: int = typer.Option(8, help="Frames per run."),
    fps: float = typer.Option(7.5, help="Frame rate in frames per second."),
    dose: float = typer.Option(1.5e5, help="Unattenuated photons per detector pixel (N0)."),
    breathing: float = typer.Option(0.5, help="Peak respiratory state 0..1 (0 = breath hold)."),
    side: str = typer.Option("left", help="Coronary tree: left or right."),
    detector_px: int = typer.Option(128, help="Detector rows = columns in pixels."),
    pixel_mm: float = typer.Option(2.0, help="Detector pixel spacing in mm."),
    sid_mm: float = typer.Option(1000.0, help="Source-to-detector distance in mm."),
    sod_mm: float = typer.Option(750.0, help="Source-to-isocentre distance in mm (< SID)."),
    torso_size: int = typer.Option(96, help="Torso grid size (voxels per side)."),
    torso_spacing_mm: float = typer.Option(3.2, help="Torso voxel size in mm."),
    vessel_spacing_mm: float = typer.Option(0.75, help="Vessel sub-grid voxel size in mm."),
    n: int = N_OPTION,
    start: int = START_OPTION,
    scheduler: str = SCHEDULER_OPTION,
    workers: int = WORKERS_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
) -> None:
    """Angiography runs: multi-frame DICOM XA, float32 TIFF line integrals, PNG previews, JSON sidecar."""
    from angiogen.errors import InputError

    if not fps > 0:
        raise InputError(f"--fps must be positive, got {fps}")
    params = {
        "view": view, "n_frames": frames, "frame_time_s": 1.0 / fps, "photons_per_pixel": dose,
        "breathing_amplitude": breathing, "side": side, "detector_px": detector_px, "pixel_spacing_mm": pixel_mm,
        "sid_mm": sid_mm, "sod_mm": sod_mm, "torso_shape": (torso_size,) * 3, "torso_spacing_mm": torso_spacing_mm,
        "vessel_spacing_mm": vessel_spacing_mm,
    }
    _run(ctx, "angio", params, out, n, start, scheduler, workers, overwrite)
