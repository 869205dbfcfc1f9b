"""2D keypoints from a video file: OpenCV decodes, MediaPipe Pose (BlazePose) finds one person.

MediaPipe 0.10.21's legacy Pose solution ships its detector (`pose_detection.tflite`) and
its full landmark model (`pose_landmark_full.tflite`) inside the wheel, so nothing is
downloaded: `model_complexity=1` is the one that is bundled (0 and 2 would download their
models at first use, and this refuses them). OpenCV comes with mediapipe and decodes with
the FFmpeg built into its wheel. Both are the optional extra `video`
(`pip install -e '.[video]'`) and are imported only when a video is read.

MediaPipe follows one person: it detects someone in a frame, then tracks that person's
landmarks from frame to frame and detects again when it loses them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.errors import Cancelled
from motionfield.methods.video.keypoints import Keypoints2D, KeypointsError, from_mediapipe

MODEL_COMPLEXITY = 1  # the landmark model bundled in the wheel (pose_landmark_full.tflite)


@dataclass(frozen=True)
class Extraction:
    """What `extract_video` found: COCO-17 keypoints, MediaPipe's own 33 landmarks (T, 33,
    4) x, y normalised to the image, z, visibility (NaN rows: nobody found), and the time
    it took."""

    keypoints: Keypoints2D
    landmarks: np.ndarray
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.keypoints.frames / max(self.seconds, 1e-9)


def _modules():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: errors only
    try:
        import cv2
        from mediapipe.python.solutions import pose
    except ImportError as exc:
        raise KeypointsError(f"reading video needs the optional extra 'video' (mediapipe, "
                             f"OpenCV): pip install -e '.[video]' ({exc})") from None
    return cv2, pose


def open_video(path: str | Path):
    """An OpenCV capture of `path` and its (frames or 0 when unknown, fps, width, height)."""
    cv2, _ = _modules()
    path = Path(path)
    if not path.is_file():
        raise KeypointsError(f"{path}: no such video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise KeypointsError(f"{path}: not a video OpenCV can decode")
    info = (max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
            float(capture.get(cv2.CAP_PROP_FPS)),
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    return capture, info


def extract_video(path: str | Path, fps: float | None = None, max_frames: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  allow_nobody: bool = False) -> Extraction:
    """Keypoints of the person MediaPipe Pose follows through `path`.

    fps : the video's framerate where its file does not say (or says wrongly)
    max_frames : read at most this many frames from the start
    progress : called as progress(frames done, frames expected or 0) after each frame
    should_stop : checked before each frame; True stops with `Cancelled`
    allow_nobody : a video in which MediaPipe finds nobody gives keypoints of confidence 0
        instead of a KeypointsError (an evaluation counts such videos)
    """
    cv2, pose_module = _modules()
    capture, (count, file_fps, width, height) = open_video(path)
    fps = fps or file_fps
    if not fps or not 0 < fps <= 1000:
        capture.release()
        raise KeypointsError(f"{path}: the video does not give its framerate; give it (--fps)")
    total = min(count, max_frames) if max_frames else count
    rows = []
    began = time.perf_counter()
    try:
        with pose_module.Pose(static_image_mode=False, model_complexity=MODEL_COMPLEXITY,
                              smooth_landmarks=True, enable_segmentation=False,
                              min_detection_confidence=0.5,
                              min_tracking_confidence=0.5) as pose:
            while max_frames is None or len(rows) < max_frames:
                if should_stop is not None and should_stop():
                    raise Cancelled(f"keypoint extraction stopped after {len(rows)} frames")
                ok, frame = capture.read()
                if not ok:
                    break
                if frame.shape[:2] != (height, width):
                    height, width = frame.shape[:2]
                found = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).pose_landmarks
                rows.append(np.full((33, 4), np.nan) if found is None else np.array(
                    [(m.x, m.y, m.z, m.visibility) for m in found.landmark]))
                if progress is not None:
                    progress(len(rows), max(total, len(rows)))
    finally:
        capture.release()
    if not rows:
        raise KeypointsError(f"{path}: no frames could be decoded")
    landmarks = np.stack(rows)
    if np.isnan(landmarks).all() and not allow_nobody:
        raise KeypointsError(f"{path}: MediaPipe found nobody in {len(rows)} frames")
    keypoints = from_mediapipe(landmarks, (width, height), fps, f"{path} (MediaPipe Pose)")
    return Extraction(keypoints, landmarks, time.perf_counter() - began)
