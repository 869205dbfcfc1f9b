"""What every method's job shares: motion results as arrays (and back), and the bounds on
what one job may produce.

A result carrying motion has `rotations` (T, J, 4) and `root_translation` (T, 3) as
float32 (the precision of Blender's keyframes, half the bytes to sign and copy), `times`
(T,) as float64 (fractional-rate timestamps stay exact), `offsets` (J, 3) and `parents`
(J,); its content names the joints (`joint_names`) and the framerate (`fps`).

A result carrying K motions on one timeline (text2motion's variations) stacks them:
`rotations` (K, T, J, 4), `root_translation` (K, T, 3), the rest as above, and its content
says `motions`: K. `motions_from_result` reads either layout.
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
            "times": motion.times, **skeleton_arrays(motion.skeleton)}


def skeleton_arrays(skeleton) -> dict[str, np.ndarray]:
    """A skeleton's offsets and parents as a motion result carries them."""
    return {"offsets": skeleton.offsets.astype(np.float32),
            "parents": np.asarray(skeleton.parents, dtype=np.int32)}


def motion_content(motion) -> dict:
    """The content fields that go with `motion_arrays`."""
    return {"joint_names": list(motion.skeleton.names),
            "fps": None if motion.fps is None else str(motion.fps),
            "frames": motion.num_frames}


def motions_arrays(motions: list) -> dict[str, np.ndarray]:
    """K Motions sharing timestamps and skeleton as the arrays one result carries (stacked:
    rotations (K, T, J, 4), root_translation (K, T, 3)); ValueError if they share neither."""
    if not motions:
        raise ValueError("no motions to stack")
    first = motions[0]
    for other in motions[1:]:
        if not (np.array_equal(other.times, first.times)
                and other.skeleton.names == first.skeleton.names
                and np.array_equal(other.skeleton.offsets, first.skeleton.offsets)):
            raise ValueError("stacked motions must share their timestamps and skeleton")
    return {**motion_arrays(first),
            "rotations": np.stack([m.rotations for m in motions]).astype(np.float32),
            "root_translation": np.stack([m.root_translation for m in motions]
                                         ).astype(np.float32)}


def motions_content(motions: list) -> dict:
    """The content fields that go with `motions_arrays`."""
    return {**motion_content(motions[0]), "motions": len(motions)}


def is_motion_result(content: dict, arrays: dict[str, np.ndarray]) -> bool:
    return "joint_names" in content and {*MOTION_ARRAYS, "offsets", "parents"} <= set(arrays)


def motions_from_result(content: dict, arrays: dict[str, np.ndarray]) -> list:
    """Every Motion a result carries: one (`motion_arrays`) or K stacked (`motions_arrays`)."""
    from motionfield.body.skeleton import Skeleton
    from motionfield.motion import Motion

    skeleton = Skeleton(tuple(content["joint_names"]), tuple(arrays["parents"].tolist()),
                        arrays["offsets"])
    rotations, translation = arrays["rotations"], arrays["root_translation"]
    if rotations.ndim == 3:  # one motion, unstacked
        rotations, translation = rotations[None], translation[None]
    if rotations.ndim != 4 or len(translation) != len(rotations):
        raise ValueError(f"a motion result's rotations are (T, J, 4) or (K, T, J, 4) with as "
                         f"many root translations; got {rotations.shape} and "
                         f"{translation.shape}")
    return [Motion(r, t, arrays["times"], skeleton, content.get("fps"))
            for r, t in zip(rotations, translation, strict=True)]


def motion_from_result(content: dict, arrays: dict[str, np.ndarray]):
    """The Motion a result carries (the inverse of `motion_arrays` + `motion_content`);
    ValueError for a result of several motions (read those with `motions_from_result`)."""
    motions = motions_from_result(content, arrays)
    if len(motions) != 1:
        raise ValueError(f"the result carries {len(motions)} motions, not one")
    return motions[0]


def body_arrays(mesh) -> dict[str, np.ndarray]:
    """A SkinnedMesh (the proxy or the user's SMPL body) in its rest pose, SMPL frame."""
    return {"body_vertices": mesh.vertices.astype(np.float32),
            "body_faces": mesh.faces.astype(np.int32),
            "body_weights": mesh.weights.astype(np.float32)}
