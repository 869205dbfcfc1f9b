"""One video's keypoints lifted to 3D: SMPL joints and rotations per frame, in the camera's
frame, root-relative (the lifter alone gives no trajectory; the multi-video fit will).

Camera frame: OpenGL's and Blender's (x right, y up, the camera looking along -z), so a
person facing the camera faces +z, as SMPL's body faces +Z: `to_motion` keeps those axes
as the motion's world (Y up), with the camera on +Z looking back at the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.rotations import matrix_to_quat, sixd_to_matrix
from motionfield.body.skeleton import smpl_skeleton
from motionfield.checkpoints import read_checkpoint, shipped
from motionfield.methods.video.config import FPS, SHIPPED, ModelConfig
from motionfield.methods.video.data import features
from motionfield.methods.video.keypoints import Keypoints2D
from motionfield.methods.video.model import Lifter, lift_sequence
from motionfield.motion import Motion

METHOD = "video"


@dataclass(frozen=True)
class Lifted:
    """A lifted sequence at config.FPS: times (T,) seconds from the video's first frame,
    SMPL local rotations (T, 24, 3, 3) with the root's in the camera frame, and joint
    positions (T, 24, 3), metres, pelvis at the origin, camera axes."""

    times: np.ndarray
    rotations: np.ndarray
    joints: np.ndarray


def load(path: Path | None = None) -> tuple[Lifter, dict]:
    """A lifter checkpoint (default: the shipped one) -> (model in eval mode, metadata)."""
    meta, tensors = read_checkpoint(Path(path) if path else shipped("video", SHIPPED), METHOD)
    model = Lifter(ModelConfig.from_dict(meta["model"]))
    model.load_state_dict(tensors)
    model.eval()
    return model, meta


def at_rate(keypoints: Keypoints2D, fps: float = FPS) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """Keypoints resampled to `fps`: (times (T,), pixels (T, 17, 2), confidence (T, 17)).
    A joint between two frames is interpolated where both saw it, else it takes the
    nearer frame's."""
    source = np.arange(keypoints.frames) / keypoints.fps
    if abs(keypoints.fps - fps) < 1e-9:
        return source, keypoints.xy, keypoints.confidence
    times = np.arange(0.0, source[-1] + 1e-9, 1.0 / fps)
    pos = np.clip(times * keypoints.fps, 0, keypoints.frames - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, keypoints.frames - 1)
    w = (pos - lo)[:, None]
    clo, chi = keypoints.confidence[lo], keypoints.confidence[hi]
    both = (clo > 0) & (chi > 0)
    near = np.where(w < 0.5, lo[:, None], hi[:, None])               # (T, 17)
    joint = np.arange(17)
    xy = np.where(both[..., None], (1 - w[..., None]) * keypoints.xy[lo] +
                  w[..., None] * keypoints.xy[hi], keypoints.xy[near, joint])
    conf = np.where(both, (1 - w) * clo + w * chi, keypoints.confidence[near, joint])
    return times, xy.astype(np.float32), conf.astype(np.float32)


def lift(model: Lifter, keypoints: Keypoints2D) -> Lifted:
    """Keypoints (any framerate) -> Lifted at config.FPS."""
    times, xy, conf = at_rate(keypoints)
    return lift_arrays(model, xy, conf, times)


def lift_arrays(model: Lifter, pixels: np.ndarray, conf: np.ndarray,
                times: np.ndarray | None = None) -> Lifted:
    """Pixels (T, 17, 2) and confidence (T, 17) at config.FPS -> Lifted."""
    feats = torch.from_numpy(features(pixels, conf))
    sixd = lift_sequence(model, feats).numpy().astype(np.float64)
    rot = sixd_to_matrix(sixd)
    skel = smpl_skeleton()
    offsets = np.array(skel.offsets)
    offsets[0] = 0.0
    joints = forward_kinematics(rot, np.zeros((len(rot), 3)), offsets, skel.parents)[1]
    times = np.arange(len(rot)) / FPS if times is None else times
    return Lifted(times, rot, joints)


def to_motion(lifted: Lifted) -> Motion:
    """A Motion at config.FPS of the lifted body in place, axes as the camera's (Y up): the
    pelvis over the origin, as high as puts the lowest joint (the median over frames) on
    y = 0. Its first frame is the video's first."""
    lowest = float(np.median(lifted.joints[..., 1].min(axis=1)))
    root = np.zeros((len(lifted.times), 3))
    root[:, 1] = -lowest
    return Motion.from_frames(matrix_to_quat(lifted.rotations), root, smpl_skeleton(), FPS)
