"""The `video` job: several videos' 2D keypoints of one action in, one synchronised SMPL
motion and camera per video out (the lifter, then the multi-video fit after NeMo; docs/video.md).
`mode` "lift" keeps the lifter alone (root-relative, the camera's axes, no fit).

Arrays: `keypoints` (T, 17, 2) for one video or (V, T, 17, 2) for V, COCO-17 pixels (x right,
y down from the top-left corner), and `confidence` (T, 17) or (V, T, 17) in [0, 1] (0: not
detected); frame k at k / video_fps seconds. Videos of different lengths are padded to the
longest: `frames` (V,) gives each one's count. `image_sizes` (V, 2) and `frame_rates` (V,)
give each video's own where they differ (else the parameters hold for all).

Result: one video as any motion result; V videos stacked (`rotations` (V, T, 24, 4),
`root_translation` (V, T, 3), `times` of the longest), each padded after its own end with its
last frame: `video_frames` (V,) says how many frames of each are its own. The content's
`videos` holds each one's camera (OpenGL axes, world Y up) and synchronisation (its phase
and the matching time in the first video, per frame at the fit's 30 fps).
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
    "keypoints": "(T, 17, 2) or (V, T, 17, 2) float: COCO-17 joints in pixels, x right, y down",
    "confidence": "(T, 17) or (V, T, 17) float: each joint's confidence in [0, 1], 0 where not "
                  "detected",
    "frames": "(V,) int, optional: each video's frame count (default: all T)",
    "image_sizes": "(V, 2) int, optional: each video's width and height, pixels",
    "frame_rates": "(V,) float, optional: each video's framerate",
    "videos": "(N,) uint8, instead of keypoints: V video files' bytes one after another "
              "(mp4, avi, mov...; the body is found in each by MediaPipe)",
    "video_sizes": "(V,) int: with videos, each file's length in bytes",
}
MAX_VIDEOS = 16


@lru_cache(maxsize=1)
def _lifter():
    from motionfield.methods.video.infer import load

    return load()


def _videos(params: dict, arrays: dict[str, np.ndarray], progress: Progress) -> list:
    """The request's videos as Keypoints2D, each cut to its own frames."""
    from motionfield.methods.video.keypoints import Keypoints2D

    if "videos" in arrays:  # the files themselves (encoded.py)
        from motionfield.methods.video.encoded import keypoints_of_files, split_files

        files = split_files(arrays["videos"], arrays.get("video_sizes", []), MAX_VIDEOS)
        return keypoints_of_files(files, MAX_SECONDS, progress)
    missing = [name for name in ("keypoints", "confidence") if name not in arrays]
    if missing:
        raise JobError(f"video: arrays {missing} are required: "
                       + "; ".join(f"{n} {ARRAYS[n]}" for n in missing))
    xy, conf = np.asarray(arrays["keypoints"]), np.asarray(arrays["confidence"])
    if xy.ndim == 3:
        xy, conf = xy[None], conf[None]
    if xy.ndim != 4 or conf.shape != xy.shape[:3]:
        raise JobError(f"video: keypoints (V, T, 17, 2) and confidence (V, T, 17), got "
                       f"{xy.shape} and {conf.shape}")
    count, frames = xy.shape[:2]
    if not 1 <= count <= MAX_VIDEOS:
        raise JobError(f"video: {count} videos; one job takes 1 to {MAX_VIDEOS}")

    def per_video(name: str, shape: tuple, default) -> np.ndarray:
        if name not in arrays:
            return np.broadcast_to(np.asarray(default), (count, *shape))
        value = np.asarray(arrays[name])
        if value.shape != (count, *shape) or not np.all(np.isfinite(value)):
            raise JobError(f"video: {name} must be finite, shaped {(count, *shape)}; got "
                           f"{value.shape}")
        return value

    if "image_sizes" not in arrays and (params["image_width"] is None
                                        or params["image_height"] is None):
        lacking = "image_width" if params["image_width"] is None else "image_height"
        raise JobError(f"video: parameter {lacking!r} is required (the video's size in "
                       "pixels), or the array image_sizes (V, 2)")
    sizes = per_video("image_sizes", (2,), (params["image_width"] or 0,
                                            params["image_height"] or 0))
    rates = per_video("frame_rates", (), params["video_fps"])
    counts = per_video("frames", (), frames)
    if (counts < 2).any() or (counts > frames).any() or (rates < 1).any() or \
            (rates > 1000).any() or (sizes < 1).any() or (sizes > 16384).any():
        raise JobError("video: each video needs 2 to T frames, a framerate of 1 to 1000 and "
                       "an image of 1 to 16384 pixels a side")
    seconds = float((counts / rates).sum())
    if seconds > MAX_SECONDS:
        raise JobError(f"video: {seconds:.0f} s of keypoints; one job takes at most "
                       f"{MAX_SECONDS:.0f} s")
    return [Keypoints2D(xy[v, :int(counts[v])], conf[v, :int(counts[v])],
                        (int(sizes[v, 0]), int(sizes[v, 1])), float(rates[v]), f"video {v}")
            for v in range(count)]


