"""Training windows of motion and what is done to them: the sampler, the augmentations that
change time (speed, direction) or sides (mirroring), and the masks that make a history
incomplete, with the interpolation that fills it back.

Windows are arrays (B, T, J, D): B windows of T frames, J joints (or tokens) of D values.
"""

from __future__ import annotations

import numpy as np


class WindowSampler:
    """Random training windows from a list of (T, J, D) sequences sampled at `frame_time`:
    every window equally likely; or, with `groups` (a group index per sequence) and
    `shares` (per group), each group drawn for its share. Inside a group, `labels` (a class
    per sequence, e.g. the action) and `balance` set how the classes share it: in
    proportion to their windows^(1 - balance), so 0 keeps every window equally likely and 1
    draws every class equally often. Inside a class, windows are equally likely.

    `shortest` (default `length`) is the fewest frames a window needs: a window may start
    until `shortest` frames before a sequence's end, so sequences shorter than `length`
    still count (a speed change only plays those as fast as their frames allow); frames
    past a sequence's end repeat its last frame, and `sample` says how many are real."""

    def __init__(self, sequences: list[np.ndarray], length: int,
                 groups: np.ndarray | None = None, shares: tuple[float, ...] | None = None,
                 labels: np.ndarray | None = None, balance: float = 0.0,
                 shortest: int | None = None):
        groups = np.zeros(len(sequences), int) if groups is None else np.asarray(groups)
        labels = np.zeros(len(sequences), int) if labels is None else np.asarray(labels)
        shares = np.ones(1) if shares is None else np.asarray(shares, dtype=np.float64)
        if len(groups) != len(sequences) or groups.max(initial=0) >= len(shares):
            raise ValueError("one group per sequence, and a share per group")
        if len(labels) != len(sequences):
            raise ValueError("one label per sequence")
        if not 0.0 <= balance <= 1.0:
            raise ValueError(f"balance must be between 0 and 1, got {balance}")
        shortest = length if shortest is None else shortest
        keep = [i for i, s in enumerate(sequences) if len(s) >= shortest]
        if not keep:
            raise ValueError(f"no sequence has {shortest} frames")
        self.sequences = [sequences[i].astype(np.float32) for i in keep]
        self.length, self.shortest = length, shortest
        counts = np.array([len(s) - shortest + 1 for s in self.sequences], dtype=np.float64)
        groups, labels = groups[keep], labels[keep]
        # classes: one per (group, label) pair present
        pairs, cls = np.unique(np.stack([groups, labels], 1), axis=0, return_inverse=True)
        cls = cls.ravel()
        windows = np.bincount(cls, counts)
        mass = windows ** (1.0 - balance)
        group_mass = np.bincount(pairs[:, 0], mass, minlength=len(shares))
        if np.any((group_mass == 0) & (shares > 0)):
            raise ValueError(f"a group with a share has no sequence of {shortest} frames")
        class_share = mass / group_mass[pairs[:, 0]] * shares[pairs[:, 0]]
        self.weights = counts / windows[cls] * class_share[cls]
        self.weights /= self.weights.sum()

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows (batch, length, J, D) and how many of their frames are real (batch,)."""
        picks = rng.choice(len(self.sequences), size=batch, p=self.weights)
        out, real = [], np.empty(batch, dtype=int)
        for b, i in enumerate(picks):
            seq = self.sequences[i]
            start = rng.integers(0, len(seq) - self.shortest + 1)
            window = seq[start:start + self.length]
            real[b] = len(window)
            out.append(np.concatenate([window, window[-1:].repeat(self.length - len(window), 0)]))
        return np.stack(out), real


def warp_source_frames(length: int, max_change: float) -> int:
    """Frames a window must have so that `time_warp` can play it up to 1 + max_change fast."""
    return int(np.ceil((length - 1) * (1.0 + max_change))) + 1


def time_warp(rng: np.random.Generator, windows: np.ndarray, length: int,
              max_change: float, real: np.ndarray | None = None) -> np.ndarray:
    """Augmentation: each window replayed at a random speed in [1 - max_change,
    1 + max_change] (linear interpolation between frames), cut to `length` frames; a window
    with only `real` (B,) real frames at most as fast as they allow.
    windows (B, >= warp_source_frames(length, max_change), ...) -> (B, length, ...)."""
    fastest = np.full(len(windows), 1.0 + max_change)
    if real is not None:
        fastest = np.minimum(fastest, (np.asarray(real) - 1) / (length - 1))
    speed = rng.uniform(1.0 - max_change, fastest)
    return read_between_frames(windows, speed[:, None] * np.arange(length))


def read_between_frames(windows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """windows (B, S, ...) read at fractional frames `at` (B, T), interpolating linearly
    between neighbours -> (B, T, ...)."""
    low = np.floor(at).astype(int)
    high = np.minimum(low + 1, windows.shape[1] - 1)
    share = (at - low).reshape(*at.shape, *([1] * (windows.ndim - 2))).astype(windows.dtype)
    rows = np.arange(len(windows))[:, None]
    return windows[rows, low] * (1 - share) + windows[rows, high] * share


def time_reverse(rng: np.random.Generator, windows: np.ndarray, share: float) -> np.ndarray:
    """Augmentation: `share` of the windows (B, T, ...) played backwards. A motion that
    starts reversed is one that stops: a jump's take-off played backwards is a landing."""
    flip = rng.random(len(windows)) < share
    out = windows.copy()
    out[flip] = windows[flip, ::-1]
    return out


