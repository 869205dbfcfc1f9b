"""Training and test windows for prediction, and the masks that make a history incomplete.

The CMU benchmark task follows LTD's 3D protocol (wei-mao-2019/LearnTrajDep,
utils/cmu_motion_3d.py and main_cmu_3d.py; details in cmu_mocap/skeleton.json `ltd_eval`):
joint positions from LTD's forward kinematics (root rotation and translation dropped, units
ASF x 70 "mm"), every second frame kept and treated as 40 ms apart, the model sees and
predicts the 25 joints LTD uses, and the test takes 8 windows per test file from
np.random.RandomState(1234567890) re-seeded per file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.io.cmu_benchmark import (
    expmap_to_positions_ltd,
    list_sequences,
    load_cmu_skeleton,
    read_cmu_sequence,
)

CMU_FRAME_TIME = 0.04  # seconds per kept frame, as the published horizons count them
# What a kept frame really is: the files hold 120 fps captures (io/cmu_benchmark.py) and
# every second frame is kept. Other data joins the benchmark's training at this rate, so
# that one frame step means the same motion in both.
CMU_KEPT_FPS = 60
CMU_SEED = 1234567890
CMU_WINDOWS_PER_FILE = 8
CMU_SOURCE_FRAMES = 50  # LTD's source_seq_len: windows end 50 frames after idx
CMU_TARGET_FRAMES = 25


def cmu_positions(path: Path, skeleton) -> np.ndarray:
    """One benchmark file -> (T', 38, 3) LTD positions on every second frame (rest line kept,
    as LTD keeps it)."""
    return expmap_to_positions_ltd(read_cmu_sequence(path), skeleton)[::2]


@dataclass
class CmuBenchmark:
    """The benchmark's files as positions: {action: [(T', 38, 3) arrays]} per split."""

    root: Path
    skeleton: object  # CmuBenchmarkSkeleton
    used: np.ndarray  # the 25 joints models see
    used_names: list[str]
    copy_to: np.ndarray  # joints set from the ones they coincide with, for the 38-joint error
    copy_from: np.ndarray

    @classmethod
    def load(cls, root: str | Path) -> CmuBenchmark:
        root = Path(root)
        meta = json.loads((root / "skeleton.json").read_text())
        ltd = meta["ltd_eval"]
        return cls(root, load_cmu_skeleton(root), np.asarray(meta["ltd_25_joints_used_0based"]),
                   list(meta["ltd_25_joints_used_names"]),
                   np.asarray(ltd["copied_joints_0based"]), np.asarray(ltd["copied_from_0based"]))

    def files(self, split: str) -> dict[str, list[Path]]:
        """{action: [paths]} for "train", "test", "validation" or "train-without-validation".

        The benchmark has no validation split; ours is, for every action with a test file
        and at least two training files, its last training file. A recipe is chosen on
        those windows by models trained without them (TrainConfig.hold_out_validation), so
        the test windows stay unseen by the choice."""
        if split not in ("validation", "train-without-validation"):
            return list_sequences(self.root, split)
        train, test = list_sequences(self.root, "train"), list_sequences(self.root, "test")
        held = {a: paths[-1:] for a, paths in train.items() if a in test and len(paths) > 1}
        if split == "validation":
            return held
        return {a: [p for p in paths if p not in held.get(a, [])] for a, paths in train.items()}

    def sequences(self, split: str) -> dict[str, list[np.ndarray]]:
        return {action: [cmu_positions(p, self.skeleton) for p in paths]
                for action, paths in self.files(split).items()}

    def test_windows(self, history: int, split: str = "test") -> dict[str, np.ndarray]:
        """{action: (8 * files, history + 25, 38, 3)} windows exactly as LTD draws them,
        from the test files (or from the validation files, drawn the same way)."""
        if not 1 <= history <= CMU_SOURCE_FRAMES:
            raise ValueError(f"history must be 1..{CMU_SOURCE_FRAMES} frames")
        if split not in ("test", "validation"):
            raise ValueError(f"windows come from the test or validation files, not {split!r}")
        return {action: np.concatenate([ltd_windows(seq, history) for seq in seqs])
                for action, seqs in self.sequences(split).items()}

    def full_pose(self, predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """LTD's 38-joint prediction: the truth with the used joints replaced by the
        prediction (B, T, 25, 3), then the duplicate joints copied."""
        full = truth.copy()
        full[..., self.used, :] = predicted
        full[..., self.copy_to, :] = full[..., self.copy_from, :]
        return full


def ltd_windows(seq: np.ndarray, history: int) -> np.ndarray:
    """The 8 test windows LTD draws from one sequence (T, ...): RandomState(1234567890)
    re-seeded per sequence, idx = randint(0, T - 75), window = idx + 50 - history ..
    idx + 75. (8, history + 25, ...); the sequence must be longer than 75 frames."""
    rng = np.random.RandomState(CMU_SEED)
    end = CMU_SOURCE_FRAMES + CMU_TARGET_FRAMES
    starts = [rng.randint(0, len(seq) - end) for _ in range(CMU_WINDOWS_PER_FILE)]
    return np.stack([seq[i + CMU_SOURCE_FRAMES - history:i + end] for i in starts])


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


def ease_out(rng: np.random.Generator, windows: np.ndarray, share: float, now: int,
             around: int = 10, longest: int = 25) -> np.ndarray:
    """Augmentation: `share` of the windows (B, T, ...) come to rest. From a frame within
    `around` of frame `now` (the end of the history), the replay slows linearly to a
    standstill over 5 to `longest` frames and holds the pose it reaches. The benchmark's
    history cannot tell a swing that carries on from one that stops; this adds stops."""
    frames = np.arange(windows.shape[1], dtype=np.float64)
    at = np.repeat(frames[None], len(windows), axis=0)  # source frame of each output frame
    for b in np.flatnonzero(rng.random(len(windows)) < share):
        # never before the window's first frame: a negative read would wrap to its end
        start = rng.integers(max(now - around, 0), now + around + 1)
        span = rng.integers(5, longest + 1)
        late = np.clip(frames - start, 0.0, span)  # frames since the slowing began
        at[b] = np.minimum(frames, start) + late - late ** 2 / (2 * span)
    return read_between_frames(windows, at)


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
