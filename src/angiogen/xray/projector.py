"""Differentiable cone-beam forward projection (line integrals) and its adjoint, by Joseph's method.

For each view the volume axis most aligned with the central ray is the *main axis*. The ray from the source to
each pixel crosses every plane of voxel centres normal to that axis once; the volume is sampled there bilinearly
within the plane and each sample stands for the ray's length between two neighbouring planes,
``step = |pixel - source| / |Δ main-axis index|`` (mm per plane). All planes and all rays of a view (and of every
view sharing its main axis) are sampled by ONE batched ``torch.nn.functional.grid_sample`` call: the planes are a
batch of 2-D images and the grid holds each ray's crossing point with each plane. Samples outside the volume read
zero. Because ``grid_sample`` is differentiable in its image and in its grid, autograd gives the exact adjoint
(back-projection) and the gradient with respect to the pose (angles, shifts, distances).

Memory is bounded by chunking rays: at most ``max_samples`` plane samples are held at once; with autograd on and
more than one chunk, each chunk is checkpointed (recomputed in the backward pass) so the saved state stays small.

Volume convention: ``volume[d, h, w]`` sits at world position ``affine @ (d, h, w, 1)`` in LPS mm; a NIfTI (RAS)
affine converts with :func:`angiogen.io.coordinates.ras_to_lps`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from angiogen.errors import InputError
from angiogen.xray.geometry import CArmGeometry, CArmPose

DEFAULT_MAX_SAMPLES = 1 << 24  # plane samples held at once (about 200 MB of float32 work space)
PLANE_BLOCK_SAMPLES = 1 << 24  # plane samples per grid_sample call (few, large calls are fastest on a busy CPU)

GeometryLike = CArmGeometry | Sequence[CArmGeometry] | CArmPose


def as_pose(geometry: GeometryLike, dtype: torch.dtype, device: torch.device) -> CArmPose:
    """A :class:`CArmPose` from one geometry, a list of them, or a pose (returned as it is if dtype/device match)."""
    if isinstance(geometry, CArmPose):
        if geometry.dtype != dtype or geometry.device != device:
            raise InputError(
                f"pose tensors are {geometry.dtype} on {geometry.device}, the volume is {dtype} on {device}"
            )
        return geometry
    return CArmPose.from_geometries(geometry, dtype=dtype, device=device)


def _check_volume(volume: torch.Tensor, affine: np.ndarray | torch.Tensor) -> torch.Tensor:
    if not isinstance(volume, torch.Tensor) or volume.ndim != 3:
        got = tuple(volume.shape) if hasattr(volume, "shape") else type(volume).__name__
        raise InputError(f"volume must be a (D, H, W) tensor of attenuation in 1/mm, got {got}")
    if min(volume.shape) < 2:
        raise InputError(f"volume needs at least 2 voxels along each axis, got {tuple(volume.shape)}")
    if not volume.is_floating_point():
        raise InputError(f"volume must be a floating-point tensor, got {volume.dtype}")
    affine = torch.as_tensor(affine, dtype=volume.dtype, device=volume.device)
    if affine.shape != (4, 4):
        raise InputError(f"affine must be a (4, 4) voxel-to-world matrix in mm, got {tuple(affine.shape)}")
    if not torch.isfinite(affine).all() or abs(float(torch.linalg.det(affine[:3, :3]))) < 1e-12:
        raise InputError("affine must be finite and invertible")
    return affine


def project(
    volume: torch.Tensor,
    affine: np.ndarray | torch.Tensor,
    geometry: GeometryLike,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> torch.Tensor:
    """Cone-beam line integrals of a volume for a batch of C-arm views.

    Args:
        volume: (D, H, W) float tensor of linear attenuation in 1/mm (float32 or float64, any device).
        affine: (4, 4) voxel-to-world matrix: ``volume[d, h, w]`` lies at ``affine @ (d, h, w, 1)`` in LPS mm.
        geometry: one :class:`CArmGeometry`, a sequence of them (same detector size), or a :class:`CArmPose`
            whose tensors may require grad (for pose optimisation).
        max_samples: most plane samples computed at once (memory bound); default 2**24.

    Returns:
        (B, rows, cols) tensor of line integrals (dimensionless, i.e. ``∫ mu dl``), differentiable with respect to
        ``volume`` and to the pose tensors.
    """
    affine = _check_volume(volume, affine)
    pose = as_pose(geometry, volume.dtype, volume.device)
    world_to_voxel = torch.linalg.inv(affine)

    source_mm = pose.source_mm()  # (B, 3)
    pixels_mm = pose.pixel_centers_mm()  # (B, R, C, 3)
    source_vox = source_mm @ world_to_voxel[:3, :3].T + world_to_voxel[:3, 3]
    pixels_vox = pixels_mm @ world_to_voxel[:3, :3].T + world_to_voxel[:3, 3]
    direction_vox = pixels_vox - source_vox[:, None, None, :]  # (B, R, C, 3): source -> pixel, voxel units
    length_mm = torch.linalg.vector_norm(pixels_mm - source_mm[:, None, None, :], dim=-1)  # (B, R, C)

    # Main axis of each view: the voxel axis the central ray advances fastest along.
    centre_vox = pose.detector_center_mm().detach() @ world_to_voxel[:3, :3].T.detach() + world_to_voxel[:3, 3].detach()
    main_axes = (centre_vox - source_vox.detach()).abs().argmax(dim=-1).tolist()

    n_views, rows, cols = len(pose), pose.rows, pose.cols
    pieces: list[tuple[list[int], torch.Tensor]] = []
    for axis in sorted(set(main_axes)):
        views = [index for index, main in enumerate(main_axes) if main == axis]
        integrals = _project_along_axis(
            volume,
            axis,
            source_vox[views],
            direction_vox[views].reshape(-1, 3),
            length_mm[views].reshape(-1),
            rows * cols,
            max_samples,
        )
        pieces.append((views, integrals.reshape(len(views), rows * cols)))
    if len(pieces) == 1:
        return pieces[0][1].reshape(n_views, rows, cols)
    out = torch.zeros((n_views, rows * cols), dtype=volume.dtype, device=volume.device)
    for views, integrals in pieces:
        out = out.index_copy(0, torch.tensor(views, device=volume.device), integrals)
    return out.reshape(n_views, rows, cols)


def _project_along_axis(
    volume: torch.Tensor,
    axis: int,
    source_vox: torch.Tensor,
    direction_vox: torch.Tensor,
    length_mm: torch.Tensor,
    rays_per_view: int,
    max_samples: int,
) -> torch.Tensor:
    """Joseph line integrals of the rays of views sharing one main axis.

    Args:
        volume: (D, H, W) attenuation in 1/mm.
        axis: main axis (0, 1 or 2) of these views.
        source_vox: (V, 3) source positions in voxel index units.
        direction_vox: (V * rays_per_view, 3) source -> pixel vectors in voxel units.
        length_mm: (V * rays_per_view,) source -> pixel distances in mm.

    Returns:
        (V * rays_per_view,) line integrals.
    """
    # Planes normal to the main axis, as a batch of 2-D images (N, 1, A, B); in-plane axes a (rows), b (columns).
    in_plane = [k for k in range(3) if k != axis]
    planes = volume.movedim(axis, 0)  # (N, A, B) view; made contiguous block by block
    n_planes, size_a, size_b = planes.shape

    # Crossing with plane n: coordinate = source + (n - source_main) * slope, slope = direction / direction_main.
    source_per_ray = source_vox.repeat_interleave(rays_per_view, dim=0)  # (n_rays, 3)
    direction_main = direction_vox[:, axis]
    if bool((direction_main.detach().abs() < 1e-9).any()):
        raise InputError("a ray runs parallel to the volume's main-axis planes; check the geometry and affine")
    slope = direction_vox[:, in_plane] / direction_main[:, None]  # (n_rays, 2) in-plane index per plane index
    start = source_per_ray[:, in_plane] - source_per_ray[:, axis : axis + 1] * slope  # in-plane index at plane 0
    step_mm = length_mm / direction_main.abs()  # ray length between neighbouring planes, mm

    # grid_sample wants (x, y) = (column b, row a) normalised to [-1, 1] (align_corners=True: -1/+1 = first/last).
    scale = torch.tensor([2.0 / (size_b - 1), 2.0 / (size_a - 1)], dtype=volume.dtype, device=volume.device)
    slope_xy = slope.flip(-1) * scale
    start_xy = start.flip(-1) * scale - 1.0

    # Only planes between the source and the pixel count (a volume reaching past the detector or the source):
    # plane indices first..last of each ray. Rays cut short are rare and integrated apart, with a mask.
    plane_at_source = source_per_ray[:, axis].detach()
    plane_at_pixel = plane_at_source + direction_main.detach()
    first = torch.ceil(torch.minimum(plane_at_source, plane_at_pixel)).clamp(0, n_planes)
    last = torch.floor(torch.maximum(plane_at_source, plane_at_pixel)).clamp(-1, n_planes - 1)
    cut = (first > 0) | (last < n_planes - 1)

    ray_data = (start_xy, slope_xy, step_mm, first, last)
    if not bool(cut.any()):
        return _integrate_planes(planes, *ray_data, masked=False, max_samples=max_samples)
    groups = [torch.nonzero(~cut)[:, 0], torch.nonzero(cut)[:, 0]]
    parts = [
        _integrate_planes(planes, *(value[group] for value in ray_data), masked=bool(masked), max_samples=max_samples)
        for masked, group in enumerate(groups)
        if len(group)
    ]
    groups = [group for group in groups if len(group)]
    order = torch.argsort(torch.cat(groups))
    return torch.cat(parts)[order]


def _integrate_planes(
    planes: torch.Tensor,
    start_xy: torch.Tensor,
    slope_xy: torch.Tensor,
    step_mm: torch.Tensor,
    first: torch.Tensor,
    last: torch.Tensor,
    masked: bool,
    max_samples: int,
) -> torch.Tensor:
    """Sum of bilinear plane samples along rays, times the step length, chunked over rays.

    Args:
        planes: (N, A, B) volume planes normal to the main axis (a view of the volume).
        start_xy: (n, 2) normalised (x, y) crossing of each ray with plane 0.
        slope_xy: (n, 2) change of that crossing per plane.
        step_mm: (n,) ray length between neighbouring planes.
        first, last: (n,) first and last plane (float indices) between source and pixel; used when ``masked``.

    Returns:
        (n,) line integrals.
    """
    n_planes, n_rays = planes.shape[0], start_xy.shape[0]
    plane_index = torch.arange(n_planes, dtype=planes.dtype, device=planes.device)
    # Planes go to grid_sample in blocks of about PLANE_BLOCK_SAMPLES samples (all planes of a 256^2 detector in
    # one call): few large calls beat many small ones, each of which waits for every OpenMP thread on a shared CPU.
    block = max(1, PLANE_BLOCK_SAMPLES // max(1, n_rays))

    def integrate(start_xy, slope_xy, step_mm, first, last, planes):  # type: ignore[no-untyped-def]
        total = None
        flat_start, flat_slope = start_xy.reshape(1, -1), slope_xy.reshape(1, -1)
        for begin in range(0, n_planes, block):
            index = plane_index[begin : begin + block]
            # Crossing points of every ray with these planes: start + n * slope, (n_block, 1, n, 2).
            grid = torch.addcmul(flat_start, index[:, None], flat_slope).reshape(len(index), 1, -1, 2)
            # Bilinear samples at the crossings (zero outside the volume), (n_block, n).
            images = planes[begin : begin + block].contiguous().unsqueeze(1)
            samples = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[:, 0, 0]
            if masked:  # keep the planes between the source and the pixel
                samples = samples * ((index[:, None] >= first[None, :]) & (index[:, None] <= last[None, :]))
            partial = samples.sum(dim=0)
            total = partial if total is None else total + partial
        # Sum over planes, times the ray length per plane.
        return total * step_mm

    chunk = max(1, max_samples // n_planes)
    use_checkpoint = torch.is_grad_enabled() and n_rays > chunk
    results = []
    for begin in range(0, n_rays, chunk):
        part = slice(begin, begin + chunk)
        args = (start_xy[part], slope_xy[part], step_mm[part], first[part], last[part], planes)
        if use_checkpoint:
            results.append(checkpoint(integrate, *args, use_reentrant=False))
        else:
            results.append(integrate(*args))
    return results[0] if len(results) == 1 else torch.cat(results)


def backproject(
    images: torch.Tensor,
    volume_shape: Sequence[int],
    affine: np.ndarray | torch.Tensor,
    geometry: GeometryLike,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> torch.Tensor:
    """Adjoint of :func:`project`: spread detector values back into the volume (``A^T y``).

    Exact adjoint of the discrete forward operator (``<A x, y> = <x, A^T y>``), computed by reverse-mode autograd
    of the (linear) forward projection; differentiable with respect to ``images``.

    Args:
        images: (B, rows, cols) detector values, one image per view (dtype sets the computation dtype).
        volume_shape: (D, H, W) of the volume grid.
        affine: (4, 4) voxel-to-world matrix in LPS mm, as for :func:`project`.
        geometry: the views, as for :func:`project` (B of them).
        max_samples: memory bound, as for :func:`project`.

    Returns:
        (D, H, W) tensor in the units of ``images`` times mm.
    """
    if images.ndim != 3:
        raise InputError(f"images must be (B, rows, cols), got {tuple(images.shape)}")
    zeros = torch.zeros(tuple(int(s) for s in volume_shape), dtype=images.dtype, device=images.device)
    with torch.enable_grad():
        zeros.requires_grad_(True)
        pose_geometry = geometry
        if isinstance(geometry, CArmPose):  # the adjoint is taken at a fixed pose
            pose_geometry = CArmPose(
                **{
                    name: (value.detach() if isinstance(value, torch.Tensor) else value)
                    for name, value in vars(geometry).items()
                }
            )
        projected = project(zeros, affine, pose_geometry, max_samples=max_samples)
        if projected.shape != images.shape:
            raise InputError(f"images are {tuple(images.shape)}, the geometry gives {tuple(projected.shape)}")
        (volume,) = torch.autograd.grad(projected, zeros, grad_outputs=images, create_graph=images.requires_grad)
    return volume


class ConeBeamProjector:
    """A projector bound to one volume grid and a batch of views: ``A(x)`` projects, ``A.T(y)`` back-projects.

    Args:
        volume_shape: (D, H, W) of the volumes it takes.
        affine: (4, 4) voxel-to-world matrix in LPS mm.
        geometry: the views (see :func:`project`).
        max_samples: memory bound (see :func:`project`).
    """

    def __init__(
        self,
        volume_shape: Sequence[int],
        affine: np.ndarray | torch.Tensor,
        geometry: GeometryLike,
        max_samples: int = DEFAULT_MAX_SAMPLES,
    ) -> None:
        self.volume_shape = tuple(int(s) for s in volume_shape)
        self.affine = affine
        self.geometry = geometry
        self.max_samples = max_samples

    def __call__(self, volume: torch.Tensor) -> torch.Tensor:
        """(D, H, W) attenuation in 1/mm -> (B, rows, cols) line integrals."""
        if tuple(volume.shape) != self.volume_shape:
            raise InputError(f"volume is {tuple(volume.shape)}, the projector was built for {self.volume_shape}")
        return project(volume, self.affine, self.geometry, max_samples=self.max_samples)

    def T(self, images: torch.Tensor) -> torch.Tensor:  # noqa: N802 - reads like the maths, A.T(y)
        """(B, rows, cols) detector values -> (D, H, W) back-projection."""
        return backproject(images, self.volume_shape, self.affine, self.geometry, max_samples=self.max_samples)
