"""The uncrop network: its configuration checks, the conditioning channels and the model file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from angiogen.errors import InputError
from angiogen.tasks.dsa.model import DSAModel, build_unet as build_dsa_unet
from angiogen.tasks.uncrop.diffusion import sample
from angiogen.tasks.uncrop.model import ModelConfig, condition_channels, load_model


def _batch(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    collimated = torch.rand((2, 1, size, size), generator=generator)
    missing = torch.ones((2, 1, size, size))
    missing[:, :, 8:20, 10:24] = 0.0
    return collimated, missing


def test_config_refuses_bad_prior_objective_and_sizes(make_config) -> None:  # noqa: ANN001
    for changes, words in [({"prior": "gaussian"}, "none, rows, spatial"),
                           ({"objective": "gan"}, "diffusion, regression"),
                           ({"size": 34}, "multiple of 4"),  # 3 U-Net levels: a multiple of 4
                           ({"size": 40, "prior_channels": [8, 8, 8, 8]}, "(prior encoder)"),  # 16 for the prior
                           ({"channels": [8, 12, 16]}, "norm_groups"),
                           ({"beta_start": 0.02, "beta_end": 0.01}, "beta_end")]:
        with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
            make_config(**changes)
    # through build (the CLI's path) the same refusal is one InputError line naming the key
    with pytest.raises(InputError, match="prior") as error:
        ModelConfig.build({"prior": "gaussian"}, source="recipe.yaml")
    assert "\n" not in str(error.value)
    assert make_config(size=48).size == 48 and make_config(prior="spatial").in_channels == 5
    assert make_config().in_channels == 4


def test_condition_channels_come_from_the_collimated_image_only(make_config) -> None:  # noqa: ANN001
    config = make_config()
    collimated, missing = _batch()
    condition = condition_channels(collimated, missing, config)
    assert condition.shape == (2, 3, 32, 32)
    opening = missing == 0
    known, mask, outside = condition[:, :1], condition[:, 1:2], condition[:, 2:3]
    torch.testing.assert_close(known[opening], collimated[opening] * 2 - 1)
    assert torch.all(known[~opening] == 0) and torch.equal(mask, missing)
    assert torch.all(outside[opening] == 0) and outside.abs().max() <= 1.0 and outside[~opening].std() > 0.1
    # the opening does not bleed into the outside channel (normalised convolution)
    brighter = collimated.clone()
    brighter[opening] += 5.0
    torch.testing.assert_close(condition_channels(brighter, missing, config)[:, 2], outside[:, 0])


@pytest.mark.parametrize("prior", ["none", "rows"])
def test_save_and_load_give_the_same_outputs(make_model, prior: str, tmp_path: Path) -> None:  # noqa: ANN001
    model = make_model(seed=4, prior=prior)
    model.info = {"steps": 7, "seed": 1}
    path = model.save(tmp_path / "model.safetensors")
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.info == {"steps": 7, "seed": 1}
    original_state, loaded_state = model.net.state_dict(), loaded.net.state_dict()
    assert original_state.keys() == loaded_state.keys()  # BatchNorm statistics of the prior included
    for name, tensor in original_state.items():
        assert torch.equal(tensor, loaded_state[name]), name
    collimated, missing = _batch(1)
    first = sample(model.net, collimated, missing, 2, 3, torch.Generator().manual_seed(5))
    second = sample(loaded.net, collimated, missing, 2, 3, torch.Generator().manual_seed(5))
    assert torch.equal(first, second)
    with pytest.raises(InputError, match="exists"):
        model.save(path)  # no silent replacement
    model.save(path, overwrite=True)


def test_other_files_are_refused_with_one_line(make_model, tmp_path: Path) -> None:  # noqa: ANN001
    dsa = DSAModel(build_dsa_unet(4), mean=3.0, std=1.2, base_channels=4).save(tmp_path / "dsa.safetensors")
    good = make_model().save(tmp_path / "uncrop.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # truncated
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file at all" * 10)
    for path, words in [(dsa, "not an uncrop model"), (corrupt, "not a readable"), (garbage, "not a readable"),
                        (tmp_path / "none.safetensors", "no such file")]:
        with pytest.raises(InputError, match=words) as error:
            load_model(path)
        message = str(error.value)
        assert path.name in message and "\n" not in message, message


def test_weights_of_another_network_are_refused(make_model, tmp_path: Path) -> None:  # noqa: ANN001
    """A file whose weights do not fit its own configuration (edited header): one line, not a torch error."""
    from safetensors.torch import load_file, save_file

    path = make_model().save(tmp_path / "model.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
    tensors = load_file(path)
    tensors.pop(next(iter(tensors)))
    save_file(tensors, str(tmp_path / "edited.safetensors"), metadata)
    with pytest.raises(InputError, match="weights do not match") as error:
        load_model(tmp_path / "edited.safetensors")
    assert "\n" not in str(error.value)
