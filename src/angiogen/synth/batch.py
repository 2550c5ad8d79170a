"""Batch synthesis on Dask: every sample is a pure function of (kind, parameters, seed, index).

Three kinds of sample, each written to ``OUT/<kind>_<index:06d>/``:

- ``vessels``: ``tree.json``, ``centerlines.vtk``, ``occupancy.nii.gz`` (partial-volume occupancy), optional
  ``surface.vtk``, ``sidecar.json``; the ``willis`` generator adds ``tof_mra.nii.gz`` (TOF-MRA-like image) and
  ``labels.nii.gz`` (segment labels), all on the vessel3d grid centred on the ring;
- ``phantom``: ``torso_hu.nii.gz``, ``labels.nii.gz``, ``sidecar.json``;
- ``angio``: ``live.dcm`` and ``mask.dcm`` (noisy multi-frame XA with the C-arm tags), ``vessel.tif``,
  ``live.tif``, ``mask.tif``, ``noisy_live.tif``, ``noisy_mask.tif`` (float32 line integrals, (F, rows, cols)),
  ``preview_live.png``, ``preview_vessel.png`` (last frame), ``sidecar.json``.

Files are written atomically and reproducibly (deterministic DICOM UIDs and dates, sorted JSON), so a run of
indices 0..7 and two shards 0..3, 4..7 give byte-identical files. Everything is validated before the first
sample runs: bad input raises InputError and nothing is written.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from angiogen.config import Config
from angiogen.errors import InputError
from angiogen.synth.parallel import dask_session, map_indexed

KINDS = ("vessels", "phantom", "angio")
MAX_SAMPLES = 1_000_000
MAX_DETECTOR_PX = 4096
FILES = {
    "vessels": ("tree.json", "centerlines.vtk", "occupancy.nii.gz", "sidecar.json"),
    "phantom": ("torso_hu.nii.gz", "labels.nii.gz", "sidecar.json"),
    "angio": ("live.dcm", "mask.dcm", "vessel.tif", "live.tif", "mask.tif", "noisy_live.tif", "noisy_mask.tif",
              "preview_live.png", "preview_vessel.png", "sidecar.json"),
}
VESSEL_SPACING_MM = {"coronary": 0.5, "lsystem": 0.5, "willis": 0.6}  # default spacing_mm per generator
WILLIS_FILES = ("tof_mra.nii.gz", "labels.nii.gz")
MIN_WILLIS_SPACING_MM = 0.2  # 96 x 384 x 384 voxels over the willis field
DICOM_DATE = datetime.datetime(2000, 1, 1)  # fixed study date: files depend on (seed, index) only


def _torso_grid(shape: list[int]) -> list[int]:
    """``shape`` checked by :func:`angiogen.synth.voxelize.check_shape` and against ``MAX_TORSO_VOXELS``."""
    from angiogen.synth.torso import MAX_TORSO_VOXELS
    from angiogen.synth.voxelize import check_shape

    dims = check_shape(tuple(shape))
    if np.prod(np.asarray(dims, dtype=np.float64)) > MAX_TORSO_VOXELS:
        raise InputError(f"torso grid {dims} has more than {MAX_TORSO_VOXELS} voxels (absurd size)")
    return list(dims)


TorsoShape = Annotated[list[int], AfterValidator(_torso_grid)]
"""A torso grid: three positive voxel counts, at most ``MAX_TORSO_VOXELS`` in all (stored as a list)."""


class VesselBatchConfig(Config):
    """Parameters of a ``vessels`` sample; ``spacing_mm`` None (or left out) is the generator's default,
    :data:`VESSEL_SPACING_MM`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generator: Literal["coronary", "lsystem", "willis"] = "coronary"
    side: Literal["left", "right"] = Field("left", description="Coronary side.")
    n_iter: int = Field(7, description="L-system depth (lsystem: 3..12).")
    variant: str = Field("random", description="Circle-of-Willis variant or 'random'.")
    spacing_mm: float | None = Field(None, ge=0.05, allow_inf_nan=False, description="Voxel size, mm.")
    surface: bool = Field(False, description="Also write surface.vtk.")

    @model_validator(mode="before")
    @classmethod
    def _generator_spacing(cls, data: Any) -> Any:
        """Fill ``spacing_mm`` None with the generator's default spacing."""
        if isinstance(data, dict) and data.get("spacing_mm") is None:
            generator = data.get("generator", "coronary")
            if isinstance(generator, str) and generator in VESSEL_SPACING_MM:
                return {**data, "spacing_mm": VESSEL_SPACING_MM[generator]}
        return data

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, variant: str) -> str:
        """'random' or a name of :data:`angiogen.synth.willis.VARIANTS`."""
        from angiogen.synth.willis import resolve_variant

        return variant if variant == "random" else resolve_variant(variant)  # unknown name: InputError

    @model_validator(mode="after")
    def _sizes(self) -> VesselBatchConfig:
        """An L-system deep enough to grow a segment but not absurd; willis not finer than its minimum."""
        if self.generator == "lsystem" and self.n_iter < 3:
            raise InputError(f"an L-system with n_iter {self.n_iter} < 3 grows no segment (empty tree)")
        if self.generator == "lsystem" and self.n_iter > 12:
            raise InputError(f"n_iter {self.n_iter} > 12 is an absurd size for a batch (2^(n-2) trunks)")
        if self.generator == "willis" and (self.spacing_mm or 0.0) < MIN_WILLIS_SPACING_MM:
            raise InputError(f"willis spacing_mm {self.spacing_mm} below {MIN_WILLIS_SPACING_MM} mm is an absurd "
                             "size for a batch")
        return self


