"""X-ray engine: C-arm geometry, cone-beam projector and its adjoint, attenuation physics, analytic phantoms.

Project a volume at two standard angiographic views (world = patient LPS in mm; volumes are (D, H, W) tensors of
attenuation in 1/mm with a voxel-to-world affine)::

    >>> import torch
    >>> from angiogen.xray import CArmGeometry, Ellipsoid, centred_affine, project, voxelise, line_integrals
    >>> affine = centred_affine((32, 32, 32), spacing_mm=2.0)           # 64 mm cube centred on the isocentre
    >>> heart = Ellipsoid(center_mm=(0, 0, 0), semi_axes_mm=(25, 20, 22), mu_per_mm=0.02)
    >>> volume = voxelise(heart, (32, 32, 32), affine)                    # partial-volume mu, 1/mm
    >>> views = [CArmGeometry.standard(name, rows=48, cols=48, pixel_spacing_mm=2.0)
    ...          for name in ("RAO30/CRA20", "LAO45")]
    >>> images = project(volume, affine, views)                          # (2, 48, 48) line integrals
    >>> tuple(images.shape)
    (2, 48, 48)
    >>> exact = line_integrals(heart, views[1])                          # closed form, float64 (48, 48)
    >>> bool(abs(float(images[1, 24, 24]) - exact[24, 24]) / exact[24, 24] < 0.02)
    True

Back-projection is the exact adjoint, ``backproject(images, volume.shape, affine, views)``; for pose optimisation
pass a :class:`CArmPose` whose angle or shift tensors require grad. Noise and collimation are in
:mod:`angiogen.xray.physics`.
"""

from angiogen.xray.geometry import STANDARD_VIEWS, CArmGeometry, CArmPose, carm_axes, parse_view, view_name
from angiogen.xray.phantoms import Cylinder, Ellipsoid, GaussianBlob, centred_affine, line_integrals, voxelise
from angiogen.xray.physics import (
    MU_60KEV_PER_MM,
    add_noise,
    beer_lambert,
    collimate,
    gaussian_blur,
    hu_to_mu,
    iodine_mu_per_mm_per_mg_ml,
    iodine_to_mu,
    log_transform,
    mu_water_per_mm,
    noisy_counts,
)
from angiogen.io.coordinates import lps_to_ras, ras_to_lps
from angiogen.xray.projector import ConeBeamProjector, backproject, project

__all__ = [
    "MU_60KEV_PER_MM",
    "STANDARD_VIEWS",
    "CArmGeometry",
    "CArmPose",
    "ConeBeamProjector",
    "Cylinder",
    "Ellipsoid",
    "GaussianBlob",
    "add_noise",
    "backproject",
    "beer_lambert",
    "carm_axes",
    "centred_affine",
    "collimate",
    "gaussian_blur",
    "hu_to_mu",
    "iodine_mu_per_mm_per_mg_ml",
    "iodine_to_mu",
    "line_integrals",
    "log_transform",
    "mu_water_per_mm",
    "noisy_counts",
    "parse_view",
    "project",
    "lps_to_ras",
    "ras_to_lps",
    "view_name",
    "voxelise",
]
