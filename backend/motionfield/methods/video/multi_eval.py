"""`motionfield eval video --multi`: the multi-video fit against ground truth.

Instances: Bandai Namco 2 repeats each content x style (e.g. "raise-up-both-hands" x
"elderly") over many takes; the takes of one content x style in the split, in take order,
at most `VIDEOS` of them, are one action's videos. The takes are real repetitions, not
time-aligned copies: each has its own length, tempo and details. Each take is seen by its
own random still camera (config.Cameras, seeded by the take's id) and its 2D points are
spoilt by the detector model (config.Detector: noise, a fixed offset per joint, lost limbs,
left-right swaps, missed frames), exactly as `eval video` does; no method sees the camera.

Methods, all from the same keypoints and the same lifter:
- **lifter alone**: the lifter per video; its world joints are the lifted body moved, frame
  by frame, to the pelvis position solved in closed form from the 2D points (fit.py
  `solve_translation`, the focal length at config.FitConfig.hfov_deg, then smoothed): the
  fit's own start;
- **fit, one video at a time**: fit.py with one field per video (separate=True);
- **joint fit**: fit.py, one field shared by the action's videos.

Errors on SMPL's first 22 joints: MPJPE and PA-MPJPE root-relative in the camera's frame
(as `eval video`), **world MPJPE** (the clip's world joints moved onto the truth by one
rigid transform, rotation and translation, no scale, over all its frames: the trajectory
and the body's turning count), **acceleration error** (root-relative, mm per frame squared).

**Synchronisation error** (frames): the ground-truth correspondence between the first take
(the reference) and each other take is dynamic time warping of their true poses (joints
relative to the pelvis, turned to face +Z, so actors who stand elsewhere still match).
For each frame of the reference, the joint fit's match is the frame of the other video at
the same phase; the error is the distance in frames of the other video to DTW's match
(the mean of DTW's matches where it maps one frame to several). Baselines: an even
stretch of each video onto the other (no synchronisation), and DTW of the lifter's 3D
poses (the same recipe on what the lifter sees). The fit on one video at a time has no
shared phase, so no synchronisation.

Pooled over frames; 95% intervals redraw actions (evaluation.bootstrap_groups), with paired
ratios of the joint fit to each baseline.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.evaluation import bootstrap_groups
from motionfield.methods.video import data as vdata
from motionfield.methods.video.config import CAMERAS, DETECTOR, FPS, FitConfig
from motionfield.methods.video.keypoints import Keypoints2D
from motionfield.metrics import procrustes_align

SOURCE = "bandai-namco-2"
VIDEOS = 4
BODY = list(range(22))
METHODS = ("lifter alone", "fit one video at a time", "joint fit")
COLUMNS = ("mpjpe_mm", "pa_mpjpe_mm", "world_mpjpe_mm", "accel_mm")
SYNC = ("even stretch", "DTW of the lifter's 3D", "joint fit")


def action_sets(split: str, data_root: Path | None = None, videos: int = VIDEOS,
                limit: int | None = None) -> list[tuple[str, list[vdata.Take]]]:
    """(action name, its takes) for each content x style of `split` with at least 2 takes."""
    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.data.takes import built_clips
    from motionfield.motion import Motion

    groups: dict[str, list] = defaultdict(list)
    skel = smpl_skeleton()
    for clip in built_clips((SOURCE,), data_root, progress=False):
        if clip.split != split or clip.entry["frames"] < 20:
            continue
        labels = clip.entry["labels"]
        name = f"{labels['content']} x {labels['style']}"
        if len(groups[name]) >= videos:
            continue
        motion = Motion.from_frames(clip.rotations, clip.root_translation, skel,
                                    clip.entry["fps"])
        groups[name].append(vdata.take_from_motion(clip.id, clip.split, motion))
    sets = [(name, takes) for name, takes in sorted(groups.items()) if len(takes) >= 2]
    return sets[:limit] if limit else sets


def take_view(take: vdata.Take) -> vdata.View:
    """The take's still camera, drawn from a generator seeded by its id."""
    rng = np.random.default_rng(vdata.take_seed(take.id, "camera"))
    return vdata.random_view(rng, CAMERAS, take.points[None], take.tokens[None])


