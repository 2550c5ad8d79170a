"""The DSA U-Net and its safetensors file: size, any frame size, normalisation, save / load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from angiogen.errors import InputError
from angiogen.tasks.dsa.model import DIHEDRAL_VIEWS, DSAModel, build_unet, dihedral_view, load_model


def _model(base: int = 4, seed: int = 0) -> DSAModel:
    torch.manual_seed(seed)
    return DSAModel(build_unet(base), mean=3.2, std=1.4, base_channels=base, info={"steps": 7, "note": "test"})


def _frames(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1.0, 6.0, shape).astype(np.float32)


def test_unet_sizes_and_layout() -> None:
    n_cpu = sum(p.numel() for p in build_unet(16).parameters())
    assert 1.1e6 < n_cpu < 1.3e6  # dsa.md 2.5 / 4: 1.19 M for [16, 32, 64, 128] + the extra level
    net = build_unet(4)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].in_channels == 1 and convs[-1].out_channels == 1 and convs[-1].kernel_size == (1, 1)
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in net.modules())
    slopes = {m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.01}
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 4  # a multiple of 16
    with pytest.raises(InputError):
        build_unet(0)


@pytest.mark.parametrize("height, width", [(37, 50), (5, 9)])
def test_predict_takes_any_frame_size(height: int, width: int) -> None:
    model = _model()
    frames = _frames((3, height, width))
    out = model.predict(frames)
    assert out.shape == frames.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    # frames are independent: batching does not change them
    np.testing.assert_allclose(model.predict(frames, batch_size=1), out, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(model.predict(frames[1:2]), out[1:2], atol=1e-5, rtol=1e-5)


def test_global_normalisation_uses_the_stored_statistics() -> None:
    model = _model()
    frames = _frames((2, 32, 48))  # a multiple of 16: no padding
    with torch.no_grad():
        direct = model.net(torch.from_numpy((frames - 3.2) / 1.4)[:, None])[:, 0].numpy() * 1.4
    np.testing.assert_allclose(model.predict(frames, tta=False), direct, atol=1e-5, rtol=1e-5)


def test_dihedral_views_are_the_eight_distinct_symmetries_and_invert() -> None:
    images = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)  # non-square, asymmetric
    views = [dihedral_view(images, view) for view in range(DIHEDRAL_VIEWS)]
    assert len({tuple(v.flatten().tolist()) + tuple(v.shape) for v in views}) == DIHEDRAL_VIEWS
    for view, image in enumerate(views):
        assert torch.equal(dihedral_view(image, view, inverse=True), images)


def test_test_time_augmentation_is_the_mean_over_rotated_and_flipped_frames() -> None:
    torch.manual_seed(2)  # a net that is not rotation-equivariant (an asymmetric kernel): the views differ
    model = DSAModel(nn.Conv2d(1, 1, 3, padding=1), mean=3.2, std=1.4)
    frames = _frames((2, 32, 48))
    views = []
    for turns in range(4):
        for flip in (False, True):
            view = np.rot90(frames, turns, axes=(1, 2))
            view = view[:, :, ::-1] if flip else view
            out = model.predict(np.ascontiguousarray(view), tta=False)
            out = out[:, :, ::-1] if flip else out
            views.append(np.rot90(out, -turns, axes=(1, 2)))
    single = model.predict(frames, tta=False)
    assert np.abs(views[1] - single).max() > 0.1  # so the check below could not pass by accident
    np.testing.assert_allclose(model.predict(frames), np.mean(views, axis=0), atol=1e-5, rtol=1e-5)
    odd = _frames((1, 37, 50))  # padded frames keep their size
    assert model.predict(odd).shape == odd.shape


def test_local_normalisation_follows_the_scale_of_the_run() -> None:
    model = _model()
    frames = _frames((2, 37, 50))
    # the run's own mean and std: an affine change of units a x + b scales the output by a
    out = model.predict(frames, "local")
    np.testing.assert_allclose(model.predict(250.0 * frames + 40.0, "local"), 250.0 * out, rtol=1e-3, atol=1e-3)
    with pytest.raises(InputError, match="normalisation"):
        model.predict(frames, "median")


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = _model(seed=1)
    frames = _frames((2, 37, 50))
    path = model.save(tmp_path / "dsa.safetensors")
    loaded = load_model(path)
    assert (loaded.mean, loaded.std, loaded.base_channels, loaded.info) == (3.2, 1.4, 4, {"steps": 7, "note": "test"})
    assert np.array_equal(loaded.predict(frames), model.predict(frames))
    with pytest.raises(InputError, match="exists"):
        model.save(path)
    with pytest.raises(InputError, match="safetensors"):
        model.save(tmp_path / "dsa.pt")
    assert not (tmp_path / "dsa.pt").exists()


def test_load_refuses_files_that_are_not_dsa_models(tmp_path: Path) -> None:
    other = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(other), metadata={"format": "angiogen.scar.model/1"})
    with pytest.raises(InputError, match="not a dsa model") as error:
        load_model(other)
    assert error.value.path == other
    bare = tmp_path / "bare.safetensors"
    save_file({"weight": torch.zeros(3)}, str(bare))
    with pytest.raises(InputError, match="bare.safetensors"):
        load_model(bare)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00not a safetensors file")
    with pytest.raises(InputError, match="garbage.safetensors"):
        load_model(garbage)
    with pytest.raises(InputError, match="missing.safetensors"):
        load_model(tmp_path / "missing.safetensors")
    # a dsa header whose weights belong to another width
    wide = _model(base=8)
    wide.base_channels = 4
    path = wide.save(tmp_path / "mismatch.safetensors")
    with pytest.raises(InputError, match="width 4"):
        load_model(path)
