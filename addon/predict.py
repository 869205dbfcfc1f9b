"""Prediction in Blender: read the SMPL motion an armature shows over a frame range, and
append the backend's continuation to its action right after the last key."""

from __future__ import annotations

import numpy as np

from .armature import bone_rest_heads, bone_rest_rotations
from .axes import Y_UP_TO_Z_UP, matrix_to_quat, quat_conjugate, quat_multiply
from .keyframes import LINEAR, scene_fps
from .retarget import SMPL_NAMES


def is_smpl_armature(obj) -> bool:
    return (obj is not None and obj.type == "ARMATURE"
            and all(name in obj.pose.bones for name in SMPL_NAMES))


def _axis_change(rest: np.ndarray) -> np.ndarray:
    """K_j of axes.smpl_to_bone_rotations (pose = K L K^-1), one quaternion per bone."""
    return np.stack([matrix_to_quat(r.T @ Y_UP_TO_Z_UP) for r in rest])


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
        raise ValueError("select an SMPL armature made by motionfield (24 SMPL bones)")
    frames = np.arange(int(np.ceil(frame_start)), int(np.floor(frame_end)) + 1)
    if len(frames) < 2:
        raise ValueError("the frame range must hold at least two frames")
    rest = bone_rest_rotations(obj, SMPL_NAMES)
    k_inv = quat_conjugate(_axis_change(rest))
    head = bone_rest_heads(obj, SMPL_NAMES[:1])[0]
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
    local = quat_multiply(quat_multiply(k_inv, pose), quat_conjugate(k_inv))
    root_world = location @ rest[0].T + head  # keyframes.write_motion, inverted
    translation = root_world @ Y_UP_TO_Z_UP  # Blender -> SMPL frame (orthonormal)
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
    rest = bone_rest_rotations(obj, SMPL_NAMES)
    k = _axis_change(rest)
    quats = quat_multiply(quat_multiply(k, rotations), quat_conjugate(k))
    head = bone_rest_heads(obj, SMPL_NAMES[:1])[0]
    location = (root_translation @ Y_UP_TO_Z_UP.T - head) @ rest[0]
    curves = _curves(obj)
    for j, name in enumerate(SMPL_NAMES):
        path = f'pose.bones["{name}"].rotation_quaternion'
        previous = np.array([_last_value(curves, path, i) for i in range(4)])
        quats[:, j] = _continue_signs(previous, quats[:, j])
        for i in range(4):
            _extend(curves, path, i, name, frames, quats[:, j, i])
    for i in range(3):
        _extend(curves, f'pose.bones["{SMPL_NAMES[0]}"].location', i, SMPL_NAMES[0], frames,
                location[:, i])
    return len(frames)


def _continue_signs(previous: np.ndarray, quats: np.ndarray) -> np.ndarray:
    q = quats.copy()
    ref = previous
    for t in range(len(q)):
        if np.dot(q[t], ref) < 0:
            q[t] = -q[t]
        ref = q[t]
    return q


def _last_value(curves, path: str, index: int) -> float:
    curve = curves.find(path, index=index)
    if curve is None or not len(curve.keyframe_points):
        return 1.0 if index == 0 else 0.0
    return curve.keyframe_points[-1].co[1]


def _extend(curves, path: str, index: int, group: str, frames: np.ndarray,
            values: np.ndarray) -> None:
    curve = curves.find(path, index=index) or curves.new(path, index=index, action_group=group)
    points = curve.keyframe_points
    old = len(points)
    co = np.empty(2 * old, dtype=np.float32)
    interp = np.empty(old, dtype=np.int32)
    points.foreach_get("co", co)
    points.foreach_get("interpolation", interp)
    keep = co[0::2] < frames[0] - 1e-4  # keys at or after the seam are replaced
    co = co.reshape(-1, 2)[keep]
    interp = interp[keep]
    new = np.stack([frames, values], 1).astype(np.float32)
    allco = np.concatenate([co, new]).ravel()
    allinterp = np.concatenate([interp, np.full(len(frames), LINEAR, np.int32)])
    points.clear()
    points.add(len(allinterp))
    points.foreach_set("co", allco)
    points.foreach_set("interpolation", allinterp)
    curve.update()