def take_pose(take: vdata.Take) -> tuple[np.ndarray, np.ndarray]:
    """The take's true SMPL global rotations (T, 24, 3, 3) and world joints (T, 24, 3)."""
    from motionfield.body.kinematics import forward_kinematics
    from motionfield.body.rotations import sixd_to_matrix
    from motionfield.body.skeleton import smpl_skeleton

    skel = smpl_skeleton()
    return forward_kinematics(sixd_to_matrix(take.tokens[:, :24].astype(np.float64)),
                              take.tokens[:, 24, :3].astype(np.float64),
                              np.array(skel.offsets), skel.parents)


def observe_take(take: vdata.Take, seen: Keypoints2D | None = None) -> dict:
    """A take through its seeded camera: pixels, confidence and image size, from `seen`
    (MediaPipe on the rendered video, rendered_keypoints) or else the projected truth
    spoilt by the seeded detector model; the true joints root-relative in the camera's
    frame and in the world (T, 24, 3)."""
    import torch

    from motionfield.methods.video.train import Body

    view = take_view(take)
    if seen is None:
        pixels, depth = view.project(take.points[None])
        rng = np.random.default_rng(vdata.take_seed(take.id, "detector"))
        noisy, conf = vdata.detect(rng, DETECTOR, pixels, view.size)
        conf = np.where(depth > 0.3, conf, 0.0)
        noisy = np.where(conf[..., None] > 0, noisy, 0.0)
        observed = {"pixels": noisy[0].astype(np.float32),
                    "confidence": conf[0].astype(np.float32),
                    "image_size": tuple(int(x) for x in view.size[0])}
    else:
        if seen.frames != len(take.points):
            raise ValueError(f"{seen.source}: {seen.frames} frames read, the take has "
                             f"{len(take.points)}")
        observed = {"pixels": seen.xy, "confidence": seen.confidence,
                    "image_size": tuple(seen.image_size)}
    target = vdata.camera_targets(take.tokens[None], view)[0, :, :24]
    with torch.no_grad():
        rel_cam = Body()(torch.from_numpy(target.astype(np.float32))).numpy()
    return {**observed, "rel_cam": rel_cam, "world": take_pose(take)[1]}


@dataclass
class Rendered:
    """MediaPipe on the rendered takes: keypoints by take id, its frames per second, and the
    takes in whose video it found nobody at all (a detector failure, left out of every
    method alike)."""

    keypoints: dict[str, Keypoints2D]
    mediapipe_fps: float | None  # None: every video was read before (cached)
    nobody_found: list[str]

    def usable(self, sets: list[tuple[str, list[vdata.Take]]]
               ) -> list[tuple[str, list[vdata.Take]]]:
        """The sets without the failed takes, and without actions left with fewer than 2."""
        kept = [(name, [t for t in takes if t.id in self.keypoints]) for name, takes in sets]
        return [(name, takes) for name, takes in kept if len(takes) >= 2]


def rendered_stem(take_id: str, cache: Path | None = None) -> Path:
    """Where a take's rendered video (.mp4) and MediaPipe keypoints (.npz, or .nobody) are
    kept: under `cache` (default: the data cache's video-renders), in a folder named by
    the look's digest (render.settings_key)."""
    from motionfield.data.sources import cache_dir
    from motionfield.methods.video import render

    folder = (cache or cache_dir() / "video-renders") / render.settings_key()
    return folder / take_id.replace("/", "__")


