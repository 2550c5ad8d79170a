"""Phantoms with exact ground truth. The LV myocardium with scar lives in :mod:`angiogen.synth.lv_phantom`;
this module is the one place to import phantoms from."""

from angiogen.synth.lv_phantom import (
    SCAR_KINDS,
    Channel,
    LVGeometry,
    LVMesh,
    ScarField,
    Sector,
    make_lv_mesh,
    random_scar,
)

__all__ = [
    "SCAR_KINDS",
    "Channel",
    "LVGeometry",
    "LVMesh",
    "ScarField",
    "Sector",
    "make_lv_mesh",
    "random_scar",
]