def incomplete_mask(rng: np.random.Generator, batch: int, frames: int, joints: int,
                    frame_drop: float = 0.0, joint_drop: float = 0.0) -> np.ndarray:
    """(batch, frames, joints) float32, 1 = observed. `frame_drop`: share of history frames
    hidden entirely (exactly round(share * frames) per sequence); `joint_drop`: share of the
    remaining (frame, joint) entries hidden, each independently. At least one frame stays."""
    mask = np.ones((batch, frames, joints), dtype=np.float32)
    hidden = int(round(frame_drop * frames))
    hidden = min(hidden, frames - 1)
    for b in range(batch):
        if hidden:
            mask[b, rng.choice(frames, size=hidden, replace=False)] = 0.0
    if joint_drop > 0:
        mask *= (rng.random((batch, frames, joints)) >= joint_drop).astype(np.float32)
    return mask


def interpolate_observed(t_obs: np.ndarray, values: np.ndarray, mask: np.ndarray,
                         t_query: np.ndarray) -> np.ndarray:
    """Linear interpolation in time through each joint's observed entries, holding the
    nearest observation beyond them; 0 for a joint never observed.
    t_obs (N,), values (B, N, J, D), mask (B, N, J), t_query (Q,) -> (B, Q, J, D)."""
    out = np.zeros((values.shape[0], len(t_query), *values.shape[2:]), dtype=values.dtype)
    for b in range(values.shape[0]):
        for j in range(values.shape[2]):
            seen = mask[b, :, j] > 0
            if seen.any():
                for d in range(values.shape[3]):
                    out[b, :, j, d] = np.interp(t_query, t_obs[seen], values[b, seen, j, d])
    return out


def repair(values: np.ndarray, mask: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Fill hidden entries by linear interpolation over frames, per joint, holding the
    nearest observation at the ends; a joint never observed takes `fallback` (J, D).
    This is the "repair, then predict" treatment the baselines get (R+LTD in NeRMo)."""
    if (mask > 0).all():  # complete histories (most of an evaluation): nothing to repair
        return values.copy()
    frames = np.arange(values.shape[1], dtype=np.float64)
    out = interpolate_observed(frames, values, mask, frames)
    never = ~(mask > 0).any(axis=1)[:, None, :, None]  # (B, 1, J, 1)
    out = np.where(never, np.broadcast_to(fallback, out.shape), out)
    return np.where(mask[..., None] > 0, values, out).astype(values.dtype)


def mirror_positions(pairs: np.ndarray, lateral_axis: int = 0):
    """Augmentation of position windows: half of them mirrored left to right (the lateral
    coordinate negated, left and right joints swapped by `pairs`,
    body.tokens.mirror_pairs). The lateral axis must be the body's own (no root rotation,
    as in the CMU benchmark's positions)."""
    def augment(rng: np.random.Generator, windows: np.ndarray) -> np.ndarray:
        flip = rng.random(len(windows)) < 0.5
        mirrored = windows[flip][:, :, pairs].copy()
        mirrored[..., lateral_axis] *= -1.0
        out = windows.copy()
        out[flip] = mirrored
        return out
    return augment


def history_mask(rng: np.random.Generator, batch: int, history: int, joints: int,
                 share: float, max_frame_drop: float, max_joint_drop: float) -> np.ndarray:
    """Training masks (batch, history, joints): complete for most of the batch, incomplete
    for `share` of it: up to `max_frame_drop` of the frames and `max_joint_drop` of the
    remaining entries hidden, and the history shortened to a random length."""
    mask = np.ones((batch, history, joints), dtype=np.float32)
    for b in np.flatnonzero(rng.random(batch) < share):
        mask[b] = incomplete_mask(rng, 1, history, joints, rng.uniform(0, max_frame_drop),
                                  rng.uniform(0, max_joint_drop))[0]
        keep = rng.integers(2, history + 1)
        mask[b, :history - keep] = 0.0
        mask[b, -1, rng.integers(joints)] = 1.0  # something is always seen
    return mask
