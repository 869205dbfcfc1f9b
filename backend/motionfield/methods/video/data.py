"""Training and evaluation keypoints made from mocap: takes, cameras, a detector's errors,
and the lifter's input features.

Takes come from every built SMPL set here (data/takes.py: Bandai Namco 1 and 2, the CMU-Mocap
benchmark, the CMU BVH clips and ReActIdle), resampled to config.FPS. The split is the
sets' own (data/build.py `split_of`: sha256 of the take's id, 80/10/10, the CMU
benchmark's test files test), the one the sparse and predict methods keep: by take, never
by window, the same on every machine.

Per frame a take holds the COCO-17 points in 3D (`points`, world metres: SMPL joints for
shoulders to ankles, the face's five from the head joint's pose, `FACE`) and the SMPL
tokens (body/tokens.py). A camera (`Cameras`, config.py) sees the points as pixels; a
`Detector` (config.py) spoils them as MediaPipe would. Camera frames are OpenGL's (and
Blender's): x right, y up, the camera looking along -z.

Shapes: points (..., T, 17, 3), pixels (..., T, 17, 2), confidence (..., T, 17).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.rotations import quat_to_matrix
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import motion_to_tokens
from motionfield.data.takes import ALL_SOURCES, built_clips
from motionfield.methods.video.config import FPS, Cameras, Detector
from motionfield.motion import Motion

SPLITS = ("train", "val", "test")
LICENCE = ("CC BY-NC 4.0 (Bandai Namco Research Motiondataset, non-commercial); CMU Graphics "
           "Lab Motion Capture Database terms; MIT (ReActIdle, Atxa Landa et al.)")
DESCRIPTION = ("2D keypoints synthesised from Bandai Namco 1 and 2, the CMU-Mocap benchmark, "
               "CMU BVH clips and ReActIdle (training split, sha256 of each take's id), "
               f"retargeted to SMPL, {FPS} fps, random cameras and MediaPipe-like errors")
# COCO-17 joints that are SMPL joints (shoulders, elbows, wrists, hips, knees, ankles)
SMPL_FOR_COCO = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5,
                 15: 7, 16: 8}
HEAD = 15
# the face's points from the SMPL head joint, metres, in its frame turned 25 degrees down
# (the retargeted head joint looks about that far above where the face looks; sparse
# config.Headset.view_pitch_deg): x to the body's left, y up, z ahead
FACE = {0: (0.0, 0.03, 0.11), 1: (0.033, 0.065, 0.085), 2: (-0.033, 0.065, 0.085),
        3: (0.075, 0.04, -0.005), 4: (-0.075, 0.04, -0.005)}
FACE_PITCH_DEG = 25.0
LIMBS = ((7, 9), (8, 10), (13, 15), (14, 16), (0, 1, 2, 3, 4))  # forearms, shins, face
MIRROR = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])
TORSO = (5, 6, 11, 12)


@dataclass
class Take:
    """One take at config.FPS."""

    id: str
    split: str
    tokens: np.ndarray   # (T, 25, 6) body.tokens layout (world)
    points: np.ndarray   # (T, 17, 3) COCO-17 points, world metres


def coco_points(global_rot: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """SMPL global rotations (T, 24, 3, 3) and joint positions (T, 24, 3) -> COCO-17
    points (T, 17, 3)."""
    out = np.zeros((len(joints), 17, 3), dtype=np.float32)
    for coco, smpl in SMPL_FOR_COCO.items():
        out[:, coco] = joints[:, smpl]
    a = np.radians(FACE_PITCH_DEG)
    down = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    face = global_rot[:, HEAD] @ down
    for coco, offset in FACE.items():
        out[:, coco] = joints[:, HEAD] + face @ np.asarray(offset)
    return out


def take_from_motion(take_id: str, split: str, motion: Motion) -> Take:
    motion = motion.at_fps(FPS)
    skel = smpl_skeleton()
    glob, joints = forward_kinematics(quat_to_matrix(motion.rotations), motion.root_translation,
                                      skel.offsets, skel.parents)
    return Take(take_id, split, motion_to_tokens(motion.rotations, motion.root_translation),
                coco_points(glob, joints))


def load_takes(data_root: Path | None = None, sources: tuple[str, ...] = ALL_SOURCES,
               splits: tuple[str, ...] = SPLITS, progress: bool = True) -> list[Take]:
    """Every take of `splits` from `sources` (their sets built now if missing or stale)."""
    skel = smpl_skeleton()
    takes = []
    for clip in built_clips(sources, data_root, progress):
        if clip.split not in splits or clip.entry["frames"] < 2:
            continue
        motion = Motion.from_frames(clip.rotations, clip.root_translation, skel,
                                    clip.entry["fps"])
        takes.append(take_from_motion(clip.id, clip.split, motion))
    return takes


def take_seed(take_id: str, setting: str) -> int:
    """The generator seed of a take's camera and detector errors in an evaluation."""
    return int.from_bytes(hashlib.sha256(f"{setting}:{take_id}".encode()).digest()[:8], "big")


