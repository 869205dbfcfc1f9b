"""`motionfield train sparse`: the loss, a batch of synthetic tracking, and the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from motionfield import training
from motionfield.body.kinematics import forward_kinematics_t
from motionfield.body.rotations_t import sixd_to_matrix_t
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import ROOT_TOKEN
from motionfield.checkpoints import save_checkpoint
from motionfield.methods.sparse import data as sdata
from motionfield.methods.sparse.config import (
    CONTROLLERS,
    HEADSET,
    SMPL_DEVICE_JOINTS,
    Headset,
    ModelConfig,
    TrainConfig,
)
from motionfield.methods.sparse.features import (
    fill_unseen,
    frame_inputs,
    tokens_to_window,
    window_inputs,
)
from motionfield.methods.sparse.model import SparsePoser

METHOD = "sparse"


def batch(rng: np.random.Generator, windows: sdata.TrainWindows, size: int,
          headset: Headset, headset_share: float, recurrent: bool) -> dict[str, torch.Tensor]:
    """A batch of windows: `headset_share` of them tracked through `headset`, the rest by
    controllers. Window models see the window in its last frame's heading frame; recurrent
    ones see the lead and the window, each frame in its own (`yaw`, `origin` say which)."""
    tokens, rot, pos = windows.draw(rng, size)
    through = rng.random(size) < headset_share
    seen = np.ones((*pos.shape[:2], 2), dtype=bool)
    for kit, rows in ((headset, through), (CONTROLLERS, ~through)):
        if rows.any():
            rot[rows], pos[rows], seen[rows] = sdata.observe(rng, kit, rot[rows], pos[rows])
    held_rot, held_pos, since = fill_unseen(rot, pos, seen)
    w = windows.window
    if recurrent:  # every frame after the first: the lead warms the state up
        feats, yaw, origin = frame_inputs(held_rot, held_pos)
        target = tokens_to_window(tokens[:, :, None], yaw[:, -w:], origin[:, -w:])[:, :, 0]
        frame = {"yaw": torch.from_numpy(yaw[:, -w:]), "origin": torch.from_numpy(origin[:, -w:])}
        seen, since = seen[:, 1:], since[:, 1:]
    else:
        feats, yaw, origin = window_inputs(held_rot[:, -w - 1:], held_pos[:, -w - 1:])
        target = tokens_to_window(tokens, yaw, origin)
        frame = {}
        seen, since = seen[:, -w:], since[:, -w:]
    return {"features": torch.from_numpy(feats), "seen": torch.from_numpy(seen),
            "since": torch.from_numpy(since), "target": torch.from_numpy(target), **frame}


class PoseLoss:
    """Mean joint distance (m) after forward kinematics, the head and wrists' distance once
    more (they must follow the trackers), a small 6D term (twist), and the error of joint
    velocities (per frame, x `velocity_weight`). Tokens each in their own heading frame
    are compared in the world (`yaw`, `origin`): velocities must not see frames turn."""

    def __init__(self, velocity_weight: float):
        skel = smpl_skeleton()
        self.offsets = torch.tensor(np.array(skel.offsets), dtype=torch.float32)
        self.parents = list(skel.parents)
        self.velocity_weight = velocity_weight

    def positions(self, tokens: torch.Tensor) -> torch.Tensor:
        rot = sixd_to_matrix_t(tokens[..., :24, :])
        return forward_kinematics_t(rot, tokens[..., ROOT_TOKEN, :3], self.offsets,
                                    self.parents)[1]

    def __call__(self, pred: torch.Tensor, target: torch.Tensor,
                 yaw: torch.Tensor | None = None, origin: torch.Tensor | None = None
                 ) -> torch.Tensor:
        p = self.positions(pred)
        with torch.no_grad():
            t = self.positions(target)
        if yaw is not None:
            p = p @ yaw.transpose(-1, -2) + origin[..., None, :]
            t = t @ yaw.transpose(-1, -2) + origin[..., None, :]
        joints = (p - t).norm(dim=-1)
        velocity = ((p[:, 1:] - p[:, :-1]) - (t[:, 1:] - t[:, :-1])).norm(dim=-1).mean()
        sixd = (pred[..., :24, :] - target[..., :24, :]).abs().mean()
        return (joints.mean() + joints[..., list(SMPL_DEVICE_JOINTS)].mean() + 0.1 * sixd
                + self.velocity_weight * 10.0 * velocity)


def normalisation(model: SparsePoser, windows: sdata.TrainWindows, config: TrainConfig,
                  headset: Headset) -> None:
    """The feature mean and spread, from 20 batches of the training windows."""
    rng = np.random.default_rng(config.seed + 1)
    feats = torch.cat([batch(rng, windows, config.batch, headset, config.headset_share,
                             model.config.recurrent)["features"].flatten(0, 1) for _ in range(20)])
    model.feature_mean.copy_(feats.mean(0))
    model.feature_std.copy_(feats.std(0).clamp(min=1e-3))


def train(config: TrainConfig, model_config: ModelConfig, out: Path,
          data_root: Path | None = None, resume: bool = False, progress: bool = True,
          headset: Headset = HEADSET, takes: list | None = None,
          stop_after: int | None = None) -> Path:
    """Train (or go on with) a run in `out`; returns its weights file. `takes` replaces the
    training split (tests)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"model": model_config.to_dict(), "train": config.to_dict(),
                "headset": headset.to_dict()}
    resume = training.resuming_same(out, resume, METHOD, settings)
    takes = takes if takes is not None else sdata.load_takes(data_root, splits=("train",),
                                                            progress=progress)
    torch.manual_seed(config.seed)
    model = SparsePoser(model_config)
    windows = sdata.TrainWindows(takes, model_config.window, config.lead)
    if not resume:
        normalisation(model, windows, config, headset)
    loss_fn = PoseLoss(config.velocity_weight)

    def loss(rng: np.random.Generator) -> torch.Tensor:
        b = batch(rng, windows, config.batch, headset, config.headset_share,
                  model_config.recurrent)
        pred = model(b["features"], b["seen"], b["since"])[:, -model_config.window:]
        return loss_fn(pred, b["target"], b.get("yaw"), b.get("origin"))

    meta = {**settings, "data": sdata.DESCRIPTION, "licence": sdata.LICENCE,
            "takes": len(takes), "frames": int(len(windows.tokens))}

    def save(step: int) -> None:
        save_checkpoint(out / training.WEIGHTS, METHOD, model.state_dict(),
                        {**meta, "steps_done": step})

    desc = "sparse " + ("mask tokens" if model_config.unseen == "mask" else "held hands")
    desc += ", recurrent" if model_config.recurrent else f", {model_config.window}-frame window"
    training.run(model, loss, save, out, config, resume=resume, progress=progress,
                 desc=desc, stop_after=stop_after)
    (out / "settings.json").write_text(json.dumps(settings, indent=1))
    return out / training.WEIGHTS
