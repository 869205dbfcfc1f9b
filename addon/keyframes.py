"""Writing motion onto an armature as a new Action, fast: `keyframe_points.add` then
`foreach_set` per F-curve (about 250x faster than `keyframe_insert`, see
benchmarks/bench_keyframes.py). Slotted actions on Blender 4.4+, legacy F-curves before.
"""

from __future__ import annotations

import bpy
import numpy as np

from .armature import bone_rest_heads, bone_rest_rotations
from .axes import Y_UP_TO_Z_UP, smpl_to_bone_rotations, to_blender
from .retarget import SMPL_NAMES

LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


def scene_fps(scene: bpy.types.Scene) -> float:
    """The scene's exact framerate (29.97 is fps 30 with fps_base 1.001)."""
    return scene.render.fps / scene.render.fps_base


def frames_for(times: np.ndarray, fps: float, start_frame: float) -> np.ndarray:
    """Scene frames (possibly fractional) for motion timestamps, the first at start_frame."""
    return start_frame + (np.asarray(times, dtype=np.float64) - times[0]) * fps


def _fcurve_target(obj: bpy.types.Object, action: bpy.types.Action):
    """Where F-curves go: the channelbag of a new slot (4.4+) or the action itself."""
    obj.animation_data_create()
    if hasattr(action, "slots"):
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        strip = action.layers.new("Layer").strips.new(type="KEYFRAME")
        channelbag = strip.channelbag(slot, ensure=True)
        obj.animation_data.action = action
        obj.animation_data.action_slot = slot
        return channelbag
    obj.animation_data.action = action
    return action


def _add_curve(target, data_path: str, index: int, group: str, frames: np.ndarray,
               values: np.ndarray) -> None:
    curve = target.fcurves.new(data_path, index=index)
    groups = target.groups
    curve.group = groups.get(group) or groups.new(group)
    write_points(curve, np.stack([frames, values], 1), np.full(len(frames), LINEAR, np.int32))


def write_points(curve, co: np.ndarray, interpolation: np.ndarray) -> None:
    """Set a curve's keys in bulk: co (N, 2) frame/value pairs, interpolation (N,) enums."""
    points = curve.keyframe_points
    points.clear()
    points.add(len(co))
    points.foreach_set("co", np.asarray(co, dtype=np.float32).ravel())
    points.foreach_set("interpolation", np.asarray(interpolation, dtype=np.int32))
    curve.update()


def key_bones(obj: bpy.types.Object, names: list[str], quats: np.ndarray, root: str,
              root_location: np.ndarray, frames: np.ndarray,
              action_name: str) -> bpy.types.Action:
    """A new Action on `obj`: rotation_quaternion keys (T, B, 4) for `names` and location
    keys (T, 3) for the `root` bone, at `frames`. Pose bones are set to quaternion mode."""
    action = bpy.data.actions.new(action_name)
    target = _fcurve_target(obj, action)
    for j, name in enumerate(names):
        obj.pose.bones[name].rotation_mode = "QUATERNION"
        path = f'pose.bones["{name}"].rotation_quaternion'
        for i in range(4):
            _add_curve(target, path, i, name, frames, quats[:, j, i])
    for i in range(3):
        _add_curve(target, f'pose.bones["{root}"].location', i, root, frames,
                   root_location[:, i])
    return action


def _check(rotations: np.ndarray, root_translation: np.ndarray, joints: int) -> np.ndarray:
    rotations = np.asarray(rotations, dtype=np.float64)
    if rotations.ndim != 3 or rotations.shape[1:] != (joints, 4):
        raise ValueError(f"rotations must be (T, {joints}, 4), got {rotations.shape}")
    if not (np.isfinite(rotations).all() and np.isfinite(root_translation).all()):
        raise ValueError("motion contains NaN or infinite values")
    return rotations


