"""Loading trained predictors and asking them for any future (or missing) times.

Checkpoints (motionfield.checkpoints) hold the model kind, its settings, the task, and the
data and licence it was trained on in their metadata; nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionfield.body.tokens import ROOT_TOKEN, motion_to_tokens
from motionfield.checkpoints import CheckpointError, read_checkpoint, shipped
from motionfield.methods.predict.baselines import (
    LTD,
    SiMLPe,
    constant_velocity_at,
    cubic_interpolation,
    key_spans,
)
from motionfield.methods.predict.config import (
    FIELD_ALONE,
    Handover,
    ModelConfig,
    handover_for,
)
from motionfield.methods.predict.model import MotionField

METHOD = "predict"
KINDS = ("field", "simlpe", "ltd")
BASELINES = ("simlpe", "ltd")
SHIPPED = {"cmu": "cmu_field.safetensors", "cmu-simlpe": "cmu_simlpe.safetensors",
           "cmu-ltd": "cmu_ltd.safetensors",
           "smpl": "smpl_field.safetensors", "smpl-simlpe": "smpl_simlpe.safetensors"}


def shipped_checkpoint(name: str) -> Path:
    """The path of a checkpoint shipped in motionfield.assets/predict."""
    if name not in SHIPPED:
        raise CheckpointError(f"no shipped predictor {name!r}: one of {', '.join(SHIPPED)}")
    return shipped(METHOD, SHIPPED[name])


class Ensemble(torch.nn.Module):
    """Members of one kind trained with different seeds, answering with the mean of their
    answers. Each member passes through the last observation, so their mean does too; the
    mean hedges where the members disagree (the future is uncertain) and costs one
    prediction per member."""

    def __init__(self, members: list[torch.nn.Module]):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    @property
    def mean_pose(self) -> torch.Tensor:
        return self.members[0].mean_pose

    def forward(self, *args):
        return torch.stack([member(*args) for member in self.members]).mean(dim=0)


@dataclass
class Checkpoint:
    kind: str
    model: torch.nn.Module
    meta: dict

    @property
    def frame_time(self) -> float:
        return float(self.meta["frame_time"])


def load_checkpoint(path: str | Path) -> Checkpoint:
    """A trained predictor, in eval mode."""
    meta, tensors = read_checkpoint(Path(path), METHOD)
    kind = meta.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r}")
    members = meta.get("members", 0)
    if not isinstance(members, int) or members < 0:
        raise CheckpointError(f"{path}: bad member count {members!r}")
    try:
        model = (Ensemble([build_trained(kind, meta["model"]) for _ in range(members)])
                 if members else build_trained(kind, meta["model"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model settings ({exc})") from exc
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored settings") from exc
    return Checkpoint(kind, model.eval(), meta)


def build_trained(kind: str, settings: dict) -> torch.nn.Module:
    """An empty model of `kind` with its saved settings, to load weights into."""
    if kind == "field":
        return MotionField(ModelConfig.from_dict(settings))
    if kind == "ltd":
        return LTD(**settings)
    return SiMLPe(**settings)


@torch.inference_mode()
def predict_field(model: MotionField, t_obs: np.ndarray, values: np.ndarray,
                  mask: np.ndarray, t_query: np.ndarray) -> np.ndarray:
    """The field at t_query after fitting it on the observations.

    Parameters
    ----------
    t_obs : (B, N) or (N,) seconds, 0 = now
    values : (B, N, J, D)
    mask : (B, N, J) 1 = observed
    t_query : (B, Q) or (Q,) seconds

    Returns
    -------
    (B, Q, J, D) float32
    """
    b = values.shape[0]
    t_obs = torch.as_tensor(np.broadcast_to(t_obs, (b, values.shape[1])).copy(),
                            dtype=torch.float32)
    t_query = np.asarray(t_query, dtype=np.float32)
    t_query = torch.as_tensor(np.broadcast_to(t_query, (b, t_query.shape[-1])).copy())
    out = model(t_obs, torch.as_tensor(values, dtype=torch.float32),
                torch.as_tensor(mask, dtype=torch.float32), t_query)
    return out.numpy()


def fill_field(model: MotionField, t_obs: np.ndarray, values: np.ndarray, mask: np.ndarray,
               t_query: np.ndarray, handover: Handover = FIELD_ALONE) -> np.ndarray:
    """Values at t_query inside the observed span: a Catmull-Rom spline through each
    joint's observations plus, for the gap the query is in, `handover`'s share of the
    fitted field's departure from the spline through its own values at the observations.
    Every share passes through every observation; share 1 is the field with its residual
    at the observations splined in, share 0 the spline.
    t_obs (N,), values (B, N, J, D), mask (B, N, J), t_query (Q,) -> (B, Q, J, D)."""
    t_obs, t_query = np.asarray(t_obs), np.asarray(t_query)
    out = predict_field(model, t_obs, values, mask, np.concatenate([t_obs, t_query]))
    count = len(t_obs)
    field_at_keys = np.where(mask[..., None] > 0, out[:, :count], 0.0)
    departure = out[:, count:] - cubic_interpolation(t_obs, field_at_keys, t_query, mask)
    spline = cubic_interpolation(t_obs, values, t_query, mask)
    share = fill_share(handover, t_obs, mask, t_query)
    return (spline + share[..., None] * departure).astype(np.float32)


def fill_share(handover: Handover, t_obs: np.ndarray, mask: np.ndarray,
               t_query: np.ndarray) -> np.ndarray:
    """(B, Q, J) the field's share in fill_field at each query time and joint: the field
    alone for a joint without any observation (the spline has nothing to go on)."""
    gaps, skipped = key_spans(t_obs, mask, t_query)
    whole = np.interp(np.minimum(gaps, 1e9), handover.fill_gaps_s, handover.fill_weights)
    share = np.where(skipped, handover.skipped_key_weight, whole)
    unseen = ~(np.asarray(mask) > 0).any(axis=1)  # (B, J)
    return np.where(unseen[:, None, :], 1.0, share)


def continue_field(model: MotionField, t_obs: np.ndarray, values: np.ndarray,
                   mask: np.ndarray, t_query: np.ndarray,
                   handover: Handover = FIELD_ALONE) -> np.ndarray:
    """The field's continuation after time 0 (the last observation), starting as each
    joint's constant-velocity extrapolation and handed over to the field linearly over
    `handover.velocity_blend_s`: a continuation leaves the last key with its velocity.
    t_obs (N,), values (B, N, J, D), mask (B, N, J), t_query (Q,) seconds after 0 ->
    (B, Q, J, D)."""
    field = predict_field(model, t_obs, values, mask, t_query)
    blend = handover.velocity_blend_s
    if blend == 0.0:
        return field
    velocity = constant_velocity_at(t_obs, values, mask, t_query)
    share = np.clip(np.asarray(t_query, dtype=np.float64) / blend, 0.0, 1.0)
    return (velocity + share[None, :, None, None] * (field - velocity)).astype(np.float32)


@torch.inference_mode()
def predict(kind: str, model: torch.nn.Module, history: np.ndarray, frames: int) -> np.ndarray:
    """A published baseline's (`kind` "simlpe" or "ltd", or an Ensemble of one) next
    `frames` frames: (B, H, J, D) complete history -> (B, frames, J, D). siMLPe rolls out
    its passes; LTD predicts the future it was trained for (at most that many frames)."""
    history = torch.as_tensor(history, dtype=torch.float32)
    members = model.members if isinstance(model, Ensemble) else [model]
    if kind == "simlpe":
        out = [member.rollout(history, frames) for member in members]
    elif kind == "ltd":
        if frames > members[0].future:
            raise ValueError(f"this LTD predicts {members[0].future} frames, not {frames}")
        out = [member.predict(history)[:, :frames] for member in members]
    else:
        raise ValueError(f"{kind!r} is not a published baseline: one of {BASELINES}")
    return torch.stack(out).mean(dim=0).numpy()


def predict_simlpe(model: torch.nn.Module, history: np.ndarray, frames: int = 25) -> np.ndarray:
    """(B, history, J, D) complete history -> (B, frames, J, D), rolled out."""
    return predict("simlpe", model, history, frames)


def _check_smpl_field(checkpoint: Checkpoint) -> None:
    if checkpoint.meta.get("task") != "smpl" or checkpoint.kind != "field":
        raise CheckpointError("SMPL motion needs a field trained on the smpl task")


def continue_smpl(checkpoint: Checkpoint, rotations: np.ndarray, root_translation: np.ndarray,
                  times: np.ndarray, query: np.ndarray,
                  joint_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SMPL motion at `query` times from observed SMPL motion (a trained `smpl` field).

    Parameters
    ----------
    rotations : (T, 24, 4) wxyz local rotations at `times` (seconds, increasing)
    root_translation : (T, 3) metres
    query : (Q,) seconds: after the last observation to continue, between observations to fill
    joint_mask : optional (T, 24), 0 where a joint was not observed (the root's flag also
        covers the translation)

    Returns
    -------
    rotations (Q, 24, 4) wxyz and root translation (Q, 3).

    Complete observations are resampled onto the training grid (25 fps ending at the last
    observation, the last `history` frames); incomplete ones are used at their own times.
    The field passes through each joint's last observation, so a continuation starts
    exactly where the keys end; it leaves them with their last velocity and hands over to
    the field as the task's handover says (continue_field, config.HANDOVERS).
    """
    from motionfield.body.rotations import matrix_to_quat, sixd_to_matrix
    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.motion import Motion

    _check_smpl_field(checkpoint)
    times = np.asarray(times, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    dt, frames = checkpoint.frame_time, int(checkpoint.meta["train"]["history"])
    now = float(times[-1])
    if joint_mask is None:
        grid = now - np.arange(frames)[::-1] * dt
        grid = grid[grid >= times[0] - 1e-9]
        motion = Motion(rotations, root_translation, times, smpl_skeleton()).sample(grid)
        tokens = motion_to_tokens(motion.rotations, motion.root_translation)
        mask = np.ones(tokens.shape[:2], dtype=np.float32)
    else:
        keep = times >= now - (frames - 1) * dt - 1e-9
        grid = times[keep]
        tokens = motion_to_tokens(rotations[keep], root_translation[keep])
        mask = np.concatenate([joint_mask[keep], joint_mask[keep, :1]], 1).astype(np.float32)
    out = continue_field(checkpoint.model, grid - now, tokens[None], mask[None], query - now,
                         handover_for(checkpoint.meta["task"]))[0]
    rot = matrix_to_quat(sixd_to_matrix(out[:, :24].astype(np.float64)))
    return rot, out[:, ROOT_TOKEN, :3].astype(np.float64)


def fill_smpl(checkpoint: Checkpoint, rotations: np.ndarray, root_translation: np.ndarray,
              times: np.ndarray, query: np.ndarray,
              joint_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SMPL motion at `query` times inside the observed span (gaps between keys filled,
    hidden joints completed), through every observation (`fill_field` with the task's
    handover between the spline and the field, config.HANDOVERS). The observations
    are used at their own times; each stretch of 0.75 history is answered by the field fitted
    on the history window that ends at the stretch's end, so keys on both sides of a gap
    count. Queries after the last observation are refused: continue_smpl answers those."""
    from motionfield.body.rotations import matrix_to_quat, sixd_to_matrix

    _check_smpl_field(checkpoint)
    times = np.asarray(times, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    if np.any(query > times[-1] + 1e-9):
        raise ValueError("filling answers times up to the last observation only")
    if joint_mask is None:
        joint_mask = np.ones(rotations.shape[:2], dtype=np.float32)
    tokens = motion_to_tokens(rotations, root_translation)
    mask = np.concatenate([joint_mask, joint_mask[:, :1]], 1).astype(np.float32)
    span = (int(checkpoint.meta["train"]["history"]) - 1) * checkpoint.frame_time
    out = np.empty((len(query), *tokens.shape[1:]), dtype=np.float32)
    ends = [times[-1]]
    while True:  # window ends on observations, about 0.75 history apart
        last = np.searchsorted(times, ends[-1] - 0.75 * span, side="right") - 1
        if last < 0:
            break
        ends.append(times[last])
    for i, end in enumerate(ends):
        lower = ends[i + 1] if i + 1 < len(ends) else -np.inf
        todo = (query > lower) & (query <= end + 1e-9)
        start = min(end - span, lower)  # a long gap still sees the key before it
        seen = (times >= start - 1e-9) & (times <= end + 1e-9)
        if todo.any():
            out[todo] = fill_field(checkpoint.model, times[seen] - end, tokens[seen][None],
                                   mask[seen][None], query[todo] - end,
                                   handover_for(checkpoint.meta["task"]))[0]
    rot = matrix_to_quat(sixd_to_matrix(out[:, :24].astype(np.float64)))
    return rot, out[:, ROOT_TOKEN, :3].astype(np.float64)
