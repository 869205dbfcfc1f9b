"""The `sparse` job: tracked head and hands in, full-body SMPL motion out, at any framerate.

Arrays: `times` (T,), `positions` (T, 3, 3) and `orientations` (T, 3, 4) of head, left and
right hand, `tracked` (T, 2). With `space` "openxr" they are OpenXR poses (tracking.py:
floor-level space, Y up, the view's -Z ahead, wrist joints' -Z to the fingertips), with
quaternions in the project's w, x, y, z order; with "smpl" they are the world transforms of
the SMPL head joint and wrists in the SMPL frame. Live tracking goes through `step`
requests instead (docs/protocol.md, "Live streams"): each carries the samples of a named
stream since the last one and is answered at once with their poses (live.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from motionfield.errors import MotionfieldError
from motionfield.methods.results import OUTPUT_FPS, check_frames, motion_arrays, motion_content
from motionfield.methods.sparse.cli import add_commands, add_eval, add_train  # noqa: F401
from motionfield.methods.sparse.config import FPS, MAX_SECONDS
from motionfield.server.jobs import JobError, JobType, Param, Progress

MAX_STEP_SAMPLES = 90  # one live request's samples, 1 s of a 90 Hz headset: a step is
# answered in the server's own thread, so its work stays bounded
ARRAYS = {
    "times": "(T,) float: sample times, seconds, strictly increasing (any rate)",
    "positions": "(T, 3, 3) float: head, left hand, right hand positions, metres",
    "orientations": "(T, 3, 4) float: their orientations, quaternions w, x, y, z",
    "tracked": "(T, 2) 0/1: whether the left and right hand are seen in each sample",
}


@lru_cache(maxsize=1)
def _solver():
    from motionfield.methods.sparse.infer import load

    return load()


def _tracking(params: dict, arrays: dict[str, np.ndarray]):
    from motionfield.methods.sparse.tracking import from_openxr, from_smpl

    missing = [name for name in ARRAYS if name not in arrays]
    if missing:
        raise JobError(f"sparse: arrays {missing} are required: "
                       + "; ".join(f"{n} {ARRAYS[n]}" for n in missing))
    quats = np.asarray(arrays["orientations"])
    if params["space"] == "openxr":
        if quats.ndim != 3 or quats.shape[-1] != 4:
            raise JobError(f"sparse: orientations must be (T, 3, 4), got {quats.shape}")
        return from_openxr(arrays["times"], arrays["positions"], quats[..., [1, 2, 3, 0]],
                           arrays["tracked"])
    return from_smpl(arrays["times"], arrays["positions"], quats, arrays["tracked"])


def _checked_tracking(params: dict, arrays: dict[str, np.ndarray]):
    try:
        return _tracking(params, arrays)
    except MotionfieldError as exc:
        raise JobError(f"sparse: {exc}") from None


def _run(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    from motionfield.body.timing import parse_fps
    from motionfield.methods.sparse.infer import solve_tracking

    tracking = _checked_tracking(params, arrays)
    span = float(tracking.times[-1] - tracking.times[0])
    if span > MAX_SECONDS:
        raise JobError(f"sparse: {span:.0f} s of tracking; one job solves at most "
                       f"{MAX_SECONDS:.0f} s")
    fps = parse_fps(str(params["fps"]))
    check_frames(span * max(float(fps), FPS) + 1, 24, "sparse")
    progress(0, 1, "solving")
    try:
        motion = solve_tracking(_solver(), tracking, fps)
    except MotionfieldError as exc:
        raise JobError(f"sparse: {exc}") from None
    progress(1, 1, "done")
    meta = _solver().meta
    content = {**motion_content(motion), "seen": tracking.seen.mean(axis=0).tolist(),
               "model": meta.get("data", ""), "licence": meta.get("licence", "")}
    return content, motion_arrays(motion)


def _step(params: dict, arrays: dict[str, np.ndarray], stream: str, restart: bool):
    """The poses of a live stream's new samples, at their own times (`fps` unused). The
    answer is a motion result's content and arrays, built without a Motion: a live frame
    has a few milliseconds in all."""
    from motionfield.body.rotations import matrix_to_quat
    from motionfield.body.tokens import tokens_to_motion
    from motionfield.methods.sparse import live

    tracking = _checked_tracking(params, arrays)
    if len(tracking.times) > MAX_STEP_SAMPLES:
        raise JobError(f"sparse: {len(tracking.times)} samples in one live step; at most "
                       f"{MAX_STEP_SAMPLES} (send them as they come, or submit a recording)")
    rot, trans = tokens_to_motion(live.step(_solver(), stream, tracking, restart))
    names, skeleton = _smpl_skeleton()
    content = {"joint_names": names, "fps": None, "frames": len(tracking.times)}
    return content, {"rotations": matrix_to_quat(rot).astype(np.float32),
                     "root_translation": trans.astype(np.float32), "times": tracking.times,
                     **skeleton}


@lru_cache(maxsize=1)
def _smpl_skeleton() -> tuple[list[str], dict[str, np.ndarray]]:
    """The SMPL joint names and skeleton arrays every live answer carries (built once)."""
    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.methods.results import skeleton_arrays

    skeleton = smpl_skeleton()
    return list(skeleton.names), skeleton_arrays(skeleton)


JOB = SPARSE = JobType(
    name="sparse",
    label="Head and Hands to Body",
    help="Tracked head and hands (a headset's hand tracking, hands may leave the view, or "
         "controllers) to full-body SMPL motion, each frame from the frames before it "
         "(HMD-NeMo style; trained on Bandai Namco (CC BY-NC 4.0), CMU and ReActIdle)",
    params={
        "space": Param("string", "the poses' conventions: OpenXR (floor-level space, the "
                                 "view and wrist joints) or SMPL joint transforms",
                       default="openxr", choices=("openxr", "smpl")),
        "fps": OUTPUT_FPS,
    },
    run=_run, arrays=ARRAYS, step=_step)
