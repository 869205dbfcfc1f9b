"""SMPL motion as tokens for learning: 25 tokens of 6 values per frame.

Tokens 0-23 are the SMPL joints' local rotations in 6D (the first two matrix columns);
token 24 is the root translation in metres, padded with three zeros. Also here: the loss
that compares tokens as bodies (forward kinematics), and the left-right mirror.
"""

from __future__ import annotations

import numpy as np
import torch

from motionfield.body.kinematics import forward_kinematics_t
from motionfield.body.rotations import matrix_to_6d, quat_to_matrix, sixd_to_matrix
from motionfield.body.rotations_t import sixd_to_matrix_t
from motionfield.body.skeleton import smpl_skeleton
from motionfield.motion import Motion

TOKENS, VALUES = 25, 6
ROOT_TOKEN = 24
SMPL_SIDES = {"left_": "right_", "right_": "left_"}


def motion_to_tokens(rotations: np.ndarray, root_translation: np.ndarray) -> np.ndarray:
    """(T, 24, 4) wxyz + (T, 3) -> (T, 25, 6) float32."""
    out = np.zeros((len(rotations), TOKENS, VALUES), dtype=np.float32)
    out[:, :24] = matrix_to_6d(quat_to_matrix(rotations))
    out[:, ROOT_TOKEN, :3] = root_translation
    return out


def tokens_to_motion(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 25, 6) -> (T, 24, 3, 3) rotation matrices (Gram-Schmidt) and (T, 3)."""
    return sixd_to_matrix(tokens[:, :24].astype(np.float64)), tokens[:, ROOT_TOKEN, :3]


def clip_tokens(data, index: int, fps: int) -> np.ndarray:
    """One clip of a built set (`data.build.TrainingSet`) resampled to `fps`, as tokens."""
    rot, trans = data.clip(index)
    motion = Motion.from_frames(rot, trans, smpl_skeleton(), data.clips[index]["fps"])
    motion = motion.at_fps(fps)
    return motion_to_tokens(motion.rotations, motion.root_translation)


class SmplLoss:
    """Mean joint distance (metres) after forward kinematics on the shipped skeleton, plus
    a small 6D term that keeps twist, which joint positions cannot see."""

    def __init__(self):
        skel = smpl_skeleton()
        self.offsets = torch.tensor(np.array(skel.offsets), dtype=torch.float32)
        self.parents = list(skel.parents)

    def positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., 25, 6) tokens -> (..., 24, 3) joint positions, metres."""
        rot = sixd_to_matrix_t(tokens[..., :24, :])
        return forward_kinematics_t(rot, tokens[..., ROOT_TOKEN, :3], self.offsets,
                                    self.parents)[1]

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        joints = (self.positions(pred) - self.positions(target)).norm(dim=-1).mean()
        sixd = (pred[..., :24, :] - target[..., :24, :]).abs().mean()
        return joints + 0.1 * sixd


def mirror_pairs(names, swap: dict[str, str]) -> np.ndarray:
    """For each joint, the index of its left/right counterpart (itself on the midline);
    `swap` maps each side's name prefix to the other's."""
    names = list(names)
    out = []
    for name in names:
        side = next((k for k in swap if name.startswith(k)), None)
        out.append(names.index(swap[side] + name[len(side):]) if side else names.index(name))
    return np.asarray(out)


def random_yaw(rng: np.random.Generator, windows: np.ndarray) -> np.ndarray:
    """Turn each token window about the vertical (Y) axis by a random angle: the root
    rotation's two columns and the translation rotate; local joint rotations do not."""
    angle = rng.uniform(-np.pi, np.pi, size=len(windows))
    c, s = np.cos(angle), np.sin(angle)
    yaw = np.zeros((len(windows), 3, 3), dtype=np.float32)
    yaw[:, 0, 0], yaw[:, 0, 2], yaw[:, 1, 1], yaw[:, 2, 0], yaw[:, 2, 2] = c, s, 1, -s, c
    out = windows.copy()
    for sl in (slice(0, 3), slice(3, 6)):
        out[:, :, 0, sl] = np.einsum("bij,btj->bti", yaw, windows[:, :, 0, sl])
    out[:, :, ROOT_TOKEN, :3] = np.einsum("bij,btj->bti", yaw, windows[:, :, ROOT_TOKEN, :3])
    return out


def mirror_and_turn():
    """Augmentation of token windows (B, T, 25, 6): half of them mirrored through the
    X = 0 plane (SMPL's left-right axis): left and right joints swap, each rotation R
    becomes M R M with M = diag(-1, 1, 1) (6D columns c0, c1 -> -M c0, M c1) and the root
    translation's X flips; then every window turned about the vertical."""
    pairs = np.append(mirror_pairs(smpl_skeleton().names, SMPL_SIDES), ROOT_TOKEN)
    sign = np.array([1, -1, -1, -1, 1, 1], dtype=np.float32)

    def augment(rng: np.random.Generator, windows: np.ndarray) -> np.ndarray:
        flip = rng.random(len(windows)) < 0.5
        mirrored = windows[flip][:, :, pairs].copy()
        mirrored[:, :, :24] *= sign
        mirrored[:, :, ROOT_TOKEN, 0] *= -1.0
        out = windows.copy()
        out[flip] = mirrored
        return random_yaw(rng, out)
    return augment
