"""The uncrop losses and the DDIM sampler: determinism under a seed, the opening kept, the loss on the missing
pixels only."""

from __future__ import annotations

import pytest
import torch

from angiogen.tasks.uncrop.diffusion import make_scheduler, masked_mean, sample, training_loss


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    full = torch.rand((2, 1, 32, 32), generator=generator)
    missing = torch.ones_like(full)
    missing[0, :, 4:20, 6:18] = 0.0
    missing[1, :, 10:30, 12:30] = 0.0
    collimated = full * (missing * 0.2 + (1 - missing))  # dim outside, as through the blades
    return full, collimated, missing


@pytest.mark.parametrize(("prior", "objective"), [("none", "diffusion"), ("rows", "diffusion"),
                                                  ("spatial", "diffusion"), ("none", "regression")])
def test_sampling_is_a_function_of_the_seed(make_model, prior: str, objective: str) -> None:  # noqa: ANN001
    net = make_model(seed=1, prior=prior, objective=objective).net
    _, collimated, missing = _inputs()
    calls: list[tuple[int, int]] = []

    def draw(seed: int) -> torch.Tensor:
        return sample(net, collimated, missing, 3, 4, torch.Generator().manual_seed(seed),
                      lambda done, total: calls.append((done, total)))

    first, again, other = draw(7), draw(7), draw(8)
    assert first.shape == (2, 3, 32, 32) and 0 <= float(first.min()) and float(first.max()) <= 1
    assert torch.equal(first, again)
    opening = (missing[:, 0] == 0)[:, None].expand_as(first)
    assert torch.equal(first[opening], collimated.expand_as(first)[opening])  # the opening exactly as measured
    if objective == "regression":
        assert calls[-1] == (1, 1)
        assert torch.equal(first, other)  # one deterministic pass: the seed does not matter
        assert all(torch.equal(first[:, k], first[:, 0]) for k in range(3))  # the K samples are alike
    else:
        assert calls[-1] == (4, 4) and len(calls) == 3 * 4
        assert not torch.equal(first, other)
        assert not torch.equal(first[:, 0], first[:, 1])  # K different draws
        assert torch.equal(first[opening], other[opening])


def test_prior_fields_are_seeded_and_zero_in_the_opening(make_model) -> None:  # noqa: ANN001
    _, collimated, missing = _inputs()
    for kind in ("rows", "spatial"):
        prior = make_model(seed=2, prior=kind).net.prior.eval()
        field = prior.field(collimated, missing, torch.Generator().manual_seed(3))
        assert field.shape == (2, 1, 32, 32)
        assert torch.equal(field, prior.field(collimated, missing, torch.Generator().manual_seed(3)))
        assert not torch.equal(field, prior.field(collimated, missing, torch.Generator().manual_seed(4)))
        assert torch.all(field[missing == 0] == 0) and field.abs().max() <= 3.0
    rows = make_model(seed=2, prior="rows").net.prior.eval()
    mu, _ = rows.encode(collimated * missing)
    assert mu.shape == (2, 32)  # one latent dimension per image row


@pytest.mark.parametrize("objective", ["diffusion", "regression"])
def test_the_loss_sees_the_truth_only_in_the_missing_region(make_model, objective: str) -> None:  # noqa: ANN001
    net = make_model(seed=3, objective=objective).net.train()
    scheduler = make_scheduler(net.config)
    full, collimated, missing = _inputs()

    def loss_of(target: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(11)
        loss, _ = training_loss(net, scheduler, target, collimated, missing)
        return loss

    reference = loss_of(full)
    assert reference.ndim == 0 and torch.isfinite(reference) and reference > 0
    changed_inside = full + 0.3 * (1 - missing)  # another truth where the image is measured anyway
    assert torch.equal(loss_of(changed_inside), reference)
    assert not torch.equal(loss_of(full + 0.3 * missing), reference)


def test_prior_loss_is_added_with_its_parts(make_model) -> None:  # noqa: ANN001
    net = make_model(seed=3, prior="rows").net.train()
    full, collimated, missing = _inputs()
    loss, parts = training_loss(net, make_scheduler(net.config), full, collimated, missing)
    assert set(parts) == {"vae_mse", "vae_kl"} and float(loss.detach()) > float(parts["vae_mse"])
    loss.backward()
    assert all(p.grad is not None for p in net.prior.encoder.parameters())


def test_masked_mean_weighs_small_and_large_openings_alike() -> None:
    values = torch.zeros((2, 1, 4, 4))
    values[0] = 1.0
    values[1] = 3.0
    missing = torch.zeros((2, 1, 4, 4))
    missing[0, :, :1, :1] = 1.0  # one missing pixel
    missing[1] = 1.0  # sixteen
    assert float(masked_mean(values, missing)) == pytest.approx(2.0)
