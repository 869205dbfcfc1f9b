"""The body made to meet its trackers: the head placed and turned as tracked, each seen
wrist reached by two-bone IK of its arm and turned as tracked (AvatarPoser refines its arms
by IK too). Each hand's share of the correction rises while it is seen and falls while it
is not, over RAMP_S, so a hand leaving or entering the view moves the arm smoothly.

Works on world tokens (..., 25, 6) (body/tokens.py) and tracking in the SMPL frame.
"""

from __future__ import annotations

import numpy as np

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.rotations import cross, matrix_to_6d, norm, sixd_to_matrix
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import ROOT_TOKEN
from motionfield.methods.sparse.config import FPS

RAMP_S = 0.25
NECK, HEAD = 12, 15
ARMS = ((13, 16, 18, 20), (14, 17, 19, 21))  # collar, shoulder, elbow, wrist; left, right
ARM_JOINTS = np.array([arm[1:] for arm in ARMS])  # shoulder, elbow, wrist of each arm
_SKEW = np.array([[[0, 0, 0], [0, 0, -1], [0, 1, 0]],    # k = sum of axis[a] * _SKEW[a]
                  [[0, 0, 1], [0, 0, 0], [-1, 0, 0]],
                  [[0, -1, 0], [1, 0, 0], [0, 0, 0]]], dtype=np.float64).reshape(3, 9)
CHAIN = (0, 3, 6, 9, NECK, HEAD, *ARMS[0], *ARMS[1])  # the pelvis to the head and wrists


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
    and each hand moved towards its tracker by `weight` (T, 2). Only the joints from the
    pelvis to the head and wrists are posed (CHAIN) and both arms are solved as one batch:
    a live frame is a few hundred small numpy calls, and each one counts."""
    skel = smpl_skeleton()
    local = np.empty((len(tokens), 24, 3, 3))
    local[:, CHAIN] = sixd_to_matrix(tokens[:, CHAIN].astype(np.float64))
    root = tokens[:, ROOT_TOKEN, :3].astype(np.float64)
    glob, joints = forward_kinematics(local, root, skel.offsets, skel.parents, only=CHAIN)
    shift = pos[:, 0] - joints[:, HEAD]  # the head where it is tracked
    out = tokens.copy()
    out[:, ROOT_TOKEN, :3] = root + shift
    out[:, HEAD] = matrix_to_6d(_inverse(glob[:, NECK]) @ rot[:, 0])
    sides = [side for side in (0, 1) if np.any(weight[:, side] > 0)]
    if not sides:
        return out
    collar, shoulder, elbow, wrist = np.array([ARMS[side] for side in sides]).T  # (S,) each
    joints = joints + shift[:, None]
    g_shoulder, g_elbow = _two_bone(glob[:, shoulder], glob[:, elbow], joints[:, shoulder],
                                    joints[:, elbow], joints[:, wrist],
                                    pos[:, [side + 1 for side in sides]])
    solved = np.stack([_inverse(glob[:, collar]) @ g_shoulder,    # (T, S, 3, 3, 3)
                       _inverse(g_shoulder) @ g_elbow,
                       _inverse(g_elbow) @ rot[:, [side + 1 for side in sides]]], axis=2)
    arm = np.stack([shoulder, elbow, wrist], axis=1)  # (S, 3)
    share = np.repeat(weight[:, sides], 3, axis=1).ravel()
    blended = _blend(local[:, arm].reshape(-1, 3, 3), solved.reshape(-1, 3, 3), share)
    out[:, arm] = matrix_to_6d(blended.reshape(*solved.shape))
    return out


def _inverse(m: np.ndarray) -> np.ndarray:
    return np.swapaxes(m, -1, -2)


def _two_bone(g_shoulder, g_elbow, s, e, w, target):
    """World rotations of the upper arm and forearm that put the wrist on `target` (or as
    near as the arm reaches), bending in the arm's present plane."""
    upper, fore = norm(e - s), norm(w - e)
    want = np.clip(norm(target - s), np.abs(upper - fore) + 1e-4, upper + fore - 1e-4)
    to_s, to_w = s - e, w - e
    now = _angle(to_s, to_w)
    goal = np.arccos(np.clip((upper ** 2 + fore ** 2 - want ** 2) / (2 * upper * fore), -1, 1))
    axis = cross(to_s, to_w)
    length = norm(axis, keepdims=True)
    axis = np.where(length > 1e-6, axis / np.maximum(length, 1e-12), [0.0, 0.0, 1.0])
    bend = _turn(axis, goal - now)
    g_elbow = bend @ g_elbow
    w_bent = e + (bend @ (w - e)[..., None])[..., 0]
    swing = _turn_between(w_bent - s, target - s)
    return swing @ g_shoulder, swing @ g_elbow


