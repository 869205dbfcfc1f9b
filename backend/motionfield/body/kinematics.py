"""Forward kinematics, batched, numpy and torch: local rotations -> global transforms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def forward_kinematics(
    local_rotmats: np.ndarray, root_positions: np.ndarray, offsets: np.ndarray,
    parents: Sequence[int], only: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations and positions of every joint, or of the joints `only` names
    (the root, then parents before children; the other joints' entries are left unset).

    Parameters
    ----------
    local_rotmats : (..., J, 3, 3) rotation of each joint relative to its parent
    root_positions : (..., 3) world position of the root joint
    offsets : (J, 3) rest offsets (the root's is ignored: `root_positions` places it)
    parents : J ints, parents before children

    Returns
    -------
    global_rotmats : (..., J, 3, 3)
    positions : (..., J, 3)
    """
    glob = np.empty(local_rotmats.shape, dtype=np.float64)
    pos = np.empty(local_rotmats.shape[:-1], dtype=np.float64)
    glob[..., 0, :, :] = local_rotmats[..., 0, :, :]
    pos[..., 0, :] = root_positions
    for j in range(1, len(parents)) if only is None else only[1:]:
        p = parents[j]
        glob[..., j, :, :] = glob[..., p, :, :] @ local_rotmats[..., j, :, :]
        pos[..., j, :] = pos[..., p, :] + glob[..., p, :, :] @ offsets[j]
    return glob, pos


def forward_kinematics_t(
    local_rotmats: torch.Tensor, root_positions: torch.Tensor, offsets: torch.Tensor,
    parents: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch twin of `forward_kinematics` (differentiable; same shapes)."""
    globs = [local_rotmats[..., 0, :, :]]
    poss = [root_positions]
    for j in range(1, len(parents)):
        p = parents[j]
        globs.append(globs[p] @ local_rotmats[..., j, :, :])
        poss.append(poss[p] + (globs[p] @ offsets[j].to(local_rotmats)[:, None])[..., 0])
    import torch

    return torch.stack(globs, dim=-3), torch.stack(poss, dim=-2)
