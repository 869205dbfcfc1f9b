"""`motionfield eval video`: the lifter against the per-frame baseline on held-out takes.

Every take of the split is cut into clips of at most `CLIP_FRAMES` (10 s at 30 fps); each
clip is seen by its own still camera (`Cameras`) and spoilt by the detector model
(`Detector`), both drawn from a generator seeded with the clip's id (data.take_seed), the
same keypoints for every method; then again with exact 2D ("clean"). Each method lifts
each clip whole (its ends padded as inference pads them).

Errors on SMPL's first 22 joints (no hand tips; AMASS protocol), both bodies with the
pelvis at the origin in the camera's frame: MPJPE and PA-MPJPE (each frame's prediction
moved onto the truth by the best similarity transform) in mm, and acceleration error in
mm per frame squared (VIBE's). Pooled over frames and clips with 95% intervals that redraw
takes (evaluation.bootstrap_groups), and the ratio ours / baseline with its paired interval.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from motionfield.evaluation import bootstrap_groups
from motionfield.methods.video import data as vdata
from motionfield.methods.video.config import CAMERAS, CLEAN, DETECTOR
from motionfield.metrics import procrustes_align

BODY = list(range(22))
CLIP_FRAMES = 300
SETTINGS = {"detector": DETECTOR, "clean": CLEAN}
COLUMNS = ("mpjpe_mm", "pa_mpjpe_mm", "accel_mm")


def clips(takes: list[vdata.Take]) -> list[tuple[str, str, vdata.Take]]:
    """(clip id, take id, the clip as a Take) for every clip of at most CLIP_FRAMES; a
    take's last piece joins the one before it when shorter than a second."""
    out = []
    for take in takes:
        frames = len(take.tokens)
        starts = list(range(0, frames, CLIP_FRAMES))
        if len(starts) > 1 and frames - starts[-1] < 30:
            starts.pop()
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else frames
            if end - start < 2:
                continue
            out.append((f"{take.id}#{i}", take.id, vdata.Take(
                f"{take.id}#{i}", take.split, take.tokens[start:end], take.points[start:end])))
    return out


def observe_clip(clip: vdata.Take, clip_id: str, setting: str, detector
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clip through its seeded camera and detector: (pixels (T, 17, 2), confidence
    (T, 17), true joints (T, 24, 3) pelvis at the origin in the camera frame)."""
    import torch

    from motionfield.methods.video.train import Body

    rng = np.random.default_rng(vdata.take_seed(clip_id, "camera"))
    view = vdata.random_view(rng, CAMERAS, clip.points[None], clip.tokens[None])
    pixels, depth = view.project(clip.points[None])
    rng = np.random.default_rng(vdata.take_seed(clip_id, setting))
    noisy, conf = vdata.detect(rng, detector, pixels, view.size)
    conf = np.where(depth > 0.3, conf, 0.0)
    noisy = np.where(conf[..., None] > 0, noisy, 0.0)
    target = vdata.camera_targets(clip.tokens[None], view)[0, :, :24]
    with torch.no_grad():
        truth = Body()(torch.from_numpy(target.astype(np.float32))).numpy()
    return noisy[0].astype(np.float32), conf[0].astype(np.float32), truth


def frame_errors(pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame errors (T,) (accel: (T - 2,)) of joints (T, 24, 3), in the report's units."""
    p, t = pred[:, BODY].astype(np.float64), true[:, BODY].astype(np.float64)
    out = {"mpjpe_mm": np.linalg.norm(p - t, axis=-1).mean(-1) * 1000,
           "pa_mpjpe_mm": np.linalg.norm(procrustes_align(p, t) - t, axis=-1).mean(-1) * 1000}
    accel = np.diff(p, n=2, axis=0) - np.diff(t, n=2, axis=0)
    out["accel_mm"] = np.linalg.norm(accel, axis=-1).mean(-1) * 1000
    return out


def evaluate(models: dict, takes: list[vdata.Take], progress: bool = True,
             settings: dict | None = None) -> dict:
    """{setting: {method: {column: {mean, low, high}}, "ours / other": {column: ratio}},
    "seconds": {method: s}, "clips", "frames", "takes"} over `takes` (data.Take); `models`
    {name: Lifter}, the first is "ours"."""
    from tqdm import tqdm

    from motionfield.methods.video.infer import lift_arrays

    pieces = clips(takes)
    names = list(models)
    report: dict = {"takes": len(takes), "clips": len(pieces),
                    "frames": int(sum(len(c.tokens) for _, _, c in pieces)),
                    "seconds": {m: 0.0 for m in names}}
    group_of = {take.id: i for i, take in enumerate(takes)}
    for setting, detector in (settings or SETTINGS).items():
        sums = {m: {c: np.zeros(len(takes)) for c in COLUMNS} for m in names}
        counts = {m: {c: np.zeros(len(takes)) for c in COLUMNS} for m in names}
        for clip_id, take_id, clip in tqdm(pieces, desc=f"video eval ({setting})",
                                           disable=not progress, unit="clip"):
            pixels, conf, truth = observe_clip(clip, clip_id, setting, detector)
            g = group_of[take_id]
            for name, model in models.items():
                began = time.perf_counter()
                lifted = lift_arrays(model, pixels, conf)
                report["seconds"][name] += time.perf_counter() - began
                for column, values in frame_errors(lifted.joints, truth).items():
                    sums[name][column][g] += values.sum()
                    counts[name][column][g] += values.size
        block: dict = {}
        flat_sums = {f"{m}:{c}": sums[m][c] for m in names for c in COLUMNS}
        flat_counts = {f"{m}:{c}": counts[m][c] for m in names for c in COLUMNS}
        ratios = {f"{names[0]} / {other}:{c}": (f"{names[0]}:{c}", f"{other}:{c}")
                  for other in names[1:] for c in COLUMNS}
        table = bootstrap_groups(flat_sums, flat_counts, seed=0, ratios=ratios)
        for key, value in table.items():
            method, column = key.rsplit(":", 1)
            block.setdefault(method, {})[column] = value
        report[setting] = block
    return report


def format_table(report: dict) -> str:
    lines = []
    for setting in SETTINGS:
        if setting not in report:
            continue
        lines.append(f"-- {setting} 2D keypoints: mean [95% interval over takes]")
        lines.append(f"{'method':<24}" + "".join(f"{c:>26}" for c in COLUMNS))
        for method, row in report[setting].items():
            cells = []
            for c in COLUMNS:
                v = row.get(c)
                if v is None:
                    cells.append(f"{'':>26}")
                    continue
                point = v.get("mean", v.get("ratio"))
                cells.append(f"{point:>10.3f} [{v['low']:.3f}, {v['high']:.3f}]".rjust(26))
            lines.append(f"{method:<24}" + "".join(cells))
    return "\n".join(lines)


def write(report: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(report, indent=1))
