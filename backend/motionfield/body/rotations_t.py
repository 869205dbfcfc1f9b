"""Torch twins of body.rotations (same conventions: wxyz, column vectors, 6D = two columns),
built on roma. Apart so that numpy-only tools (BVH import) never pay torch's start-up."""

from __future__ import annotations

import roma
import torch


def quat_to_matrix_t(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) wxyz -> (..., 3, 3)."""
    return roma.unitquat_to_rotmat(roma.quat_wxyz_to_xyzw(roma.quat_normalize(q)))


def matrix_to_quat_t(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) wxyz with w >= 0."""
    q = roma.quat_xyzw_to_wxyz(roma.rotmat_to_unitquat(m))
    return torch.where(q[..., :1] < 0, -q, q)


def axis_angle_to_matrix_t(v: torch.Tensor) -> torch.Tensor:
    return roma.rotvec_to_rotmat(v)


def matrix_to_axis_angle_t(m: torch.Tensor) -> torch.Tensor:
    return roma.rotmat_to_rotvec(m)


def axis_angle_to_quat_t(v: torch.Tensor) -> torch.Tensor:
    return roma.quat_xyzw_to_wxyz(roma.rotvec_to_unitquat(v))


def quat_to_axis_angle_t(q: torch.Tensor) -> torch.Tensor:
    return roma.unitquat_to_rotvec(roma.quat_wxyz_to_xyzw(q))


def matrix_to_6d_t(m: torch.Tensor) -> torch.Tensor:
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def sixd_to_matrix_t(d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3): roma's Gram-Schmidt on the two columns."""
    return roma.special_gramschmidt(torch.stack([d[..., :3], d[..., 3:]], dim=-1))
