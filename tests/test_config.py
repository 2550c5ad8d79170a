"""Typed configs: YAML in and out, CLI overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from angiogen.config import Config
from angiogen.errors import InputError


class Optim(Config):
    lr: float = 1e-3
    betas: list[float] = [0.9, 0.999]


class Example(Config):
    steps: int = 10
    name: str = "run"
    optim: Optim = Optim()


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = Example(steps=3, optim=Optim(lr=0.5))
    config.save(tmp_path / "config.yaml")
    assert Example.from_yaml(tmp_path / "config.yaml") == config


def test_overrides_reach_nested_keys_and_parse_values(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("steps: 5\noptim:\n  lr: 0.1\n")
    config = Example.from_yaml(tmp_path / "c.yaml", ["optim.lr=0.25", "name=x", "optim.betas=[0.5, 0.6]"])
    assert config.steps == 5 and config.optim.lr == 0.25 and config.name == "x"
    assert config.optim.betas == [0.5, 0.6]


def test_unknown_key_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("stepz: 5\n")
    with pytest.raises(InputError, match=r"c\.yaml.*stepz"):
        Example.from_yaml(tmp_path / "c.yaml")


def test_wrong_type_is_refused() -> None:
    with pytest.raises(InputError, match="steps"):
        Example.build({}, ["steps=many"])


@pytest.mark.parametrize("override", ["steps", "=3", "steps.sub=1"])
def test_malformed_override(override: str) -> None:
    with pytest.raises(InputError):
        Example.build({}, [override])


def test_missing_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such config"):
        Example.from_yaml(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("steps: [1, 2\n")
    with pytest.raises(InputError, match="bad.yaml"):
        Example.from_yaml(tmp_path / "bad.yaml")
