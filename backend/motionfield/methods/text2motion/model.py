"""NeRM's two networks and the noise schedule.

Stage 1, a variational implicit neural representation: `Decoder` maps (t seconds, z) to the
25 x 6 motion tokens (body/tokens.py) of the clip that z stands for; each training clip owns
a Gaussian latent in a `LatentTable` (an auto-decoder: no encoder, the codes are learnt).
Stage 2, `Denoiser`: eps_phi(z_k, k, text, duration) over those latents, normalised per
value, with a learned null text embedding for classifier-free guidance.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionfield.body.tokens import TOKENS, VALUES
from motionfield.fields import ResidualBlock, TimeCodebook, fourier_features, mlp
from motionfield.methods.text2motion.config import ModelConfig
from motionfield.methods.text2motion.data import MAX_SECONDS
from motionfield.methods.text2motion.text import DIM as TEXT_DIM

COND = 128  # width of the denoiser's condition code (text, noise level, duration)


class Decoder(nn.Module):
    """(t, z) -> tokens. Time enters as the codebook's vector plus Fourier features; the
    latent enters both the input and, by FiLM, every residual block. Outputs are in units
    of the training tokens' per-value spread (`token_mean`, `token_std`: buffers)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.codebook = TimeCodebook(config.codebook, config.time_width, MAX_SECONDS)
        inputs = config.time_width + 2 * config.frequencies + 1 + config.latent
        self.inp = nn.Linear(inputs, config.width)
        self.blocks = nn.ModuleList(ResidualBlock(config.width, config.latent)
                                    for _ in range(config.layers))
        self.out = nn.Sequential(nn.LayerNorm(config.width),
                                 nn.Linear(config.width, TOKENS * VALUES))
        self.register_buffer("token_mean", torch.zeros(TOKENS, VALUES))
        self.register_buffer("token_std", torch.ones(TOKENS, VALUES))

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """t (B, Q) seconds, z (B, latent) -> (B, Q, 25, 6) tokens."""
        z = z[:, None].expand(-1, t.shape[1], -1)
        time = torch.cat([self.codebook(t), fourier_features(t, self.config.frequencies,
                                                             self.config.time_scale)], -1)
        h = self.inp(torch.cat([time, z], -1))
        for block in self.blocks:
            h = block(h, z)
        out = self.out(h).unflatten(-1, (TOKENS, VALUES))
        return self.token_mean + self.token_std * out


class LatentTable(nn.Module):
    """Each training clip's posterior N(mu, sigma^2). Stored divided by `scale` so that one
    optimiser learning rate moves the codes `scale` times faster than the decoder's weights
    (Adam's steps are about the learning rate in the stored units)."""

    def __init__(self, clips: int, latent: int, scale: float, generator: torch.Generator):
        super().__init__()
        self.scale = scale
        self.mu = nn.Parameter(torch.randn(clips, latent, generator=generator) * 0.01 / scale)
        # sigma starts small (0.007): noise larger than the codes would teach the decoder to
        # ignore them; the KL term widens it as far as reconstruction allows
        self.logvar = nn.Parameter(torch.full((clips, latent), -10.0 / scale))

    def forward(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) clip indices -> mu, logvar (B, latent)."""
        return self.mu[index] * self.scale, self.logvar[index] * self.scale

    def all(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu.detach() * self.scale, self.logvar.detach() * self.scale


class AutoDecoder(nn.Module):
    """Stage 1's trained whole: the decoder and the clips' latents."""

    def __init__(self, config: ModelConfig, clips: int, latent_lr: float,
                 generator: torch.Generator):
        super().__init__()
        self.decoder = Decoder(config)
        self.latents = LatentTable(clips, config.latent, latent_lr, generator)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the latent's values, (B, D) -> (B,)."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)


def noise_embedding(k: torch.Tensor, width: int) -> torch.Tensor:
    """(B,) integer noise levels -> (B, width) sinusoidal features (Transformer-style)."""
    half = width // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angle = k.to(torch.float32)[:, None] * freq
    return torch.cat([angle.sin(), angle.cos()], -1)


class Denoiser(nn.Module):
    """eps_phi(z_k, k, text, duration) on normalised latents. `null` is the learned text
    embedding of "no condition" (classifier-free guidance); `latent_mean`/`latent_std`
    (buffers) map the stage-1 latents to unit scale and back."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        width = config.denoiser_width
        self.null = nn.Parameter(torch.zeros(TEXT_DIM))
        self.condition = mlp([TEXT_DIM + COND + 2 * 4 + 1, 2 * COND, COND])
        self.inp = nn.Linear(config.latent, width)
        self.blocks = nn.ModuleList(ResidualBlock(width, COND)
                                    for _ in range(config.denoiser_layers))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, config.latent))
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)
        self.register_buffer("latent_mean", torch.zeros(config.latent))
        self.register_buffer("latent_std", torch.ones(config.latent))

    def forward(self, z: torch.Tensor, k: torch.Tensor, text: torch.Tensor,
                duration: torch.Tensor, dropped: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent) noised normalised latents, k (B,) levels, text (B, 384) unit
        embeddings, duration (B,) seconds / MAX_SECONDS, dropped (B,) bool: use the null
        embedding -> predicted noise (B, latent)."""
        if dropped is not None:
            text = torch.where(dropped[:, None], self.null.expand_as(text), text)
        code = self.condition(torch.cat([
            text, noise_embedding(k, COND), fourier_features(duration, 4, 1.0)], -1))
        h = self.inp(z)
        for block in self.blocks:
            h = block(h, code)
        return self.out(h)


def cosine_schedule(steps: int) -> torch.Tensor:
    """alpha-bar of each of `steps` noise levels (Nichol and Dhariwal's cosine schedule,
    betas capped at 0.999), float64 (steps,)."""
    s = 0.008
    x = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((x + s) / (1 + s) * math.pi / 2).square()
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)
