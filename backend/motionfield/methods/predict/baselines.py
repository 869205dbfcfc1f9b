"""Baselines computed beside ours in every evaluation.

* zero velocity: the last observed pose held;
* constant velocity: the last frame-to-frame step repeated;
* for filling gaps between keys: linear interpolation, and a Catmull-Rom cubic (the curve
  Blender's automatic Bezier handles approximate);
* siMLPe (Guo et al., "Back to MLP: a simple baseline for human motion prediction",
  WACV 2023), rebuilt from the paper and its official code (dulucas/siMLPe) and trained by
  our own code on the same data as ours (train.py): the 50 history frames' DCT, a spatial
  FC in, 48 blocks of temporal FC + spatial LayerNorm each with its residual (the temporal
  FCs initialised near zero, so each block starts as the identity), a spatial FC out
  initialised near zero, the inverse DCT, its first 10 frames with the last observed frame
  added back. It predicts 10 frames a pass and rolls out (each pass's 10 frames appended
  to the history) for longer horizons, as the official test does;
* LTD (Mao et al., "Learning Trajectory Dependencies for Human Motion Prediction", ICCV
  2019; official code wei-mao-2019/LearnTrajDep): the last 10 history frames padded with
  the last one to 10 + 25, the first 35 DCT coefficients of each coordinate's trajectory
  as the features of its graph node (J x D nodes), a graph convolutional network with a
  learnable adjacency (a GC layer in, 12 residual blocks of two GC layers with batch norm,
  tanh and dropout 0.5, 256 features, a GC layer out) and a residual around it, then the
  inverse DCT: the whole 35-frame trajectory, history included.
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
    """siMLPe's block on (T, B, C): x + LayerNorm_C(temporal FC(x)). The frames lead, so
    the temporal FC is one matrix product over every (batch, channel) column and the
    LayerNorm runs on the last axis: no transposes (the same block as the official code's
    on (B, C, T), 35% faster on a CPU thread)."""

    def __init__(self, frames: int, channels: int):
        super().__init__()
        self.temporal = nn.Linear(frames, frames)
        self.norm = nn.LayerNorm(channels)
        nn.init.xavier_uniform_(self.temporal.weight, gain=1e-8)  # blocks start as identity
        nn.init.zeros_(self.temporal.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, C)
        t = x.shape[0]
        y = torch.addmm(self.temporal.bias[:, None], self.temporal.weight, x.reshape(t, -1))
        return x + self.norm(y.view(x.shape))


class SiMLPe(nn.Module):
    """(B, history, J, D) -> (B, future, J, D): one pass (`rollout` for longer)."""

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
        nn.init.xavier_uniform_(self.fc_out.weight, gain=1e-8)  # starts at "hold the pose"
        nn.init.zeros_(self.fc_out.bias)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        b, t, j, d = history.shape
        x = history.reshape(b, t, j * d)
        x = torch.einsum("kt,btc->kbc", self.dct, x)  # (T, B, C): frames lead
        x = self.fc_out(self.blocks(self.fc_in(x)))
        x = torch.einsum("kt,kbc->btc", self.dct, x)[:, :self.future]
        return (x + history.reshape(b, t, j * d)[:, -1:]).reshape(b, self.future, j, d)

    def rollout(self, history: torch.Tensor, frames: int) -> torch.Tensor:
        """(B, >= history, J, D) -> (B, frames, J, D): passes of `future` frames, each fed
        back as the newest history (the official evaluation's roll-out)."""
        window, out = history[:, -self.history:], []
        while sum(len(o[0]) for o in out) < frames:
            step = self(window)
            out.append(step)
            window = torch.cat([window, step], dim=1)[:, -self.history:]
        return torch.cat(out, dim=1)[:, :frames]


class _GraphConv(nn.Module):
    """LTD's graph convolution on (B, nodes, features): A (x W) + b, the adjacency A
    learned; weights, adjacency and bias drawn from U(-1/sqrt(out), 1/sqrt(out))."""

    def __init__(self, features_in: int, features_out: int, nodes: int):
        super().__init__()
        bound = 1.0 / math.sqrt(features_out)
        self.weight = nn.Parameter(torch.empty(features_in, features_out).uniform_(-bound, bound))
        self.adjacency = nn.Parameter(torch.empty(nodes, nodes).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(features_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adjacency @ (x @ self.weight) + self.bias


class _GraphLayer(nn.Module):
    """A graph convolution, batch norm over (nodes x features), tanh, dropout."""

    def __init__(self, features_in: int, features_out: int, nodes: int, dropout: float):
        super().__init__()
        self.conv = _GraphConv(features_in, features_out, nodes)
        self.norm = nn.BatchNorm1d(nodes * features_out)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = self.norm(y.flatten(1)).view(y.shape)
        return self.drop(torch.tanh(y))


class _GraphBlock(nn.Module):
    def __init__(self, features: int, nodes: int, dropout: float):
        super().__init__()
        self.first = _GraphLayer(features, features, nodes, dropout)
        self.second = _GraphLayer(features, features, nodes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x))


class LTD(nn.Module):
    """(B, >= history, J, D) -> (B, history + future, J, D): the last `history` frames
    reconstructed and the `future` ones predicted (`predict` returns the future alone)."""

    def __init__(self, history: int, future: int, joints: int, dims: int, coefficients: int = 35,
                 hidden: int = 256, blocks: int = 12, dropout: float = 0.5):
        super().__init__()
        frames = history + future
        if not 1 <= coefficients <= frames:
            raise ValueError(f"LTD keeps 1..{frames} DCT coefficients, not {coefficients}")
        nodes = joints * dims
        self.settings = {"history": history, "future": future, "joints": joints, "dims": dims,
                         "coefficients": coefficients, "hidden": hidden, "blocks": blocks,
                         "dropout": dropout}
        self.history, self.future = history, future
        self.register_buffer("dct", dct_matrix(frames)[:coefficients])  # (K, T)
        self.first = _GraphLayer(coefficients, hidden, nodes, dropout)
        self.blocks = nn.Sequential(*[_GraphBlock(hidden, nodes, dropout) for _ in range(blocks)])
        self.last = _GraphConv(hidden, coefficients, nodes)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        seen = history[:, -self.history:]
        b, _, j, d = seen.shape
        padded = torch.cat([seen, seen[:, -1:].expand(b, self.future, j, d)], dim=1)
        x = torch.einsum("kt,btc->bck", self.dct, padded.reshape(b, -1, j * d))  # (B, N, K)
        y = self.last(self.blocks(self.first(x))) + x
        return torch.einsum("kt,bck->btc", self.dct, y).reshape(b, -1, j, d)

    def predict(self, history: torch.Tensor) -> torch.Tensor:
        """(B, >= history, J, D) -> (B, future, J, D)."""
        return self(history)[:, self.history:]
