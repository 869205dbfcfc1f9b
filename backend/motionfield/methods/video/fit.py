"""The multi-video fit, after NeMo (Wang et al., CVPR 2023): several videos of one action in,
one synchronised SMPL motion, root trajectory and camera per video out.

What is fitted, jointly to every video (shapes: V videos, T frames at config.FPS, padded to
the longest video with a mask):

- one **neural motion field** per action, `Field`: the phase of the action p in [0, 1]
  (Fourier features) and a small per-video code in, the 24 SMPL rotations out (6D; the
  root's in the action's world: Y up, the floor at y = 0, the body first facing +Z);
- a **monotone time warp** per video: frame k -> phase, piecewise linear over `knots` even
  pieces of the video whose slopes are a softmax (positive, summing to 1), so phase runs
  from 0 at the first frame to 1 at the last. Frames of two videos with the same phase are
  the same moment of the action: that is the synchronisation;
- a **camera** per video (world -> camera rotation in 6D, translation, log focal length in
  pixels; the principal point at the image's centre), OpenGL axes (x right, y up, looking
  along -z) as data.View;
- a **root trajectory** per video (its pelvis position per frame, world metres).

Loss: confidence-weighted, robust (Geman-McClure) reprojection of the COCO-17 points (SMPL
joints and the face, data.coco_points' construction) through each camera, in metres at the
body's depth; priors: the lifter's root-relative joints and rotations in the camera's frame,
acceleration of the joints in the world, joint angles inside the range mocap holds
(assets/video/joint_limits.json), feet that touch the floor do not slide or sink, the warp
near even, small codes, the focal length near its start.

Start: the lifter on each video; its up direction (the root's mean y axis) and first
heading give the camera's rotation; the pelvis's position in the camera's frame per frame
is solved in closed form from the lifted joints and the 2D points (`solve_translation`);
the field first fits the lifter alone (`warmup` steps), then everything together.

`separate=True` fits one field per video (the same code, vectorised: the fit on one video
at a time, the baseline NeMo is compared against).

Progress is called after every step as progress(step, total, stage); a job's progress raises
Cancelled there, so a cancel stops the fit between steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from motionfield.body.kinematics import forward_kinematics_t
from motionfield.body.rotations_t import sixd_to_matrix_t
from motionfield.body.skeleton import smpl_skeleton
from motionfield.fields import fourier_features
from motionfield.methods.video.config import FitConfig
from motionfield.methods.video.data import FACE, FACE_PITCH_DEG, HEAD, SMPL_FOR_COCO

FEET = (7, 8, 10, 11)  # ankles and feet
BODY = list(range(22))
IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class Video:
    """One video's keypoints at config.FPS: pixels (T, 17, 2) COCO-17 (x right, y down from
    the top-left corner), confidence (T, 17) in [0, 1], image size (width, height)."""

    pixels: np.ndarray
    confidence: np.ndarray
    image_size: tuple[int, int]

    @property
    def frames(self) -> int:
        return len(self.pixels)


@dataclass(frozen=True)
class Camera:
    """A still camera: camera = rotation @ world + translation (OpenGL axes), focal length
    in pixels, principal point at the centre of an image of `image_size`."""

    rotation: np.ndarray      # (3, 3) world -> camera
    translation: np.ndarray   # (3,)
    focal: float
    image_size: tuple[int, int]

    @property
    def position(self) -> np.ndarray:
        """The camera's centre in the world (3,)."""
        return -self.rotation.T @ self.translation

    def to_dict(self) -> dict:
        w, h = self.image_size
        return {"world_to_camera_rotation": np.round(self.rotation, 6).tolist(),
                "translation_m": np.round(self.translation, 5).tolist(),
                "position_m": np.round(self.position, 5).tolist(),
                "focal_px": round(float(self.focal), 3), "image_size": [int(w), int(h)],
                "hfov_deg": round(math.degrees(2 * math.atan(w / 2 / self.focal)), 3),
                "axes": "OpenGL: camera x right, y up, looking along -z; world Y up"}


