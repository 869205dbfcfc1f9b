"""The `predict` job: observed SMPL motion in, its continuation (or its gaps filled) out, at
any framerate."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from motionfield.errors import MotionfieldError
from motionfield.methods.predict.cli import add_eval, add_train  # noqa: F401  (the CLI's hooks)
from motionfield.methods.results import (
    OUTPUT_FPS,
    check_frames,
    motion_arrays,
    motion_content,
)
from motionfield.server.jobs import JobError, JobType, Param, Progress

ARRAYS = {
    "rotations": "(T, 24, 4) float: observed SMPL local rotations, wxyz",
    "root_translation": "(T, 3) float: observed pelvis positions, metres, Y up",
    "times": "(T,) float: observation times, seconds, increasing (irregular is fine)",
    "joint_mask": "(T, 24) optional: 0 where a joint was not observed",
}
MAX_SECONDS = 10.0  # the longest continuation one job returns (the model is measured to 1 s)
MAX_OBSERVATIONS = 100_000


@lru_cache(maxsize=2)
def _checkpoint():
    from motionfield.methods.predict.infer import load_checkpoint, shipped_checkpoint

    return load_checkpoint(shipped_checkpoint("smpl"))


def _observations(arrays: dict[str, np.ndarray]):
    for name in ("rotations", "root_translation", "times"):
        if name not in arrays:
            raise JobError(f"predict: array {name!r} is required ({ARRAYS[name]})")
    rot = np.asarray(arrays["rotations"], dtype=np.float64)
    trans = np.asarray(arrays["root_translation"], dtype=np.float64)
    times = np.asarray(arrays["times"], dtype=np.float64)
    count = len(times)
    if times.shape != (count,) or not 2 <= count <= MAX_OBSERVATIONS:
        raise JobError(f"predict: 'times' must be (T,) with 2 <= T <= {MAX_OBSERVATIONS}")
    if rot.shape != (count, 24, 4) or trans.shape != (count, 3):
        raise JobError(f"predict: rotations must be ({count}, 24, 4) and root_translation "
                       f"({count}, 3); got {rot.shape} and {trans.shape}")
    if not (np.isfinite(rot).all() and np.isfinite(trans).all() and np.isfinite(times).all()):
        raise JobError("predict: the observations contain NaN or infinite values")
    if np.any(np.diff(times) <= 0):
        raise JobError("predict: 'times' must be strictly increasing")
    norms = np.linalg.norm(rot, axis=-1, keepdims=True)
    if np.any(norms < 1e-6):
        raise JobError("predict: a rotation quaternion has zero length")
    mask = arrays.get("joint_mask")
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float32)
        if mask.shape != (count, 24) or not np.isin(mask, (0.0, 1.0)).all():
            raise JobError(f"predict: 'joint_mask' must be ({count}, 24) of 0 and 1")
        if not mask[:, 0].any():
            raise JobError("predict: the root (pelvis) must be observed at least once")
    return rot / norms, trans, times, mask


def _run(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.body.timing import frame_times, parse_fps

    rot, trans, times, mask = _observations(arrays)
    fps = parse_fps(str(params["fps"]))  # validated: a finite number in the schema's bounds
    span = params["seconds"] if params["mode"] == "continue" else times[-1] - times[0]
    check_frames(span * float(fps) + 1, 24, "predict")
    # imported after the checks: a refused request does not wait for torch to load
    from motionfield.methods.predict.infer import continue_smpl, fill_smpl
    from motionfield.motion import Motion

    try:
        progress(0, 2, "loading the model")
        checkpoint = _checkpoint()
        progress(1, 2, "fitting and predicting")
        if params["mode"] == "continue":
            count = max(1, int(np.ceil(params["seconds"] * float(fps) - 1e-9)))
            # k / fps on exact integers, as body.timing.frame_times does
            query = times[-1] + (np.arange(1, count + 1) * fps.denominator) / fps.numerator
            out_rot, out_trans = continue_smpl(checkpoint, rot, trans, times, query, mask)
        else:
            query = frame_times(fps, times[0], times[-1])
            out_rot, out_trans = fill_smpl(checkpoint, rot, trans, times, query, mask)
        motion = Motion(out_rot, out_trans, query, smpl_skeleton(), fps)
    except MotionfieldError as e:
        raise JobError(str(e)) from None
    except ValueError as e:
        raise JobError(f"predict: {e}") from None
    progress(2, 2, "done")
    content = {**motion_content(motion), "mode": params["mode"],
               "model": checkpoint.meta.get("data", "")}
    return content, motion_arrays(motion)


JOB = PREDICT = JobType(
    name="predict",
    label="Predict / Complete",
    help="Continue observed SMPL motion, or fill its gaps, at any framerate (NeRMo-style field)",
    params={
        "fps": OUTPUT_FPS,
        "mode": Param("string", "continue after the last observation, or fill gaps inside",
                      default="continue", choices=("continue", "fill"), panel=False),
        "seconds": Param("number", "how long to continue (the model is measured to 1 s)",
                         default=1.0, minimum=1e-3, maximum=MAX_SECONDS),
    },
    run=_run, arrays=ARRAYS)
