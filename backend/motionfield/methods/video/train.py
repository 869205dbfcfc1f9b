"""`motionfield train video`: the lifter's loss, a batch of synthetic keypoints, and the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from motionfield import training
from motionfield.body.kinematics import forward_kinematics_t
from motionfield.body.rotations_t import sixd_to_matrix_t
from motionfield.body.skeleton import smpl_skeleton
from motionfield.checkpoints import save_checkpoint
from motionfield.methods.video import data as vdata
from motionfield.methods.video.config import (
    CAMERAS,
    DETECTOR,
    Cameras,
    Detector,
    ModelConfig,
    TrainConfig,
)
from motionfield.methods.video.model import Lifter

METHOD = "video"


class Body:
    """Joint positions (..., 24, 3), metres, root at the origin, of rotations (..., 24, 6)
    by forward kinematics on the shipped skeleton."""

    def __init__(self):
        skel = smpl_skeleton()
        self.offsets = torch.tensor(np.array(skel.offsets), dtype=torch.float32)
        self.offsets[0] = 0.0  # the root at the origin
        self.parents = list(skel.parents)

    def __call__(self, sixd: torch.Tensor) -> torch.Tensor:
        rot = sixd_to_matrix_t(sixd)
        root = torch.zeros(*sixd.shape[:-2], 3, dtype=sixd.dtype)
        return forward_kinematics_t(rot, root, self.offsets, self.parents)[1]


class LiftLoss:
    """Mean joint distance (m), the error of joint velocities per frame (x
    `velocity_weight` x 10) and a small 6D term (twist, which positions cannot see)."""

    def __init__(self, config: TrainConfig):
        self.body = Body()
        self.config = config

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = self.body(pred)
        with torch.no_grad():
            t = self.body(target)
        joints = (p - t).norm(dim=-1).mean()
        velocity = ((p[:, 1:] - p[:, :-1]) - (t[:, 1:] - t[:, :-1])).norm(dim=-1).mean() \
            if p.shape[1] > 1 else p.new_zeros(())
        sixd = (pred - target).abs().mean()
        return (joints + self.config.velocity_weight * 10.0 * velocity
                + self.config.sixd_weight * sixd)


def batch(rng: np.random.Generator, windows: vdata.Windows, size: int, cameras: Cameras,
          detector: Detector) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (B, F + 2 pad, 17, 3), targets (B, F, 24, 6)) of `size` windows."""
    tokens, points = windows.draw(rng, size)
    feats, targets, _ = vdata.observe(rng, tokens, points, cameras, detector)
    scored = targets[:, windows.pad:windows.pad + windows.frames, :24]
    return torch.from_numpy(feats), torch.from_numpy(np.ascontiguousarray(scored))


def train(config: TrainConfig, model_config: ModelConfig, out: Path,
          data_root: Path | None = None, resume: bool = False, progress: bool = True,
          cameras: Cameras = CAMERAS, detector: Detector = DETECTOR,
          takes: list | None = None, stop_after: int | None = None) -> Path:
    """Train (or go on with) a run in `out`; returns its weights file. `takes` replaces the
    training split (tests)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"model": model_config.to_dict(), "train": config.to_dict(),
                "cameras": cameras.to_dict(), "detector": detector.to_dict()}
    resume = training.resuming_same(out, resume, METHOD, settings)
    takes = takes if takes is not None else vdata.load_takes(data_root, splits=("train",),
                                                            progress=progress)
    torch.manual_seed(config.seed)
    model = Lifter(model_config)
    windows = vdata.Windows(takes, config.frames, model_config.pad)
    loss_fn = LiftLoss(config)

    def loss(rng: np.random.Generator) -> torch.Tensor:
        feats, targets = batch(rng, windows, config.batch, cameras, detector)
        return loss_fn(model(feats), targets)

    meta = {**settings, "data": vdata.DESCRIPTION, "licence": vdata.LICENCE,
            "takes": len(takes), "frames": int(len(windows.tokens))}

    def save(step: int) -> None:
        save_checkpoint(out / training.WEIGHTS, METHOD, model.state_dict(),
                        {**meta, "steps_done": step})

    desc = f"video lifter (receptive field {model_config.receptive_field} frames)"
    training.run(model, loss, save, out, config, resume=resume, progress=progress,
                 desc=desc, stop_after=stop_after)
    (out / "settings.json").write_text(json.dumps(settings, indent=1))
    return out / training.WEIGHTS
