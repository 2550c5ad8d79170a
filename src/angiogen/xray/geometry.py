"""C-arm geometry in the DICOM patient frame (LPS, millimetres), to and from DICOM XA tags.

Conventions (DICOM PS3.3 C.8.7.5 and docs/methods/engine.md §2.4):

- World = patient LPS in mm: +x towards the patient's left, +y posterior, +z head.
- Primary angle ``a`` (LAO +, RAO -) and secondary angle ``b`` (CRA +, CAU -) place the detector; at 0/0 (AP) the
  patient faces the detector and the source is behind the patient (under the table).
- ``u = (sin a cos b, -cos a cos b, sin b)`` points from the source through the isocentre to the detector.
- Display axes: columns run along ``e_c = (cos a, sin a, 0)`` (left to right on screen), rows along
  ``e_r = (sin a sin b, -cos a sin b, -cos b)`` (top to bottom), optionally turned about ``u`` by the detector
  rotation ``psi``: ``e_c' = cos psi e_c + sin psi e_r``, ``e_r' = -sin psi e_c + cos psi e_r``.
- Source ``S = t - SOD u``, detector centre ``D = t + (SID - SOD) u`` with ``t`` the isocentre (table) shift;
  pixel ``(i, j)`` (row, column) lies at ``D + (j - (C-1)/2) s_c e_c + (i - (R-1)/2) s_r e_r``.
- Projection matrix ``P = K [B | -B S]`` with ``B`` the rows ``(e_c, e_r, u)`` and
  ``K = [[SID/s_c, 0, (C-1)/2], [0, SID/s_r, (R-1)/2], [0, 0, 1]]``; ``P X`` gives (column, row, 1) up to scale.
  ``det B = -1`` (the display is the view seen from the detector).

The maths is written once, in torch (:func:`carm_axes`, :class:`CArmPose`), so the projector can differentiate
through angles and shifts; :class:`CArmGeometry` is the plain, validated, hashable record that configs and DICOM
files hold, and evaluates the same functions in float64.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from angiogen.errors import InputError

if TYPE_CHECKING:
    from angiogen.io.dicom import XAGeometry

# Standard angiographic views: name -> (primary_deg, secondary_deg), DICOM signs (LAO +, RAO -, CRA +, CAU -).
STANDARD_VIEWS: dict[str, tuple[float, float]] = {
    "RAO30/CRA20": (-30.0, 20.0),
    "AP/CRA30": (0.0, 30.0),
    "LAO45": (45.0, 0.0),
    "LAO30/CRA20": (30.0, 20.0),
    "RAO30/CAU20": (-30.0, -20.0),
    "AP/CAU30": (0.0, -30.0),
    "LAO40/CAU30": (40.0, -30.0),
    "AP": (0.0, 0.0),
    "RAO30": (-30.0, 0.0),
}

_VIEW_PART = re.compile(r"^(LAO|RAO|CRA|CAU)(\d+(?:\.\d+)?)$")


def parse_view(name: str) -> tuple[float, float]:
    """Angles of a view written like ``"RAO30/CRA20"``, ``"LAO45"``, ``"AP/CAU30"`` or ``"AP"``.

    Returns:
        (primary_deg, secondary_deg) with DICOM signs (LAO +, RAO -, CRA +, CAU -).
    """
    primary, secondary = 0.0, 0.0
    for part in name.upper().replace(" ", "").split("/"):
        if part in ("AP", "PA0", ""):
            continue
        match = _VIEW_PART.match(part)
        if match is None:
            raise InputError(
                f"view {name!r} not understood: expected parts like LAO45, RAO30, CRA20, CAU30 or AP joined by '/'"
            )
        side, value = match.group(1), float(match.group(2))
        if side in ("LAO", "RAO"):
            primary = value if side == "LAO" else -value
        else:
            secondary = value if side == "CRA" else -value
    return primary, secondary


def view_name(primary_deg: float, secondary_deg: float) -> str:
    """Name of a view from its angles, e.g. ``(-30, 20) -> "RAO30/CRA20"`` (inverse of :func:`parse_view`)."""

    def fmt(value: float) -> str:
        return f"{abs(value):g}"

    first = "AP" if primary_deg == 0 else (f"LAO{fmt(primary_deg)}" if primary_deg > 0 else f"RAO{fmt(primary_deg)}")
    if secondary_deg == 0:
        return first
    return f"{first}/{'CRA' if secondary_deg > 0 else 'CAU'}{fmt(secondary_deg)}"


# ----------------------------------------------------------------------------------------------------------------
# The geometry maths, once, in torch (differentiable, batched).


def carm_axes(primary_deg: torch.Tensor, secondary_deg: torch.Tensor, rotation_deg: torch.Tensor) -> torch.Tensor:
    """Detector axes of a C-arm pose.

    Args:
        primary_deg: (B,) primary angles in degrees (LAO +, RAO -).
        secondary_deg: (B,) secondary angles in degrees (CRA +, CAU -).
        rotation_deg: (B,) in-plane detector rotation about ``u`` in degrees.

    Returns:
        (B, 3, 3) tensor whose rows are ``e_c`` (column direction), ``e_r`` (row direction) and ``u`` (source ->
        detector), unit vectors in LPS.
    """
    a, b, psi = torch.deg2rad(primary_deg), torch.deg2rad(secondary_deg), torch.deg2rad(rotation_deg)
    ca, sa, cb, sb = torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b)
    zero = torch.zeros_like(a)
    e_c = torch.stack([ca, sa, zero], dim=-1)
    e_r = torch.stack([sa * sb, -ca * sb, -cb], dim=-1)
    u = torch.stack([sa * cb, -ca * cb, sb], dim=-1)
    cp, sp = torch.cos(psi)[..., None], torch.sin(psi)[..., None]
    return torch.stack([cp * e_c + sp * e_r, -sp * e_c + cp * e_r, u], dim=-2)


@dataclass
class CArmPose:
    """A batch of C-arm poses as tensors: what the projector reads and what it differentiates through.

    Attributes:
        primary_deg: (B,) primary angles in degrees (LAO +, RAO -).
        secondary_deg: (B,) secondary angles in degrees (CRA +, CAU -).
        isocenter_shift_mm: (B, 3) isocentre (table) position in LPS mm.
        detector_rotation_deg: (B,) in-plane detector rotation in degrees.
        sid_mm: (B,) source-to-detector distances in mm.
        sod_mm: (B,) source-to-isocentre distances in mm.
        pixel_spacing_mm: (B, 2) detector pixel spacing (row, column) in mm.
        rows, cols: detector size in pixels (shared by the batch).

    Any tensor may require grad; all must share dtype and device. Build one with :meth:`from_geometries`.
    """

    primary_deg: torch.Tensor
    secondary_deg: torch.Tensor
    isocenter_shift_mm: torch.Tensor
    detector_rotation_deg: torch.Tensor
    sid_mm: torch.Tensor
    sod_mm: torch.Tensor
    pixel_spacing_mm: torch.Tensor
    rows: int
    cols: int

    @classmethod
    def from_geometries(
        cls,
        geometries: CArmGeometry | Sequence[CArmGeometry],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> CArmPose:
        """Stack one or several :class:`CArmGeometry` (same rows and cols) into a pose batch."""
        if isinstance(geometries, CArmGeometry):
            geometries = [geometries]
        geometries = list(geometries)
        if not geometries:
            raise InputError("no geometry given: expected at least one CArmGeometry")
        shapes = {(g.rows, g.cols) for g in geometries}
        if len(shapes) != 1:
            raise InputError(f"all geometries of a batch need the same detector size, got {sorted(shapes)}")

        def tensor(values: Any) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=device)

        return cls(
            primary_deg=tensor([g.primary_deg for g in geometries]),
            secondary_deg=tensor([g.secondary_deg for g in geometries]),
            isocenter_shift_mm=tensor([list(g.isocenter_shift_mm) for g in geometries]),
            detector_rotation_deg=tensor([g.detector_rotation_deg for g in geometries]),
            sid_mm=tensor([g.sid_mm for g in geometries]),
            sod_mm=tensor([g.sod_mm for g in geometries]),
            pixel_spacing_mm=tensor([list(g.pixel_spacing_mm) for g in geometries]),
            rows=geometries[0].rows,
            cols=geometries[0].cols,
        )

    def to_geometries(self) -> list[CArmGeometry]:
        """The poses as plain :class:`CArmGeometry` records (values detached)."""
        out = []
        for index in range(len(self)):
            out.append(
                CArmGeometry(
                    primary_deg=float(self.primary_deg[index]),
                    secondary_deg=float(self.secondary_deg[index]),
                    sid_mm=float(self.sid_mm[index]),
                    sod_mm=float(self.sod_mm[index]),
                    rows=self.rows,
                    cols=self.cols,
                    pixel_spacing_mm=tuple(float(v) for v in self.pixel_spacing_mm[index]),
                    isocenter_shift_mm=tuple(float(v) for v in self.isocenter_shift_mm[index]),
                    detector_rotation_deg=float(self.detector_rotation_deg[index]),
                )
            )
        return out

    def __len__(self) -> int:
        return int(self.primary_deg.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.primary_deg.dtype

    @property
    def device(self) -> torch.device:
        return self.primary_deg.device

    def axes(self) -> torch.Tensor:
        """(B, 3, 3) rows ``e_c``, ``e_r``, ``u`` (see :func:`carm_axes`)."""
        return carm_axes(self.primary_deg, self.secondary_deg, self.detector_rotation_deg)

    def source_mm(self) -> torch.Tensor:
        """(B, 3) X-ray source positions in LPS mm: ``S = t - SOD u``."""
        return self.isocenter_shift_mm - self.sod_mm[:, None] * self.axes()[:, 2]

    def detector_center_mm(self) -> torch.Tensor:
        """(B, 3) detector centre positions in LPS mm: ``D = t + (SID - SOD) u``."""
        return self.isocenter_shift_mm + (self.sid_mm - self.sod_mm)[:, None] * self.axes()[:, 2]

    def pixel_centers_mm(self) -> torch.Tensor:
        """(B, rows, cols, 3) detector pixel centres in LPS mm."""
        axes = self.axes()
        dtype, device = self.dtype, self.device
        row_offset = (torch.arange(self.rows, dtype=dtype, device=device) - (self.rows - 1) / 2)[None, :]
        col_offset = (torch.arange(self.cols, dtype=dtype, device=device) - (self.cols - 1) / 2)[None, :]
        row_mm = row_offset * self.pixel_spacing_mm[:, 0:1]  # (B, R)
        col_mm = col_offset * self.pixel_spacing_mm[:, 1:2]  # (B, C)
        return (
            self.detector_center_mm()[:, None, None, :]
            + col_mm[:, None, :, None] * axes[:, None, None, 0, :]
            + row_mm[:, :, None, None] * axes[:, None, None, 1, :]
        )

    def projection_matrices(self) -> torch.Tensor:
        """(B, 3, 4) matrices ``P = K [B | -B S]`` mapping homogeneous LPS mm to (column, row, 1) up to scale."""
        basis = self.axes()
        source = self.source_mm()
        extrinsic = torch.cat([basis, -(basis @ source[:, :, None])], dim=2)
        zero = torch.zeros_like(self.sid_mm)
        one = torch.ones_like(self.sid_mm)
        intrinsic = torch.stack(
            [
                torch.stack([self.sid_mm / self.pixel_spacing_mm[:, 1], zero, zero + (self.cols - 1) / 2], -1),
                torch.stack([zero, self.sid_mm / self.pixel_spacing_mm[:, 0], zero + (self.rows - 1) / 2], -1),
                torch.stack([zero, zero, one], -1),
            ],
            dim=1,
        )
        return intrinsic @ extrinsic


# ----------------------------------------------------------------------------------------------------------------
# The plain record.


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number of millimetres, got {value}")
    return value


@dataclass(frozen=True)
class CArmGeometry:
    """One C-arm pose and detector, in DICOM conventions (see the module docstring).

    Args:
        primary_deg: primary (LAO +, RAO -) angle in degrees; default 0 (AP).
        secondary_deg: secondary (CRA +, CAU -) angle in degrees; default 0.
        sid_mm: source-to-detector distance in mm; default 1000.
        sod_mm: source-to-isocentre distance in mm, must be below ``sid_mm``; default 750.
        rows, cols: detector size in pixels; default 256 x 256.
        pixel_spacing_mm: detector pixel spacing in mm, one number or (row, column) as in DICOM Imager Pixel
            Spacing; default 1.5.
        isocenter_shift_mm: (3,) isocentre (table) position in LPS mm; default the origin.
        detector_rotation_deg: in-plane detector rotation about the central ray in degrees; default 0.

    Raises:
        InputError: non-positive distances, sizes or spacings, or SOD >= SID.
    """

    primary_deg: float = 0.0
    secondary_deg: float = 0.0
    sid_mm: float = 1000.0
    sod_mm: float = 750.0
    rows: int = 256
    cols: int = 256
    pixel_spacing_mm: tuple[float, float] = field(default=(1.5, 1.5))
    isocenter_shift_mm: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))
    detector_rotation_deg: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("primary_deg", "secondary_deg", "detector_rotation_deg"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise InputError(f"{name} must be a finite angle in degrees, got {value}")
            set_(self, name, value)
        set_(self, "sid_mm", _positive("sid_mm (source-to-detector distance)", self.sid_mm))
        set_(self, "sod_mm", _positive("sod_mm (source-to-isocentre distance)", self.sod_mm))
        if self.sod_mm >= self.sid_mm:
            raise InputError(
                f"sod_mm ({self.sod_mm:g}) must be smaller than sid_mm ({self.sid_mm:g}): "
                "the isocentre lies between the source and the detector"
            )
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if int(value) != value or int(value) < 1:
                raise InputError(f"detector {name} must be a positive whole number of pixels, got {value}")
            set_(self, name, int(value))
        spacing = np.atleast_1d(np.asarray(self.pixel_spacing_mm, dtype=float))
        if spacing.shape == (1,):
            spacing = np.repeat(spacing, 2)
        if spacing.shape != (2,):
            raise InputError(f"pixel_spacing_mm must be one number or (row, column), got {self.pixel_spacing_mm}")
        set_(self, "pixel_spacing_mm", tuple(_positive("pixel_spacing_mm", v) for v in spacing))
        shift = np.asarray(self.isocenter_shift_mm, dtype=float)
        if shift.shape != (3,) or not np.all(np.isfinite(shift)):
            raise InputError(f"isocenter_shift_mm must be 3 finite numbers (LPS mm), got {self.isocenter_shift_mm}")
        set_(self, "isocenter_shift_mm", tuple(float(v) for v in shift))

    # --- constructors -------------------------------------------------------------------------------------------

    @classmethod
    def standard(cls, view: str, **kwargs: Any) -> CArmGeometry:
        """Geometry at a named view (``"RAO30/CRA20"``, ``"LAO45"``, ... see :data:`STANDARD_VIEWS`).

        Any other field (``sid_mm``, ``rows``, ...) is passed through.
        """
        primary, secondary = STANDARD_VIEWS[view] if view in STANDARD_VIEWS else parse_view(view)
        return cls(primary_deg=primary, secondary_deg=secondary, **kwargs)

    @classmethod
    def from_dicom(cls, dataset: Any, sidecar: dict[str, Any] | None = None) -> CArmGeometry:
        """Geometry from a DICOM (XA / XRF, classic or enhanced) pydicom Dataset.

        Reads Positioner Primary/Secondary Angle (0018,1510/1511), Distance Source to Detector (0018,1110),
        Distance Source to Patient (0018,1111) or, in enhanced XA, Distance Source to Isocenter (0018,9402),
        Imager Pixel Spacing (0018,1164) (else Pixel Spacing), Rows and Columns, through the one tag parser
        :func:`angiogen.io.dicom.geometry_from_dataset` (enhanced files: the shared and the first per-frame
        functional group). An Estimated Radiographic Magnification Factor (0018,1114) that
        disagrees with SID/SOD by more than 1 % is an error. ``sidecar`` (from :meth:`sidecar`) adds the table
        shift and detector rotation, which DICOM does not carry.

        Raises:
            InputError: a required tag is missing or the values are not a valid geometry.
        """
        from angiogen.io.dicom import find_dicom_value, geometry_from_dataset  # pydicom only when DICOM is read

        xa = geometry_from_dataset(dataset)
        required = {"primary_deg": "PositionerPrimaryAngle", "secondary_deg": "PositionerSecondaryAngle",
                    "sid_mm": "DistanceSourceToDetector", "sod_mm": "DistanceSourceToIsocenter or DistanceSourceToPatient",
                    "pixel_spacing_mm": "ImagerPixelSpacing", "rows": "Rows", "cols": "Columns"}
        for name, keywords in required.items():
            if getattr(xa, name) is None:
                raise InputError(f"DICOM geometry tag {keywords} is missing")
        sidecar = sidecar or {}
        geometry = cls(
            primary_deg=xa.primary_deg, secondary_deg=xa.secondary_deg, sid_mm=xa.sid_mm, sod_mm=xa.sod_mm,
            rows=xa.rows, cols=xa.cols, pixel_spacing_mm=xa.pixel_spacing_mm,
            isocenter_shift_mm=tuple(sidecar.get("isocenter_shift_mm", (0.0, 0.0, 0.0))),
            detector_rotation_deg=float(sidecar.get("detector_rotation_deg", 0.0)),
        )
        magnification = find_dicom_value(dataset, "EstimatedRadiographicMagnificationFactor")
        if magnification is not None and abs(float(magnification) - geometry.magnification) > 0.01 * geometry.magnification:
            raise InputError(
                f"Estimated Radiographic Magnification Factor {float(magnification):g} disagrees with "
                f"SID/SOD = {geometry.magnification:.4g}"
            )
        return geometry

    # --- conversions --------------------------------------------------------------------------------------------

    def to_dicom_tags(self) -> dict[str, Any]:
        """DICOM XA attributes of this geometry, by pydicom keyword (``Dataset.update``-ready values).

        Table shift and detector rotation have no DICOM tag; they are in :meth:`sidecar`.
        """
        return {
            "PositionerPrimaryAngle": self.primary_deg,
            "PositionerSecondaryAngle": self.secondary_deg,
            "DistanceSourceToDetector": self.sid_mm,
            "DistanceSourceToPatient": self.sod_mm,
            "EstimatedRadiographicMagnificationFactor": self.magnification,
            "ImagerPixelSpacing": [self.pixel_spacing_mm[0], self.pixel_spacing_mm[1]],
            "Rows": self.rows,
            "Columns": self.cols,
        }

    def to_xa(self, frame_time_ms: float | None = None) -> XAGeometry:
        """This geometry as the DICOM record :func:`angiogen.io.dicom.write_dicom_xa` stores (with ``frame_time_ms``
        between frames when given); table shift and detector rotation go in :meth:`sidecar`."""
        from angiogen.io.dicom import XAGeometry

        return XAGeometry(primary_deg=self.primary_deg, secondary_deg=self.secondary_deg, sid_mm=self.sid_mm,
                          sod_mm=self.sod_mm, pixel_spacing_mm=self.pixel_spacing_mm, frame_time_ms=frame_time_ms,
                          rows=self.rows, cols=self.cols)

    def sidecar(self) -> dict[str, Any]:
        """The parts DICOM does not hold (table shift, detector rotation), for a JSON sidecar."""
        return {"isocenter_shift_mm": list(self.isocenter_shift_mm), "detector_rotation_deg": self.detector_rotation_deg}

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python values (YAML/JSON-ready); ``CArmGeometry(**d)`` rebuilds it."""
        out = asdict(self)
        out["pixel_spacing_mm"] = list(self.pixel_spacing_mm)
        out["isocenter_shift_mm"] = list(self.isocenter_shift_mm)
        return out

    def replace(self, **changes: Any) -> CArmGeometry:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def pose(self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> CArmPose:
        """This geometry as a batch of one :class:`CArmPose`."""
        return CArmPose.from_geometries([self], dtype=dtype, device=device)

    # --- geometry -----------------------------------------------------------------------------------------------

    @property
    def magnification(self) -> float:
        """Magnification of the isocentre plane, SID/SOD."""
        return self.sid_mm / self.sod_mm

    @property
    def name(self) -> str:
        """View name such as ``"RAO30/CRA20"``."""
        return view_name(self.primary_deg, self.secondary_deg)

    def _pose64(self) -> CArmPose:
        return self.pose(dtype=torch.float64)

    def axes(self) -> np.ndarray:
        """(3, 3) rows ``e_c`` (columns), ``e_r`` (rows) and ``u`` (source -> detector), unit vectors in LPS."""
        return self._pose64().axes()[0].numpy()

    def source_mm(self) -> np.ndarray:
        """(3,) X-ray source position in LPS mm."""
        return self._pose64().source_mm()[0].numpy()

    def detector_center_mm(self) -> np.ndarray:
        """(3,) detector centre in LPS mm."""
        return self._pose64().detector_center_mm()[0].numpy()

    def pixel_centers_mm(self) -> np.ndarray:
        """(rows, cols, 3) detector pixel centres in LPS mm."""
        return self._pose64().pixel_centers_mm()[0].numpy()

    def projection_matrix(self) -> np.ndarray:
        """(3, 4) matrix mapping homogeneous LPS mm points to (column, row, 1) pixel coordinates up to scale."""
        return self._pose64().projection_matrices()[0].numpy()

    def project_points(self, points_mm: np.ndarray) -> np.ndarray:
        """Pixel coordinates of world points.

        Args:
            points_mm: (N, 3) LPS positions in mm.

        Returns:
            (N, 2) (column, row) pixel coordinates; pixel (i, j) has its centre at column j, row i.
        """
        points = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        image = np.c_[points, np.ones(len(points))] @ self.projection_matrix().T
        return image[:, :2] / image[:, 2:3]

    def rays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rays from the source to every pixel centre.

        Returns:
            origins: (rows, cols, 3) source position in LPS mm (the same for every pixel).
            directions: (rows, cols, 3) unit directions.
            lengths_mm: (rows, cols) distance from the source to each pixel centre.
        """
        source = self.source_mm()
        delta = self.pixel_centers_mm() - source
        lengths = np.linalg.norm(delta, axis=-1)
        origins = np.broadcast_to(source, delta.shape).copy()
        return origins, delta / lengths[..., None], lengths
