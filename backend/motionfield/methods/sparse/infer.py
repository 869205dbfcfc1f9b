"""Tracking to SMPL motion with a trained sparse checkpoint (or the trivial baseline).

`Solver.solve` answers every frame of a tracked sequence as the online method would: frame
t from frames t - W .. t only (frames before the start repeat the first), so a file solved
at once and a live stream give the same poses.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from motionfield.body.rotations import matrix_to_6d
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import ROOT_TOKEN, TOKENS, VALUES
from motionfield.checkpoints import CheckpointError, read_checkpoint, shipped
from motionfield.methods.sparse.config import FPS, SHIPPED, SMPL_DEVICE_JOINTS, ModelConfig
from motionfield.methods.sparse.features import (
    IDENTITY_6D,
    MAX_SINCE,
    fill_unseen,
    frame_inputs,
    heading,
    rest_hands,
    to_world,
    window_inputs,
)
from motionfield.methods.sparse.model import SparsePoser
from motionfield.methods.sparse.reach import ramp, reach, settle

METHOD = "sparse"
CHUNK = 512  # windows per forward pass
WARM_UP = 60  # frames a recurrent model sees the first one for, before a take begins


class Solver:
    """A trained network, or None for the trivial baseline (the rest pose, standing under
    the head and turned with it). With `meet_trackers` the network's body is then made to
    meet the trackers (reach.py: the head as tracked, seen wrists by arm IK)."""

    def __init__(self, model: SparsePoser | None, meta: dict | None = None,
                 meet_trackers: bool = True):
        self.model = model
        self.meta = meta or {}
        self.meet_trackers = meet_trackers and model is not None
        self._online = None  # the traced online step, shared by this solver's streams
        self._tracing = threading.Lock()

    @property
    def recurrent(self) -> bool:
        return self.model is not None and self.model.config.recurrent

    @property
    def context(self) -> int:
        """Tracking frames one online step reads: the window and the frame before it, or
        a frame and the one before it (recurrent: the rest is in the state)."""
        if self.model is None:
            return 1
        return 2 if self.recurrent else self.model.config.window + 1

    def solve(self, rot: np.ndarray, pos: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Tracking at config.FPS, rot (T, 3, 3, 3), pos (T, 3, 3), seen (T, 2) -> world
        tokens (T, 25, 6) (body/tokens.py)."""
        held_rot, held_pos, since = fill_unseen(rot, pos, seen)
        if self.model is None:
            return standing(held_rot[:, None], held_pos[:, None])[:, 0]
        if self.recurrent:
            out, yaw, origin = self._run(held_rot, held_pos, seen, since)
        else:
            out, yaw, origin = self._windows(held_rot, held_pos, seen, since)
        out = to_world(out, yaw, origin)
        if self.meet_trackers:  # towards the held poses: a lost hand's last sighting
            out = reach(out, held_rot.astype(np.float64), held_pos.astype(np.float64),
                        ramp(seen))
            out = settle(out, seen)[0]
        return out

    def _run(self, rot, pos, seen, since):
        """A recurrent model over the whole take, from its first frame (repeated before)."""
        feats, yaw, origin = frame_inputs(np.concatenate([rot[:1], rot]),
                                          np.concatenate([pos[:1], pos]))
        out, state = [], self.warm_state(feats[0], seen[0], since[0])
        with torch.inference_mode():
            for s in range(0, len(pos), CHUNK * 8):  # the state carries across parts
                part = slice(s, s + CHUNK * 8)
                pred, state = self.model.run(torch.from_numpy(feats[None, part]),
                                             torch.from_numpy(seen[None, part]),
                                             torch.from_numpy(since[None, part]), state)
                out.append(pred[0].numpy())
        return np.concatenate(out), yaw, origin

    def online_step(self, inputs):
        """The model's online step, traced on the first call (with these inputs' shapes) and
        frozen for inference, then shared by every stream of this solver: at batch 1
        Python's per-layer overhead is most of the time (for the window model: 2 ms eager,
        1.4 ms traced, 1.0 ms frozen), and tracing takes a fifth of a second, which a live
        stream's first frame would otherwise wait for."""
        with self._tracing:
            if self._online is None:
                step = (_Recurrent if self.recurrent else _LastFrame)(self.model)
                # the tracer's warnings are about shape checks, constant here (one shape);
                # torch.jit is deprecated: torch.compile would be its successor, at a cost
                # of seconds of compiling on the first frame
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    traced = torch.jit.trace(step.eval(), inputs, check_trace=False)
                    self._online = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        return self._online

    def warm_state(self, feats: np.ndarray, seen: np.ndarray, since: np.ndarray
                   ) -> torch.Tensor:
        """A recurrent model's state after WARM_UP frames of the first frame held still
        (features (3, 18), seen (2,), since (2,)): a take begins as if its first frame had
        always been, as a window model's does. From a zero state instead, the first frames
        jump (12 cm at a wrist in the Blender test): training sequences begin 60 frames
        before the loss looks."""
        repeat = (WARM_UP,) + (1,) * feats.ndim
        with torch.inference_mode():
            return self.model.run(torch.from_numpy(np.tile(feats[None], repeat))[None],
                                  torch.from_numpy(np.tile(seen[None], (WARM_UP, 1)))[None],
                                  torch.from_numpy(np.tile(since[None], (WARM_UP, 1)))[None]
                                  )[1]

    def _windows(self, rot, pos, seen, since):
        """A window model on every frame's window (frames before the start repeat it)."""
        frames, window = len(pos), self.model.config.window
        index = np.maximum(np.arange(frames)[:, None] + np.arange(-window, 1), 0)
        feats, yaw, origin = window_inputs(rot[index], pos[index])
        seen_w, since_w = seen[index[:, 1:]], since[index[:, 1:]]
        out = np.empty((frames, TOKENS, VALUES), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, frames, CHUNK):
                part = slice(s, s + CHUNK)
                pred = self.model(torch.from_numpy(feats[part]), torch.from_numpy(seen_w[part]),
                                  torch.from_numpy(since_w[part]), last_only=True)
                out[part] = pred[:, 0].numpy()
        return out, yaw, origin


