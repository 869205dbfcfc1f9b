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
    neighbours as np.gradient takes it; one-sided at the ends), values held beyond the
    first and last. t_keys (K,) increasing, keys (B, K, J, D), t_query (Q,), optional mask
    (B, K, J) of the keys each joint has (a joint's curve then runs through its own keys
    only; 0 where it has none) -> (B, Q, J, D)."""
    t_keys = np.asarray(t_keys, dtype=np.float64)
    seen = np.ones(keys.shape[:3], bool) if mask is None else np.asarray(mask) > 0
    before, after = _observed_neighbours(seen)
    slope = _observed_slopes(t_keys, keys, seen, before, after)
    t = np.asarray(t_query, dtype=np.float64)
    a, b = _keys_around(t_keys, before, after, t)
    b = np.where(b < 0, a, b)  # past the joint's last key: hold it
    a = np.where(a < 0, b, a)  # before its first key: hold that
    never = a < 0  # (b, j) without a key: 0
    a, b = np.where(never, 0, a), np.where(never, 0, b)
    pa, pb = _gather(keys, a), _gather(keys, b)
    ma, mb = _gather(slope, a), _gather(slope, b)
    ta, tb = t_keys[a], t_keys[b]
    span = np.where(b > a, tb - ta, 1.0)
    u = (np.clip(t[None, :, None], ta, tb) - ta) / span
    u, h = u[..., None], span[..., None]
    u2, u3 = u * u, u * u * u
    out = ((2 * u3 - 3 * u2 + 1) * pa + (u3 - 2 * u2 + u) * ma * h
           + (-2 * u3 + 3 * u2) * pb + (u3 - u2) * mb * h)
    return np.where(never[..., None], 0.0, out).astype(keys.dtype)


def key_spans(t_keys: np.ndarray, mask: np.ndarray,
              t_query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query time and joint, the seconds between the joint's observed keys on
    either side (inf before its first key, after its last, or without keys) and whether
    that span skips keys the joint is hidden in. t_keys (K,) increasing, mask (B, K, J),
    t_query (Q,) -> two (B, Q, J) arrays."""
    t_keys = np.asarray(t_keys, dtype=np.float64)
    a, b = _keys_around(t_keys, *_observed_neighbours(np.asarray(mask) > 0),
                        np.asarray(t_query, dtype=np.float64))
    inside = (a >= 0) & (b >= 0)
    return np.where(inside, t_keys[b] - t_keys[a], np.inf), inside & (b - a > 1)


def constant_velocity_at(t_obs: np.ndarray, values: np.ndarray, mask: np.ndarray,
                         t_query: np.ndarray) -> np.ndarray:
    """Each joint carried on from its last observation with the velocity between its last
    two (held if it has one; 0 if none), at any times. t_obs (N,) increasing, values
    (B, N, J, D), mask (B, N, J), t_query (Q,) -> (B, Q, J, D)."""
    t_obs = np.asarray(t_obs, dtype=np.float64)
    before, _ = _observed_neighbours(np.asarray(mask) > 0)
    last = before[:, -1:]  # (B, 1, J)
    previous = np.take_along_axis(before, np.maximum(last - 1, 0), axis=1)
    previous = np.where(last > 0, previous, -1)
    moving = previous >= 0
    i, j = np.maximum(last, 0), np.maximum(previous, 0)
    x_last, x_prev = _gather(values, i), _gather(values, j)
    step = np.where(moving, t_obs[i] - t_obs[j], 1.0)[..., None]
    velocity = np.where(moving[..., None], (x_last - x_prev) / step, 0.0)
    ahead = (np.asarray(t_query, dtype=np.float64)[None, :, None] - t_obs[i])[..., None]
    out = x_last + ahead * velocity
    return np.where((last >= 0)[..., None], out, 0.0).astype(values.dtype)


def _observed_neighbours(seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (b, key, j) of `seen` (B, K, J): the index of the nearest observed key at or
    before it (-1: none) and at or after it (-1: none)."""
    count = seen.shape[1]
    index = np.arange(count)[None, :, None]
    before = np.maximum.accumulate(np.where(seen, index, -1), axis=1)
    after = np.minimum.accumulate(np.where(seen, index, count)[:, ::-1], axis=1)[:, ::-1]
    return before, np.where(after >= count, -1, after)


def _keys_around(t_keys, before, after, t) -> tuple[np.ndarray, np.ndarray]:
    """(B, Q, J) indices of each joint's observed keys at or before each time t and after
    it (-1: none); at or after the last key time both are its last key at or before."""
    count = len(t_keys)
    interval = np.searchsorted(t_keys, t, side="right") - 1  # -1: before the first key
    a = np.where((interval >= 0)[None, :, None], before[:, np.maximum(interval, 0)], -1)
    b = np.where((interval + 1 < count)[None, :, None],
                 after[:, np.minimum(interval + 1, count - 1)], -1)
    return a, b


def _gather(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """values (B, K, J, D) at key indices `at` (B, Q, J) -> (B, Q, J, D)."""
    return np.take_along_axis(values, at[..., None], axis=1)


def _observed_slopes(t_keys, keys, seen, before, after) -> np.ndarray:
    """(B, K, J, D) each observed key's tangent from its observed neighbours: np.gradient's
    second-order central difference on uneven spacing, one-sided at a joint's first and
    last key, 0 for a joint's only key."""
    count = len(t_keys)
    prev = np.concatenate([np.full_like(before[:, :1], -1), before[:, :-1]], axis=1)
    nxt = np.concatenate([after[:, 1:], np.full_like(after[:, :1], -1)], axis=1)
    has_prev, has_next = prev >= 0, nxt >= 0
    p, n = np.clip(prev, 0, count - 1), np.clip(nxt, 0, count - 1)
    fp, fk, fn = _gather(keys, p), keys, _gather(keys, n)
    h0 = (t_keys[None, :, None] - t_keys[p])[..., None]
    h1 = (t_keys[n] - t_keys[None, :, None])[..., None]
    h0s, h1s = np.where(h0 > 0, h0, 1.0), np.where(h1 > 0, h1, 1.0)
    central = (-h1s / (h0s * (h0s + h1s)) * fp + (h1s - h0s) / (h0s * h1s) * fk
               + h0s / (h1s * (h0s + h1s)) * fn)
    hp, hn = has_prev[..., None], has_next[..., None]
    return np.where(hp & hn, central, np.where(hn, (fn - fk) / h1s,
                                               np.where(hp, (fk - fp) / h0s, 0.0)))


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
