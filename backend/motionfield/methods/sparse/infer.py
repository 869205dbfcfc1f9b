"""Tracking to SMPL motion with a trained sparse checkpoint (or the trivial baseline).

`Solver.solve` answers every frame of a tracked sequence as the online method would: frame
t from frames t - W .. t only (frames before the start repeat the first), so a file solved
at once and a live stream give the same poses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motionfield.body.rotations import matrix_to_6d
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import ROOT_TOKEN, TOKENS, VALUES
from motionfield.checkpoints import CheckpointError, read_checkpoint, shipped
from motionfield.methods.sparse.config import SHIPPED, SMPL_DEVICE_JOINTS, ModelConfig
from motionfield.methods.sparse.features import (
    IDENTITY_6D,
    fill_unseen,
    heading,
    to_world,
    window_inputs,
)
from motionfield.methods.sparse.model import SparsePoser

METHOD = "sparse"
CHUNK = 512  # windows per forward pass


class Solver:
    """A trained network, or None for the trivial baseline (the rest pose, standing under
    the head and turned with it)."""

    def __init__(self, model: SparsePoser | None, meta: dict | None = None):
        self.model = model
        self.meta = meta or {}

    @property
    def window(self) -> int:
        return self.model.config.window if self.model is not None else 1

    def solve(self, rot: np.ndarray, pos: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Tracking at config.FPS, rot (T, 3, 3, 3), pos (T, 3, 3), seen (T, 2) -> world
        tokens (T, 25, 6) (body/tokens.py)."""
        held_rot, held_pos, since = fill_unseen(rot, pos, seen)
        frames = len(pos)
        index = np.maximum(np.arange(frames)[:, None] + np.arange(-self.window, 1), 0)
        if self.model is None:
            return standing(held_rot[:, None], held_pos[:, None])[:, 0]
        feats, yaw, origin = window_inputs(held_rot[index], held_pos[index], since[index])
        seen_w, since_w = seen[index[:, 1:]], since[index[:, 1:]]
        out = np.empty((frames, TOKENS, VALUES), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, frames, CHUNK):
                part = slice(s, s + CHUNK)
                pred = self.model(torch.from_numpy(feats[part]), torch.from_numpy(seen_w[part]),
                                  torch.from_numpy(since_w[part]), last_only=True)
                out[part] = pred[:, 0].numpy()
        return to_world(out, yaw, origin)


def standing(rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The trivial baseline's tokens (..., 25, 6) for tracking frames (..., 3, 3, 3) /
    (..., 3, 3): every joint at rest, the body turned with the head's heading and placed so
    its head is where the tracked head is."""
    rest = smpl_skeleton().rest_positions()
    yaw, _ = heading(rot, pos)
    out = np.zeros((*pos.shape[:-2], TOKENS, VALUES), dtype=np.float32)
    out[..., :24, :] = IDENTITY_6D
    out[..., 0, :] = matrix_to_6d(yaw)
    head_offset = (rest[SMPL_DEVICE_JOINTS[0]] - rest[0]).astype(np.float32)
    out[..., ROOT_TOKEN, :3] = pos[..., 0, :] - np.einsum("...ij,j->...i", yaw, head_offset)
    return out


def load(path: Path | None = None) -> Solver:
    """A trained checkpoint (None: the shipped assets/sparse model), in eval mode."""
    path = shipped(METHOD, SHIPPED) if path is None else Path(path)
    meta, tensors = read_checkpoint(path, METHOD)
    try:
        model = SparsePoser(ModelConfig.from_dict(meta["model"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model settings ({exc})") from exc
    try:
        model.load_state_dict({name: value.float() for name, value in tensors.items()})
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored settings") from exc
    return Solver(model.eval(), meta)


def solve_tracking(solver: Solver, tracking, fps=None):
    """Tracking (tracking.Tracking, any rate) -> a Motion at `fps` (None: config.FPS) over
    the tracked span, each frame solved from the frames before it."""
    from motionfield.body.rotations import matrix_to_quat
    from motionfield.body.tokens import tokens_to_motion
    from motionfield.methods.sparse.config import FPS
    from motionfield.methods.sparse.tracking import at_rate
    from motionfield.motion import Motion

    grid = at_rate(tracking)
    tokens = solver.solve(grid.rot, grid.pos, grid.seen)
    rot, trans = tokens_to_motion(tokens)
    motion = Motion.from_frames(matrix_to_quat(rot), trans, smpl_skeleton(), FPS,
                                start=float(grid.times[0]))
    return motion if fps is None or motion.num_frames < 2 else motion.at_fps(fps)
