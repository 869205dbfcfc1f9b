"""A generated Rigify rig's FK controls and SMPL motion, both ways: the targets
keyframes.write_motion_to_rigify keys (each control turns as its SMPL joint turns away from
the pose that matches the rig's rest; the hips carry the pelvis's travel, scaled by the
legs) and their inverse, which reads the animator's keyed controls back into SMPL, so that
Continue Motion and Fill Between Keys work on the animator's own rig and write their answer
onto the same controls, adding keys only.

The SMPL skeleton both ways is the one the rig was keyed from (its offsets are stored on the
action by write_motion_to_rigify, OFFSETS_KEY); a rig keyed by hand reads through the
rig's own rest pose as SMPL's (its arms' rest angle then counts as SMPL's T pose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .armature import rest_points
from .axes import Y_UP_TO_Z_UP, to_blender
from .retarget import (
    PRESETS,
    RIGIFY_FK_SWITCHES,
    SMPL_NAMES,
    SMPL_PARENTS,
    RetargetError,
    control_targets,
    load_preset,
    rig_kind,
    rigify_controls,
    smpl_local_rotations,
    smpl_reference_pose,
    smpl_world_rotations,
)

OFFSETS_KEY = "motionfield_smpl_offsets"  # on the action: the (24, 3) SMPL offsets, flat
HIPS = [SMPL_NAMES.index(j) for j in ("left_hip", "right_hip")]


@dataclass
class RigifyBody:
    """What ties a generated Rigify rig's controls to an SMPL skeleton (Blender axes,
    armature space)."""

    controls: dict  # SMPL joint -> FK control
    control_rest: dict  # control -> (3, 3) rest orientation
    reference: np.ndarray  # (24, 3, 3) SMPL world rotations matching the rig's rest
    smpl_heads: np.ndarray  # (24, 3) SMPL rest joints
    scale: float  # rig leg / SMPL leg
    rig_mid: np.ndarray  # the rig's rest point between its hips
    torso: str
    torso_rest: np.ndarray  # the torso control's rest head


def is_rigify(obj) -> bool:
    return (obj is not None and obj.type == "ARMATURE"
            and rig_kind([b.name for b in obj.data.bones]) == "rigify")


def rigify_body(obj, offsets: np.ndarray | None) -> RigifyBody:
    """The rig's controls against the SMPL skeleton of `offsets` (24, 3), or, with None, an
    SMPL skeleton with the rig's own rest joints."""
    from .keyframes import _leg

    bones = obj.data.bones
    anatomy = {j: b for j, b in load_preset(PRESETS / "rigify.json").items() if b in bones}
    controls = rigify_controls([b.name for b in bones])
    if "pelvis" not in controls or "pelvis" not in anatomy:
        raise RetargetError("this Rigify rig has no torso control or DEF-spine bone; "
                            "regenerate it from a human metarig or pick a bone map")
    heads = {b: np.array(bones[b].head_local) for b in anatomy.values()}
    if offsets is None:
        smpl_heads = _rig_as_smpl(heads, anatomy)
    else:
        smpl_heads = to_blender(rest_points(np.asarray(offsets, dtype=np.float64),
                                            list(SMPL_PARENTS)))
    scale = _leg(heads, anatomy) / _leg(dict(zip(SMPL_NAMES, smpl_heads)), None)
    torso = controls["pelvis"]
    return RigifyBody(
        controls, {c: np.array(bones[c].matrix_local)[:3, :3] for c in controls.values()},
        smpl_reference_pose(smpl_heads, heads, anatomy), smpl_heads, scale,
        (heads[anatomy["left_hip"]] + heads[anatomy["right_hip"]]) / 2, torso,
        np.array(bones[torso].head_local))


def _rig_as_smpl(heads: dict, anatomy: dict) -> np.ndarray:
    """(24, 3) SMPL rest joints at the rig's DEF heads; a joint the rig lacks sits on its
    parent (no length: the retarget math skips bones without a direction)."""
    out = np.zeros((24, 3))
    for j, name in enumerate(SMPL_NAMES):
        out[j] = heads[anatomy[name]] if name in anatomy else out[max(SMPL_PARENTS[j], 0)]
    return out


def control_goals(body: RigifyBody, rotations: np.ndarray, root_translation: np.ndarray
                  ) -> tuple[dict, np.ndarray]:
    """Armature-space rotations (T, 3, 3) per control and the torso's head (T, 3) for SMPL
    local rotations (T, 24, 4) and root positions (T, 3, SMPL frame)."""
    world = smpl_world_rotations(rotations)
    targets = control_targets(world, body.reference, body.control_rest, body.controls)
    turn = world[:, 0] @ body.reference[0].T  # the pelvis's turn from the rig's rest pose
    # the hips carry the motion over (the scale is the legs'): where a rig's pelvis head sits
    # against its hips varies (Rigify's is below them), so the feet would float or sink
    smpl_mid = body.smpl_heads[HIPS].mean(0)
    mid = (to_blender(root_translation) + world[:, 0] @ (smpl_mid - body.smpl_heads[0])) \
        * body.scale
    mid[:, 2] += body.rig_mid[2] - smpl_mid[2] * body.scale
    return targets, mid + turn @ (body.torso_rest - body.rig_mid)


