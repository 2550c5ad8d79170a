"""A task's model file: network weights plus the facts needed to rebuild and use it, in one safetensors file.

The header holds string metadata: ``format`` (``angiogen.<task>.model/<version>``, checked on load so that a file
of another task is refused with one line) and named fields. A string field is stored as it is, every other field
(numbers, dicts of configuration, training facts) as JSON. Nothing is unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from angiogen.errors import InputError
from angiogen.io.atomic import check_writable
from angiogen.train.checkpoint import describe_mismatch, read_safetensors, save_weights

_REQUIRED = object()


def write_model_file(path: str | Path, net: nn.Module, format_id: str, fields: Mapping[str, Any],
                     overwrite: bool = False) -> Path:
    """Write ``net``'s weights and ``fields`` to a ``.safetensors`` file atomically.

    Args:
        path: the target file; its suffix must be ``.safetensors``.
        net: the network (a DDP wrapper is unwrapped).
        format_id: e.g. ``angiogen.dsa.model/1``; :func:`read_model_file` insists on it.
        fields: named values; strings are stored as they are, anything else as JSON.
        overwrite: replace an existing file; without it an existing file is an error.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError("models are written as .safetensors", path)
    check_writable(path, overwrite)
    metadata = {name: value if isinstance(value, str) else json.dumps(value) for name, value in fields.items()}
    return save_weights(path, net, {**metadata, "format": format_id})


@dataclass
class ModelFile:
    """A model file as read: its tensors (on the CPU) and header fields, with typed accessors."""

    path: Path
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]

    def text(self, name: str) -> str:
        """The string field ``name``; a missing field is an error naming the file."""
        if name not in self.metadata:
            raise InputError(f"model file has no {name!r} field", self.path)
        return self.metadata[name]

    def value(self, name: str, default: Any = _REQUIRED) -> Any:
        """The JSON field ``name`` decoded; ``default`` when absent (without a default, absence is an error)."""
        if name not in self.metadata:
            if default is _REQUIRED:
                raise InputError(f"model file has no {name!r} field", self.path)
            return default
        try:
            return json.loads(self.metadata[name])
        except json.JSONDecodeError as error:
            raise InputError(f"model file field {name!r} is not valid JSON ({error})", self.path) from error

    def load_into(self, net: nn.Module, description: str) -> nn.Module:
        """Load the weights into ``net`` exactly; a mismatch names the file and ``description`` (what was built)."""
        problem = describe_mismatch(self.tensors, net.state_dict())
        if problem:
            raise InputError(f"weights do not match {description}: {problem}", self.path)
        net.load_state_dict(self.tensors, strict=True)
        return net


def read_model_file(path: str | Path, format_id: str, what: str) -> ModelFile:
    """Read a file written by :func:`write_model_file`, refusing one of another format.

    Args:
        path: the ``.safetensors`` file.
        format_id: the format it must have.
        what: how the error calls the expected file, e.g. ``"a dsa model"``.

    Raises:
        InputError: missing or unreadable file, or a file of another format.
    """
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != format_id:
        raise InputError(f"not {what} (format {metadata.get('format')!r}, expected {format_id!r})", path)
    return ModelFile(Path(path), tensors, metadata)
