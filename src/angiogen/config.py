"""Typed configurations: pydantic models loaded from YAML, overridden from the CLI, saved with every run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from angiogen.errors import InputError
from angiogen.io.atomic import write_text_atomic

ConfigT = TypeVar("ConfigT", bound="Config")


class Config(BaseModel):
    """Base class of every task's configuration: unknown keys are refused, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def from_yaml(cls: type[ConfigT], path: str | Path, overrides: list[str] | None = None) -> ConfigT:
        """Load a config from a YAML file, then apply ``key.sub=value`` overrides."""
        path = Path(path)
        if not path.is_file():
            raise InputError("no such config file", path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise InputError(f"not valid YAML ({error.__class__.__name__})", path) from error
        if not isinstance(values, dict):
            raise InputError("a config file must hold a mapping of keys to values", path)
        return cls.build(values, overrides, source=path)

    @classmethod
    def build(
        cls: type[ConfigT],
        values: dict[str, Any] | None = None,
        overrides: list[str] | None = None,
        source: str | Path | None = None,
    ) -> ConfigT:
        """Validate ``values`` with ``overrides`` applied; errors name ``source`` (file or 'options')."""
        merged = copy.deepcopy(dict(values or {}))  # overrides of nested keys must not reach the caller's dicts
        for override in overrides or []:
            apply_override(merged, override)
        try:
            return cls.model_validate(merged)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(f"config key '{where}': {first['msg']}", source or "options") from error

    def to_yaml(self) -> str:
        """The config as YAML text (plain types only, so it reloads with :meth:`from_yaml`)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML, atomically."""
        return write_text_atomic(path, self.to_yaml())


def apply_override(values: dict[str, Any], override: str) -> None:
    """Set ``values[a][b] = v`` for the text ``a.b=v``; ``v`` is parsed as YAML (numbers, lists, ...)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise InputError(f"override '{override}' is not of the form key=value", "options")
    *parents, leaf = key.strip().split(".")
    node = values
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InputError(f"override '{override}': '{part}' is not a section", "options")
        node = child
    node[leaf] = yaml.safe_load(raw)
