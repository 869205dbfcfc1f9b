"""SMPL (Y up, facing +Z) to Blender (Z up, facing -Y), in exactly one place, and the few
quaternion operations the add-on needs (numpy only: Blender's Python has no scipy/torch).

Quaternions are (w, x, y, z) as everywhere in motionfield. No bpy module use.
"""

from __future__ import annotations

import numpy as np

# A quarter turn about X: (x, y, z) -> (x, -z, y). SMPL's up (+Y) becomes Blender's +Z and
# SMPL's forward (+Z) becomes -Y, the way Blender characters face the front view.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def to_blender(vectors: np.ndarray) -> np.ndarray:
    """(..., 3) SMPL-frame vectors or points -> Blender frame."""
    return np.asarray(vectors, dtype=np.float64) @ Y_UP_TO_Z_UP.T


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b, broadcasting over leading axes."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """One proper rotation matrix (3, 3) -> unit quaternion (4,), w >= 0."""
    w = np.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2.0
    x = np.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2.0
    y = np.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2.0
    z = np.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2.0
    x = np.copysign(x, m[2, 1] - m[1, 2])
    y = np.copysign(y, m[0, 2] - m[2, 0])
    z = np.copysign(z, m[1, 0] - m[0, 1])
    q = np.array([w, x, y, z])
    return q / np.linalg.norm(q)


def quat_continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 (time) so neighbours share a hemisphere: keys interpolate
    along the short way."""
    q = np.array(q, dtype=np.float64)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    return q


def smpl_to_bone_rotations(local: np.ndarray, bone_rest: np.ndarray) -> np.ndarray:
    """SMPL local rotations -> pose-bone rotation_quaternion values.

    A bone whose rest orientation in armature space is R_j (its matrix_local) reproduces
    SMPL's motion when its pose rotation is K_j L_j K_j^-1 with K_j = R_j^-1 C, C the
    SMPL -> Blender axis change (derivation in docs/addon.md).

    local : (T, J, 4) SMPL local rotations (the root's is global); bone_rest : (J, 3, 3)
    """
    k = _axis_changes(bone_rest)
    return quat_continuous(quat_multiply(quat_multiply(k, local), quat_conjugate(k)))


def bone_to_smpl_rotations(pose: np.ndarray, bone_rest: np.ndarray) -> np.ndarray:
    """The inverse of `smpl_to_bone_rotations`: pose-bone quaternions (T, J, 4) -> SMPL
    local rotations, L_j = K_j^-1 P_j K_j."""
    k = _axis_changes(bone_rest)
    return quat_multiply(quat_multiply(quat_conjugate(k), pose), k)


def _axis_changes(bone_rest: np.ndarray) -> np.ndarray:
    """K_j = R_j^-1 C per bone, as quaternions (J, 4)."""
    return np.stack([matrix_to_quat(r.T @ Y_UP_TO_Z_UP) for r in bone_rest])
