"""The convert pipeline: a BVH clip (any rig) or an SMPL Motion -> retarget -> cut ->
resample. The `convert` job and the `motionfield convert` command share it."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np

from motionfield.body.skeleton import Skeleton
from motionfield.body.timing import parse_fps
from motionfield.io.bvh import BvhClip
from motionfield.io.retarget import RetargetReport, retarget
from motionfield.io.rigs import RigMap
from motionfield.methods.results import check_frames
from motionfield.motion import Motion

STEPS = 3  # progress steps: read, retarget, resample


def convert(source: BvhClip | Motion, fps: float | str | Fraction, *,
            start: float | None = None, end: float | None = None, rig: RigMap | None = None,
            units: str | None = None, reference_frame: int | None = None,
            proportions: str = "source", skeleton: Skeleton | None = None,
            progress: Callable[[int, int, str], None] = lambda *a: None,
            ) -> tuple[Motion, RetargetReport | None]:
    """`source` on SMPL, cut to [start, end] seconds from its first frame (default: all of
    it) and resampled at `fps`. A BVH clip is retargeted (`rig`, `units`, `reference_frame`,
    `proportions` as in io.retarget.retarget); an SMPL motion keeps its rotations. With
    `skeleton` (a user's SMPL model) the output is on that skeleton. Returns (motion, the
    retarget report or None for an SMPL source). JobError before resampling when the output
    would exceed MAX_FRAME_JOINTS."""
    fps = parse_fps(fps)
    if isinstance(source, BvhClip):
        progress(1, STEPS, "retargeting onto SMPL")
        motion, report = retarget(source, rig, units=units, reference_frame=reference_frame,
                                  proportions="smpl" if skeleton else proportions,
                                  skeleton=skeleton)
    else:
        motion, report = (source if skeleton is None else onto_skeleton(source, skeleton)), None
    progress(2, STEPS, "resampling")
    first = float(motion.times[0])
    lo = first + (start or 0.0)
    hi = float(motion.times[-1]) if end is None else first + end
    check_frames(max(hi - lo, 0.0) * float(fps) + 1, len(motion.skeleton), "convert")
    return motion.at_fps(fps, lo, hi), report


def _leg_length(skeleton: Skeleton) -> float:
    """Mean hip-to-ankle length along the bones (knee and ankle offsets)."""
    return float(np.linalg.norm(skeleton.offsets[[4, 7, 5, 8]], axis=1).sum() / 2)


def onto_skeleton(motion: Motion, skeleton: Skeleton) -> Motion:
    """The motion's rotations on another SMPL skeleton, the root path scaled by the legs'
    ratio (as `retarget` scales a source) so the feet keep meeting the floor."""
    scale = _leg_length(skeleton) / _leg_length(motion.skeleton)
    return Motion(motion.rotations, motion.root_translation * scale, motion.times, skeleton,
                  motion.fps, motion.betas)
