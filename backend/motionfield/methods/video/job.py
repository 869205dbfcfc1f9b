"""The `video` job, for now the lifter alone: one video's 2D keypoints in, SMPL motion out
(root-relative: the body stays in place, axes as the camera's; docs/video.md). The
multi-video reconstruction (NeMo) will take this job's place and keep its name.

Arrays: `keypoints` (T, 17, 2) COCO-17 pixels (x right, y down from the top-left corner) and
`confidence` (T, 17) in [0, 1] (0: not detected), frame k at k / video_fps seconds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from motionfield.errors import MotionfieldError
from motionfield.methods.results import OUTPUT_FPS, check_frames, motion_arrays, motion_content
from motionfield.methods.video.cli import add_commands, add_eval, add_train  # noqa: F401
from motionfield.methods.video.config import FPS, MAX_SECONDS
from motionfield.server.jobs import JobError, JobType, Param, Progress

ARRAYS = {
    "keypoints": "(T, 17, 2) float: COCO-17 joints in pixels, x right, y down",
    "confidence": "(T, 17) float: each joint's confidence in [0, 1], 0 where not detected",
}


@lru_cache(maxsize=1)
def _lifter():
    from motionfield.methods.video.infer import load

    return load()


def _run(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    from motionfield.body.timing import parse_fps
    from motionfield.methods.video import infer
    from motionfield.methods.video.keypoints import Keypoints2D

    missing = [name for name in ARRAYS if name not in arrays]
    if missing:
        raise JobError(f"video: arrays {missing} are required: "
                       + "; ".join(f"{n} {ARRAYS[n]}" for n in missing))
    frames = len(np.asarray(arrays["keypoints"]))
    seconds = frames / params["video_fps"]
    if seconds > MAX_SECONDS:
        raise JobError(f"video: {seconds:.0f} s of keypoints; one job lifts at most "
                       f"{MAX_SECONDS:.0f} s")
    fps = parse_fps(str(params["fps"]))
    check_frames(seconds * max(float(fps), FPS) + 1, 24, "video")
    try:
        keypoints = Keypoints2D(arrays["keypoints"], arrays["confidence"],
                                (params["image_width"], params["image_height"]),
                                float(params["video_fps"]), "video job")
        progress(0, 1, "lifting")
        model, meta = _lifter()
        motion = infer.to_motion(infer.lift(model, keypoints)).at_fps(fps)
    except MotionfieldError as exc:
        raise JobError(f"video: {exc}") from None
    progress(1, 1, "done")
    content = {**motion_content(motion), "detected": float(keypoints.detected.mean()),
               "model": meta.get("data", ""), "licence": meta.get("licence", "")}
    return content, motion_arrays(motion)


JOB = VIDEO = JobType(
    name="video",
    label="Video to Body",
    help="One video's 2D keypoints (COCO-17, from MediaPipe, OpenPose or COCO files) lifted "
         "to SMPL motion in place, in the camera's axes (a temporal 2D-to-3D network trained "
         "on Bandai Namco (CC BY-NC 4.0), CMU and ReActIdle seen by random cameras)",
    params={
        "video_fps": Param("number", "the keypoints' framerate", default=30.0,
                           minimum=1.0, maximum=1000.0, panel=False),
        "image_width": Param("integer", "the video's width, pixels", minimum=1,
                             maximum=16384, panel=False),
        "image_height": Param("integer", "the video's height, pixels", minimum=1,
                              maximum=16384, panel=False),
        "fps": OUTPUT_FPS,
    },
    run=_run, arrays=ARRAYS)
