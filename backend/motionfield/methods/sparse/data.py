"""Head and hand tracking synthesised from mocap: takes, their split, and what a headset or
a pair of motion controllers would report.

Takes come from the built SMPL sets (`motionfield data build`) of every source here:
Bandai Namco 1 and 2, the CMU-Mocap benchmark, the CMU BVH clips and ReActIdle, each
resampled to config.FPS. The split is the sets' own (data/build.py `split_of`: sha256 of the
take's id, 80/10/10; the CMU benchmark's test files stay test), so it is by take, never by
window, and the same on every machine.

Tracking is the SMPL head and wrists as world transforms by forward kinematics on the
shipped skeleton, then seen through a `Headset` (config.py): a hand is reported only while
inside the head-fixed volume and not in a short dropout, with Gaussian noise. With
controllers (config.CONTROLLERS) hands are always reported.

Shapes: `rot` (..., T, 3, 3, 3) world rotation of each device (head, left, right), `pos`
(..., T, 3, 3) world position in metres, `seen` (..., T, 2) per hand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.rotations import quat_to_matrix
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import motion_to_tokens
from motionfield.data.takes import ALL_SOURCES, built_clips
from motionfield.methods.sparse.config import FPS, SMPL_DEVICE_JOINTS, Headset
from motionfield.motion import Motion

SPLITS = ("train", "val", "test")
LICENCE = ("CC BY-NC 4.0 (Bandai Namco Research Motiondataset, non-commercial); CMU Graphics "
           "Lab Motion Capture Database terms; MIT (ReActIdle, Atxa Landa et al.)")
DESCRIPTION = ("head and wrist tracking synthesised by forward kinematics from Bandai Namco "
               "1 and 2, the CMU-Mocap benchmark, CMU BVH clips and ReActIdle (training "
               f"split, sha256 of each take's id), retargeted to SMPL, {FPS} fps")


@dataclass
class Take:
    """One take at config.FPS: SMPL tokens and the true device transforms."""

    id: str
    split: str
    tokens: np.ndarray   # (T, 25, 6) body.tokens layout
    rot: np.ndarray      # (T, 3, 3, 3) device world rotations
    pos: np.ndarray      # (T, 3, 3) device world positions, metres


def device_transforms(rotations: np.ndarray, root_translation: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SMPL motion (T, 24, 4) wxyz + (T, 3) -> device rotations (T, 3, 3, 3), device
    positions (T, 3, 3) and every joint's position (T, 24, 3), on the shipped skeleton."""
    skel = smpl_skeleton()
    glob, joints = forward_kinematics(quat_to_matrix(rotations), root_translation,
                                      skel.offsets, skel.parents)
    index = list(SMPL_DEVICE_JOINTS)
    return glob[:, index], joints[:, index], joints


def take_from_motion(take_id: str, split: str, motion: Motion) -> Take:
    motion = motion.at_fps(FPS)
    rot, pos, _ = device_transforms(motion.rotations, motion.root_translation)
    return Take(take_id, split, motion_to_tokens(motion.rotations, motion.root_translation),
                rot.astype(np.float32), pos.astype(np.float32))


def load_takes(data_root: Path | None = None, sources: tuple[str, ...] = ALL_SOURCES,
               splits: tuple[str, ...] = SPLITS, progress: bool = True) -> list[Take]:
    """Every take of `splits` from `sources` (their sets built now if missing or stale)."""
    skel = smpl_skeleton()
    return [take_from_motion(clip.id, clip.split, Motion.from_frames(
                clip.rotations, clip.root_translation, skel, clip.entry["fps"]))
            for clip in built_clips(sources, data_root, progress)
            if clip.split in splits and clip.entry["frames"] >= 2]


def take_seed(take_id: str, setting: str) -> int:
    """The generator seed of a take's synthetic tracking in an evaluation setting."""
    return int.from_bytes(hashlib.sha256(f"{setting}:{take_id}".encode()).digest()[:8], "big")