def rendered_keypoints(takes: list[vdata.Take], cache: Path | None = None, workers: int = 2,
                       progress: bool = True) -> Rendered:
    """Each take rendered by Blender through its camera (render.py) and read back by
    MediaPipe. Videos and keypoints are kept (rendered_stem) and reused."""
    from tqdm import tqdm

    from motionfield.methods.video import render
    from motionfield.methods.video.extract import extract_video
    from motionfield.methods.video.keypoints import read_keypoints, save_keypoints

    stem = {t.id: rendered_stem(t.id, cache) for t in takes}
    for path in set(stem.values()):
        path.parent.mkdir(parents=True, exist_ok=True)
    missing = {}
    for take in takes:
        video = stem[take.id].with_suffix(".mp4")
        if not video.is_file():
            missing[video] = (lambda take=take: render.make_shot(*take_pose(take),
                                                                 take_view(take), FPS))
    if missing:
        with tqdm(total=len(missing), desc="render", unit="video", disable=not progress) as bar:
            render.render_many(missing, workers, lambda done, total: bar.update(1))
    found, nobody, frames, seconds = {}, [], 0, 0.0
    for take in tqdm(takes, desc="MediaPipe", unit="video", disable=not progress):
        stored, failed = stem[take.id].with_suffix(".npz"), stem[take.id].with_suffix(".nobody")
        if not stored.is_file() and not failed.is_file():
            extraction = extract_video(stem[take.id].with_suffix(".mp4"), fps=FPS,
                                       allow_nobody=True)
            frames += extraction.keypoints.frames
            seconds += extraction.seconds
            if extraction.keypoints.confidence.any():
                save_keypoints(stored, extraction.keypoints)
                found[take.id] = extraction.keypoints
            else:
                failed.touch()
        if failed.is_file():
            nobody.append(take.id)
        elif take.id not in found:
            found[take.id] = read_keypoints(stored)
    return Rendered(found, frames / seconds if seconds else None, nobody)


def render_settings() -> dict:
    """What the rendered evaluation's pixels were made with, for its report."""
    from motionfield.methods.video import render

    return {"engine": "Blender Workbench", "body": "body/proxy.py, skinned",
            "long_side_px": render.LONG_SIDE, "anti_aliasing": render.ANTI_ALIASING,
            "colours": render.COLOURS, "video": "H.264 MP4", "key": render.settings_key()}


