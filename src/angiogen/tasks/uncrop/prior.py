"""The VAE prior of VAE-Palette and a spatial variant (docs/methods/uncrop.md §2.2-2.3, §3).

Both encode ``B * missing`` (the collimated image with its opening zeroed, in [0, 1]) with three stride-2
convolutions (BatchNorm, LeakyReLU) and decode it back; the loss is the masked reconstruction MSE plus
``beta_kl`` times the KL divergence to N(0, I).

- ``rows`` (the method's): flatten, two linear layers give a posterior N(mu_i, sigma_i^2) of ``size`` dimensions,
  one per image row; the prior field draws every pixel of row i from that row's posterior, f = 2 z - 1.
- ``spatial``: 1x1 convolutions give a one-channel posterior map at 1/8 of the size; a draw is upsampled
  bilinearly to the image size, f = 2 z - 1.

The field is an extra conditioning channel of the U-Net (in the missing region only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BETA_KL = 7e-6  # the published model's KL weight
FIELD_LIMIT = 3.0  # the field is clipped to +-3 (z outside [-1, 2] is no image value)


def _down(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    previous = 1
    for width in widths:
        layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
        previous = width
    return nn.Sequential(*layers)


def _up(widths: list[int], in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    previous = in_channels
    for width in reversed(widths):
        layers += [nn.ConvTranspose2d(previous, width, 3, stride=2, padding=1, output_padding=1),
                   nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
        previous = width
    return nn.Sequential(*layers, nn.Conv2d(previous, 1, 3, padding=1), nn.Sigmoid())


class VAEPrior(nn.Module):
    """A VAE of the collimated image's outside whose posterior gives the U-Net a prior field.

    Args:
        kind: ``rows`` or ``spatial``. size: image size (square). widths: encoder channels (three in the method).
    """

    def __init__(self, kind: str, size: int, widths: list[int]) -> None:
        super().__init__()
        self.kind, self.size = kind, size
        self.coarse = size // 2 ** len(widths)
        self.widths = list(widths)
        self.encoder = _down(self.widths)
        features = self.widths[-1] * self.coarse**2
        if kind == "rows":
            self.mu, self.logvar = nn.Linear(features, size), nn.Linear(features, size)
            self.expand = nn.Linear(size, features)
            self.decoder = _up(self.widths, self.widths[-1])
        else:
            self.mu, self.logvar = nn.Conv2d(self.widths[-1], 1, 1), nn.Conv2d(self.widths[-1], 1, 1)
            self.decoder = _up(self.widths, 1)

    def encode(self, outside: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior (mu, log variance) of (B, 1, H, W) ``outside`` images: (B, size) for rows, (B, 1, h, w)
        for spatial."""
        hidden = self.encoder(outside)
        if self.kind == "rows":
            hidden = hidden.flatten(1)
        return self.mu(hidden), self.logvar(hidden).clamp(-12.0, 6.0)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from latents drawn from :meth:`encode`'s posterior."""
        if self.kind == "rows":
            latent = self.expand(latent).view(-1, self.widths[-1], self.coarse, self.coarse)
        return self.decoder(latent)

    def loss(self, collimated: torch.Tensor, missing: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Masked reconstruction MSE + ``BETA_KL`` KL (batch mean of the per-image sum), with its parts."""
        outside = collimated * missing
        mu, logvar = self.encode(outside)
        latent = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        reconstruction = F.mse_loss(self.decode(latent) * missing, outside)
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).flatten(1).sum(1).mean()
        return reconstruction + BETA_KL * kl, {"vae_mse": reconstruction.detach(), "vae_kl": kl.detach()}

    @torch.no_grad()
    def field(self, collimated: torch.Tensor, missing: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """The (B, 1, H, W) prior field (noise drawn on the CPU from ``generator``, then moved) 2 z - 1 in the missing region (0 in the opening), z drawn per pixel from
        the posterior of its row (rows) or upsampled from a draw of the latent map (spatial)."""
        mu, logvar = self.encode(collimated * missing)
        std = torch.exp(0.5 * logvar)
        height, width = collimated.shape[-2:]
        if self.kind == "rows":
            rows = F.interpolate(mu[:, None, :, None], size=(height, 1), mode="nearest")  # one value per row
            spread = F.interpolate(std[:, None, :, None], size=(height, 1), mode="nearest")
            noise = torch.randn((len(mu), 1, height, width), generator=generator).to(mu.device)
            z = rows + spread * noise
        else:
            noise = torch.randn(mu.shape, generator=generator).to(mu.device)
            z = F.interpolate(mu + std * noise, size=(height, width), mode="bilinear", align_corners=False)
        return (2.0 * z - 1.0).clamp(-FIELD_LIMIT, FIELD_LIMIT) * missing


def build_prior(kind: str, size: int, widths: list[int]) -> VAEPrior | None:
    """The prior of ``kind`` (None for ``none``)."""
    return None if kind == "none" else VAEPrior(kind, size, widths)