# ---------------------------------------------------------------- what a headset sees


def pitch_down(degrees: float) -> np.ndarray:
    """(3, 3) the turn about +X that tilts +Z down by `degrees`."""
    a = np.radians(degrees)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]],
                    dtype=np.float32)


def in_view(headset: Headset, rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """(..., T, 2): whether each wrist lies inside the headset's tracking volume."""
    offset = pos[..., 1:, :] - pos[..., :1, :]
    view = rot[..., 0, :, :] @ pitch_down(headset.view_pitch_deg)
    local = np.einsum("...ji,...kj->...ki", view, offset)  # view^T (hand - head)
    x, y, z = local[..., 0], local[..., 1], local[..., 2]
    across = np.degrees(np.arctan2(np.abs(x), z))
    elevation = np.degrees(np.arctan2(y, np.hypot(x, z)))
    distance = np.linalg.norm(local, axis=-1)
    return ((across <= headset.horizontal_deg) & (elevation <= headset.up_deg)
            & (elevation >= -headset.down_deg) & (distance >= headset.near_m)
            & (distance <= headset.far_m))


def dropouts(rng: np.random.Generator, headset: Headset, shape: tuple[int, ...]
             ) -> np.ndarray:
    """(..., T, 2) True where a hand's tracking is briefly lost (`shape` is (..., T))."""
    frames = shape[-1]
    lost = np.zeros((*shape, 2), dtype=bool)
    rate = headset.dropouts_per_s * frames / FPS
    if rate <= 0:
        return lost
    flat = lost.reshape(-1, frames, 2)
    for b in range(len(flat)):
        for hand in range(2):
            for _ in range(rng.poisson(rate)):
                start = rng.integers(0, frames)
                length = int(round(rng.uniform(*headset.dropout_s) * FPS))
                flat[b, start:start + max(length, 1), hand] = True
    return lost


def observe(rng: np.random.Generator, headset: Headset, rot: np.ndarray, pos: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the tracker reports: (rot, pos, seen) with noise on every device (the head's a
    fifth of the hands') and `seen` from the volume and dropouts. Unseen hands keep their
    (noisy) true values: whoever reads them must look at `seen`."""
    seen = in_view(headset, rot, pos) & ~dropouts(rng, headset, pos.shape[:-2])
    scale = np.array([0.2, 1.0, 1.0])[:, None]
    noisy_pos = pos + rng.normal(0.0, headset.noise_m, pos.shape) * scale
    turns = rng.normal(0.0, np.radians(headset.noise_deg), pos.shape) * scale
    noisy_rot = Rotation.from_rotvec(turns.reshape(-1, 3)).as_matrix().reshape(rot.shape) @ rot
    return noisy_rot.astype(np.float32), noisy_pos.astype(np.float32), seen


class TrainWindows:
    """Training windows drawn from takes: every frame of every take equally likely to be a
    window's last; frames before a take's start repeat its first (a stream just begun)."""

    def __init__(self, takes: list[Take], window: int, lead: int):
        if not takes:
            raise ValueError("no takes to train on")
        self.span = lead + window + 1  # lead frames, then the window and the frame before it
        self.window = window
        self.tokens = np.concatenate([t.tokens for t in takes])
        self.rot = np.concatenate([t.rot for t in takes])
        self.pos = np.concatenate([t.pos for t in takes])
        starts = np.cumsum([0] + [len(t.tokens) for t in takes[:-1]])
        self.take_start = np.repeat(starts, [len(t.tokens) for t in takes])

    def draw(self, rng: np.random.Generator, batch: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens (B, W, 25, 6), rot (B, span, 3, 3, 3), pos (B, span, 3, 3)): the true
        body of each window's frames and the tracking of the window with its lead."""
        last = rng.integers(0, len(self.tokens), batch)
        index = last[:, None] + np.arange(1 - self.span, 1)
        index = np.maximum(index, self.take_start[last][:, None])
        return (self.tokens[index[:, -self.window:]], self.rot[index], self.pos[index])
