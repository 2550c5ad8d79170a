"""Dataset folders: compressed ``.npz`` array files and a ``manifest.json`` that records, beside what the task
stores there (config, counts, units), the sha256 of each array file; reading checks every digest, so a changed
or truncated file is refused. Arrays are read with ``allow_pickle=False``."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from angiogen.errors import InputError
from angiogen.io.atomic import check_writable, write_bytes_atomic, write_text_atomic

MANIFEST_FILE = "manifest.json"


def write_dataset_folder(folder: str | Path, arrays: Mapping[str, Mapping[str, np.ndarray]],
                         manifest: Mapping[str, Any], overwrite: bool = False) -> Path:
    """Write each ``arrays[file]`` as a compressed ``.npz`` and then ``manifest.json`` (``manifest`` plus the
    files' ``sha256``), all atomically; nothing is written when any file exists and ``overwrite`` is False.

    Returns:
        the manifest's path.
    """
    folder = Path(folder)
    for name in (*arrays, MANIFEST_FILE):
        check_writable(folder / name, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, content in arrays.items():
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **content)
        digests[name] = hashlib.sha256(buffer.getvalue()).hexdigest()
        write_bytes_atomic(folder / name, buffer.getvalue(), overwrite)
    return write_text_atomic(folder / MANIFEST_FILE, json.dumps({**manifest, "sha256": digests}, indent=1),
                             overwrite=True)


def read_manifest(folder: str | Path, what: str, hint: str) -> dict[str, Any]:
    """The manifest of a dataset folder. Without one the error says the folder is not ``what`` (e.g. ``"a dsa
    dataset folder"``) and ends with ``hint`` (e.g. which command makes one)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise InputError(f"not {what} (no {MANIFEST_FILE}); {hint}", folder)
    try:
        manifest = json.loads(path.read_text())
    except ValueError as error:
        raise InputError(f"unreadable manifest ({type(error).__name__})", path) from error
    if not isinstance(manifest, dict):
        raise InputError("unreadable manifest (not a JSON object)", path)
    return manifest


def read_dataset_arrays(folder: str | Path, manifest: Mapping[str, Any],
                        files: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """The arrays of ``files`` in ``folder``, each checked against the manifest's sha256.

    Raises:
        InputError: a file is missing, or its digest differs from the manifest's (changed or truncated).
    """
    loaded = {}
    for name in files:
        path = Path(folder) / name
        if not path.is_file():
            raise InputError("missing dataset file", path)
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != manifest.get("sha256", {}).get(name):
            raise InputError("file does not match the manifest's sha256 (changed or truncated)", path)
        with np.load(io.BytesIO(raw), allow_pickle=False) as content:
            loaded[name] = {key: content[key] for key in content.files}
    return loaded
