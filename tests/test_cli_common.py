"""What the commands share: profile presets, --config / --set overrides, the bundled-model lookup, the progress
bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from angiogen import cli_common
from angiogen.cli_common import build_config, bundled_model_path, profile_values, progress_bar
from angiogen.config import Config
from angiogen.errors import InputError


class Crop(Config):
    crop_px: int = 64
    scale: float = 1.0


class Settings(Config):
    n_phantoms: int = 4
    noise: float = 0.1
    views: list[str] = ["AP"]
    name: str = "run"
    pairs: Crop = Crop()


PRESETS = {"cpu": {}, "smoke": {"n_phantoms": 2}}


def test_profile_values_copies_the_preset_and_names_the_choices() -> None:
    smoke = profile_values("smoke", PRESETS)
    smoke["n_phantoms"] = 99
    assert PRESETS["smoke"] == {"n_phantoms": 2} and profile_values("cpu", PRESETS) == {}
    with pytest.raises(InputError, match="--profile must be cpu or smoke, got 'gpu'"):
        profile_values("gpu", PRESETS)
    with pytest.raises(InputError, match="a, b or c"):
        profile_values("d", {"a": {}, "b": {}, "c": {}})


def test_overrides_are_parsed_to_the_config_types() -> None:
    config = build_config(Settings, profile_values("smoke", PRESETS), None,
                          ["noise=0.25", "views=[AP, LAO45]", "name=run7", "pairs.crop_px=96", "pairs.scale=2"])
    assert config.n_phantoms == 2 and isinstance(config.n_phantoms, int)
    assert config.noise == 0.25 and config.views == ["AP", "LAO45"]
    assert config.name == "run7" and config.pairs.crop_px == 96 and config.pairs.scale == 2.0
    assert build_config(Settings, {}, None, []).n_phantoms == 4


def test_overrides_apply_over_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("n_phantoms: 7\nnoise: 0.5\n", encoding="utf-8")
    config = build_config(Settings, {"n_phantoms": 1}, path, ["noise=0.75"])
    assert (config.n_phantoms, config.noise) == (7, 0.75)  # the file replaces the profile's values


@pytest.mark.parametrize("override, named", [("n_phantom=3", "n_phantom"), ("pairs.crop=3", "pairs.crop"),
                                             ("n_phantoms=many", "n_phantoms"), ("noise", "key=value")])
def test_a_bad_override_names_the_key(override: str, named: str) -> None:
    with pytest.raises(InputError, match=named):
        build_config(Settings, {}, None, [override])


def test_bundled_model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = bundled_model_path("dsa", "dsa_unet16.safetensors")
    assert shipped.is_file() and shipped.parent.name == "dsa"
    monkeypatch.setattr(cli_common, "MODELS_DIR", tmp_path)
    with pytest.raises(InputError, match="bundled scar model is missing.*pass --model") as error:
        bundled_model_path("scar")
    assert str(tmp_path / "scar" / "model.safetensors") in str(error.value)
    (tmp_path / "scar").mkdir()
    (tmp_path / "scar" / "model.safetensors").write_bytes(b"")
    assert bundled_model_path("scar") == tmp_path / "scar" / "model.safetensors"


def test_progress_bar_counts_and_stays_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(quiet=True) as bar:
        task = bar.add_task("synth vessels", total=3)
        bar.update(task, completed=3)
    assert bar.tasks[0].description == "synth vessels" and bar.tasks[0].completed == 3
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