class PhantomBatchConfig(Config):
    """Parameters of a ``phantom`` sample (CT-like torso)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: TorsoShape = Field(default_factory=lambda: [128, 128, 128], description="Grid (Z, Y, X) in voxels.")
    spacing_mm: float = Field(2.5, gt=0, allow_inf_nan=False, description="Voxel size, mm.")
    breathing: float = Field(0.0, ge=0, le=1, description="Respiratory state 0 (expiration) .. 1 (inspiration).")
    texture: bool = Field(True, description="Seeded smooth tissue texture.")


class AngioBatchConfig(Config):
    """Parameters of an ``angio`` sample (one C-arm run); ``photons_per_pixel`` None is noiseless."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: str = Field("RAO30/CRA20", description="C-arm view, e.g. RAO30/CRA20, LAO45, AP/CAU30.")
    n_frames: int = Field(8, description="Frames per run (1..MAX_FRAMES).")
    frame_time_s: float = Field(1.0 / 7.5, gt=0, allow_inf_nan=False)
    photons_per_pixel: float | None = Field(1.5e5, gt=0, allow_inf_nan=False, description="Unattenuated N0.")
    breathing_amplitude: float = Field(0.5, ge=0, le=1, description="Peak respiratory state (0 = breath hold).")
    side: Literal["left", "right"] = Field("left", description="Coronary tree.")
    detector_px: int = Field(128, ge=1, le=MAX_DETECTOR_PX, description="Detector rows = columns.")
    pixel_spacing_mm: float = Field(2.0, gt=0, allow_inf_nan=False, description="Detector pixel spacing, mm.")
    sid_mm: float = Field(1000.0, description="Source-to-detector distance, mm.")
    sod_mm: float = Field(750.0, description="Source-to-isocentre distance, mm (< SID).")
    torso_shape: TorsoShape = Field(default_factory=lambda: [96, 96, 96], description="Torso grid in voxels.")
    torso_spacing_mm: float = Field(3.2, gt=0, allow_inf_nan=False, description="Torso voxel size, mm.")
    vessel_spacing_mm: float = Field(0.75, ge=0.1, allow_inf_nan=False, description="Vessel sub-grid voxel size, "
                                     "mm (finer is an absurd size).")

    @field_validator("n_frames")
    @classmethod
    def _frame_count(cls, n_frames: int) -> int:
        """1 .. ``MAX_FRAMES`` frames."""
        from angiogen.synth.angio import MAX_FRAMES

        if not 1 <= n_frames <= MAX_FRAMES:
            raise InputError(f"n_frames must be a whole number in 1..{MAX_FRAMES}, got {n_frames}")
        return n_frames

    @model_validator(mode="after")
    def _geometry(self) -> AngioBatchConfig:
        """The view parses and 0 < SOD < SID (checked by :class:`angiogen.xray.CArmGeometry`)."""
        from angiogen.xray import CArmGeometry

        CArmGeometry.standard(self.view, sid_mm=self.sid_mm, sod_mm=self.sod_mm, rows=self.detector_px,
                              cols=self.detector_px, pixel_spacing_mm=self.pixel_spacing_mm)
        return self


