"""Building blocks every neural-field method can use: continuous-time features (Fourier
and a learnable time codebook), MLPs, FiLM modulation and a residual block.

A field answers "value at time t"; these modules turn a time in seconds into features a
network can use, and condition a network on a code (a latent, a text embedding).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def fourier_features(t: torch.Tensor, frequencies: int, scale: float) -> torch.Tensor:
    """(...) seconds -> (..., 2 * frequencies + 1): t / scale, then sin and cos of
    2^l pi t / scale for l < frequencies (the lowest frequency spans 2 * scale seconds)."""
    x = t[..., None] / scale
    angle = x * (math.pi * 2.0 ** torch.arange(frequencies, dtype=t.dtype, device=t.device))
    return torch.cat([x, angle.sin(), angle.cos()], -1)


class TimeCodebook(nn.Module):
    """NeRM's codebook time encoding: `entries` learnable vectors spread evenly over
    [0, span] seconds, read at a continuous t by linear interpolation between the two
    neighbouring entries (times outside the span read the end entries). Unlike a fixed
    Fourier basis it learns which moments of a clip need detail."""

    def __init__(self, entries: int, width: int, span: float):
        super().__init__()
        if entries < 2 or span <= 0:
            raise ValueError(f"a time codebook needs >= 2 entries and a span > 0, got "
                             f"{entries} and {span}")
        self.span = span
        self.table = nn.Parameter(torch.randn(entries, width) * 0.1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """(...) seconds -> (..., width)."""
        last = self.table.shape[0] - 1
        x = (t / self.span * last).clamp(0.0, float(last))
        low = x.floor().clamp(max=last - 1)
        alpha = (x - low)[..., None]
        low = low.long()
        return self.table[low] * (1.0 - alpha) + self.table[low + 1] * alpha


def mlp(sizes: list[int], activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between them (none at the end)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class FiLM(nn.Module):
    """Feature-wise modulation h * (1 + gamma(c)) + beta(c); starts as the identity (the
    projection is zero-initialised) so conditioning is learnt on top of a working net."""

    def __init__(self, code: int, width: int):
        super().__init__()
        self.project = nn.Linear(code, 2 * width)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, h: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """h (..., width), code (..., code) broadcastable to h's leading shape."""
        gamma, beta = self.project(code).chunk(2, dim=-1)
        return h * (1.0 + gamma) + beta


class ResidualBlock(nn.Module):
    """h + Linear(SiLU(FiLM(LayerNorm(h), code))) through one hidden layer: a pre-norm
    residual MLP block modulated by a code."""

    def __init__(self, width: int, code: int, hidden: int | None = None):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.film = FiLM(code, width)
        self.net = mlp([width, hidden or width, width])

    def forward(self, h: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return h + self.net(self.film(self.norm(h), code))
