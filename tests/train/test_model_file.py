"""The task model file: weights + typed fields, format checked, mismatches refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from angiogen.errors import InputError
from angiogen.train.model_file import read_model_file, write_model_file

FORMAT = "angiogen.test.model/1"


def test_round_trip_keeps_weights_and_typed_fields(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    fields = {"width": 3, "mean": 0.1 + 0.2, "case_id": "abc123", "info": {"steps": 7, "loss": [1.5, 0.5]}}
    path = write_model_file(tmp_path / "m.safetensors", net, FORMAT, fields)
    loaded = read_model_file(path, FORMAT, "a test model")
    assert loaded.value("width") == 3
    assert loaded.value("mean") == 0.1 + 0.2  # floats survive exactly
    assert loaded.text("case_id") == "abc123"
    assert loaded.value("info") == {"steps": 7, "loss": [1.5, 0.5]}
    assert loaded.value("absent", {}) == {}
    other = loaded.load_into(nn.Linear(3, 2), "a 3-2 layer")
    assert torch.equal(other.weight, net.weight) and torch.equal(other.bias, net.bias)


def test_refuses_other_format_missing_field_and_wrong_shape(tmp_path: Path) -> None:
    path = write_model_file(tmp_path / "m.safetensors", nn.Linear(3, 2), FORMAT, {"width": 3})
    with pytest.raises(InputError, match="not a scar model") as error:
        read_model_file(path, "angiogen.scar.model/1", "a scar model")
    assert "m.safetensors" in str(error.value)
    loaded = read_model_file(path, FORMAT, "a test model")
    with pytest.raises(InputError, match="no 'depth' field"):
        loaded.value("depth")
    with pytest.raises(InputError, match=r"do not match a 4-2 layer: shape mismatch: weight \(2, 3\)"):
        loaded.load_into(nn.Linear(4, 2), "a 4-2 layer")


def test_never_replaces_without_overwrite_and_wants_safetensors(tmp_path: Path) -> None:
    path = write_model_file(tmp_path / "m.safetensors", nn.Linear(3, 2), FORMAT, {"width": 3})
    before = path.read_bytes()
    with pytest.raises(InputError):
        write_model_file(path, nn.Linear(3, 2), FORMAT, {"width": 4})
    assert path.read_bytes() == before
    write_model_file(path, nn.Linear(3, 2), FORMAT, {"width": 4}, overwrite=True)
    assert read_model_file(path, FORMAT, "a test model").value("width") == 4
    with pytest.raises(InputError, match="safetensors"):
        write_model_file(tmp_path / "m.pt", nn.Linear(3, 2), FORMAT, {})