CONFIGS: dict[str, type[Config]] = {"vessels": VesselBatchConfig, "phantom": PhantomBatchConfig,
                                    "angio": AngioBatchConfig}


def sample_dir(out_dir: str | Path, kind: str, index: int) -> Path:
    """Folder of one sample: ``OUT/<kind>_<index:06d>``."""
    return Path(out_dir) / f"{kind}_{int(index):06d}"


def sample_files(out_dir: str | Path, kind: str, index: int, params: dict[str, Any]) -> list[Path]:
    """Every file one sample writes."""
    names = list(FILES[kind])
    if kind == "vessels" and params.get("surface"):
        names.insert(-1, "surface.vtk")
    if kind == "vessels" and params.get("generator") == "willis":
        names[-1:-1] = WILLIS_FILES
    return [sample_dir(out_dir, kind, index) / name for name in names]


def validate(kind: str, params: dict[str, Any], start: int = 0, n: int = 1) -> dict[str, Any]:
    """Complete ``params`` with the defaults of the kind's config (:data:`CONFIGS`) and check them, with the
    sample range ``start .. start + n - 1``; return the full parameter dict (the config's dump).

    Raises:
        InputError: unknown kind or parameter, non-positive spacing or size, SOD >= SID, an L-system too shallow to
            grow a segment (empty tree), an unknown Circle-of-Willis variant, absurd sizes or counts.
    """
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if int(n) != n or not 1 <= n <= MAX_SAMPLES:
        raise InputError(f"--n must be a whole number in 1..{MAX_SAMPLES}, got {n}")
    if int(start) != start or start < 0:
        raise InputError(f"--start must be a non-negative whole number, got {start}")
    return CONFIGS[kind].build(params, source=f"{kind} parameters").model_dump()


def write_sample(kind: str, params: dict[str, Any], seed: int, index: int, out_dir: str | Path,
                 overwrite: bool = False) -> list[str]:
    """Synthesise and write one sample (``params`` as returned by :func:`validate`); return the file paths."""
    writer = {"vessels": _write_vessels, "phantom": _write_phantom, "angio": _write_angio}[kind]
    folder = sample_dir(out_dir, kind, index)
    writer(params, int(seed), int(index), folder, overwrite)
    return [str(path) for path in sample_files(out_dir, kind, index, params)]


