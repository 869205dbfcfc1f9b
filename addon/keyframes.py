"""Writing motion onto an armature as a new Action, fast: `keyframe_points.add` then
`foreach_set` per F-curve (about 250x faster than `keyframe_insert`, see
benchmarks/bench_keyframes.py). Slotted actions on Blender 4.4+, legacy F-curves before.
"""

from __future__ import annotations

import bpy
import numpy as np

from .armature import bone_rest_heads, bone_rest_rotations
from .axes import Y_UP_TO_Z_UP, quat_continuous, smpl_to_bone_rotations, to_blender
from .retarget import SMPL_NAMES

_INTERPOLATION = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items
LINEAR, CONSTANT = _INTERPOLATION["LINEAR"].value, _INTERPOLATION["CONSTANT"].value


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


def key_bones(obj: bpy.types.Object, names: list[str], quats: np.ndarray, root: str | None,
              root_location: np.ndarray | None, frames: np.ndarray,
              action_name: str, held: dict[str, float] | None = None) -> bpy.types.Action:
    """A new Action on `obj`: rotation keys (T, B, 4) wxyz for `names`, in each pose bone's
    own rotation mode (Euler channels in its order, axis-angle or quaternion), and location
    keys (T, 3) for the `root` bone, at `frames`. Rotation modes are never changed. `held`:
    data path -> value, keyed constant over the range (a rig's switches)."""
    action = bpy.data.actions.new(action_name)
    target = _fcurve_target(obj, action)
    for j, name in enumerate(names):
        mode = obj.pose.bones[name].rotation_mode
        channel, values = _rotation_channel(mode, quats[:, j])
        for i in range(values.shape[1]):
            _add_curve(target, f'pose.bones["{name}"].{channel}', i, name, frames,
                       values[:, i])
    if root is not None:
        for i in range(3):
            _add_curve(target, f'pose.bones["{root}"].location', i, root, frames,
                       root_location[:, i])
    for path, value in (held or {}).items():
        curve = target.fcurves.new(path)
        write_points(curve, [[frames[0], value], [frames[-1], value]],
                     np.full(2, CONSTANT, np.int32))
    return action


def _rotation_channel(mode: str, quats: np.ndarray) -> tuple[str, np.ndarray]:
    """The property and (T, n) values that hold wxyz rotations (T, 4) in `mode`; Euler
    angles stay continuous from frame to frame (no 360 degree flips)."""
    from mathutils import Quaternion

    if mode == "QUATERNION":
        return "rotation_quaternion", quat_continuous(quats)
    if mode == "AXIS_ANGLE":
        axis_angle = [(lambda a: (a[1], *a[0]))(Quaternion(q).to_axis_angle()) for q in quats]
        return "rotation_axis_angle", np.array(axis_angle)
    eulers, previous = [], None
    for q in quats:
        e = Quaternion(q).to_euler(mode) if previous is None else \
            Quaternion(q).to_euler(mode, previous)
        eulers.append(tuple(e))
        previous = e
    return "rotation_euler", np.array(eulers)


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
    # only the mapped bones are keyed: the others rest relative to their parents anyway
    index, mapped = {n: i for i, n in enumerate(rig["names"])}, set(mapping.values())
    keyed = [b for b in rig["names"] if b in mapped]
    action = key_bones(obj, keyed, quats[:, [index[b] for b in keyed]], mapping["pelvis"],
                       location, frames_for(times, fps, start_frame), action_name)
    from .rigify_motion import OFFSETS_KEY  # read back by rig_motion (Continue, Fill)

    action[OFFSETS_KEY] = np.asarray(offsets, dtype=np.float64).ravel().tolist()
    return action


def _leg(heads: dict[str, np.ndarray], mapping: dict[str, str] | None) -> float:
    """Hip-knee-ankle length of the left leg (the knee alone if no ankle is mapped)."""
    chain = [j for j in ("left_hip", "left_knee", "left_ankle") if mapping is None or j in mapping]
    points = [heads[j if mapping is None else mapping[j]] for j in chain]
    return float(sum(np.linalg.norm(b - a) for a, b in zip(points, points[1:])))


def write_motion_to_rigify(obj: bpy.types.Object, rotations: np.ndarray,
                           root_translation: np.ndarray, times: np.ndarray,
                           offsets: np.ndarray, *, fps: float, start_frame: float = 1.0,
                           action_name: str = "motionfield") -> bpy.types.Action:
    """Retarget SMPL motion onto a generated Rigify rig's FK controls (retarget.RIGIFY_CONTROLS)
    as a new Action, with the arms' and legs' IK/FK switches keyed to FK over the range and
    the pelvis's travel, scaled by the ratio of leg lengths, on the torso control. Each
    control's local rotation is solved against its parent as Blender evaluates it (Rigify
    parents controls through constraint-driven MCH bones), so the DEF bones follow."""
    from .retarget import RIGIFY_FK_SWITCHES
    from .rigify_motion import OFFSETS_KEY, control_goals, rigify_body

    rotations = _check(rotations, root_translation, 24)
    body = rigify_body(obj, offsets)
    targets, torso_heads = control_goals(body, rotations, root_translation)
    switches = [s for s in RIGIFY_FK_SWITCHES if s in obj.pose.bones
                and "IK_FK" in obj.pose.bones[s]]
    for switch in switches:
        obj.pose.bones[switch]["IK_FK"] = 1.0
    order = [b.name for b in obj.data.bones if b.name in targets]  # parents first
    quats, location = _solve_controls(obj, order, targets, body.torso, torso_heads)
    action = key_bones(obj, order, quats, body.torso, location,
                       frames_for(times, fps, start_frame), action_name,
                       {f'pose.bones["{s}"]["IK_FK"]': 1.0 for s in switches})
    # the skeleton the controls were keyed from: Continue and Fill read them back through it
    action[OFFSETS_KEY] = np.asarray(offsets, dtype=np.float64).ravel().tolist()
    return action


