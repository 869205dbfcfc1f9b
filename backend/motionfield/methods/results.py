"""What every method's job shares: motion results as arrays (and back), and the bounds on
what one job may produce.

A result carrying motion has `rotations` (T, J, 4) and `root_translation` (T, 3) as
float32 (the precision of Blender's keyframes, half the bytes to sign and copy), `times`
(T,) as float64 (fractional-rate timestamps stay exact), `offsets` (J, 3) and `parents`
(J,); its content names the joints (`joint_names`) and the framerate (`fps`).
"""

from __future__ import annotations

import numpy as np

from motionfield.server.jobs import JobError, Param

MAX_FPS = 1000.0
# every method's output framerate; the add-on fills it from the scene or the Output settings
OUTPUT_FPS = Param("number", "output framerate (23.976 and 29.97 are NTSC-exact)",
                   minimum=1e-3, maximum=MAX_FPS, panel=False)
# frames x joints one job may return: 200,000 frames of the 24 SMPL joints (1.8 hours at
# 30 fps) is about 80 MB of result, well inside a message (protocol.MAX_MESSAGE_BYTES).
# motion.py holds the same bound for files; not imported from there, since that pulls
# scipy into the registry, which `info` loads without it (tests/test_boundaries.py)
MAX_FRAME_JOINTS = 24 * 200_000
MOTION_ARRAYS = {
    "rotations": "(T, 24, 4) float: SMPL local rotations, wxyz",
    "root_translation": "(T, 3) float: pelvis position, metres, Y up",
    "times": "(T,) float: timestamps, seconds",
}


def check_frames(frames: float, joints: int, what: str) -> None:
    """JobError unless `frames` x `joints` fits MAX_FRAME_JOINTS; call it before allocating."""
    if not frames * joints <= MAX_FRAME_JOINTS:  # `not <=` also refuses NaN
        raise JobError(f"{what}: {frames:.0f} frames of {joints} joints is more than one job "
                       f"returns ({MAX_FRAME_JOINTS // joints} frames); ask for a shorter "
                       "span or a lower framerate")


def motion_arrays(motion) -> dict[str, np.ndarray]:
    """A Motion as the arrays a result carries."""
    return {"rotations": motion.rotations.astype(np.float32),
            "root_translation": motion.root_translation.astype(np.float32),
            "times": motion.times, "offsets": motion.skeleton.offsets.astype(np.float32),
            "parents": np.asarray(motion.skeleton.parents, dtype=np.int32)}


def motion_content(motion) -> dict:
    """The content fields that go with `motion_arrays`."""
    return {"joint_names": list(motion.skeleton.names),
            "fps": None if motion.fps is None else str(motion.fps),
            "frames": motion.num_frames}


def is_motion_result(content: dict, arrays: dict[str, np.ndarray]) -> bool:
    return "joint_names" in content and {*MOTION_ARRAYS, "offsets", "parents"} <= set(arrays)


def motion_from_result(content: dict, arrays: dict[str, np.ndarray]):
    """The Motion a result carries (the inverse of `motion_arrays` + `motion_content`)."""
    from motionfield.body.skeleton import Skeleton
    from motionfield.motion import Motion

    skeleton = Skeleton(tuple(content["joint_names"]), tuple(arrays["parents"].tolist()),
                        arrays["offsets"])
    return Motion(arrays["rotations"], arrays["root_translation"], arrays["times"], skeleton,
                  content.get("fps"))


def body_arrays(mesh) -> dict[str, np.ndarray]:
    """A SkinnedMesh (the proxy or the user's SMPL body) in its rest pose, SMPL frame."""
    return {"body_vertices": mesh.vertices.astype(np.float32),
            "body_faces": mesh.faces.astype(np.int32),
            "body_weights": mesh.weights.astype(np.float32)}
