"""The conditional WGAN critic and its gradient penalty."""

from __future__ import annotations

import pytest
import torch

from angiogen.nets.critic2d import ConditionalCritic, gradient_penalty


def test_one_score_per_sample_and_the_size_halves_per_level() -> None:
    critic = ConditionalCritic((4, 8, 16))
    condition, image = torch.rand(3, 1, 32, 32), torch.rand(3, 1, 32, 32)
    assert critic(condition, image).shape == (3,)
    score_map = critic.layers(torch.cat([condition, image], dim=1))
    assert score_map.shape == (3, 1, 32 // 2**3, 32 // 2**3)


class _LinearCritic(torch.nn.Module):
    """D(c, x) = k * sum(x): its gradient in x has norm k sqrt(H W) everywhere."""

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.slope * image.sum(dim=(1, 2, 3))


@pytest.mark.parametrize("slope", [0.125, 0.5, 0.0])
def test_gradient_penalty_of_a_linear_critic_is_analytic(slope: float) -> None:
    real, fake = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    penalty = gradient_penalty(_LinearCritic(slope), real, real, fake)  # type: ignore[arg-type]
    assert float(penalty) == pytest.approx((slope * 8 - 1) ** 2, abs=1e-12)  # sqrt(8 * 8) = 8
