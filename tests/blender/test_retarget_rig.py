"""SMPL motion onto rigs built in the test: Mixamo-like (A pose, rolled bones, a twist bone)
and Rigify-like (DEF- bones, T pose); their joints must follow SMPL's joints."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon.armature import rest_points
from addon.axes import to_blender
from addon.keyframes import write_motion_to_rig
from addon.retarget import (
    SMPL_NAMES,
    SMPL_PARENTS,
    RetargetError,
    auto_map,
    load_preset,
    rig_kind,
    smpl_reference_pose,
)
from motionfield.body.skeleton import smpl_skeleton
from motionfield.io.bvh import read_bvh
from motionfield.io.retarget import retarget

from rigs_synth import MIXAMO, RIGIFY, names_for, smooth_motion


def _rotate_about(points, pivot, axis, angle):
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    r = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    return (points - pivot) @ r.T + pivot


def build_rig(names, a_pose: bool, roll: float, twist_bone: bool, prefix_extra=""):
    """A rig in SMPL's proportions (Blender axes) with its own names, rest pose and rolls."""
    sk = smooth_motion(frames=2).skeleton
    heads = to_blender(rest_points(sk.offsets, list(sk.parents)))
    if a_pose:
        for side, sign in (("left", 1), ("right", -1)):
            chain = [SMPL_NAMES.index(f"{side}_{p}") for p in ("elbow", "wrist", "hand")]
            pivot = heads[SMPL_NAMES.index(f"{side}_shoulder")]
            heads[chain] = _rotate_about(heads[chain], pivot, np.array([0, 1.0, 0]),
                                         sign * np.radians(40))
    data = bpy.data.armatures.new("rig")
    obj = bpy.data.objects.new("rig", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    bones = []
    for j, name in enumerate(names):
        bone = data.edit_bones.new(name)
        kids = [c for c, p in enumerate(SMPL_PARENTS) if p == j]
        bone.head = heads[j]
        tail = heads[kids[0]] if kids else heads[j] + (heads[j] - heads[SMPL_PARENTS[j]]) * 0.5
        bone.tail = tail if np.linalg.norm(tail - heads[j]) > 1e-3 else heads[j] + [0, 0, 0.05]
        bone.roll = roll * (j % 3)
        if SMPL_PARENTS[j] >= 0:
            bone.parent = bones[SMPL_PARENTS[j]]
        bones.append(bone)
    if twist_bone:  # an unmapped bone between upper arm and forearm, as many rigs have
        for side in ("Left", "Right"):
            upper = data.edit_bones[f"mixamorig:{side}Arm"]
            fore = data.edit_bones[f"mixamorig:{side}ForeArm"]
            twist = data.edit_bones.new(f"{side}ArmTwist")
            twist.head, twist.tail = (upper.head + upper.tail) / 2, upper.tail
            twist.parent = upper
            fore.parent = twist
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _joint_world_positions(obj, mapping):
    bpy.context.view_layer.update()
    m = np.array(obj.matrix_world)
    return {j: m[:3, :3] @ np.array(obj.pose.bones[b].head) + m[:3, 3]
            for j, b in mapping.items()}


@pytest.mark.parametrize("kind", ["mixamo", "rigify"])
def test_rig_follows_smpl_joints(empty_scene, kind):
    names = names_for(MIXAMO, "mixamorig:") if kind == "mixamo" else names_for(RIGIFY, "DEF-")
    obj = build_rig(names, a_pose=kind == "mixamo", roll=0.7 if kind == "mixamo" else 0.0,
                    twist_bone=kind == "mixamo")
    preset, mapping = auto_map([b.name for b in obj.data.bones])
    assert preset == kind
    # Euler bones, mapped or not, keep their mode and are keyed in it
    for i, bone in enumerate(obj.pose.bones):
        bone.rotation_mode = ("XYZ", "ZXY", "YZX", "QUATERNION")[i % 4]
    modes = {b.name: b.rotation_mode for b in obj.pose.bones}
    motion = smooth_motion(frames=40, fps=30, seed=3)
    action = write_motion_to_rig(obj, mapping, motion.rotations, motion.root_translation,
                                 motion.times, motion.skeleton.offsets, fps=30, start_frame=1)
    assert {b.name: b.rotation_mode for b in obj.pose.bones} == modes
    curves = _fcurves(obj, action)
    assert {c.data_path.split('"')[1] for c in curves} == set(mapping.values())
    for c in curves:
        bone = c.data_path.split('"')[1]
        wanted = "location" if bone == mapping["pelvis"] and c.data_path.endswith(
            "location") else ("rotation_quaternion" if modes[bone] == "QUATERNION"
                              else "rotation_euler")
        assert c.data_path.endswith(wanted)
    expected = to_blender(motion.joint_positions())
    for k in (0, 20, 39):
        empty_scene.frame_set(1 + k)
        got = _joint_world_positions(obj, mapping)
        for joint, pos in got.items():
            np.testing.assert_allclose(pos, expected[k, SMPL_NAMES.index(joint)], atol=2e-3,
                                       err_msg=f"{kind} {joint} frame {k}")


def test_unknown_rig_and_bad_preset_are_refused(empty_scene, tmp_path):
    with pytest.raises(RetargetError, match="could not map"):
        auto_map([f"bone{i}" for i in range(30)])
    (tmp_path / "bad.json").write_text('{"bones": {"elbow": "x"}}')
    with pytest.raises(RetargetError, match="not SMPL joints"):
        load_preset(tmp_path / "bad.json")


def test_reference_pose_ignores_zero_length_bones(data_root):
    """A CMU take converted onto SMPL has collars of no length (they sit on spine3); a rig
    map with the collars must still give a finite reference pose, not an SVD of NaN."""
    motion, _ = retarget(read_bvh(data_root / "cmu_bvh" / "02_01.bvh"))
    heads = to_blender(motion.skeleton.rest_positions())
    collars = [SMPL_NAMES.index(n) for n in ("left_collar", "right_collar")]
    spine3 = SMPL_NAMES.index("spine3")
    assert np.allclose(heads[collars], heads[spine3], atol=1e-6)  # the case itself
    rig = to_blender(smpl_skeleton().rest_positions())
    mapping = {name: name for name in SMPL_NAMES}
    pose = smpl_reference_pose(heads, dict(zip(SMPL_NAMES, rig, strict=True)), mapping)
    assert np.isfinite(pose).all()
    identity = np.broadcast_to(np.eye(3), pose.shape)
    np.testing.assert_allclose(pose @ pose.transpose(0, 2, 1), identity, atol=1e-9)


def _fcurves(obj, action):
    if hasattr(action, "slots"):
        return action.layers[0].strips[0].channelbag(obj.animation_data.action_slot).fcurves
    return action.fcurves


def test_plain_rig_kinds():
    assert rig_kind(names_for(MIXAMO, "mixamorig:")) == "mixamo"
    assert rig_kind(names_for(MIXAMO)) == "mixamo"
    assert rig_kind(list(SMPL_NAMES)) == "smpl"
    assert rig_kind(names_for(RIGIFY, "DEF-")) == "other"  # DEF bones alone: no controls
    assert rig_kind([f"bone{i}" for i in range(30)]) == "other"
