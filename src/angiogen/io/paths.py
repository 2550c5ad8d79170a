"""File-name helpers shared by the readers of folders (image stacks, VTK layer folders)."""

from __future__ import annotations

import re
from pathlib import Path


def natural_sort_key(path: str | Path) -> list[int | str]:
    """Sort key of a file name that orders embedded numbers by value: ``frame2`` < ``frame10``.

    Args:
        path: a path or file name; only its last component (the name) counts, compared case-insensitively.

    Returns:
        The name split into text and digit runs, digit runs as ints (text at even, numbers at odd positions,
        so any two keys compare without type errors).
    """
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", Path(path).name)]
