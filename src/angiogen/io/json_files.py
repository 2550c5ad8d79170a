"""Strict JSON files: NumPy values become plain numbers and lists, non-finite numbers become null (JSON has no
NaN or Infinity, and browsers and ``jq`` refuse them); written atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from angiogen.io.atomic import write_text_atomic


def plain(value: Any) -> Any:
    """``value`` with NumPy arrays/scalars and tuples turned into lists and numbers, and NaN/inf into None."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data: Any, overwrite: bool = False, indent: int = 1,
               sort_keys: bool = False) -> Path:
    """Write ``data`` as strict JSON (see :func:`plain`) to ``path`` atomically; refuse to replace a file unless
    ``overwrite``."""
    text = json.dumps(plain(data), indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"
    return write_text_atomic(path, text, overwrite)