def run_batch(
    kind: str,
    params: dict[str, Any],
    seed: int,
    out_dir: str | Path,
    n: int = 1,
    start: int = 0,
    scheduler: str = "local",
    workers: int = 2,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Generate samples ``start .. start + n - 1`` on Dask; return the written files in index order.

    Args:
        kind: "vessels", "phantom" or "angio". params: kind parameters (defaults filled in, see :data:`CONFIGS`).
        seed: global seed; sample i depends only on (seed, i) and ``params``.
        out_dir: output folder. n, start: how many samples, first index.
        scheduler: "local" (a LocalCluster of ``workers`` processes), "synchronous" (no cluster, in this
            process), "threads", or the address of a running Dask scheduler ("tcp://host:8786").
        workers: worker processes of the local cluster.
        overwrite: replace existing files; otherwise any existing target file is an InputError before any work.
        progress: called as ``progress(done, total)`` after each sample.

    Raises:
        InputError: bad parameters or existing files (nothing is written).
    """
    full = validate(kind, params, start, n)
    indices = range(int(start), int(start) + int(n))
    if not overwrite:
        for index in indices:
            for path in sample_files(out_dir, kind, index, full):
                if path.exists():
                    raise InputError("exists already; pass --overwrite to replace it", path)
    write = functools.partial(_write_indexed, kind, full, seed, str(out_dir), overwrite)
    with dask_session(scheduler, workers) as session:
        results = map_indexed(write, indices, session, progress)
    return [Path(path) for files in results for path in files]


def _write_indexed(kind: str, params: dict[str, Any], seed: int, out_dir: str, overwrite: bool, index: int) -> list[str]:
    """:func:`write_sample` with the index last, for :func:`angiogen.synth.parallel.map_indexed`."""
    return write_sample(kind, params, seed, index, out_dir, overwrite)


# --- writers -----------------------------------------------------------------------------------------------------


def _write_json(path: Path, data: dict[str, Any], overwrite: bool) -> None:
    from angiogen.io.json_files import write_json

    write_json(path, data, overwrite, indent=2, sort_keys=True)


def _write_vessels(params: dict[str, Any], seed: int, index: int, folder: Path, overwrite: bool) -> None:
    from angiogen.io.coordinates import lps_to_ras
    from angiogen.io.nifti import Volume, write_nifti
    from angiogen.synth.coronary import coronary_tree
    from angiogen.synth.lsystem import grow_lsystem, sample_params
    from angiogen.synth.voxelize import grid_around, voxelize, write_surface

    spacing = float(params["spacing_mm"])
    extra: dict[str, Any] = {}
    if params["generator"] == "willis":
        # Circle of Willis: occupancy, TOF-MRA-like image and labels on the vessel3d field, in NIfTI (X, Y, Z) order.
        from angiogen.synth.willis import SEGMENTS, grid_shape, nifti_order, willis_sample

        sample = willis_sample(params["variant"], seed=seed, index=index, shape=grid_shape(spacing), spacing_mm=spacing)
        tree = sample.tree
        occupancy, affine = nifti_order(sample.occupancy, sample.affine)
        images = {"tof_mra.nii.gz": nifti_order(sample.image, sample.affine)[0],
                  "labels.nii.gz": nifti_order(sample.labels, sample.affine)[0]}
        extra = {"variant": sample.variant, "missing": tree.meta["missing"], "labels": SEGMENTS,
                 "tof_mra": "TOF-MRA-like magnitude image, min-max normalised to [0, 1]"}
    else:
        if params["generator"] == "coronary":
            tree = coronary_tree(params["side"], seed=seed, index=index)
        else:
            grammar = sample_params(np.random.default_rng([seed, index, 1]), n_iter=int(params["n_iter"]))
            tree = grow_lsystem(grammar, seed=seed, index=index)
        tree.require_nonempty()
        shape, affine = grid_around(tree, spacing, margin_mm=2 * spacing)
        occupancy = voxelize(tree, shape, affine=affine)
        images = {}
    tree.write_json(folder / "tree.json", overwrite=overwrite)
    tree.write_vtk(folder / "centerlines.vtk", overwrite=overwrite)
    write_nifti(folder / "occupancy.nii.gz", Volume(occupancy, lps_to_ras(affine)), overwrite=overwrite)
    for name, data in images.items():
        write_nifti(folder / name, Volume(data, lps_to_ras(affine)), overwrite=overwrite)
    if params["surface"]:
        write_surface(tree, folder / "surface.vtk", overwrite=overwrite)
    _write_json(folder / "sidecar.json", {
        "kind": "vessels", "seed": seed, "index": index, "params": params, "n_nodes": tree.n_nodes,
        "n_edges": tree.n_edges, "grid_shape": list(occupancy.shape), "affine_lps": affine, "tree_meta": tree.meta,
        "lumen_volume_mm3": float(occupancy.sum(dtype=np.float64) * spacing**3), **extra,
    }, overwrite)


def _write_phantom(params: dict[str, Any], seed: int, index: int, folder: Path, overwrite: bool) -> None:
    from angiogen.io.coordinates import lps_to_ras
    from angiogen.io.nifti import Volume, write_nifti
    from angiogen.synth.torso import LABELS, torso_phantom

    phantom = torso_phantom(tuple(params["shape"]), float(params["spacing_mm"]), seed=_texture_seed(seed, index),
                            breathing=float(params["breathing"]), texture=bool(params["texture"]))
    affine_ras = lps_to_ras(phantom.affine)
    write_nifti(folder / "torso_hu.nii.gz", Volume(phantom.hu, affine_ras), overwrite=overwrite)
    write_nifti(folder / "labels.nii.gz", Volume(phantom.labels.astype(np.float32), affine_ras), overwrite=overwrite)
    _write_json(folder / "sidecar.json", {
        "kind": "phantom", "seed": seed, "index": index, "params": params, "phantom": phantom.params,
        "labels": LABELS, "units": "HU", "affine_lps": phantom.affine,
    }, overwrite)


def _texture_seed(seed: int, index: int) -> int:
    """One integer seed from (seed, index)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint32)[0])