def heading_poses(joints: np.ndarray) -> np.ndarray:
    """World joints (T, 24, 3) -> (T, 22 * 3): relative to the pelvis, turned so the hips'
    line is along x (the body faces +Z), for matching poses across takes."""
    rel = joints[:, BODY] - joints[:, :1]
    across = joints[:, 1] - joints[:, 2]                          # right hip -> left hip
    yaw = np.arctan2(-across[:, 2], across[:, 0])
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.zeros((len(yaw), 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, -s, 1, s, c
    return np.einsum("tij,tnj->tni", rot, rel).reshape(len(rel), -1)


def dtw_matches(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dynamic time warping of features a (Ta, D) onto b (Tb, D) (Euclidean, steps (1, 0),
    (0, 1), (1, 1), both ends matched): for each frame of a, the mean frame of b it is
    matched to (Ta,)."""
    cost = np.linalg.norm(a[:, None] - b[None], axis=-1)
    ta, tb = cost.shape
    total = np.full((ta + 1, tb + 1), np.inf)
    total[0, 0] = 0.0
    for i in range(1, ta + 1):
        row = total[i]
        diag = np.minimum(total[i - 1, 1:], total[i - 1, :-1]) + cost[i - 1]
        for j in range(1, tb + 1):
            row[j] = min(diag[j - 1], row[j - 1] + cost[i - 1, j - 1])
    i, j = ta, tb
    pairs = []
    while i > 0 and j > 0:
        pairs.append((i - 1, j - 1))
        step = np.argmin([total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]])
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    sums, counts = np.zeros(ta), np.zeros(ta)
    for i, j in pairs:
        sums[i] += j
        counts[i] += 1
    return sums / np.maximum(counts, 1)


def rigid_world_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-frame error (T,) in mm of world joints (T, 24, 3) after one rigid transform of
    the whole clip onto the truth (Kabsch over every frame's body joints)."""
    p = pred[:, BODY].reshape(-1, 3)
    t = true[:, BODY].reshape(-1, 3)
    pm, tm = p.mean(0), t.mean(0)
    u, _, vt = np.linalg.svd((p - pm).T @ (t - tm))
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1, 1, d]) @ vt
    moved = (p - pm) @ rot + tm
    return np.linalg.norm(moved - t, axis=-1).reshape(len(pred), -1).mean(-1) * 1000


def frame_errors(rel_cam: np.ndarray, world: np.ndarray, truth: dict) -> dict[str, np.ndarray]:
    """Per-frame errors of one video: root-relative camera-frame joints and world joints
    (T, 24, 3) against the truth (observe_take)."""
    p, t = rel_cam[:, BODY].astype(np.float64), truth["rel_cam"][:, BODY].astype(np.float64)
    accel = np.diff(p, n=2, axis=0) - np.diff(t, n=2, axis=0)
    return {"mpjpe_mm": np.linalg.norm(p - t, axis=-1).mean(-1) * 1000,
            "pa_mpjpe_mm": np.linalg.norm(procrustes_align(p, t) - t, axis=-1).mean(-1) * 1000,
            "world_mpjpe_mm": rigid_world_error(world, truth["world"]),
            "accel_mm": np.linalg.norm(accel, axis=-1).mean(-1) * 1000}


def run_set(lifter, takes: list[vdata.Take], config: FitConfig,
            seen: dict[str, Keypoints2D] | None = None) -> dict:
    """Every method on one action's takes (their keypoints from `seen` where given, see
    observe_take): {"errors": {method: [per-video frame_errors]}, "sync": {method:
    (T_ref, V - 1) abs frame errors}, "seconds": {method: s}}."""
    from motionfield.methods.video import fit as nemo
    from motionfield.methods.video.infer import lift_arrays

    truths = [observe_take(t, seen and seen[t.id]) for t in takes]
    videos = [nemo.Video(t["pixels"], t["confidence"], t["image_size"]) for t in truths]
    seconds = {}
    began = time.perf_counter()
    lifted = [lift_arrays(lifter, v.pixels, v.confidence) for v in videos]
    starts = []
    for video, lift in zip(videos, lifted):
        focal = video.image_size[0] / 2 / np.tan(np.radians(config.hfov_deg) / 2)
        starts.append(nemo.start_camera(lift.rotations, lift.joints, video.pixels,
                                        video.confidence, focal, video.image_size)[3])
    seconds["lifter alone"] = time.perf_counter() - began
    answers = {"lifter alone": [(lift.joints, lift.joints + tau[:, None])
                                for lift, tau in zip(lifted, starts)]}
    phases = {}
    for name, separate in (("fit one video at a time", True), ("joint fit", False)):
        began = time.perf_counter()
        fitted = nemo.fit(videos, lifted, config, separate=separate)
        seconds[name] = time.perf_counter() - began + seconds["lifter alone"]
        answers[name] = [(f.camera_joints() - f.camera_joints()[:, :1], f.joints)
                         for f in fitted]
        phases[name] = [f.phase for f in fitted]
    errors = {m: [frame_errors(rel, world, truth) for (rel, world), truth
                  in zip(answers[m], truths)] for m in METHODS}
    ref = heading_poses(truths[0]["world"])
    lifted_ref = heading_poses(lifted[0].joints)
    sync: dict[str, list] = {m: [] for m in SYNC}
    frames_ref = len(ref)
    for other in range(1, len(takes)):
        gt = dtw_matches(ref, heading_poses(truths[other]["world"]))
        n = len(truths[other]["world"])
        even = np.arange(frames_ref) / max(frames_ref - 1, 1) * (n - 1)
        from_lifter = dtw_matches(lifted_ref, heading_poses(lifted[other].joints))
        fitted_match = nemo.matching_frames(phases["joint fit"][0], phases["joint fit"][other])
        for name, match in zip(SYNC, (even, from_lifter, fitted_match)):
            sync[name].append(np.abs(match - gt))
    return {"errors": errors, "sync": sync, "seconds": seconds,
            "frames": [v.frames for v in videos]}


def evaluate(lifter, sets: list[tuple[str, list[vdata.Take]]], config: FitConfig,
             progress: bool = True, seen: dict[str, Keypoints2D] | None = None) -> dict:
    """The report over action sets (action_sets), from `seen` keypoints where given."""
    from tqdm import tqdm

    count = len(sets)
    sums = {f"{m}:{c}": np.zeros(count) for m in METHODS for c in COLUMNS}
    counts = {k: np.zeros(count) for k in sums}
    sync_sums = {f"{m}:sync_frames": np.zeros(count) for m in SYNC}
    sync_counts = {k: np.zeros(count) for k in sync_sums}
    seconds = {m: 0.0 for m in METHODS}
    per_action = {}
    frames = videos = 0
    for g, (name, takes) in enumerate(tqdm(sets, desc="video multi eval", unit="action",
                                           disable=not progress)):
        done = run_set(lifter, takes, config, seen)
        videos += len(takes)
        frames += sum(done["frames"])
        for m in METHODS:
            seconds[m] += done["seconds"][m]
            for per_video in done["errors"][m]:
                for c in COLUMNS:
                    sums[f"{m}:{c}"][g] += per_video[c].sum()
                    counts[f"{m}:{c}"][g] += per_video[c].size
        for m in SYNC:
            for err in done["sync"][m]:
                sync_sums[f"{m}:sync_frames"][g] += err.sum()
                sync_counts[f"{m}:sync_frames"][g] += err.size
        per_action[name] = {m: {c: float(np.mean(np.concatenate(
            [e[c] for e in done["errors"][m]]))) for c in COLUMNS} for m in METHODS}
        per_action[name]["sync_frames"] = {m: float(np.mean(np.concatenate(done["sync"][m])))
                                           for m in SYNC}
    ratios = {f"joint fit / {other}:{c}": (f"joint fit:{c}", f"{other}:{c}")
              for other in METHODS[:-1] for c in COLUMNS}
    table = bootstrap_groups(sums, counts, seed=0, ratios=ratios)
    sync_ratios = {f"joint fit / {other}:sync_frames": ("joint fit:sync_frames",
                                                         f"{other}:sync_frames")
                   for other in SYNC[:-1]}
    sync_table = bootstrap_groups(sync_sums, sync_counts, seed=0, ratios=sync_ratios)
    report: dict = {"actions": count, "videos": videos, "frames": frames,
                    "seconds": {m: round(s, 1) for m, s in seconds.items()},
                    "fit": config.to_dict(), "errors": {}, "sync": {},
                    "per_action": per_action}
    for key, value in table.items():
        method, column = key.rsplit(":", 1)
        report["errors"].setdefault(method, {})[column] = value
    for key, value in sync_table.items():
        report["sync"][key.rsplit(":", 1)[0]] = value
    return report


def format_table(report: dict) -> str:
    lines = [f"{'method':<34}" + "".join(f"{c:>26}" for c in COLUMNS)]
    for method, row in report["errors"].items():
        cells = []
        for c in COLUMNS:
            v = row[c]
            point = v.get("mean", v.get("ratio"))
            cells.append(f"{point:>10.3f} [{v['low']:.3f}, {v['high']:.3f}]".rjust(26))
        lines.append(f"{method:<34}" + "".join(cells))
    lines.append("-- synchronisation error, frames at 30 fps")
    for method, v in report["sync"].items():
        point = v.get("mean", v.get("ratio"))
        lines.append(f"{method:<34}{point:>10.3f} [{v['low']:.3f}, {v['high']:.3f}]")
    return "\n".join(lines)


def write(report: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(report, indent=1))