def _solve_controls(obj: bpy.types.Object, order: list[str], targets: dict[str, np.ndarray],
                    root: str, root_heads: np.ndarray, passes: int = 10, tol: float = 1e-6
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (T, B, 4) wxyz of the controls `order` that give them the armature-space
    rotations `targets` (T, 3, 3), and the `root` control's location (T, 3) that puts its head
    at `root_heads`, each frame solved by passes through Blender's evaluation until the
    locals settle (a pass per level of controls hanging from controls)."""
    from mathutils import Matrix, Quaternion

    animation = obj.animation_data
    kept = (animation.action, getattr(animation, "action_slot", None)) if animation else None
    if animation:  # the rig's current action must not overwrite the pose being solved
        animation.action = None
    layer, pose = bpy.context.view_layer, obj.pose.bones
    quats = np.tile([1.0, 0, 0, 0], (len(root_heads), len(order), 1))
    location = np.zeros((len(root_heads), 3))
    current = {c: Quaternion() for c in order}
    try:
        for t in range(len(root_heads)):
            for _ in range(passes):
                change = 0.0
                for c in order:
                    goal = np.eye(4)
                    goal[:3, :3] = targets[c][t]
                    goal[:3, 3] = root_heads[t] if c == root else 0.0
                    local = obj.convert_space(pose_bone=pose[c], matrix=Matrix(goal.tolist()),
                                              from_space="POSE", to_space="LOCAL")
                    q = local.to_quaternion()
                    change = max(change, 1 - abs(q.dot(current[c])))
                    current[c] = q
                    _set_rotation(pose[c], q)
                    if c == root:
                        pose[c].location = location[t] = local.translation
                layer.update()
                if change < tol:
                    break
            quats[t] = [tuple(current[c]) for c in order]
    finally:
        if animation:
            animation.action = kept[0]
            if kept[1] is not None:
                animation.action_slot = kept[1]
    return quats, location


def _set_rotation(pose_bone, q) -> None:
    """Pose `pose_bone` at quaternion `q` in its own rotation mode (as key_bones keys it)."""
    channel, values = _rotation_channel(pose_bone.rotation_mode, np.array([tuple(q)]))
    setattr(pose_bone, channel, values[0])


def bake_rigify_ik(obj: bpy.types.Object, action: bpy.types.Action) -> None:
    """Rigify's own IK->FK bake over the keyed frames of a rig keyed by
    write_motion_to_rigify: the IK controls (foot_ik, hand_ik, their poles or rotations, toe
    and heel controls) are keyed to where the FK chain is, then the IK/FK switches to IK, so
    planted feet can be pinned and edited as an animator does. About a second a frame."""
    import json

    from .retarget import RIGIFY_IK_LIMBS, RetargetError

    bake = getattr(bpy.ops.pose, f"rigify_limb_ik2fk_bake_{obj.data.get('rig_id')}")
    try:
        bake.get_rna_type()
    except KeyError:
        raise RetargetError("this Rigify rig's rig_ui.py script is not running, so its IK "
                            "bake is not there: allow Auto Run Python Scripts (or run the "
                            "script in the Text Editor) and try again") from None
    layer = bpy.context.view_layer
    previous, layer.objects.active = layer.objects.active, obj
    mode = obj.mode
    bpy.ops.object.mode_set(mode="POSE")
    limbs = [limb for limb in RIGIFY_IK_LIMBS if limb[0] in obj.pose.bones]
    wm = bpy.context.window_manager  # the cursor's progress: a limb is many seconds
    wm.progress_begin(0, len(limbs))
    try:
        for done, (prop_bone, fk, ik, ctrl, tail, extra) in enumerate(limbs):
            bake(prop_bone=prop_bone, fk_bones=json.dumps(fk), ik_bones=json.dumps(ik),
                 ctrl_bones=json.dumps(ctrl), tail_bones=json.dumps(tail),
                 extra_ctrls=json.dumps(extra))
            wm.progress_update(done + 1)
    finally:
        wm.progress_end()
        bpy.ops.object.mode_set(mode=mode)
        layer.objects.active = previous
    for curve in _action_curves(obj, action):
        if curve.data_path.endswith('["IK_FK"]'):
            for key in curve.keyframe_points:
                key.co[1] = 0.0
            curve.update()


def _action_curves(obj: bpy.types.Object, action: bpy.types.Action):
    if hasattr(action, "slots"):
        slot = obj.animation_data.action_slot
        return [c for layer in action.layers for strip in layer.strips
                for c in strip.channelbag(slot).fcurves]
    return list(action.fcurves)
