"""Several videos (their keypoints) of one action -> one synchronised SMPL motion and camera
per video: the lifter on each, then the multi-video fit (fit.py). Shared by
`motionfield reconstruct` and the `video` job.

Each motion is on its own video's timeline (frame 0 at the video's first frame) in the
action's world (Y up, the floor at y = 0, the body first facing +Z, metres), so it overlays
its video through its camera. Synchronisation is each frame's phase of the action (0 at a
video's first frame, 1 at its last; equal phases are the same moment) and, per frame, the
matching time in the first video (`reference_time_s`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from motionfield.body.rotations import matrix_to_quat
from motionfield.body.skeleton import smpl_skeleton
from motionfield.errors import MotionfieldError
from motionfield.methods.video.config import FIT_MAX_SECONDS, FPS, FitConfig
from motionfield.methods.video.fit import Camera, Video, fit, matching_frames
from motionfield.methods.video.infer import at_rate, lift_arrays
from motionfield.methods.video.keypoints import Keypoints2D
from motionfield.motion import Motion


class FitError(MotionfieldError):
    """Videos the fit cannot take (too long for one action)."""


@dataclass(frozen=True)
class Reconstruction:
    """One video's answer: its motion at config.FPS, its camera, the phase of each of the
    motion's frames (T,) and the matching time in the first video (T,) seconds (None when
    each video was fitted alone: their phases are not shared)."""

    motion: Motion
    camera: Camera
    phase: np.ndarray
    reference_time_s: np.ndarray | None

    def camera_dict(self, name: str = "") -> dict:
        """The camera and synchronisation as JSON-ready values."""
        return {"video": name, **self.camera.to_dict(), "fps": FPS,
                "frames": int(self.motion.num_frames),
                "phase": np.round(self.phase, 5).tolist(),
                "reference_time_s": None if self.reference_time_s is None else
                np.round(self.reference_time_s, 4).tolist(),
                "world": "Y up, floor at y = 0, metres; the body first faces +Z"}


def reconstruct(lifter, keypoints: list[Keypoints2D], config: FitConfig | None = None,
                joint: bool = True, progress: Callable[[int, int, str], None] | None = None
                ) -> list[Reconstruction]:
    """Keypoints of V videos (any framerates) -> V Reconstructions; `joint=False` fits each
    video alone (no synchronisation: phases are each video's own). Each video at most
    config.FIT_MAX_SECONDS long (FitError)."""
    long = [i for i, k in enumerate(keypoints) if k.frames / k.fps > FIT_MAX_SECONDS]
    if long:
        raise FitError(f"videos {long} are longer than {FIT_MAX_SECONDS:.0f} s: the fit takes "
                       "one action's clip (seconds); cut them, or lift them alone")
    videos, lifted = [], []
    for i, k in enumerate(keypoints):
        _times, xy, conf = at_rate(k)
        if progress is not None:
            progress(0, 1, f"lifting video {i + 1} of {len(keypoints)}")
        videos.append(Video(xy, conf, tuple(int(x) for x in k.image_size)))
        lifted.append(lift_arrays(lifter, xy, conf))
    fitted = fit(videos, lifted, config, separate=not joint, progress=progress)
    skel = smpl_skeleton()
    out = []
    for f in fitted:
        motion = Motion.from_frames(matrix_to_quat(f.rotations), f.translation, skel, FPS)
        reference = matching_frames(f.phase, fitted[0].phase) / FPS if joint else None
        out.append(Reconstruction(motion, f.camera, f.phase, reference))
    return out
