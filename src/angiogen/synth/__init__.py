"""Synthesis engine: vessel trees, voxelisation, phantoms, bolus."""
