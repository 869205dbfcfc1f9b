"""Video files sent inside a request: the `video` job's `videos` array holds V encoded files
(mp4, avi, mov, ... as they lie on disk) one after another, and `video_sizes` (V,) their
lengths in bytes. Sending the files themselves, not paths, lets a client (the Blender
add-on) reconstruct from any video it can read, whether or not the backend may read the
same folders, and keeps the backend from opening paths a client names.

Each file is written to a private temporary folder, decoded by OpenCV and followed by
MediaPipe Pose (extract.py), and removed. No torch here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from motionfield.methods.video.keypoints import Keypoints2D, KeypointsError


def split_files(blob: np.ndarray, sizes: np.ndarray, most: int) -> list[memoryview]:
    """`videos` (N,) uint8 and `video_sizes` (V,) -> V files' bytes; KeypointsError when the
    sizes do not cut the blob exactly into 1 to `most` non-empty files."""
    blob, sizes = np.asarray(blob), np.asarray(sizes)
    if blob.ndim != 1 or blob.dtype != np.uint8:
        raise KeypointsError(f"videos must be (N,) uint8: the files' bytes, got {blob.dtype} "
                             f"{blob.shape}")
    if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) or \
            not 1 <= len(sizes) <= most:
        raise KeypointsError(f"video_sizes must be (V,) integers, 1 to {most} files")
    if (sizes < 1).any() or int(sizes.sum()) != len(blob):
        raise KeypointsError(f"video_sizes {sizes.tolist()} must be positive and add up to "
                             f"the {len(blob)} bytes of videos")
    ends = np.cumsum(sizes)
    return [memoryview(blob[end - size:end]) for end, size in zip(ends, sizes)]


def keypoints_of_files(files: list[memoryview], max_seconds: float,
                       progress: Callable[[int, int, str], None] | None = None
                       ) -> list[Keypoints2D]:
    """Each file's keypoints (MediaPipe Pose) at the file's own framerate; KeypointsError,
    before any is read, when they last more than `max_seconds` in all. `progress(frames
    done, frames expected, stage)` after each frame may raise to stop."""
    from motionfield.methods.video.extract import extract_video, open_video

    out = []
    with tempfile.TemporaryDirectory(prefix="motionfield-video-") as folder:
        paths = []
        for v, data in enumerate(files):
            path = Path(folder) / f"video-{v + 1}"  # FFmpeg reads the container's own header
            path.write_bytes(data)
            paths.append(path)
        counts, seconds = [], 0.0
        for path in paths:
            capture, (count, fps, *_) = open_video(path)
            capture.release()
            counts.append(count)
            seconds += count / fps if fps > 0 else 0.0
        if seconds > max_seconds:
            raise KeypointsError(f"the videos last {seconds:.0f} s in all; one job reads at "
                                 f"most {max_seconds:.0f} s")
        total, before = max(sum(counts), 1), 0
        for v, path in enumerate(paths):
            stage = f"finding the body in video {v + 1} of {len(paths)}"

            def step(done: int, _expected: int, before=before, stage=stage) -> None:
                if progress is not None:
                    progress(min(before + done, total), total, stage)

            found = extract_video(path, progress=step).keypoints
            out.append(Keypoints2D(found.xy, found.confidence, found.image_size, found.fps,
                                   f"video {v + 1}"))
            before += counts[v]
    return out