def write_motion(obj: bpy.types.Object, names: list[str], rotations: np.ndarray,
                 root_translation: np.ndarray, times: np.ndarray, *, fps: float,
                 start_frame: float = 1.0, action_name: str = "motionfield") -> bpy.types.Action:
    """Key SMPL motion onto `obj` (an armature made by armature.create_armature, or one whose
    bones have those names) as a new Action.

    rotations (T, J, 4) wxyz SMPL local rotations; root_translation (T, 3) SMPL-frame pelvis
    positions (metres); times (T,) seconds. Keys land at start_frame + (t - t0) * fps.
    """
    rotations = _check(rotations, root_translation, len(names))
    quats = smpl_to_bone_rotations(rotations, bone_rest_rotations(obj, names))
    return key_bones(obj, names, quats, names[0], root_location(obj, names[0], root_translation),
                     frames_for(times, fps, start_frame), action_name)


def root_location(obj: bpy.types.Object, root: str, root_translation: np.ndarray) -> np.ndarray:
    """The root bone's location keys for SMPL root positions (T, 3): the offset from its rest
    head, in the bone's own frame."""
    rest = bone_rest_rotations(obj, [root])[0]
    return (to_blender(root_translation) - bone_rest_heads(obj, [root])[0]) @ rest


def root_translation_of(obj: bpy.types.Object, root: str, location: np.ndarray) -> np.ndarray:
    """The inverse of `root_location`: root bone locations (T, 3) -> SMPL root positions."""
    rest = bone_rest_rotations(obj, [root])[0]
    return (np.asarray(location) @ rest.T + bone_rest_heads(obj, [root])[0]) @ Y_UP_TO_Z_UP


def rig_description(obj: bpy.types.Object) -> dict:
    """The rig's bones in hierarchy order with parents, rest rotations and heads."""
    bones = [b for b in obj.data.bones]  # Blender lists parents before children
    names = [b.name for b in bones]
    index = {n: i for i, n in enumerate(names)}
    return {"names": names,
            "parents": [index[b.parent.name] if b.parent else -1 for b in bones],
            "rest": np.array([np.array(b.matrix_local)[:3, :3] for b in bones]),
            "heads": np.array([np.array(b.head_local) for b in bones])}


def write_motion_to_rig(obj: bpy.types.Object, mapping: dict[str, str], rotations: np.ndarray,
                        root_translation: np.ndarray, times: np.ndarray, offsets: np.ndarray,
                        *, fps: float, start_frame: float = 1.0,
                        action_name: str = "motionfield") -> bpy.types.Action:
    """Retarget SMPL motion onto the user's armature through `mapping` (SMPL joint -> bone)
    and key it as a new Action. The root moves scaled by the ratio of leg lengths."""
    from .armature import rest_points
    from .retarget import SMPL_PARENTS, retarget_to_rig, smpl_world_rotations

    rotations = _check(rotations, root_translation, 24)
    rig = rig_description(obj)
    smpl_heads = to_blender(rest_points(np.asarray(offsets), list(SMPL_PARENTS)))
    heads = dict(zip(rig["names"], rig["heads"]))
    scale = _leg(heads, mapping) / _leg(dict(zip(SMPL_NAMES, smpl_heads)), None)
    root_position = to_blender(root_translation) * scale
    quats, location = retarget_to_rig(smpl_world_rotations(rotations), root_position,
                                      smpl_heads, rig, mapping)
    return key_bones(obj, rig["names"], quats, mapping["pelvis"], location,
                     frames_for(times, fps, start_frame), action_name)


def _leg(heads: dict[str, np.ndarray], mapping: dict[str, str] | None) -> float:
    """Hip-knee-ankle length of the left leg (the knee alone if no ankle is mapped)."""
    chain = [j for j in ("left_hip", "left_knee", "left_ankle") if mapping is None or j in mapping]
    points = [heads[j if mapping is None else mapping[j]] for j in chain]
    return float(sum(np.linalg.norm(b - a) for a, b in zip(points, points[1:])))
