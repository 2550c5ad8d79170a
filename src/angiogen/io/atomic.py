"""Atomic writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from angiogen.errors import InputError


def check_writable(path: str | Path, overwrite: bool = False) -> Path:
    """Refuse to replace an existing file unless ``overwrite``; return ``path`` as a Path."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError("exists already; pass --overwrite to replace it", path)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success.

    The temporary file keeps the target's suffixes so that writers choosing a format by extension
    (nibabel, meshio, imageio) still work. On any exception the temporary file is removed and the
    target is left as it was.
    """
    path = check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (fsync before the rename)."""
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def write_text_atomic(path: str | Path, text: str, overwrite: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite)