def _run(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    from motionfield.body.timing import parse_fps
    from motionfield.methods.video import infer
    from motionfield.methods.video.config import FitConfig
    from motionfield.methods.video.reconstruct import reconstruct

    fps = parse_fps(str(params["fps"]))
    try:
        videos = _videos(params, arrays, progress)
        longest = max(k.frames / k.fps for k in videos)
        check_frames(len(videos) * longest * max(float(fps), FPS) + 1, 24, "video")
        model, meta = _lifter()
        if params["mode"] == "lift":
            progress(0, 1, "lifting")
            motions = [infer.to_motion(infer.lift(model, k)) for k in videos]
            answers = [None] * len(videos)
        else:
            steps = params["steps"]
            config = FitConfig.of_steps(steps)
            answers = reconstruct(model, videos, config, joint=params["mode"] == "fit",
                                  progress=progress)
            motions = [a.motion for a in answers]
        motions = [m.at_fps(fps) for m in motions]
    except MotionfieldError as exc:
        raise JobError(f"video: {exc}") from None
    progress(1, 1, "done")
    info = [{"frames": m.num_frames, "detected": float(k.detected.mean()), "video_fps": k.fps,
             **(a.camera_dict(f"video {v}") if a is not None else {})}
            for v, (m, k, a) in enumerate(zip(motions, videos, answers))]
    credit = {"model": meta.get("data", ""), "licence": meta.get("licence", ""),
              "mode": params["mode"], "videos": info}
    if len(motions) == 1 and np.ndim(arrays.get("keypoints")) == 3:
        return {**motion_content(motions[0]), "detected": info[0]["detected"], **credit}, \
            motion_arrays(motions[0])
    longest = max(motions, key=lambda m: m.num_frames)
    out = motion_arrays(longest)
    last = longest.num_frames
    pad = [np.minimum(np.arange(last), m.num_frames - 1) for m in motions]
    out["rotations"] = np.stack([m.rotations[p] for m, p in zip(motions, pad)]).astype(np.float32)
    out["root_translation"] = np.stack([m.root_translation[p] for m, p in zip(motions, pad)]
                                       ).astype(np.float32)
    out["video_frames"] = np.array([m.num_frames for m in motions], dtype=np.int32)
    return {**motion_content(longest), "motions": len(motions), **credit}, out


JOB = VIDEO = JobType(
    name="video",
    label="Video to Body",
    help="Several videos' 2D keypoints (COCO-17, from MediaPipe, OpenPose or COCO files) of "
         "one action to one synchronised SMPL motion and camera per video: a temporal "
         "2D-to-3D lifter (trained on Bandai Namco (CC BY-NC 4.0), CMU and ReActIdle seen by "
         "random cameras), then one neural motion field fitted to every video (after NeMo)",
    params={
        "video_fps": Param("number", "the keypoints' framerate", default=30.0,
                           minimum=1.0, maximum=1000.0, panel=False),
        "image_width": Param("integer", "the video's width, pixels", minimum=1,
                             maximum=16384, panel=False, optional=True),
        "image_height": Param("integer", "the video's height, pixels", minimum=1,
                              maximum=16384, panel=False, optional=True),
        "mode": Param("string", "fit: every video together (synchronised); alone: each video "
                      "fitted on its own; lift: the lifter alone (in place, camera axes)",
                      default="fit", choices=("fit", "alone", "lift")),
        "steps": Param("integer", "fit steps (more: slower, closer)", default=400,
                       minimum=20, maximum=5000),
        "fps": OUTPUT_FPS,
    },
    run=_run, arrays=ARRAYS)
