"""Synthetic SMPL takes for the sparse tests: a body walking along +Z, turning, its arms
swinging and reaching forward (no data archives needed)."""

from __future__ import annotations

import numpy as np

from motionfield.body.rotations import axis_angle_to_quat
from motionfield.methods.sparse.data import Take, take_from_motion
from motionfield.motion import Motion


def walking(frames: int = 150, seed: int = 0, fps: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(rotations (T, 24, 4) wxyz, root_translation (T, 3)) of a made-up walk."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    phase, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5)
    aa = np.zeros((frames, 24, 3))
    aa[:, 0, 1] = 0.3 * np.sin(0.4 * t + phase)                    # heading sways
    aa[:, 1, 0] = 0.5 * np.sin(2 * np.pi * speed * t)              # hips swing
    aa[:, 2, 0] = -aa[:, 1, 0]
    aa[:, 4, 0] = 0.4 * (1 + np.sin(2 * np.pi * speed * t + 1))    # knees bend
    aa[:, 5, 0] = 0.4 * (1 + np.sin(2 * np.pi * speed * t + 4))
    aa[:, 16, 2] = -1.2 + 0.3 * np.sin(2 * np.pi * speed * t)      # arms down, swinging
    aa[:, 17, 2] = 1.2 + 0.3 * np.sin(2 * np.pi * speed * t)
    reach = 0.5 * (1 + np.sin(0.8 * t + phase))                     # now and then forward
    aa[:, 16, 1] -= 1.2 * reach
    aa[:, 17, 1] += 1.2 * reach
    aa[:, 15, 0] = 0.2 * np.sin(0.7 * t)                           # head nods
    root = np.stack([0.1 * np.sin(0.3 * t), 0.93 + 0.02 * np.sin(4 * np.pi * speed * t),
                     speed * 0.6 * t], axis=-1)
    return axis_angle_to_quat(aa), root


def takes(count: int = 4, frames: int = 150, split: str = "train") -> list[Take]:
    from motionfield.body.skeleton import smpl_skeleton

    return [take_from_motion(f"synth/{i}", split,
                             Motion.from_frames(*walking(frames, seed=i), smpl_skeleton(), 30))
            for i in range(count)]