def _write_angio(params: dict[str, Any], seed: int, index: int, folder: Path, overwrite: bool) -> None:
    from pydicom.uid import generate_uid

    from angiogen.io.dicom import write_dicom_xa
    from angiogen.io.images import write_png, write_tiff
    from angiogen.synth.angio import Motion, angiography_sequence

    run = angiography_sequence(
        seed=seed, index=index, view=params["view"], n_frames=int(params["n_frames"]),
        frame_time_s=float(params["frame_time_s"]), photons_per_pixel=params["photons_per_pixel"],
        motion=Motion(breathing_amplitude=float(params["breathing_amplitude"])), side=params["side"],
        torso_shape=tuple(params["torso_shape"]), torso_spacing_mm=float(params["torso_spacing_mm"]),
        vessel_spacing_mm=float(params["vessel_spacing_mm"]), detector_px=int(params["detector_px"]),
        pixel_spacing_mm=float(params["pixel_spacing_mm"]), sid_mm=float(params["sid_mm"]),
        sod_mm=float(params["sod_mm"]),
    )
    geometry = run.geometry
    xa = geometry.to_xa(frame_time_ms=1000.0 * float(params["frame_time_s"]))
    entropy = [str(seed), str(index)]
    study, series = generate_uid(entropy_srcs=entropy + ["study"]), generate_uid(entropy_srcs=entropy + ["series"])
    for number, name in enumerate(("live", "mask"), start=1):
        write_dicom_xa(folder / f"{name}.dcm", run.frames()[f"noisy_{name}"], xa, overwrite,
                       instance_number=number, series_instance_uid=series, study_instance_uid=study,
                       sop_instance_uid=generate_uid(entropy_srcs=entropy + [name]), content_datetime=DICOM_DATE)
    for name, stack in run.frames().items():
        write_tiff(folder / f"{name}.tif", stack, overwrite=overwrite)
    write_png(folder / "preview_live.png", np.exp(-run.noisy_live[-1]) / max(float(np.exp(-run.live[-1]).max()), 1e-6),
              overwrite=overwrite)
    vessel = run.vessel[-1]
    write_png(folder / "preview_vessel.png", 1.0 - vessel / max(float(vessel.max()), 1e-6), overwrite=overwrite)
    _write_json(folder / "sidecar.json", {
        "kind": "angio", "seed": seed, "index": index, "params": params, "run": run.params,
        "geometry_sidecar": geometry.sidecar(), "dicom_tags": geometry.to_dicom_tags(),
        "times_s": run.times_s, "breathing": run.breathing,
        "files": {"live.dcm": "noisy live line integrals", "mask.dcm": "noisy mask line integrals",
                  "vessel.tif": "exact vessel-only line integrals (ground truth)"},
    }, overwrite)