class Stream:
    """The online solver: `step` takes one tracking frame (at config.FPS) and answers its
    pose from it and the frames before it, the same pose `Solver.solve` gives that frame."""

    def __init__(self, solver: Solver):
        self.solver = solver
        self.frames = 0
        self.buffer: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.last_seen: tuple[np.ndarray, np.ndarray] | None = None  # hands' rot, pos
        self.unseen_for = np.full(2, -1)  # frames since each hand was seen; -1: never
        self.weight = np.zeros(2)  # the hands' share of reach.py's correction
        self.state = None  # a recurrent model's, after the last step
        self.settled: dict | None = None  # reach.settle's state

    def step(self, rot: np.ndarray, pos: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """rot (3, 3, 3), pos (3, 3), seen (2,) -> world tokens (25, 6)."""
        rot, pos, since = self._held(np.asarray(rot, np.float32), np.asarray(pos, np.float32),
                                     np.asarray(seen, bool))
        if self.buffer is None:  # a stream begins as if its first frame had always been
            self.buffer = tuple(np.repeat(a[None], self.solver.context, axis=0)
                                for a in (rot, pos, since))
            self.seen = np.repeat(np.asarray(seen, bool)[None], self.solver.context - 1, axis=0)
        else:
            self.buffer = tuple(np.concatenate([b[1:], a[None]])
                                for b, a in zip(self.buffer, (rot, pos, since)))
            self.seen = np.concatenate([self.seen[1:], np.asarray(seen, bool)[None]])
        self.frames += 1
        if self.solver.model is None:
            return standing(rot, pos)
        if self.solver.recurrent:
            feats, yaw, origin = frame_inputs(*self.buffer[:2])
            if self.state is None:
                self.state = self.solver.warm_state(feats[0], self.seen[-1], self.buffer[2][-1])
            inputs = (torch.from_numpy(feats[None]), torch.from_numpy(self.seen[None, -1:]),
                      torch.from_numpy(self.buffer[2][None, -1:]), self.state)
        else:
            feats, yaw, origin = window_inputs(*self.buffer[:2])
            feats, yaw, origin = feats[None], yaw[None], origin[None]
            inputs = (torch.from_numpy(feats), torch.from_numpy(self.seen[None]),
                      torch.from_numpy(self.buffer[2][None, 1:]))
        with torch.inference_mode():
            out = self.solver.online_step(inputs)(*inputs)
        if self.solver.recurrent:
            out, self.state = out
        tokens = to_world(out[0, 0].numpy(), yaw[0], origin[0])
        if not self.solver.meet_trackers:
            return tokens
        self.weight = ramp(np.asarray(seen, bool)[None], self.weight)[0]
        held = (rot.astype(np.float64)[None], pos.astype(np.float64)[None])
        tokens = reach(tokens[None], *held, self.weight[None])
        tokens, self.settled = settle(tokens, np.asarray(seen, bool)[None], self.settled)
        return tokens[0]

    def _held(self, rot, pos, seen):
        """This frame with unseen hands held (features.fill_unseen, one frame at a time)."""
        if self.last_seen is None:
            self.last_seen = (rot[1:].copy(), pos[1:].copy())
        self.unseen_for = np.where(seen, 0, np.where(self.unseen_for >= 0,
                                                     self.unseen_for + 1, -1))
        self.last_seen[0][seen], self.last_seen[1][seen] = rot[1:][seen], pos[1:][seen]
        never = self.unseen_for < 0
        rest = pos[0] + rest_hands() @ rot[0].T  # (2, 3)
        held_rot, held_pos = rot.copy(), pos.copy()
        held_rot[1:] = np.where(never[:, None, None], rot[0], self.last_seen[0])
        held_pos[1:] = np.where(never[:, None], rest, self.last_seen[1])
        since = np.where(never, MAX_SINCE, self.unseen_for / FPS).clip(0, MAX_SINCE)
        return held_rot, held_pos, since.astype(np.float32)


class _Recurrent(torch.nn.Module):
    def __init__(self, model: SparsePoser):
        super().__init__()
        self.model = model

    def forward(self, features, seen, since, state):
        return self.model.run(features, seen, since, state)


class _LastFrame(torch.nn.Module):
    def __init__(self, model: SparsePoser):
        super().__init__()
        self.model = model

    def forward(self, features, seen, since):
        return self.model(features, seen, since, last_only=True)


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
    from motionfield.methods.sparse.tracking import at_rate
    from motionfield.motion import Motion

    grid = at_rate(tracking)
    tokens = solver.solve(grid.rot, grid.pos, grid.seen)
    rot, trans = tokens_to_motion(tokens)
    motion = Motion.from_frames(matrix_to_quat(rot), trans, smpl_skeleton(), FPS,
                                start=float(grid.times[0]))
    return motion if fps is None or motion.num_frames < 2 else motion.at_fps(fps)