def _turn(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) turns by `angle` (...) about unit `axis` (..., 3) (Rodrigues; numpy
    alone, as an online frame cannot afford scipy's per-call cost)."""
    k = (axis @ _SKEW).reshape(*axis.shape, 3)  # the cross-product matrix of `axis`
    sin, cos = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + sin * k + (1 - cos) * (k @ k)


def _turn_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3, 3) the smallest turns taking directions `u` to `v` (..., 3) (an arm never
    needs the half turn, where the axis is undefined: it is left alone)."""
    u = u / norm(u, keepdims=True)
    v = v / norm(v, keepdims=True)
    axis = cross(u, v)
    length = norm(axis, keepdims=True)
    angle = np.arctan2(length[..., 0], (u * v).sum(-1))
    axis = np.where(length > 1e-9, axis / np.maximum(length, 1e-12), [1.0, 0.0, 0.0])
    return _turn(axis, np.where(length[..., 0] > 1e-9, angle, 0.0))


def _angle(a, b):
    cos = (a * b).sum(-1) / (norm(a) * norm(b) + 1e-12)
    return np.arccos(cos.clip(-1.0, 1.0))


def _blend(a, b, weight):
    """Local rotations (N, 3, 3) turned from `a` towards `b` along the shortest arc by
    `weight` (N,) (slerp; numpy alone, see _turn)."""
    out = np.where((weight >= 1.0)[:, None, None], b, a)
    partial = (weight > 0.0) & (weight < 1.0)
    if partial.any():
        a, b, w = a[partial], b[partial], weight[partial]
        rel = _inverse(a) @ b  # a^-1 b, then its axis and angle
        angle = np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0))
        axis = np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0],
                         rel[:, 1, 0] - rel[:, 0, 1]], axis=-1)
        length = norm(axis, keepdims=True)
        axis = np.where(length > 1e-9, axis / np.maximum(length, 1e-12), [1.0, 0.0, 0.0])
        out[partial] = a @ _turn(axis, w * np.where(length[:, 0] > 1e-9, angle, 0.0))
    return out


def settle(tokens: np.ndarray, seen: np.ndarray, state: dict | None = None
           ) -> tuple[np.ndarray, dict]:
    """Tokens (T, 25, 6) whose arms ease over RAMP_S from where they were whenever their
    hand is lost or found: the network's answer itself changes at once when a hand's
    input switches between the tracker and its mask token, and the arm must not jump with
    it. Each frame's arm is turned from where it was at the change towards this frame's
    answer by 1 - e, e falling from 1 to 0 over RAMP_S after each change: the arm covers
    the gap at an even pace (easing from the previous frame instead moved it most in the
    middle of the ramp: 10 cm in one frame in the Blender test). `state` carries the
    previous frame's arms as rotation matrices (a stream); returns (tokens, state)."""
    step = 1.0 / (RAMP_S * FPS)
    state = state or {"arms": None, "anchor": None, "ease": np.zeros(2), "seen": None}
    arms = sixd_to_matrix(tokens[:, ARM_JOINTS].astype(np.float64))  # (T, 2, 3, 3, 3)
    for t in range(len(tokens)):
        if state["seen"] is not None:
            changed = seen[t] != state["seen"]
            if changed.any():  # ease from where the arm was when its hand came or went
                state["anchor"] = np.where(changed[:, None, None, None], state["arms"],
                                           state["anchor"])
            state["ease"] = np.where(changed, 1.0, np.maximum(state["ease"] - step, 0.0))
        state["seen"] = seen[t].copy()
        easing = state["ease"] > 0
        if state["arms"] is not None and easing.any():
            eased = _blend(arms[t, easing].reshape(-1, 3, 3),
                           state["anchor"][easing].reshape(-1, 3, 3),
                           np.repeat(state["ease"][easing], 3))
            arms[t, easing] = eased.reshape(-1, 3, 3, 3)
        state["arms"] = arms[t]
        if state["anchor"] is None:
            state["anchor"] = arms[t].copy()
    out = tokens.copy()
    out[:, ARM_JOINTS] = matrix_to_6d(arms)  # orthonormal whether eased or not
    return out, state
