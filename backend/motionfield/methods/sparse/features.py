"""From tracking to what the networks read, and their answers back to the world.

Every window is expressed in its own frame: the latest frame's head, turned about the
vertical so that it looks along +Z, with the origin on the ground (y = 0) under it. The
network's answer for each frame is in the same frame; `to_world` takes it back. Hands that
are not seen are held at their last seen transform (before any sighting: where they are in
the rest pose, carried by the head), and `since` says for how long.

Shapes as in data.py: rot (..., T, 3, 3, 3), pos (..., T, 3, 3), seen (..., T, 2).
"""

from __future__ import annotations

import numpy as np

from motionfield.body.rotations import matrix_to_6d
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import ROOT_TOKEN
from motionfield.methods.sparse.config import FPS, SMPL_DEVICE_JOINTS

MAX_SINCE = 2.0  # seconds; longer losses read as this long
IDENTITY_6D = np.array([1, 0, 0, 0, 1, 0], dtype=np.float32)


def rest_hands() -> np.ndarray:
    """(2, 3) each wrist's rest position relative to the head, metres."""
    rest = smpl_skeleton().rest_positions()
    head, left, right = SMPL_DEVICE_JOINTS
    return (rest[[left, right]] - rest[head]).astype(np.float32)


def fill_unseen(rot: np.ndarray, pos: np.ndarray, seen: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rot, pos, since): unseen hands held at their last seen transform (the rest pose
    under the head before the first sighting); `since` (..., T, 2) seconds since each hand
    was last seen (0 while seen, at most MAX_SINCE)."""
    frames = seen.shape[-2]
    t = np.arange(frames)[:, None]
    last = np.maximum.accumulate(np.where(seen, t, -1), axis=-2)
    since = np.where(last >= 0, (t - last) / FPS, MAX_SINCE).clip(0, MAX_SINCE)
    pick = np.maximum(last, 0)
    held_pos = np.take_along_axis(pos[..., 1:, :], pick[..., None], axis=-3)
    held_rot = np.take_along_axis(rot[..., 1:, :, :], pick[..., None, None], axis=-4)
    head_rot, head_pos = rot[..., :1, :, :], pos[..., :1, :]
    rest_pos = head_pos + np.einsum("...ij,kj->...ki", rot[..., 0, :, :], rest_hands())
    never = (last < 0)
    out_pos, out_rot = pos.copy(), rot.copy()
    out_pos[..., 1:, :] = np.where(never[..., None], rest_pos, held_pos)
    out_rot[..., 1:, :, :] = np.where(never[..., None, None], head_rot, held_rot)
    return out_rot, out_pos, since.astype(np.float32)


def heading(rot: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The window frame of each (..., 3, 3, 3) / (..., 3, 3) tracking frame: (yaw (..., 3, 3),
    origin (..., 3)) with world = yaw @ local + origin."""
    forward = rot[..., 0, :, 2]  # the head's +Z in the world
    angle = np.arctan2(forward[..., 0], forward[..., 2])
    c, s = np.cos(angle), np.sin(angle)
    yaw = np.zeros((*angle.shape, 3, 3), dtype=np.float32)
    yaw[..., 0, 0], yaw[..., 0, 2], yaw[..., 1, 1], yaw[..., 2, 0], yaw[..., 2, 2] = c, s, 1, -s, c
    origin = pos[..., 0, :] * np.array([1, 0, 1], dtype=np.float32)
    return yaw, origin.astype(np.float32)


def window_inputs(rot: np.ndarray, pos: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held tracking of W + 1 frames (..., W + 1, ...) -> (features (..., W, 3, 18) in the
    frame of the window's last frame, yaw (..., 3, 3), origin (..., 3)). Per device:
    position, rotation (6D), velocity (m/s) and turn since the previous frame (6D less the
    identity's, per second)."""
    yaw, origin = heading(rot[..., -1, :, :, :], pos[..., -1, :, :])
    yaw_t = np.swapaxes(yaw, -1, -2)[..., None, None, :, :]
    local_pos = np.einsum("...ij,...j->...i", yaw_t, pos - origin[..., None, None, :])
    local_rot = yaw_t @ rot
    turn = np.swapaxes(local_rot[..., :-1, :, :, :], -1, -2) @ local_rot[..., 1:, :, :, :]
    feats = np.concatenate([
        local_pos[..., 1:, :, :], matrix_to_6d(local_rot[..., 1:, :, :, :]),
        np.diff(local_pos, axis=-3) * FPS, (matrix_to_6d(turn) - IDENTITY_6D) * FPS,
    ], axis=-1)
    return feats.astype(np.float32), yaw, origin


def frame_inputs(rot: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held tracking of T + 1 frames -> (features (..., T, 3, 18), yaw (..., T, 3, 3),
    origin (..., T, 3)): each of the last T frames in its own heading frame, its velocities
    from the frame before (a recurrent model's inputs)."""
    frames = pos.shape[-3] - 1
    pairs = np.arange(frames)[:, None] + np.arange(2)
    feats, yaw, origin = window_inputs(rot[..., pairs, :, :, :], pos[..., pairs, :, :])
    return feats[..., 0, :, :], yaw, origin


def tokens_to_window(tokens: np.ndarray, yaw: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """World tokens (..., W, 25, 6) -> the window frame (yaw (..., 3, 3), origin (..., 3))."""
    out = tokens.copy()
    yaw_t = np.swapaxes(yaw, -1, -2)[..., None, :, :]
    for part in (slice(0, 3), slice(3, 6)):
        out[..., 0, part] = np.einsum("...ij,...j->...i", yaw_t, tokens[..., 0, part])
    out[..., ROOT_TOKEN, :3] = np.einsum("...ij,...j->...i", yaw_t,
                                         tokens[..., ROOT_TOKEN, :3] - origin[..., None, :])
    return out


def to_world(tokens: np.ndarray, yaw: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """The inverse of `tokens_to_window`: window-frame tokens (..., 25, 6) with their
    frame's yaw (..., 3, 3) and origin (..., 3) -> world tokens."""
    out = tokens.copy()
    for part in (slice(0, 3), slice(3, 6)):
        out[..., 0, part] = np.einsum("...ij,...j->...i", yaw, tokens[..., 0, part])
    out[..., ROOT_TOKEN, :3] = np.einsum("...ij,...j->...i", yaw,
                                         tokens[..., ROOT_TOKEN, :3]) + origin
    return out
