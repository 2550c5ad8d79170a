"""Checkpoints that can be resumed exactly and loaded safely.

Layout of a checkpoint directory::

    <directory>/
        latest                    text file naming the newest complete step directory, e.g. "step_1200"
        step_1200/
            model.safetensors     model weights (safetensors; no pickle, safe to load from anyone)
            state.pt              optimiser(s), scheduler(s), EMA, grad scaler, RNG states, step, extra

Every file is written to a temporary name and renamed, and ``latest`` is written last, so a crash leaves
the previous checkpoint as the one a resume picks up. ``state.pt`` holds only tensors and plain Python
types and is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import pickle
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from angiogen.errors import InputError
from angiogen.io.atomic import atomic_path, write_text_atomic
from angiogen.train.distributed import unwrap_model
from angiogen.train.ema import EMA
from angiogen.train.seeding import capture_rng_state, restore_rng_state

log = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.pt"
LATEST_FILE = "latest"
FORMAT_VERSION = 1
_STEP_DIR = re.compile(r"^step_(\d+)$")

Stateful = Any  # an object with state_dict() / load_state_dict(): optimiser, LR scheduler, GradScaler
OneOrMany = Stateful | Mapping[str, Stateful] | None


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What :func:`load_checkpoint` restored.

    Attributes:
        step: number of completed optimiser steps when the checkpoint was written.
        extra: the ``extra`` dict given to :func:`save_checkpoint` (empty if none).
        path: the step directory that was read.
    """

    step: int
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Remove a DDP ``module.`` prefix when every key carries it."""
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix) :]: value for key, value in state.items()}
    return dict(state)


def _alias_groups(state: Mapping[str, torch.Tensor]) -> list[list[str]]:
    """Groups of names that refer to the same tensor view (tied weights), in state-dict order."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, tensor in state.items():
        key = (
            tensor.device,
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tuple(tensor.stride()),
            tensor.dtype,
        )
        groups.setdefault(key, []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def model_state_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict, unwrapped from DDP, on CPU, contiguous, with tied weights stored once.

    safetensors refuses tensors that share memory; for each group of tied names only the first is kept
    (:func:`load_weights` restores the others from the model's own tying). Other tensors that overlap in
    memory are copied.
    """
    state = _strip_prefix(unwrap_model(model).state_dict())
    for names in _alias_groups(state):
        for duplicate in names[1:]:
            del state[duplicate]
    seen_storages: set[tuple[torch.device, int]] = set()
    result: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        storage = (tensor.device, tensor.untyped_storage().data_ptr())
        tensor = tensor.detach()
        if storage in seen_storages:
            tensor = tensor.clone()
        seen_storages.add(storage)
        result[name] = tensor.cpu().contiguous()
    return result


def save_weights(path: str | Path, model: nn.Module, metadata: Mapping[str, str] | None = None) -> Path:
    """Write the weights of ``model`` to a safetensors file at ``path`` atomically.

    Args:
        path: target ``.safetensors`` file; replaced if present.
        model: the model (a DDP wrapper is unwrapped, no ``module.`` prefix is written).
        metadata: optional string key/values stored in the file header (e.g. the recipe that made it).
    """
    path = Path(path)
    tensors = model_state_for_saving(model)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", **(metadata or {})})
    return path


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (on the CPU) and header metadata of a safetensors file; nothing is unpickled.

    Raises:
        InputError: the file is missing or not a readable safetensors file; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise InputError(f"not a readable safetensors file ({error})", path) from error
    return tensors, metadata


def describe_mismatch(
    loaded: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> str | None:
    """A one-line account of missing keys, unexpected keys and shape mismatches of ``loaded`` against
    ``expected`` (a model's state dict); None when they match."""
    missing = [name for name in expected if name not in loaded]
    unexpected = [name for name in loaded if name not in expected]
    wrong_shape = [
        f"{name} {tuple(loaded[name].shape)} vs model {tuple(expected[name].shape)}"
        for name in expected
        if name in loaded and loaded[name].shape != expected[name].shape
    ]
    problems = []
    for label, names in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", wrong_shape)):
        if names:
            shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
            problems.append(f"{label}: {shown}")
    return "; ".join(problems) if problems else None


def load_weights(path: str | Path, model: nn.Module) -> nn.Module:
    """Load a safetensors file into ``model`` (in place), insisting that it matches exactly.

    A ``module.`` prefix from a DDP-wrapped model is stripped, tied weights stored once are restored,
    and dtypes are cast to the model's.

    Raises:
        InputError: the file is missing or unreadable, or has missing/unexpected keys or wrong shapes
            (e.g. weights from another task or another model size); the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found", path)
    try:
        loaded = _strip_prefix(load_file(str(path), device="cpu"))
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"not a readable safetensors file ({error})", path) from error
    target = unwrap_model(model)
    expected = target.state_dict()
    for names in _alias_groups(expected):
        present = [name for name in names if name in loaded]
        for name in names:
            if present and name not in loaded:
                loaded[name] = loaded[present[0]]
    problem = describe_mismatch(loaded, expected)
    if problem:
        raise InputError(f"weights do not match the model: {problem}", path)
    target.load_state_dict(loaded, strict=True)
    return model


def _named(objects: OneOrMany, default: str) -> dict[str, Stateful]:
    if objects is None:
        return {}
    if isinstance(objects, Mapping):
        return dict(objects)
    return {default: objects}


def step_dir_name(step: int) -> str:
    """Name of the directory holding the checkpoint of ``step``: ``step_<step>``."""
    return f"step_{step}"


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (both files present) under ``directory`` as ``(step, path)``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / MODEL_FILE).is_file() and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def find_latest_checkpoint(directory: str | Path) -> Path | None:
    """The step directory named by ``<directory>/latest``, else the highest complete one, else None."""
    directory = Path(directory)
    pointer = directory / LATEST_FILE
    if pointer.is_file():
        candidate = directory / pointer.read_text(encoding="utf-8").strip()
        if (candidate / MODEL_FILE).is_file() and (candidate / STATE_FILE).is_file():
            return candidate
        log.warning("%s names %s, which is incomplete; using the newest complete checkpoint", pointer, candidate)
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def save_checkpoint(
    directory: str | Path,
    step: int,
    model: nn.Module,
    optimizer: OneOrMany = None,
    scheduler: OneOrMany = None,
    ema: EMA | None = None,
    extra: dict[str, Any] | None = None,
    grad_scaler: Stateful | None = None,
    keep_last: int | None = None,
) -> Path:
    """Write a resumable checkpoint of ``step`` under ``directory`` and point ``latest`` at it.

    Call on the main process only under DDP. Captures the Python/NumPy/torch RNG states of this process.

    Args:
        directory: the run's checkpoint directory (created if missing).
        step: number of completed optimiser steps.
        model: the model (DDP unwrapped; weights go to ``model.safetensors``).
        optimizer: one optimiser, or a name -> optimiser mapping (e.g. generator and discriminator).
        scheduler: one LR scheduler, or a name -> scheduler mapping.
        ema: the EMA of the weights, if one is kept.
        extra: further state (e.g. early stopping, a config dict); only tensors and plain Python types,
            so that it loads with ``weights_only=True``.
        grad_scaler: the ``torch.amp.GradScaler`` of fp16 training.
        keep_last: keep only the newest ``keep_last`` checkpoints (None keeps all).

    Returns:
        The step directory written.
    """
    if step < 0:
        raise ValueError(f"step must be non-negative, got {step}")
    directory = Path(directory)
    step_dir = directory / step_dir_name(step)
    step_dir.mkdir(parents=True, exist_ok=True)
    save_weights(step_dir / MODEL_FILE, model, metadata={"step": str(step)})
    state = {
        "format_version": FORMAT_VERSION,
        "step": int(step),
        "optimizers": {name: opt.state_dict() for name, opt in _named(optimizer, "optimizer").items()},
        "schedulers": {name: sch.state_dict() for name, sch in _named(scheduler, "scheduler").items()},
        "ema": ema.state_dict() if ema is not None else None,
        "grad_scaler": grad_scaler.state_dict() if grad_scaler is not None else None,
        "rng": capture_rng_state(),
        "extra": dict(extra or {}),
    }
    with atomic_path(step_dir / STATE_FILE) as tmp:
        torch.save(state, tmp)
    write_text_atomic(directory / LATEST_FILE, step_dir.name + "\n")
    log.info("saved checkpoint %s", step_dir)
    if keep_last is not None and keep_last > 0:
        for _, old_dir in list_checkpoints(directory)[:-keep_last]:
            if old_dir != step_dir:
                shutil.rmtree(old_dir, ignore_errors=True)
    return step_dir


def resolve_checkpoint(path: str | Path) -> Path:
    """Turn a step directory, or a checkpoint directory (its latest), into a step directory.

    Raises:
        InputError: nothing loadable is there.
    """
    path = Path(path)
    if (path / MODEL_FILE).is_file():
        return path
    latest = find_latest_checkpoint(path)
    if latest is None:
        raise InputError(f"no checkpoint found (expected {MODEL_FILE} or step_<n>/ directories)", path)
    return latest


def _load_into(objects: dict[str, Stateful], states: Mapping[str, Any], what: str, path: Path) -> None:
    if set(objects) - set(states):
        raise InputError(f"checkpoint has no {what} state for {sorted(set(objects) - set(states))}", path)
    for name, obj in objects.items():
        try:
            obj.load_state_dict(states[name])
        except (ValueError, KeyError, RuntimeError) as error:
            raise InputError(f"{what} state {name!r} does not match: {error}", path) from error


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: OneOrMany = None,
    scheduler: OneOrMany = None,
    ema: EMA | None = None,
    grad_scaler: Stateful | None = None,
    restore_rng: bool = True,
) -> LoadedCheckpoint:
    """Restore a checkpoint written by :func:`save_checkpoint` into the given objects (in place).

    Args:
        path: a step directory, or a checkpoint directory whose ``latest`` (or newest step) is read.
        model, optimizer, scheduler, ema, grad_scaler: the objects to restore; those left None are skipped.
        restore_rng: also restore the Python/NumPy/torch RNG states, for an exact resume.

    Raises:
        InputError: no checkpoint, unsafe or unreadable ``state.pt``, or state that does not match the objects.
    """
    step_dir = resolve_checkpoint(path)
    load_weights(step_dir / MODEL_FILE, model)
    state_path = step_dir / STATE_FILE
    if not state_path.is_file():
        raise InputError("checkpoint state file not found", state_path)
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise InputError(f"holds objects that cannot be loaded safely ({error})", state_path) from error
    except (RuntimeError, OSError, EOFError) as error:
        raise InputError(f"unreadable checkpoint state ({error})", state_path) from error
    if state.get("format_version") != FORMAT_VERSION:
        raise InputError(f"unsupported checkpoint format {state.get('format_version')!r}", state_path)
    _load_into(_named(optimizer, "optimizer"), state["optimizers"], "optimizer", state_path)
    _load_into(_named(scheduler, "scheduler"), state["schedulers"], "scheduler", state_path)
    if ema is not None:
        if state["ema"] is None:
            raise InputError("checkpoint has no EMA state", state_path)
        try:
            ema.load_state_dict(state["ema"])
        except InputError as error:
            raise InputError(error.problem, state_path) from error
    if grad_scaler is not None and state["grad_scaler"] is not None:
        grad_scaler.load_state_dict(state["grad_scaler"])
    if restore_rng:
        restore_rng_state(state["rng"])
    log.info("loaded checkpoint %s (step %d)", step_dir, state["step"])
    return LoadedCheckpoint(step=int(state["step"]), extra=dict(state["extra"]), path=step_dir)
