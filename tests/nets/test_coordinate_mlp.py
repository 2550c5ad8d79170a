"""Shapes, Fourier features, MC dropout and coordinate normalisation of the coordinate MLP."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from angiogen.nets.coordinate_mlp import CoordinateMLP, CoordinateNormaliser, FourierFeatures, MLPConfig


def test_output_is_one_probability_per_point() -> None:
    net = CoordinateMLP(MLPConfig(width=16, depth=3, fourier_features=8)).eval()
    out = net(torch.rand(5, 3) * 2 - 1)
    assert out.shape == (5,) and torch.all((out > 0) & (out < 1))
    assert net.layers[0].in_features == 3 + 2 * 8
    assert [layer.out_features for layer in net.linear_layers()] == [16, 16, 16, 1]
    with pytest.raises(ValueError):
        CoordinateMLP(MLPConfig(depth=0))
    with pytest.raises(ValueError):
        CoordinateMLP(MLPConfig(dropout=1.0))


def test_fourier_features_default_sigma_and_encoding() -> None:
    assert MLPConfig().fourier_sigma == 1.0 and MLPConfig().fourier_features == 0  # the scar fits' sigma
    features = FourierFeatures(20_000, MLPConfig().fourier_sigma, seed=0)
    assert features.frequencies.shape == (3, 20_000)
    assert float(features.frequencies.std()) == pytest.approx(1.0, rel=0.02)
    coords = torch.tensor([[0.25, 0.0, 0.0]])
    encoded = FourierFeatures(4, 2.0, seed=1)(coords)
    phase = 2 * math.pi * 0.25 * FourierFeatures(4, 2.0, seed=1).frequencies[0]
    assert torch.allclose(encoded, torch.cat([coords[0], torch.sin(phase), torch.cos(phase)])[None], atol=1e-6)
    assert isinstance(CoordinateMLP(MLPConfig()).encoding, torch.nn.Identity)


def test_dropout_is_stochastic_only_in_mc_mode() -> None:
    net = CoordinateMLP(MLPConfig(width=64, depth=4, dropout=0.5))
    coords = torch.rand(64, 3)
    net.mc_dropout(True)
    assert not net.training
    assert not torch.equal(net(coords), net(coords))
    net.mc_dropout(False)
    assert torch.equal(net(coords), net(coords))
    kinds = [type(module).__name__ for module in CoordinateMLP(MLPConfig()).layers]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "Dropout", "ReLU", "Linear", "ReLU", "Linear"]
    every = CoordinateMLP(MLPConfig(depth=4, dropout_every_layer=True))
    assert sum(isinstance(m, torch.nn.Dropout) for m in every.modules()) == 3
    assert not any(isinstance(m, torch.nn.Dropout) for m in CoordinateMLP(MLPConfig(dropout=0.0)).modules())


def test_normaliser_maps_the_bounding_box_into_the_unit_cube() -> None:
    points = np.array([[10.0, 0.0, -5.0], [30.0, 10.0, 5.0], [20.0, 5.0, 0.0]])
    normaliser = CoordinateNormaliser.fit(points)
    assert normaliser.centre_mm == (20.0, 5.0, 0.0) and normaliser.scale_mm == 10.0  # half the 20 mm x extent
    mapped = normaliser(torch.as_tensor(points))
    assert mapped.dtype == torch.float32
    assert torch.allclose(mapped, torch.tensor([[-1.0, -0.5, -0.5], [1.0, 0.5, 0.5], [0.0, 0.0, 0.0]]))