@dataclass(frozen=True)
class Fitted:
    """One video's answer at config.FPS: local rotations (T, 24, 3, 3) (the root's in the
    world), root positions (T, 3) and joints (T, 24, 3) in the world (metres, Y up), the
    phase of each frame (T,) in [0, 1], and the camera."""

    rotations: np.ndarray
    translation: np.ndarray
    joints: np.ndarray
    phase: np.ndarray
    camera: Camera

    def camera_joints(self) -> np.ndarray:
        """Joints (T, 24, 3) in the camera's frame."""
        return self.joints @ self.camera.rotation.T + self.camera.translation


@lru_cache(maxsize=1)
def joint_limits() -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high) (24, 3) axis-angle bounds of each joint's local rotation, radians."""
    from motionfield.checkpoints import shipped

    data = json.loads(Path(shipped("video", "joint_limits.json")).read_text())
    return torch.tensor(data["low"]), torch.tensor(data["high"])


# ------------------------------------------------------------------ geometry


def coco_points_t(glob: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """Torch twin of data.coco_points: global rotations (..., 24, 3, 3) and joints
    (..., 24, 3) -> COCO-17 points (..., 17, 3)."""
    a = math.radians(FACE_PITCH_DEG)
    down = torch.tensor([[1, 0, 0], [0, math.cos(a), -math.sin(a)],
                         [0, math.sin(a), math.cos(a)]], dtype=joints.dtype)
    face = glob[..., HEAD, :, :] @ down                                   # (..., 3, 3)
    offsets = torch.tensor([FACE[k] for k in range(5)], dtype=joints.dtype)  # (5, 3)
    face_points = joints[..., HEAD:HEAD + 1, :] + offsets @ face.transpose(-1, -2)
    body = joints[..., [SMPL_FOR_COCO[k] for k in range(5, 17)], :]
    return torch.cat([face_points, body], dim=-2)


def project_t(points: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor,
              focal: torch.Tensor, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (V, T, N, 3) through V cameras (rotation (V, 3, 3), translation (V, 3),
    focal (V,), size (V, 2)) -> pixels (V, T, N, 2) and depth (V, T, N)."""
    cam = torch.einsum("vij,vtnj->vtni", rotation, points) + translation[:, None, None]
    depth = -cam[..., 2]
    safe = depth.clamp(min=0.05)
    f = focal[:, None, None]
    u = size[:, None, None, 0] / 2 + f * cam[..., 0] / safe
    v = size[:, None, None, 1] / 2 - f * cam[..., 1] / safe
    return torch.stack([u, v], -1), depth


def solve_translation(points: np.ndarray, pixels: np.ndarray, conf: np.ndarray, focal: float,
                      size: tuple[int, int]) -> np.ndarray:
    """Per frame, the translation (T, 3) that moves root-relative points (T, N, 3) (camera
    frame) onto `pixels` (T, N, 2) seen with `focal`, least squares weighted by `conf`
    (T, N) (linear in the translation once multiplied through by depth). Frames with fewer
    than 3 seen points take the nearest solved frame's."""
    cx, cy = size[0] / 2, size[1] / 2
    du, dv = pixels[..., 0] - cx, cy - pixels[..., 1]
    frames, n = conf.shape
    a = np.zeros((frames, n, 2, 3))
    b = np.zeros((frames, n, 2))
    # f (Px + tx) = du (-(Pz + tz))  ->  f tx + du tz = -du Pz - f Px
    a[..., 0, 0], a[..., 0, 2] = focal, du
    a[..., 1, 1], a[..., 1, 2] = focal, dv
    b[..., 0] = -du * points[..., 2] - focal * points[..., 0]
    b[..., 1] = -dv * points[..., 2] - focal * points[..., 1]
    w = conf[..., None, None]
    ata = np.einsum("tnki,tnkj->tij", a * w, a)
    atb = np.einsum("tnki,tnk->ti", a * w, b)
    seen = (conf > 0.2).sum(-1) >= 3
    out = np.zeros((frames, 3))
    if seen.any():
        out[seen] = np.linalg.solve(ata[seen] + 1e-6 * np.eye(3), atb[seen][..., None])[..., 0]
    else:
        out[:] = (0.0, 0.0, -4.0)
    index = np.arange(frames)
    good = np.flatnonzero(seen)
    if len(good):
        nearest = good[np.abs(index[:, None] - good[None]).argmin(1)]
        out = out[nearest]
    out[:, 2] = np.minimum(out[:, 2], -0.5)  # in front of the camera
    return out


def smooth(values: np.ndarray, width: int = 9) -> np.ndarray:
    """A moving median then a moving mean over `width` frames of (T, D), ends repeated."""
    half = width // 2
    padded = np.pad(values, ((half, half), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=0)  # (T, D, w)
    med = np.median(windows, axis=-1)
    padded = np.pad(med, ((half, half), (0, 0)), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, width, axis=0).mean(-1)


def rotation_vector_t(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> axis-angle (..., 3) from the skew part and the trace (atan2: smooth
    gradients up to near a half turn, cheaper than through quaternions)."""
    skew = torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                        m[..., 1, 0] - m[..., 0, 1]], -1) / 2        # sin(angle) * axis
    sine = skew.norm(dim=-1, keepdim=True)
    cosine = (m.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True) - 1) / 2
    angle = torch.atan2(sine, cosine)
    return skew * (angle / sine.clamp(min=1e-6))


# ------------------------------------------------------------------ the field


class Field(nn.Module):
    """`groups` independent neural motion fields, batched: phase (G, N) and codes (G, N, E)
    -> 6D rotations (G, N, 24, 6). An MLP (SiLU) on Fourier features of the phase and the
    code; its last layer starts near zero, so every field starts at the rest pose."""

    def __init__(self, groups: int, config: FitConfig):
        super().__init__()
        self.frequencies = config.frequencies
        sizes = [2 * config.frequencies + 1 + config.embedding] + \
            [config.width] * config.layers + [24 * 6]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            scale = (0.01 if i == len(sizes) - 2 else 1.0) * math.sqrt(2.0 / a)
            self.weights.append(nn.Parameter(torch.randn(groups, a, b) * scale))
            self.biases.append(nn.Parameter(torch.zeros(groups, 1, b)))
        self.register_buffer("rest", torch.tensor(IDENTITY_6D).repeat(24))

    def forward(self, phase: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        x = torch.cat([fourier_features(phase, self.frequencies, 1.0), code], -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.nn.functional.silu(x)
        return (x + self.rest).unflatten(-1, (24, 6))


class Warp(nn.Module):
    """Monotone time warps of V videos: frame k of a video of n frames -> phase in [0, 1],
    piecewise linear over `knots` even pieces, slopes a softmax of free logits."""

    def __init__(self, videos: int, knots: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(videos, knots))

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """frames (V, T) (frame indices), lengths (V,) -> phase (V, T)."""
        knots = self.logits.shape[1]
        share = torch.softmax(self.logits, -1)                                  # (V, K)
        start = torch.cat([share.new_zeros(len(share), 1), share.cumsum(-1)[:, :-1]], -1)
        x = frames / (lengths[:, None] - 1).clamp(min=1) * knots
        piece = x.floor().clamp(0, knots - 1)
        frac = x - piece
        piece = piece.long()
        return (start.gather(1, piece) + frac * share.gather(1, piece)).clamp(0.0, 1.0)


# ------------------------------------------------------------------ the fit


def _rotation_6d(m: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.concatenate([m[..., :, 0], m[..., :, 1]], -1), dtype=torch.float32)


def start_camera(lifted_rot: np.ndarray, lifted_joints: np.ndarray, pixels: np.ndarray,
                 conf: np.ndarray, focal: float, size: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fit's start for one video from the lifter's rotations (T, 24, 3, 3) (root in the
    camera's frame) and root-relative joints (T, 24, 3): (world -> camera rotation (3, 3),
    translation (3,), root trajectory in the world (T, 3), the pelvis in the camera's frame
    per frame (T, 3): the lifter alone's trajectory)."""
    from motionfield.methods.video.data import coco_points

    glob = np.empty_like(lifted_rot)  # only the root and head are needed for the points
    skel = smpl_skeleton()
    glob[:, 0] = lifted_rot[:, 0]
    for j in range(1, 24):
        glob[:, j] = glob[:, skel.parents[j]] @ lifted_rot[:, j]
    points = coco_points(glob, lifted_joints)
    tau = smooth(solve_translation(points, pixels, conf, focal, size))
    root = lifted_rot[:, 0]
    up = root[:, :, 1].mean(0)
    up /= np.linalg.norm(up)
    ahead = root[: max(len(root) // 10, 1), :, 2].mean(0)
    ahead = ahead - up * (ahead @ up)
    if np.linalg.norm(ahead) < 1e-6:
        ahead = np.array([0.0, 0.0, 1.0]) - up * up[2]
    ahead /= np.linalg.norm(ahead)
    rotation = np.stack([np.cross(up, ahead), up, ahead], axis=1)  # columns: world axes
    world = tau @ rotation                                          # R^T tau per frame
    lowest = float(np.median((lifted_joints @ rotation)[..., 1].min(-1)))
    centre = np.array([world[0, 0], np.median(world[:, 1]) + lowest, world[0, 2]])
    return rotation, rotation @ centre, world - centre, tau


class Nemo(nn.Module):
    """Everything the fit learns for V videos (see the module's docstring)."""

    def __init__(self, videos: list[Video], lifted: list, config: FitConfig,
                 separate: bool = False):
        super().__init__()
        self.config, self.separate = config, separate
        count, frames = len(videos), max(v.frames for v in videos)
        self.lengths = torch.tensor([v.frames for v in videos], dtype=torch.float32)
        self.mask = torch.arange(frames)[None] < self.lengths[:, None]          # (V, T)
        self.frame_index = torch.arange(frames, dtype=torch.float32).expand(count, -1)
        pix = np.zeros((count, frames, 17, 2), np.float32)
        conf = np.zeros((count, frames, 17), np.float32)
        lift_rot = np.tile(np.eye(3, dtype=np.float32), (count, frames, 24, 1, 1))
        lift_joints = np.zeros((count, frames, 24, 3), np.float32)
        traj = np.zeros((count, frames, 3), np.float32)
        rots, trans, focals = [], [], []
        self.start_tau = []
        for i, (video, lift) in enumerate(zip(videos, lifted)):
            n = video.frames
            focal = video.image_size[0] / 2 / math.tan(math.radians(config.hfov_deg) / 2)
            rot, t, world, tau = start_camera(lift.rotations, lift.joints, video.pixels,
                                              video.confidence, focal, video.image_size)
            pix[i, :n], conf[i, :n] = video.pixels, video.confidence
            lift_rot[i, :n], lift_joints[i, :n] = lift.rotations, lift.joints
            traj[i, :n], traj[i, n:] = world, world[-1]
            rots.append(rot)
            trans.append(t)
            focals.append(focal)
            self.start_tau.append(tau)
        conf = np.where(self.mask.numpy()[..., None], conf, 0.0)
        self.pixels, self.conf = torch.from_numpy(pix), torch.from_numpy(conf)
        self.size = torch.tensor([v.image_size for v in videos], dtype=torch.float32)
        self.lift_rot = torch.from_numpy(lift_rot)
        self.lift_joints = torch.from_numpy(lift_joints)
        self.start_focal = torch.tensor(focals, dtype=torch.float32).log()
        # per-video parameters
        self.cam_rot = nn.Parameter(_rotation_6d(np.stack(rots)))
        self.cam_trans = nn.Parameter(torch.tensor(np.stack(trans), dtype=torch.float32))
        self.log_focal = nn.Parameter(self.start_focal.clone())
        self.trajectory = nn.Parameter(torch.from_numpy(traj))
        self.code = nn.Parameter(torch.randn(count, config.embedding) * 0.01)
        self.warp = Warp(count, config.knots)
        self.field = Field(count if separate else 1, config)
        skel = smpl_skeleton()
        self.offsets = torch.tensor(np.array(skel.offsets), dtype=torch.float32)
        self.parents = list(skel.parents)
        low, high = joint_limits()
        self.low, self.high = low, high
        # the body's size in metres per pixel at its depth, for the reprojection's units
        depth = torch.tensor([-float(np.median(t[:, 2])) for t in self.start_tau])
        self.metres_per_px = (depth / self.start_focal.exp()).float()

    def phase(self) -> torch.Tensor:
        return self.warp(self.frame_index, self.lengths)

    def forward(self) -> dict[str, torch.Tensor]:
        """The whole fit's bodies: phase (V, T), local rotations (V, T, 24, 3, 3), global
        rotations and joints in the world (V, T, 24, ...), camera rotation (V, 3, 3)."""
        count, frames = self.mask.shape
        phase = self.phase()
        code = self.code[:, None].expand(-1, frames, -1)
        if self.separate:
            sixd = self.field(phase, code)
        else:
            sixd = self.field(phase.reshape(1, -1), code.reshape(1, count * frames, -1))
            sixd = sixd.reshape(count, frames, 24, 6)
        local = sixd_to_matrix_t(sixd)
        glob, joints = forward_kinematics_t(local, self.trajectory, self.offsets, self.parents)
        return {"phase": phase, "local": local, "glob": glob, "joints": joints,
                "camera": sixd_to_matrix_t(self.cam_rot)}

    def losses(self, out: dict[str, torch.Tensor], warm: bool) -> dict[str, torch.Tensor]:
        c = self.config
        mask = self.mask.float()
        frames = mask.sum()
        cam = out["camera"].detach() if warm else out["camera"]
        joints, local = out["joints"], out["local"]
        root = joints[..., :1, :]
        rel_cam = torch.einsum("vij,vtnj->vtni", cam, joints - root)
        lift = ((rel_cam - self.lift_joints).norm(dim=-1).mean(-1) * mask).sum() / frames
        root_cam = cam[:, None] @ local[..., 0, :, :]
        rot = torch.cat([root_cam[..., None, :, :], local[..., 1:, :, :]], -3)
        lift_rot = (((rot - self.lift_rot) ** 2).sum((-1, -2)).mean(-1) * mask).sum() / frames
        terms = {"lifter": c.lifter * lift, "lifter_rot": c.lifter_rot * lift_rot}
        aa = rotation_vector_t(local[..., 1:, :, :])
        beyond = (aa - self.high[1:]).clamp(min=0) + (self.low[1:] - aa).clamp(min=0)
        terms["limits"] = c.limits * ((beyond ** 2).sum((-1, -2)) * mask).sum() / frames
        terms["code"] = c.code * (self.code ** 2).sum(-1).mean()
        if warm:
            return terms
        points = coco_points_t(out["glob"], joints)
        pixels, depth = project_t(points, cam, self.cam_trans, self.log_focal.exp(), self.size)
        err = (pixels - self.pixels).norm(dim=-1) * self.metres_per_px[:, None, None]
        robust = err ** 2 / (err ** 2 + c.robust_m ** 2) * c.robust_m
        seen = self.conf * (depth > 0.1).float()
        terms["reproject"] = c.reproject * (seen * robust).sum() / self.conf.sum().clamp(min=1)
        accel = joints[:, 2:] - 2 * joints[:, 1:-1] + joints[:, :-2]
        inner = mask[:, 2:] * mask[:, :-2]
        terms["smooth"] = c.smooth * 30.0 * (accel.norm(dim=-1).mean(-1) * inner).sum() / \
            inner.sum().clamp(min=1)
        feet = joints[..., list(FEET), :]                                     # (V, T, 4, 3)
        step = feet[:, 1:] - feet[:, :-1]
        with torch.no_grad():
            height = feet[..., 1]
            speed = step.norm(dim=-1)
            touch = torch.sigmoid((0.08 - height[:, 1:]) / 0.02) * \
                torch.sigmoid((0.015 - speed) / 0.005)
        pair = mask[:, 1:] * mask[:, :-1]
        slide = (touch * step.norm(dim=-1)).sum(-1)
        sink = (-feet[..., 1]).clamp(min=0).sum(-1)
        terms["contact"] = c.contact * 10.0 * ((slide * pair).sum() / pair.sum().clamp(min=1)
                                               + (sink * mask).sum() / frames)
        share = torch.softmax(self.warp.logits, -1) * c.knots
        terms["warp"] = c.warp * (share.log() ** 2).mean()
        terms["focal"] = c.focal * ((self.log_focal - self.start_focal) ** 2).mean()
        return terms

    def results(self) -> list[Fitted]:
        with torch.no_grad():
            out = self.forward()
        fitted = []
        for v, n in enumerate(self.lengths.long().tolist()):
            camera = Camera(out["camera"][v].double().numpy(),
                            self.cam_trans[v].detach().double().numpy(),
                            float(self.log_focal[v].detach().exp()),
                            tuple(int(x) for x in self.size[v].tolist()))
            fitted.append(Fitted(out["local"][v, :n].double().numpy(),
                                 self.trajectory[v, :n].detach().double().numpy(),
                                 out["joints"][v, :n].double().numpy(),
                                 out["phase"][v, :n].double().numpy(), camera))
        return fitted


def fit(videos: list[Video], lifted: list, config: FitConfig | None = None,
        separate: bool = False, progress: Callable[[int, int, str], None] | None = None
        ) -> list[Fitted]:
    """Fit V videos of one action (each with its lifter's answer, infer.Lifted at
    config.FPS) jointly, or each alone with `separate`; one Fitted per video.
    `progress(step, total, stage)` is called after every step (raise there to stop)."""
    config = config or FitConfig()
    if not videos or len(videos) != len(lifted):
        raise ValueError("one lifted sequence per video, at least one video")
    if min(v.frames for v in videos) < 2:
        raise ValueError("each video needs at least 2 frames")
    torch.manual_seed(config.seed)
    model = Nemo(videos, lifted, config, separate)
    video_params = [model.cam_rot, model.cam_trans, model.log_focal, model.trajectory,
                    model.code, model.warp.logits]
    optimiser = torch.optim.Adam([{"params": model.field.parameters(), "lr": config.lr},
                                  {"params": video_params, "lr": config.lr_video}])
    base = [g["lr"] for g in optimiser.param_groups]
    for step in range(config.steps):
        warm = step < config.warmup
        if not warm:  # cosine decay over the joint stage
            done = (step - config.warmup) / max(config.steps - config.warmup, 1)
            for g, lr in zip(optimiser.param_groups, base):
                g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))
        terms = model.losses(model(), warm)
        loss = sum(terms.values())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if warm:  # the lifter alone says nothing of where the videos are
            for p in video_params:
                if p is not model.code:
                    p.grad = None
        optimiser.step()
        if progress is not None:
            progress(step + 1, config.steps, "fitting the lifter" if warm else "fitting")
    return model.results()


# ------------------------------------------------------------------ synchronisation


def matching_frames(phase_a: np.ndarray, phase_b: np.ndarray) -> np.ndarray:
    """For each frame of video a, the (fractional) frame of video b at the same phase:
    (T_a,) from phases (T_a,) and (T_b,) (monotone)."""
    frames_b = np.arange(len(phase_b), dtype=np.float64)
    # a flat stretch of b's phase would make np.interp ambiguous: make it strictly rising
    rising = np.maximum.accumulate(phase_b + 1e-9 * frames_b)
    return np.interp(phase_a, rising, frames_b)