# ------------------------------------------------------------------ cameras


@dataclass
class View:
    """Still cameras, one per window: world -> camera rotation (B, 3, 3) and camera
    position (B, 3) (camera x = R (world - position)), focal length in pixels (B,) and
    image size (B, 2) width, height; the principal point is the image's centre."""

    rotation: np.ndarray
    position: np.ndarray
    focal: np.ndarray
    size: np.ndarray

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """(B, T, N, 3) world points -> camera frame (OpenGL: x right, y up, looking -z)."""
        return np.einsum("bij,btnj->btni", self.rotation,
                         world - self.position[:, None, None])

    def project(self, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, T, N, 3) world points -> pixels (B, T, N, 2) (x right, y down from the
        top-left corner) and depth in front of the camera (B, T, N), metres."""
        cam = self.to_camera(world)
        depth = -cam[..., 2]
        safe = np.where(depth > 1e-3, depth, 1e-3)
        f = self.focal[:, None, None]
        u = self.size[:, None, None, 0] / 2 + f * cam[..., 0] / safe
        v = self.size[:, None, None, 1] / 2 - f * cam[..., 1] / safe
        return np.stack([u, v], axis=-1), depth


def look_at(position: np.ndarray, target: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """World -> camera rotations (B, 3, 3) of cameras at `position` looking at `target`
    (B, 3) with world +Y up on the image, then rolled by `roll` radians (B,)."""
    back = position - target
    back /= np.linalg.norm(back, axis=-1, keepdims=True)
    right = np.cross(np.array([0.0, 1.0, 0.0]), back)
    right /= np.maximum(np.linalg.norm(right, axis=-1, keepdims=True), 1e-9)
    up = np.cross(back, right)
    rot = np.stack([right, up, back], axis=1)
    c, s = np.cos(roll), np.sin(roll)
    turn = np.zeros((len(roll), 3, 3))
    turn[:, 0, 0], turn[:, 0, 1], turn[:, 1, 0], turn[:, 1, 1], turn[:, 2, 2] = c, -s, s, c, 1
    return turn @ rot


def random_view(rng: np.random.Generator, cameras: Cameras, points: np.ndarray,
                tokens: np.ndarray) -> View:
    """One camera per window of `points` (B, T, 17, 3), facing the body's first frame from
    a random yaw (`tokens` (B, T, 25, 6) give the root's heading)."""
    batch = len(points)
    from motionfield.body.rotations import sixd_to_matrix

    root = sixd_to_matrix(tokens[:, 0, 0].astype(np.float64))
    facing = np.arctan2(root[:, 0, 2], root[:, 2, 2])  # the root's +Z about world Y
    yaw = facing + np.radians(rng.uniform(-cameras.yaw_deg, cameras.yaw_deg, batch))
    hip = points[:, :, [11, 12]].mean(axis=2)                       # (B, T, 3)
    centre = hip.mean(axis=1)
    sizes = np.asarray(cameras.image_sizes, dtype=np.float64)
    size = sizes[rng.integers(0, len(sizes), batch)]
    hfov = np.radians(rng.uniform(*cameras.hfov_deg, batch))
    focal = size[:, 0] / 2 / np.tan(hfov / 2)
    tall = np.ptp(points[..., 1], axis=-1).max(axis=1) + 0.15       # body height, metres
    share = rng.uniform(*cameras.body_share, batch)
    reach = np.linalg.norm((hip - centre[:, None])[..., [0, 2]], axis=-1).max(axis=1)
    distance = np.maximum(focal * tall / (share * size[:, 1]), reach + 1.5)
    height = rng.uniform(*cameras.height_m, batch)
    position = centre + distance[:, None] * np.stack([np.sin(yaw), np.zeros(batch),
                                                      np.cos(yaw)], axis=-1)
    position[:, 1] = height
    # aim at the pelvis, then off it sideways and up or down within `aim_share` of the frame
    aim = rng.uniform(-1, 1, (batch, 2)) * cameras.aim_share * hfov[:, None] / 2
    rot = look_at(position, centre, np.radians(rng.uniform(-1, 1, batch) * cameras.roll_deg))
    pan = np.zeros((batch, 3, 3))
    ca, sa, cb, sb = np.cos(aim[:, 0]), np.sin(aim[:, 0]), np.cos(aim[:, 1]), np.sin(aim[:, 1])
    pan[:, 0, 0], pan[:, 0, 2], pan[:, 1, 1], pan[:, 2, 0], pan[:, 2, 2] = ca, -sa, 1, sa, ca
    tilt = np.zeros((batch, 3, 3))
    tilt[:, 0, 0], tilt[:, 1, 1], tilt[:, 1, 2], tilt[:, 2, 1], tilt[:, 2, 2] = 1, cb, -sb, sb, cb
    rot = tilt @ pan @ rot
    return View(rot, position, focal, size)


# ------------------------------------------------------------------ a detector's errors


def _spans(rng: np.random.Generator, frames: int, per_s: float, seconds: tuple[float, float]
           ) -> list[slice]:
    out = []
    for _ in range(rng.poisson(per_s * frames / FPS)):
        start = int(rng.integers(0, frames))
        out.append(slice(start, start + max(1, int(round(rng.uniform(*seconds) * FPS)))))
    return out


def detect(rng: np.random.Generator, detector: Detector, pixels: np.ndarray,
           size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a detector reports for true `pixels` (B, T, 17, 2) in images of `size` (B, 2):
    (pixels (B, T, 17, 2), confidence (B, T, 17)), float32."""
    batch, frames = pixels.shape[:2]
    body = np.ptp(pixels[..., 1], axis=-1).max(axis=1)[:, None, None, None] + 1.0  # (B,1,1,1)
    out = pixels.astype(np.float64).copy()
    conf = np.clip(1.0 - np.abs(rng.normal(0.0, 0.08, pixels.shape[:3])), 0.5, 1.0)
    clean = rng.random(batch) < detector.clean_share
    level = rng.uniform(*detector.jitter, (batch, 1, 1, 1)) * body
    white = rng.normal(0.0, 1.0, pixels.shape)
    drift = np.cumsum(rng.normal(0.0, 1.0, pixels.shape), axis=1)
    drift -= np.linspace(0, 1, frames)[None, :, None, None] * drift[:, -1:]  # a bridge
    drift /= max(np.sqrt(frames / 4), 1.0)
    bias = rng.normal(0.0, detector.bias, (batch, 1, 17, 2)) * body
    out += np.where(clean[:, None, None, None], 0.0,
                    level * (0.7 * white + 0.7 * drift) + bias)
    for b in np.flatnonzero(~clean):
        for span in _spans(rng, frames, detector.occlusions_per_s, detector.occlusion_s):
            limb = list(LIMBS[rng.integers(0, len(LIMBS))])
            length = len(range(*span.indices(frames)))
            walk = np.cumsum(rng.normal(0, 1, (length, 1, 2)), axis=0) / np.sqrt(max(length, 1))
            out[b, span][:, limb] += walk * detector.occlusion_drift * body[b, 0, 0, 0]
            conf[b, span][:, limb] = rng.uniform(0.0, 0.5, (length, len(limb)))
        for span in _spans(rng, frames, detector.swaps_per_s, detector.swap_s):
            out[b, span] = out[b, span][:, MIRROR]
        for span in _spans(rng, frames, detector.misses_per_s, detector.miss_s):
            conf[b, span] = 0.0
    inside = ((out >= 0) & (out <= size[:, None, None, :])).all(axis=-1)
    conf = np.where(inside, conf, conf * rng.uniform(0.0, 0.3, conf.shape))
    out = np.where(conf[..., None] > 0, out, 0.0)
    return out.astype(np.float32), conf.astype(np.float32)


# ------------------------------------------------------------------ the lifter's input

SCALE_FRAMES = 61  # frames the body's image size is taken over (a median)


def features(pixels: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Pixels (..., T, 17, 2) and confidence (..., T, 17) -> the lifter's input
    (..., T, 17, 3): each joint's offset from the torso's centre in that frame, divided by
    the torso's size (the median over `SCALE_FRAMES` frames around it), y up, then the
    confidence. Joints with confidence 0 are 0; frames with no torso take the nearest
    frame's centre; a sequence with no torso at all is 0."""
    pixels = pixels.astype(np.float64)
    w = conf[..., list(TORSO)].astype(np.float64)                    # (..., T, 4)
    total = w.sum(-1)
    centre = (pixels[..., list(TORSO), :] * w[..., None]).sum(-2) / np.maximum(
        total, 1e-9)[..., None]
    centre = _nearest_fill(centre, total > 0)
    top = pixels[..., [5, 6], :].mean(-2)
    bottom = pixels[..., [11, 12], :].mean(-2)
    whole = (conf[..., list(TORSO)] > 0.2).all(-1)
    size = np.where(whole, np.linalg.norm(top - bottom, axis=-1), np.nan)
    size = _window_median(size, SCALE_FRAMES)
    size = np.where(np.isfinite(size) & (size > 1.0), size, np.nan)
    size = _nearest_fill(size[..., None], np.isfinite(size))[..., 0]
    size = np.where(np.isfinite(size), size, 100.0)
    offset = (pixels - centre[..., None, :]) / size[..., None, None]
    offset[..., 1] *= -1.0
    seen = conf[..., None] > 0
    out = np.concatenate([np.where(seen, offset, 0.0), conf[..., None]], axis=-1)
    return out.astype(np.float32)


def _nearest_fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """values (..., T, D): frames not `valid` (..., T) take the nearest valid frame's."""
    frames = valid.shape[-1]
    index = np.broadcast_to(np.arange(frames), valid.shape)
    before = np.maximum.accumulate(np.where(valid, index, -1), axis=-1)
    after = np.flip(np.minimum.accumulate(np.flip(np.where(valid, index, frames), -1), -1), -1)
    use_before = (before >= 0) & ((after >= frames) | (index - before <= after - index))
    pick = np.where(use_before, before, np.where(after < frames, after, 0))
    return np.take_along_axis(values, pick[..., None], axis=-2)


def _window_median(values: np.ndarray, width: int) -> np.ndarray:
    """NaN-ignoring median of (..., T) over `width` frames centred on each frame."""
    half = width // 2
    padded = np.pad(values, [(0, 0)] * (values.ndim - 1) + [(half, half)],
                    constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(windows, axis=-1)


# ------------------------------------------------------------------ windows


class Windows:
    """Training windows from takes: every frame of every take equally likely to be a
    scored window's first; frames beyond a take's ends repeat its end frames (the padding
    inference gives a sequence)."""

    def __init__(self, takes: list[Take], frames: int, pad: int):
        if not takes:
            raise ValueError("no takes to train on")
        self.frames, self.pad = frames, pad
        self.tokens = np.concatenate([t.tokens for t in takes])
        self.points = np.concatenate([t.points for t in takes])
        lengths = [len(t.tokens) for t in takes]
        starts = np.cumsum([0] + lengths[:-1])
        self.first = np.repeat(starts, lengths)
        self.last = np.repeat(starts + np.array(lengths) - 1, lengths)

    def draw(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens (B, F + 2 pad, 25, 6), points (B, F + 2 pad, 17, 3))."""
        start = rng.integers(0, len(self.tokens), batch)
        index = start[:, None] + np.arange(-self.pad, self.frames + self.pad)
        index = np.clip(index, self.first[start][:, None], self.last[start][:, None])
        return self.tokens[index], self.points[index]


def camera_targets(tokens: np.ndarray, view: View) -> np.ndarray:
    """World tokens (B, T, 25, 6) -> the lifter's targets: the root's rotation turned into
    the camera frame, local rotations as they are, root translation 0 (B, T, 25, 6)."""
    from motionfield.body.rotations import matrix_to_6d, sixd_to_matrix

    root = sixd_to_matrix(tokens[:, :, 0].astype(np.float64))
    out = tokens.copy()
    out[:, :, 0] = matrix_to_6d(view.rotation[:, None] @ root)
    out[:, :, 24] = 0.0
    return out


def observe(rng: np.random.Generator, tokens: np.ndarray, points: np.ndarray,
            cameras: Cameras, detector: Detector) -> tuple[np.ndarray, np.ndarray, View]:
    """Windows seen by random cameras and a detector: (features (B, T, 17, 3), targets
    (B, T, 25, 6), the cameras)."""
    view = random_view(rng, cameras, points, tokens)
    pixels, depth = view.project(points)
    noisy, conf = detect(rng, detector, pixels, view.size)
    conf = np.where(depth > 0.3, conf, 0.0).astype(np.float32)  # at or behind the lens
    noisy = np.where(conf[..., None] > 0, noisy, 0.0).astype(np.float32)
    return features(noisy, conf), camera_targets(tokens, view), view
