"""The body made to meet its trackers: the head placed and turned as tracked, each seen
wrist reached by two-bone IK of its arm and turned as tracked (AvatarPoser refines its arms
by IK too). Each hand's share of the correction rises while it is seen and falls while it
is not, over RAMP_S, so a hand leaving or entering the view moves the arm smoothly.

Works on world tokens (..., 25, 6) (body/tokens.py) and tracking in the SMPL frame.
"""

from __future__ import annotations

import numpy as np

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.rotations import (
    matrix_to_6d,
    sixd_to_matrix,
)
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import ROOT_TOKEN
from motionfield.methods.sparse.config import FPS

RAMP_S = 0.25
NECK, HEAD = 12, 15
ARMS = ((13, 16, 18, 20), (14, 17, 19, 21))  # collar, shoulder, elbow, wrist; left, right


def ramp(seen: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """(T, 2) weights of the hands' corrections: +1/(RAMP_S * FPS) a frame while seen,
    minus that while not, within [0, 1]; `start` (2,) is the weight before frame 0."""
    step = 1.0 / (RAMP_S * FPS)
    weight = np.zeros(2) if start is None else np.asarray(start, dtype=np.float64)
    out = np.empty(seen.shape, dtype=np.float64)
    for t, now in enumerate(seen):
        weight = np.clip(weight + np.where(now, step, -step), 0.0, 1.0)
        out[t] = weight
    return out


def reach(tokens: np.ndarray, rot: np.ndarray, pos: np.ndarray, weight: np.ndarray
          ) -> np.ndarray:
    """Tokens (T, 25, 6) with the head on the tracked head (rot (T, 3, 3, 3), pos (T, 3, 3))
    and each hand moved towards its tracker by `weight` (T, 2)."""
    skel = smpl_skeleton()
    local = sixd_to_matrix(tokens[:, :24].astype(np.float64))
    root = tokens[:, ROOT_TOKEN, :3].astype(np.float64)
    glob, joints = forward_kinematics(local, root, skel.offsets, skel.parents)
    root = root + pos[:, 0] - joints[:, HEAD]  # the head where it is tracked
    joints = joints + (pos[:, 0] - joints[:, HEAD])[:, None]
    local[:, HEAD] = np.swapaxes(glob[:, NECK], -1, -2) @ rot[:, 0]
    for side, (collar, shoulder, elbow, wrist) in enumerate(ARMS):
        w = weight[:, side]
        if not np.any(w > 0):
            continue
        g_shoulder, g_elbow = _two_bone(glob[:, shoulder], glob[:, elbow], joints[:, shoulder],
                                        joints[:, elbow], joints[:, wrist], pos[:, side + 1])
        solved = {shoulder: np.swapaxes(glob[:, collar], -1, -2) @ g_shoulder,
                  elbow: np.swapaxes(g_shoulder, -1, -2) @ g_elbow,
                  wrist: np.swapaxes(g_elbow, -1, -2) @ rot[:, side + 1]}
        for joint, target in solved.items():
            local[:, joint] = _blend(local[:, joint], target, w)
    out = tokens.copy()
    out[:, :24] = matrix_to_6d(local)
    out[:, ROOT_TOKEN, :3] = root
    return out


def _two_bone(g_shoulder, g_elbow, s, e, w, target):
    """World rotations of the upper arm and forearm that put the wrist on `target` (or as
    near as the arm reaches), bending in the arm's present plane."""
    upper, fore = np.linalg.norm(e - s, axis=-1), np.linalg.norm(w - e, axis=-1)
    want = np.clip(np.linalg.norm(target - s, axis=-1), np.abs(upper - fore) + 1e-4,
                   upper + fore - 1e-4)
    to_s, to_w = s - e, w - e
    now = _angle(to_s, to_w)
    goal = np.arccos(np.clip((upper ** 2 + fore ** 2 - want ** 2) / (2 * upper * fore), -1, 1))
    axis = np.cross(to_s, to_w)
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    axis = np.where(norm > 1e-6, axis / np.maximum(norm, 1e-12), [0.0, 0.0, 1.0])
    bend = _turn(axis, goal - now)
    g_elbow = bend @ g_elbow
    w_bent = e + np.einsum("tij,tj->ti", bend, w - e)
    swing = _turn_between(w_bent - s, target - s)
    return swing @ g_shoulder, swing @ g_elbow


def _turn(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) turns by `angle` (T,) about unit `axis` (T, 3) (Rodrigues; numpy alone,
    as an online frame cannot afford scipy's per-call cost)."""
    k = np.zeros((*axis.shape[:-1], 3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    sin, cos = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + sin * k + (1 - cos) * (k @ k)


def _turn_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, 3, 3) the smallest turns taking directions `u` to `v` (T, 3) (an arm never
    needs the half turn, where the axis is undefined: it is left alone)."""
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    axis = np.cross(u, v)
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.arctan2(norm[..., 0], np.sum(u * v, axis=-1))
    axis = np.where(norm > 1e-9, axis / np.maximum(norm, 1e-12), [1.0, 0.0, 0.0])
    return _turn(axis, np.where(norm[..., 0] > 1e-9, angle, 0.0))


def _angle(a, b):
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _blend(a, b, weight):
    """Local rotations turned from `a` towards `b` along the shortest arc by `weight` (T,)
    (slerp; numpy alone, see _turn)."""
    out = np.where((weight >= 1.0)[:, None, None], b, a)
    partial = (weight > 0.0) & (weight < 1.0)
    if partial.any():
        a, b, w = a[partial], b[partial], weight[partial]
        rel = np.swapaxes(a, -1, -2) @ b  # a^-1 b, then its axis and angle
        angle = np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0))
        axis = np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0],
                         rel[:, 1, 0] - rel[:, 0, 1]], axis=-1)
        norm = np.linalg.norm(axis, axis=-1, keepdims=True)
        axis = np.where(norm > 1e-9, axis / np.maximum(norm, 1e-12), [1.0, 0.0, 0.0])
        out[partial] = a @ _turn(axis, w * np.where(norm[:, 0] > 1e-9, angle, 0.0))
    return out


def settle(tokens: np.ndarray, seen: np.ndarray, state: dict | None = None
           ) -> tuple[np.ndarray, dict]:
    """Tokens (T, 25, 6) whose arms ease over RAMP_S from where they were whenever their
    hand is lost or found: the network's answer itself changes at once when a hand's
    input switches between the tracker and its mask token, and the arm must not jump with
    it. Each frame's arm is turned from the previous frame's output towards this frame's
    by 1 - e, e falling from 1 to 0 over RAMP_S after each change. `state` carries the
    previous frame's arms (a stream); returns (tokens, state)."""
    step = 1.0 / (RAMP_S * FPS)
    state = state or {"arms": None, "ease": np.zeros(2), "seen": None}
    out = tokens.copy()
    for t in range(len(tokens)):
        if state["seen"] is not None:
            changed = seen[t] != state["seen"]
            state["ease"] = np.where(changed, 1.0, np.maximum(state["ease"] - step, 0.0))
        state["seen"] = seen[t].copy()
        for side, joints in enumerate(ARMS):
            arm = list(joints[1:])
            if state["arms"] is not None and state["ease"][side] > 0:
                now = sixd_to_matrix(out[t, arm].astype(np.float64))
                before = sixd_to_matrix(state["arms"][side].astype(np.float64))
                eased = _blend(now, before, np.full(len(arm), state["ease"][side]))
                out[t, arm] = matrix_to_6d(eased)
        state["arms"] = [out[t, list(j[1:])].copy() for j in ARMS]
    return out, state