def smpl_from_controls(body: RigifyBody, control_world: dict, torso_heads: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `control_goals`: armature-space control rotations (T, 3, 3) and torso
    heads (T, 3) -> SMPL local rotations (T, 24, 4) and root positions (T, 3, SMPL frame).
    A joint without a control (spine1, spine2, hands) turns with its parent."""
    frames = len(torso_heads)
    world = np.empty((frames, 24, 3, 3))
    for j, p in enumerate(SMPL_PARENTS):
        control = body.controls.get(SMPL_NAMES[j])
        if control is not None:
            world[:, j] = control_world[control] @ body.control_rest[control].T \
                @ body.reference[j]
        else:
            world[:, j] = np.eye(3) if p < 0 else world[:, p]
    turn = world[:, 0] @ body.reference[0].T
    smpl_mid = body.smpl_heads[HIPS].mean(0)
    mid = torso_heads - turn @ (body.torso_rest - body.rig_mid)
    mid[:, 2] -= body.rig_mid[2] - smpl_mid[2] * body.scale
    root = mid / body.scale - world[:, 0] @ (smpl_mid - body.smpl_heads[0])
    return smpl_local_rotations(world), root @ Y_UP_TO_Z_UP


def body_of(obj) -> RigifyBody:
    """The rig's body with the SMPL skeleton its action was keyed from, if recorded."""
    action = obj.animation_data.action if obj.animation_data else None
    flat = action.get(OFFSETS_KEY) if action is not None else None
    return rigify_body(obj, None if flat is None else np.reshape(list(flat), (24, 3)))


def _control_paths(obj, control: str, root: str = "torso") -> list[tuple[str, int]]:
    """(data path, index) of the curves that key `control` in its rotation mode (the `root`
    bone: its location too)."""
    mode = obj.pose.bones[control].rotation_mode
    channel, size = {"QUATERNION": ("rotation_quaternion", 4),
                     "AXIS_ANGLE": ("rotation_axis_angle", 4)}.get(mode, ("rotation_euler", 3))
    paths = [(f'pose.bones["{control}"].{channel}', i) for i in range(size)]
    return paths + ([(f'pose.bones["{control}"].location', i) for i in range(3)]
                    if control == root else [])


def keyed_frames(obj) -> tuple[np.ndarray, np.ndarray]:
    """The frames where the rig's FK controls have keys (K,), and which SMPL joints' controls
    are keyed at each (K, 24); a joint with no control, or one never keyed, counts as seen."""
    from .predict import keys_per_joint

    if obj.animation_data is None or obj.animation_data.action is None:
        raise ValueError(f"{obj.name} has no keys on its FK controls")
    body = body_of(obj)
    every, mask = keys_per_joint(obj, lambda j: _control_paths(obj, body.controls[SMPL_NAMES[j]])
                                 if SMPL_NAMES[j] in body.controls else [])
    if not len(every):
        raise ValueError(f"{obj.name} has no keys on its FK controls")
    return every, mask


def read_poses(scene, obj, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The SMPL pose the rig's FK controls show at each of `frames` (subframes allowed), as
    Blender evaluates them: local rotations (T, 24, 4) and root positions (T, 3, SMPL frame).
    The scene's current frame is restored."""
    body = body_of(obj)
    controls = sorted(set(body.controls.values()))
    rotations = {c: np.empty((len(frames), 3, 3)) for c in controls}
    torso = np.empty((len(frames), 3))
    current = scene.frame_current
    try:
        for i, f in enumerate(frames):
            whole = int(np.floor(f))
            scene.frame_set(whole, subframe=float(f - whole))
            for c in controls:
                rotations[c][i] = np.array(obj.pose.bones[c].matrix.to_3x3().normalized())
            torso[i] = tuple(obj.pose.bones[body.torso].head)
    finally:
        scene.frame_set(current)
    return smpl_from_controls(body, rotations, torso)


def write_keys(obj, rotations: np.ndarray, root_translation: np.ndarray, frames: np.ndarray,
               mode: str) -> int:
    """Key SMPL poses at `frames` onto the rig's FK controls (and the torso's location):
    'continue' adds keys after every curve's last key (ValueError otherwise), 'fill' adds
    keys only where a curve has none; existing keys stay bit-identical. Rotations continue
    the curves' own values (quaternion hemisphere, Euler branch). Returns the frames keyed."""
    from .keyframes import _solve_controls

    body = body_of(obj)
    targets, heads = control_goals(body, rotations, root_translation)
    order = [b.name for b in obj.data.bones if b.name in targets]  # parents first
    for switch in RIGIFY_FK_SWITCHES:  # solve as the FK keys will be shown
        if switch in obj.pose.bones and "IK_FK" in obj.pose.bones[switch]:
            obj.pose.bones[switch]["IK_FK"] = 1.0
    quats, location = _solve_controls(obj, order, targets, body.torso, heads)
    return add_rotation_keys(obj, order, quats, body.torso, location, frames, mode)


def add_rotation_keys(obj, bones: list[str], quats: np.ndarray, root: str,
                      location: np.ndarray, frames: np.ndarray, mode: str) -> int:
    """Add keys at `frames` to the rotation curves of `bones` (wxyz quats (T, B, 4), in each
    bone's own rotation mode) and the `root` bone's location curves (T, 3): 'continue' after
    every curve's last key (ValueError otherwise), 'fill' where a curve has no key; existing
    keys stay bit-identical. Returns the number of frames keyed."""
    from .predict import _curves, _vectors, add_keys

    curves = _curves(obj)
    added = np.zeros(len(frames), bool)
    for b, control in enumerate(bones):
        paths = _control_paths(obj, control, root)
        values = np.concatenate([_continued(obj, curves, control, paths, quats[:, b], frames,
                                            mode),
                                 location if control == root else np.zeros((len(frames), 0))],
                                1)
        for k, (path, index) in enumerate(paths):
            curve = curves.find(path, index=index) or curves.new(path, index=index,
                                                                 action_group=control)
            existing = _vectors(curve.keyframe_points, "co")[:, 0]
            chosen = _new_frames(existing, frames, mode)
            added |= chosen
            add_keys(curve, frames[chosen], values[chosen, k])
    return int(added.sum())


def _new_frames(existing: np.ndarray, frames: np.ndarray, mode: str) -> np.ndarray:
    if mode == "continue":
        if len(existing) and existing.max() >= frames[0] - 1e-4:
            raise ValueError(f"a continuation must start after the last key (frame "
                             f"{existing.max():g}), not at frame {frames[0]:g}")
        return np.ones(len(frames), bool)
    return np.abs(frames[:, None] - existing[None, :]).min(axis=1, initial=np.inf) > 1e-3


def _continued(obj, curves, control: str, paths, quats: np.ndarray, frames: np.ndarray,
               mode: str) -> np.ndarray:
    """(T, n) rotation channel values of `control` for wxyz `quats`, each frame on the
    branch nearest to what the curves show there ('fill') or to the frame before, the
    first to the last key ('continue'), so keys interpolate the short way."""
    from mathutils import Euler, Quaternion

    rotation_mode = obj.pose.bones[control].rotation_mode
    n = 3 if rotation_mode not in ("QUATERNION", "AXIS_ANGLE") else 4

    def shown(frame):
        out = []
        for path, index in paths[:n]:
            curve = curves.find(path, index=index)
            out.append(curve.evaluate(frame) if curve is not None and len(curve.keyframe_points)
                       else getattr(obj.pose.bones[control], path.rsplit(".", 1)[1])[index])
        return out

    values, previous = [], None
    for q, f in zip(quats, frames):
        near = shown(f) if mode == "fill" or previous is None else previous
        if rotation_mode == "QUATERNION":
            value = list(q) if np.dot(q, near) >= 0 else list(-q)
        elif rotation_mode == "AXIS_ANGLE":
            axis, angle = Quaternion(q).to_axis_angle()
            value = [angle, *axis]
        else:
            value = list(Quaternion(q).to_euler(rotation_mode, Euler(near, rotation_mode)))
        values.append(value)
        previous = value
    return np.array(values)


def read_back_error(scene, obj, rotations: np.ndarray, root_translation: np.ndarray,
                    frames: np.ndarray, samples: int = 10) -> tuple[float, float]:
    """How exactly the keyed controls show the motion they were keyed with: at up to
    `samples` of `frames`, the largest angle (degrees) between the SMPL world rotations
    read back from the rig and the source's, on the joints with a control, and the largest
    pelvis distance (metres, SMPL scale)."""
    pick = np.unique(np.linspace(0, len(frames) - 1, min(samples, len(frames))).astype(int))
    got, root = read_poses(scene, obj, np.asarray(frames)[pick])
    joints = [SMPL_NAMES.index(j) for j in body_of(obj).controls]
    a = smpl_world_rotations(got)[:, joints]
    b = smpl_world_rotations(np.asarray(rotations)[pick])[:, joints]
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2
    angle = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max())
    return angle, float(np.linalg.norm(root - np.asarray(root_translation)[pick], axis=-1).max())
