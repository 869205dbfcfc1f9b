"""Rotation conversions, numpy (scipy.spatial.transform); the torch twins are in rotations_t.

Conventions: quaternions are (w, x, y, z) with any leading batch shape; axis-angle is a
rotation vector (..., 3) in radians; matrices act on column vectors (..., 3, 3); 6D is the
first two columns of the matrix, (..., 6) = [c0, c1] (Zhou et al. 2019), mapped back by
Gram-Schmidt. scipy and roma both store quaternions (x, y, z, w): the only reordering of
components in the project happens here.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# --------------------------------------------------------------------------- numpy


def _scipy(q: np.ndarray) -> Rotation:
    return Rotation.from_quat(np.asarray(q, dtype=np.float64)[..., [1, 2, 3, 0]])


def _wxyz(r: Rotation) -> np.ndarray:
    return r.as_quat()[..., [3, 0, 1, 2]]


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz -> (..., 3, 3). Non-unit quaternions are normalised."""
    return _scipy(q).as_matrix()


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) wxyz with w >= 0.

    Each matrix is read through the largest of w, x, y, z (as scipy does), in numpy:
    scipy's from_matrix costs 0.2-0.4 ms however few the matrices, which a live frame's
    answer would pay for its 24 joints."""
    m = np.asarray(m, dtype=np.float64)
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = np.moveaxis(m, (-2, -1), (0, 1))
    trace = m00 + m11 + m22
    readings = np.stack([  # (pivot x, y, z, w; component w, x, y, z; ...)
        [m21 - m12, 1 - trace + 2 * m00, m10 + m01, m20 + m02],
        [m02 - m20, m01 + m10, 1 - trace + 2 * m11, m21 + m12],
        [m10 - m01, m02 + m20, m12 + m21, 1 - trace + 2 * m22],
        [1 + trace, m21 - m12, m02 - m20, m10 - m01]])
    pivot = np.argmax(np.stack([m00, m11, m22, trace]), axis=0)
    q = np.moveaxis(np.take_along_axis(readings, pivot[None, None], axis=0)[0], 0, -1)
    return quat_canonical(q / norm(q, keepdims=True))


def axis_angle_to_quat(v: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors -> (..., 4) wxyz."""
    return _wxyz(Rotation.from_rotvec(np.asarray(v, dtype=np.float64)))


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz -> (..., 3) rotation vectors with angle in [0, pi]."""
    return _scipy(q).as_rotvec()


def axis_angle_to_matrix(v: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(v, dtype=np.float64)).as_matrix()


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(np.asarray(m, dtype=np.float64)).as_rotvec()


def euler_to_quat(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """BVH Euler angles -> wxyz.

    BVH channels are intrinsic rotations applied in the order they are listed: for
    "ZXY" the local frame turns about Z, then the new X, then the newer Y, i.e.
    R = Rz @ Rx @ Ry. That is scipy's upper-case (intrinsic) sequence, the one
    convention used anywhere in the project.
    """
    return _wxyz(Rotation.from_euler(order.upper(), angles_deg, degrees=True))


def quat_to_euler(q: np.ndarray, order: str) -> np.ndarray:
    """wxyz -> intrinsic Euler angles in degrees, the inverse of `euler_to_quat`."""
    return _scipy(q).as_euler(order.upper(), degrees=True)


def matrix_to_6d(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    m = np.asarray(m)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


_NEXT, _AFTER = np.array([1, 2, 0]), np.array([2, 0, 1])


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a x b over the last axis: np.cross's result at a third of its cost on the few
    vectors an online frame turns (np.cross moves axes on every call)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.take(_NEXT, -1) * b.take(_AFTER, -1) - a.take(_AFTER, -1) * b.take(_NEXT, -1)


def norm(v: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Euclidean length over the last axis (np.linalg.norm's, without its checks)."""
    return np.sqrt((v * v).sum(-1, keepdims=keepdims))  # the method skips np.sum's wrapper


def sixd_to_matrix(d: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two columns."""
    d = np.asarray(d, dtype=np.float64)
    a, b = d[..., :3], d[..., 3:]
    c0 = a / norm(a, keepdims=True)
    b = b - (c0 * b).sum(-1, keepdims=True) * c0
    c1 = b / norm(b, keepdims=True)
    return np.stack([c0, c1, cross(c0, c1)], axis=-1)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (apply b, then a), wxyz, broadcasting."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_inverse(q: np.ndarray) -> np.ndarray:
    """Inverse of unit quaternions (the conjugate)."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors (..., 3) by unit quaternions (..., 4)."""
    return np.einsum("...ij,...j->...i", quat_to_matrix(q), v)


def quat_canonical(q: np.ndarray) -> np.ndarray:
    """The representative with w >= 0 (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0, -q, q)


def quat_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along `axis` (time) so neighbouring quaternions lie in one hemisphere."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    return np.moveaxis(q, 0, axis)


def quat_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation along the shorter arc; a, b (..., 4), t broadcast to (...)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    near = sin < 1e-8  # nearly equal: linear interpolation is exact to rounding
    safe = np.where(near, 1.0, sin)
    wa = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    wb = np.where(near, t, np.sin(t * theta) / safe)
    out = wa * a + wb * b
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle in radians between unit quaternions."""
    dot = np.abs(np.sum(np.asarray(a) * np.asarray(b), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, -1.0, 1.0))


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The smallest rotation (wxyz) taking direction u to direction v, (..., 3) each.

    Opposite directions have no unique smallest rotation: a half turn about an axis
    perpendicular to u is returned.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    w = 1.0 + np.sum(u * v, axis=-1, keepdims=True)
    axis = np.cross(u, v)
    opposite = w[..., 0] < 1e-8
    if np.any(opposite):
        helper = np.where(np.abs(u[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        perp = np.cross(u, helper)
        perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
        axis = np.where(opposite[..., None], perp, axis)
        w = np.where(opposite[..., None], 0.0, w)
    q = np.concatenate([w, axis], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)
