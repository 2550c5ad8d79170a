"""Group-mean loss, whole-group batching, determinism and a tiny end-to-end fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from angiogen.nets.coordinate_mlp import CoordinateMLP, MLPConfig
from angiogen.tasks.scar.evaluate import score_field
from angiogen.tasks.scar.infer import reconstruct
from angiogen.tasks.scar.synthetic import CaseSpec, make_case
from angiogen.tasks.scar import train as train_module
from angiogen.tasks.scar.train import FitConfig, fit, group_batches, group_mean_loss, learning_rate


@pytest.fixture(scope="module")
def tiny_case():
    # ~3,000 nodes at 3.5 mm, 8 mm slices, 2 mm pixels, one transmural sector.
    return make_case(CaseSpec(node_spacing_mm=3.5, scar_kind="transmural", pixel_mm=2.0, seed=3))


def test_loss_matches_a_per_group_loop() -> None:
    rng = np.random.default_rng(0)
    n_nodes, n_groups = 40, 7
    member_group = np.sort(np.concatenate([np.arange(n_groups), rng.integers(0, n_groups, 30)]))
    member_node = rng.integers(0, n_nodes, len(member_group))
    pred = rng.uniform(size=n_nodes)
    target = rng.uniform(size=n_groups)
    node_w = rng.uniform(0.5, 2.0, n_nodes)
    group_w = rng.uniform(0.1, 1.0, n_groups)

    terms, weights, plain = [], [], []
    for g in range(n_groups):
        nodes = member_node[member_group == g]
        weighted_mean = (node_w[nodes] * pred[nodes]).sum() / node_w[nodes].sum()
        terms.append((target[g] - weighted_mean) ** 2)
        weights.append(group_w[g])
        plain.append((target[g] - pred[nodes].mean()) ** 2)
    expected_weighted = np.dot(terms, weights) / np.sum(weights)

    t = lambda a: torch.as_tensor(a)  # noqa: E731
    weighted = group_mean_loss(t(pred), t(member_node), t(member_group), t(target), t(node_w), t(group_w))
    unweighted = group_mean_loss(t(pred), t(member_node), t(member_group), t(target))
    assert float(weighted) == pytest.approx(expected_weighted, rel=1e-12)
    assert float(unweighted) == pytest.approx(np.mean(plain), rel=1e-12)


def test_batches_never_split_groups() -> None:
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 40, 500)
    sizes[17] = 250  # a group larger than the batch
    batches = group_batches(sizes, 100, rng)
    seen = np.concatenate(batches)
    assert np.array_equal(np.sort(seen), np.arange(len(sizes)))  # each group exactly once, whole
    for batch in batches:
        assert sizes[batch].sum() <= 100 + sizes[batch].max() - 1
    assert not np.array_equal(seen, np.arange(len(sizes)))  # shuffled
    ordered = group_batches(sizes, 100, None)
    assert np.array_equal(np.concatenate(ordered), np.arange(len(sizes)))


def test_batched_training_uses_whole_groups(tiny_case, monkeypatch) -> None:
    built: list[tuple[np.ndarray, object]] = []

    class RecordingBatch(train_module._Batch):
        def __init__(self, data, groups, *args, **kwargs) -> None:  # noqa: ANN001
            super().__init__(data, groups, *args, **kwargs)
            built.append((np.sort(groups), self))

    monkeypatch.setattr(train_module, "_Batch", RecordingBatch)
    groups = tiny_case.data.groups
    config = FitConfig(epochs=2, batch_memberships=500, seed=0)
    result = fit(tiny_case.data, MLPConfig(width=16, depth=2), config)
    assert result.model.info["full_batch"] is False
    assert result.steps == len(built) > 2  # one optimiser step per batch, no validation batch
    per_epoch = len(built) // config.epochs
    for epoch in range(config.epochs):
        batches = built[epoch * per_epoch:(epoch + 1) * per_epoch]
        seen = np.concatenate([ids for ids, _ in batches])
        assert np.array_equal(np.sort(seen), np.arange(groups.n_groups))  # every group in exactly one batch
        for ids, batch in batches:
            # ... with all of its memberships (pixel-node pairs): none left behind for another batch
            counts = np.bincount(batch.member_group.numpy(), minlength=len(ids))
            assert np.array_equal(counts, groups.size[ids])
            assert int(batch.member_node.max()) + 1 == len(batch.coords)
    assert not np.array_equal(built[0][0], built[per_epoch][0])  # reshuffled between epochs


def test_cyclic_learning_rate_is_triangular() -> None:
    config = FitConfig.original()
    lrs = [learning_rate(config, step, 10_000) for step in (0, 1000, 2000, 3000, 4000)]
    assert lrs == pytest.approx([1e-3, 5.5e-3, 1e-2, 5.5e-3, 1e-3])


def test_fit_is_deterministic_under_a_seed(tiny_case) -> None:
    config = FitConfig(epochs=15, seed=7)
    first = fit(tiny_case.data, MLPConfig(width=32, depth=3), config)
    second = fit(tiny_case.data, MLPConfig(width=32, depth=3), config)
    other = fit(tiny_case.data, MLPConfig(width=32, depth=3), FitConfig(epochs=15, seed=8))
    for name, value in first.model.net.state_dict().items():
        assert torch.equal(value, second.model.net.state_dict()[name])
    assert first.history == second.history
    assert first.history != other.history
    a = reconstruct(first.model, tiny_case.data.points_mm, 5, seed=3)
    b = reconstruct(second.model, tiny_case.data.points_mm, 5, seed=3)
    assert np.array_equal(a.probability, b.probability)


def test_tiny_phantom_is_reconstructed(tiny_case) -> None:
    mlp = MLPConfig(width=64, depth=3)
    result = fit(tiny_case.data, mlp, FitConfig(epochs=300, lr=3e-3, seed=0))
    recon = reconstruct(result.model, tiny_case.data.points_mm, 20, seed=0)
    scores = score_field(tiny_case.data, recon.probability, recon.uncertainty)
    assert scores["dice"] > 0.9
    assert abs(scores["vol_err_pct"]) < 10
    assert recon.uncertainty.max() > 0  # dropout was active


def test_mlp_layout_matches_the_original() -> None:
    net = CoordinateMLP(MLPConfig())
    assert sum(p.numel() for p in net.parameters()) == 50_177
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 1
    assert sum(p.numel() for p in CoordinateMLP(MLPConfig(width=256, depth=6)).parameters()) == 330_241


def test_anisotropic_fourier_features_scale_only_the_normal_component() -> None:
    normal = (0.0, 0.6, 0.8)
    iso = CoordinateMLP(MLPConfig(fourier_features=16, fourier_sigma=2.0)).encoding.frequencies
    aniso = CoordinateMLP(MLPConfig(fourier_features=16, fourier_sigma=2.0, fourier_sigma_normal=0.5,
                                    fourier_normal=normal)).encoding.frequencies
    unit = torch.tensor(normal)
    assert torch.allclose(unit @ aniso, 0.25 * (unit @ iso), atol=1e-6)
    assert torch.allclose(aniso - torch.outer(unit, unit @ aniso), iso - torch.outer(unit, unit @ iso), atol=1e-6)


def test_a_new_network_starts_at_the_slices_mean(tiny_case) -> None:
    net = train_module.start_at_mean(CoordinateMLP(MLPConfig(width=32, depth=2, dropout=0.0)), tiny_case.data)
    fraction = tiny_case.data.myocardial_fraction
    mean = np.average(tiny_case.data.groups.target, weights=fraction)
    out = net(torch.rand(50, 3) * 2 - 1)
    np.testing.assert_allclose(out.detach().numpy(), mean, rtol=1e-5)


def test_a_thin_subendocardial_scar_does_not_collapse_to_an_empty_field() -> None:
    # From the default output initialisation this case's field went empty (Dice 0.0, stopped early on the plateau).
    case = make_case(CaseSpec(node_spacing_mm=3.5, scar_kind="subendocardial", slice_spacing_mm=9.0, tilt_deg=20.0,
                              seed=14))
    mlp, config = train_module.default_configs(14)
    result = fit(case.data, mlp, config)
    recon = reconstruct(result.model, case.data.points_mm, 4, seed=14)
    assert score_field(case.data, recon.probability, recon.uncertainty)["dice"] > 0.6
