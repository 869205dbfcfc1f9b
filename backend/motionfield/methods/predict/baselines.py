"""Baselines computed beside ours in every evaluation.

* zero velocity: the last observed pose held;
* constant velocity: the last frame-to-frame step repeated;
* for filling gaps between keys: linear interpolation, and a Catmull-Rom cubic (the curve
  Blender's automatic Bezier handles approximate);
* siMLPe (Guo et al., "Back to MLP: a simple baseline for human motion prediction",
  WACV 2023), rebuilt from the paper and trained by our own code on the same windows:
  DCT over time, a spatial FC in and out, 48 blocks of temporal FC + spatial LayerNorm with
  residuals, inverse DCT, the last input frame added back; L2 + velocity loss.
  One departure, stated: the paper predicts 10 frames and rolls out for longer horizons;
  ours reads all 25 future frames from one pass (the first 25 of the 50 transformed ones).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def zero_velocity(history: np.ndarray, future: int) -> np.ndarray:
    """(B, H, J, D) -> (B, future, J, D)."""
    return np.repeat(history[:, -1:], future, axis=1)


def constant_velocity(history: np.ndarray, future: int) -> np.ndarray:
    """(B, H, J, D) -> (B, future, J, D): x_H + k (x_H - x_{H-1})."""
    step = history[:, -1:] - history[:, -2:-1]
    k = np.arange(1, future + 1, dtype=history.dtype)[None, :, None, None]
    return history[:, -1:] + k * step


def cubic_interpolation(t_keys: np.ndarray, keys: np.ndarray, t_query: np.ndarray,
                        mask: np.ndarray | None = None) -> np.ndarray:
    """Catmull-Rom through the keys (tangent at a key: the central difference of its
    neighbours, np.gradient; one-sided at the ends), values held beyond the first and last.
    t_keys (K,) increasing, keys (B, K, J, D), t_query (Q,), optional mask (B, K, J) of the
    keys each joint has (a joint's curve then runs through its own keys only; 0 where it
    has none) -> (B, Q, J, D)."""
    if mask is not None and not (mask > 0).all():
        out = np.zeros((keys.shape[0], len(t_query), *keys.shape[2:]), dtype=keys.dtype)
        for b, j in np.ndindex(*mask.shape[::2]):
            seen = mask[b, :, j] > 0
            if seen.sum() == 1:
                out[b, :, j] = keys[b, seen, j]
            elif seen.any():
                out[b, :, j] = cubic_interpolation(t_keys[seen], keys[b:b + 1, seen, j:j + 1],
                                                   t_query)[0, :, 0]
        return out
    t_keys = np.asarray(t_keys, dtype=np.float64)
    t = np.clip(np.asarray(t_query, dtype=np.float64), t_keys[0], t_keys[-1])
    slope = np.gradient(keys, t_keys, axis=1, edge_order=1)
    i = np.clip(np.searchsorted(t_keys, t, side="right") - 1, 0, len(t_keys) - 2)
    span = t_keys[i + 1] - t_keys[i]
    u = ((t - t_keys[i]) / span)[None, :, None, None]
    h = span[None, :, None, None]
    p0, p1, m0, m1 = keys[:, i], keys[:, i + 1], slope[:, i] * h, slope[:, i + 1] * h
    u2, u3 = u * u, u * u * u
    return ((2 * u3 - 3 * u2 + 1) * p0 + (u3 - 2 * u2 + u) * m0 + (-2 * u3 + 3 * u2) * p1
            + (u3 - u2) * m1).astype(keys.dtype)


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II, (n, n); its transpose is the inverse."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.float()


class _Block(nn.Module):
    def __init__(self, frames: int, channels: int):
        super().__init__()
        self.temporal = nn.Linear(frames, frames)
        self.norm = nn.LayerNorm(channels)
        nn.init.xavier_uniform_(self.temporal.weight, gain=1e-8)  # blocks start as identity
        nn.init.zeros_(self.temporal.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.temporal(x)
        return x + self.norm(y.transpose(1, 2)).transpose(1, 2)


class SiMLPe(nn.Module):
    """(B, history, J, D) -> (B, future, J, D)."""

    def __init__(self, history: int, future: int, joints: int, dims: int, blocks: int = 48):
        super().__init__()
        if future > history:
            raise ValueError("siMLPe reads the future from the history's DCT length")
        channels = joints * dims
        self.settings = {"history": history, "future": future, "joints": joints, "dims": dims,
                         "blocks": blocks}
        self.history, self.future = history, future
        self.register_buffer("dct", dct_matrix(history))
        self.fc_in = nn.Linear(channels, channels)
        self.blocks = nn.Sequential(*[_Block(history, channels) for _ in range(blocks)])
        self.fc_out = nn.Linear(channels, channels)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        b, t, j, d = history.shape
        x = history.reshape(b, t, j * d)
        x = torch.einsum("kt,btc->bkc", self.dct, x)
        x = self.fc_in(x).transpose(1, 2)  # (B, C, T): temporal FCs mix the T axis
        x = self.blocks(x).transpose(1, 2)
        x = self.fc_out(x)
        x = torch.einsum("kt,bkc->btc", self.dct, x)[:, :self.future]
        return (x + history.reshape(b, t, j * d)[:, -1:]).reshape(b, self.future, j, d)
