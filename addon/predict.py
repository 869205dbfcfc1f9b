"""Prediction in Blender: read the SMPL motion an armature shows over a frame range, and
append the backend's continuation to its action right after the last key."""

from __future__ import annotations

import numpy as np

from .armature import bone_rest_rotations
from .axes import bone_to_smpl_rotations, smpl_to_bone_rotations
from .keyframes import LINEAR, root_location, root_translation_of, scene_fps, write_points
from .retarget import SMPL_NAMES

NOT_SMPL = "select an SMPL armature made by motionfield (24 SMPL bones)"


def is_smpl_armature(obj) -> bool:
    return (obj is not None and obj.type == "ARMATURE"
            and all(name in obj.pose.bones for name in SMPL_NAMES))


def keyed_range(obj) -> tuple[float, float]:
    """First and last keyed frame of the armature's action."""
    action = obj.animation_data.action if obj.animation_data else None
    if action is None:
        raise ValueError(f"{obj.name} has no action to continue")
    start, end = action.frame_range
    return float(start), float(end)


def read_smpl_motion(scene, obj, frame_start: float, frame_end: float):
    """The armature's SMPL motion at every scene frame in [frame_start, frame_end].

    Returns rotations (T, 24, 4) wxyz SMPL local rotations, root translation (T, 3) metres
    in the SMPL frame, and times (T,) seconds from frame_start. The pose is read after
    Blender evaluates each frame, so it is what the viewport shows (F-curve interpolation,
    NLA). The scene's current frame is restored.
    """
    if not is_smpl_armature(obj):
        raise ValueError(NOT_SMPL)
    frames = np.arange(int(np.ceil(frame_start)), int(np.floor(frame_end)) + 1)
    if len(frames) < 2:
        raise ValueError("the frame range must hold at least two frames")
    bones = [obj.pose.bones[n] for n in SMPL_NAMES]
    pose = np.empty((len(frames), 24, 4))
    location = np.empty((len(frames), 3))
    current = scene.frame_current
    try:
        for i, f in enumerate(frames):
            scene.frame_set(int(f))
            pose[i] = [tuple(b.rotation_quaternion) for b in bones]
            location[i] = tuple(bones[0].location)
    finally:
        scene.frame_set(current)
    local = bone_to_smpl_rotations(pose, bone_rest_rotations(obj, SMPL_NAMES))
    translation = root_translation_of(obj, SMPL_NAMES[0], location)
    return local, translation, (frames - frames[0]) / scene_fps(scene)


def _curves(obj):
    """The F-curves of the armature's action (its slot's channelbag on 4.4+)."""
    action = obj.animation_data.action
    if hasattr(action, "layers") and action.layers:
        slot = obj.animation_data.action_slot
        for layer in action.layers:
            for strip in layer.strips:
                bag = strip.channelbag(slot)
                if bag is not None:
                    return bag.fcurves
    return action.fcurves


def append_keys(obj, rotations: np.ndarray, root_translation: np.ndarray,
                frames: np.ndarray) -> int:
    """Add keys at `frames` (after the existing ones) to the action's rotation and root
    location curves; quaternion signs continue the last existing key's hemisphere so the
    seam interpolates the short way. Returns the number of frames keyed."""
    quats = smpl_to_bone_rotations(rotations, bone_rest_rotations(obj, SMPL_NAMES))
    location = root_location(obj, SMPL_NAMES[0], root_translation)
    curves = _curves(obj)
    for j, name in enumerate(SMPL_NAMES):
        path = f'pose.bones["{name}"].rotation_quaternion'
        previous = np.array([_last_value(curves, path, i) for i in range(4)])
        if np.dot(quats[0, j], previous) < 0:  # the track is continuous; match its start
            quats[:, j] *= -1
        for i in range(4):
            _extend(curves, path, i, name, frames, quats[:, j, i])
    for i in range(3):
        _extend(curves, f'pose.bones["{SMPL_NAMES[0]}"].location', i, SMPL_NAMES[0], frames,
                location[:, i])
    return len(frames)


def _last_value(curves, path: str, index: int) -> float:
    curve = curves.find(path, index=index)
    if curve is None or not len(curve.keyframe_points):
        return 1.0 if index == 0 else 0.0
    return curve.keyframe_points[-1].co[1]


def _extend(curves, path: str, index: int, group: str, frames: np.ndarray,
            values: np.ndarray) -> None:
    curve = curves.find(path, index=index) or curves.new(path, index=index, action_group=group)
    points = curve.keyframe_points
    co = np.empty(2 * len(points), dtype=np.float32)
    interp = np.empty(len(points), dtype=np.int32)
    points.foreach_get("co", co)
    points.foreach_get("interpolation", interp)
    keep = co[0::2] < frames[0] - 1e-4  # keys at or after the seam are replaced
    write_points(curve, np.concatenate([co.reshape(-1, 2)[keep], np.stack([frames, values], 1)]),
                 np.concatenate([interp[keep], np.full(len(frames), LINEAR, np.int32)]))
