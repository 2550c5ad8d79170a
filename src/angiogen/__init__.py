"""angiogen: AI for cardiovascular imaging on a shared, physics-based core."""

__version__ = "0.1.0"
