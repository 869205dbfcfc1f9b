"""Continue Motion and Fill Between Keys on the animator's own generated Rigify rig: its
keyed FK controls read back into SMPL (the inverse of the retarget), and the predict job's
answer keyed onto the same controls after the last key, every existing key left as it was,
with no jump at the seam."""

from __future__ import annotations

import addon_utils
import bpy
import numpy as np
import pytest
from test_continue_motion import assert_keys_kept, key_snapshot
from test_rigify import _step

from addon.keyframes import write_motion_to_rigify
from addon.retarget import SMPL_NAMES, smpl_world_rotations
from motionfield.io.bvh import read_bvh
from motionfield.io.retarget import retarget

SECONDS = 2  # of the CMU walk keyed on the rig, at 30 fps
DEF_BONES = ("DEF-spine", "DEF-spine.003", "DEF-spine.006", "DEF-thigh.L", "DEF-shin.L",
             "DEF-foot.L", "DEF-thigh.R", "DEF-shin.R", "DEF-foot.R", "DEF-upper_arm.L",
             "DEF-forearm.L", "DEF-hand.L", "DEF-upper_arm.R", "DEF-forearm.R", "DEF-hand.R")


@pytest.fixture(scope="module")
def walk(data_root):
    motion, _ = retarget(read_bvh(data_root / "cmu_bvh" / "02_01.bvh"))
    sl = slice(None, SECONDS * 30 * _step(motion), _step(motion))
    return motion.rotations[sl], motion.root_translation[sl], motion.times[sl], \
        motion.skeleton.offsets


@pytest.fixture
def keyed_rig(registered, walk):
    """A freshly generated Rigify human rig, active, keyed by write_motion_to_rigify with
    2 s of the CMU walk on frames 1-60 of a 30 fps scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    rotations, root, times, offsets = walk
    write_motion_to_rigify(rig, rotations, root, times, offsets, fps=30, start_frame=1)
    bpy.context.view_layer.objects.active = rig
    return scene, rig


def test_read_back_is_the_keyed_motion(keyed_rig, walk):
    """The controls read into SMPL give back the source's world rotations on every joint
    with a control, and its pelvis position."""
    from addon.predict import keyed_frames, read_smpl_poses
    from addon.rigify_motion import body_of

    scene, rig = keyed_rig
    frames, mask = keyed_frames(rig)
    np.testing.assert_allclose(frames, np.arange(1, SECONDS * 30 + 1))
    assert mask.all()
    rotations, root = read_smpl_poses(scene, rig, frames)
    source_rot, source_root = walk[0], walk[1]
    joints = [SMPL_NAMES.index(j) for j in body_of(rig).controls]
    got, want = (smpl_world_rotations(r)[:, joints] for r in (rotations, source_rot))
    cos = (np.trace(np.swapaxes(got, -1, -2) @ want, axis1=-2, axis2=-1) - 1) / 2
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    root_error = np.linalg.norm(root - source_root, axis=-1)
    print(f"read back: rotations max {angle.max():.3f} deg, pelvis max "
          f"{root_error.max() * 1000:.2f} mm")
    assert angle.max() < 0.1 and root_error.max() < 1e-3


def _def_track(scene, rig, frames) -> np.ndarray:
    """(F, B, 3) DEF bone heads after Rigify's constraints, at `frames` (subframes too)."""
    out = []
    for f in frames:
        whole = int(np.floor(f))
        scene.frame_set(whole, subframe=float(f - whole))
        out.append([np.array(rig.pose.bones[b].head) for b in DEF_BONES])
    return np.array(out)


def test_continue_on_rigify_appends_without_a_jump(keyed_rig):
    scene, rig = keyed_rig
    before = key_snapshot(rig)
    last = max(float(k["co"][-1, 0]) for k in before.values())
    assert bpy.ops.motionfield.predict(seconds=1.0) == {"FINISHED"}

    after = key_snapshot(rig)
    assert_keys_kept(before, after)
    torso = after['pose.bones["torso"].location', 0]["co"][:, 0]
    np.testing.assert_allclose(torso[torso > last + 1e-3], last + np.arange(1, 31), atol=1e-3)
    keyed = {path for path, _ in after}
    assert keyed == {path for path, _ in before}  # the same controls, nothing else

    frames = np.arange(last - 5, last + 6, 0.5)  # half frames across the seam
    track = _def_track(scene, rig, frames)
    steps = np.linalg.norm(np.diff(track, axis=0), axis=-1).max(axis=1)
    before_steps, seam, after_steps = steps[:9], steps[10], steps[11:]
    print(f"Rigify seam: {seam * 100:.2f} cm per half frame, before max "
          f"{before_steps.max() * 100:.2f}, after max {after_steps.max() * 100:.2f}")
    assert seam <= 2.0 * before_steps.max() + 1e-3, (seam, before_steps)
    assert after_steps.max() <= 2.5 * before_steps.max() + 1e-3, (after_steps, before_steps)
    pelvis = _def_track(scene, rig, [last, last + 30])[:, 0]
    assert np.linalg.norm(pelvis[1, :2] - pelvis[0, :2]) > 0.3  # it keeps walking


def test_fill_on_rigify_keys_only_the_gaps(keyed_rig):
    """Every 10th frame kept (the animator's key poses): Fill Between Keys keys the frames
    between them on the same controls and leaves the kept keys as they were."""
    from addon.predict import _curves

    scene, rig = keyed_rig
    for curve in _curves(rig):
        if "IK_FK" in curve.data_path:
            continue
        points = curve.keyframe_points
        for k in reversed(range(len(points))):
            if (points[k].co[0] - 1) % 10:
                points.remove(points[k], fast=True)
        curve.update()
    before = key_snapshot(rig)
    assert bpy.ops.motionfield.fill() == {"FINISHED"}
    after = key_snapshot(rig)
    assert_keys_kept(before, after)
    torso = after['pose.bones["torso"].location', 0]["co"][:, 0]
    np.testing.assert_allclose(torso, np.arange(1, 52), atol=1e-3)


@pytest.fixture
def keyed_metarig(registered, walk):
    """A Rigify human metarig (a plain deform rig), active, keyed through the automatic bone
    map with 2 s of the CMU walk on frames 1-60 of a 30 fps scene."""
    from addon.apply import Output, apply_motion

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.active_object
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    rotations, root, times, offsets = walk
    arrays = {"rotations": rotations, "root_translation": root, "times": times,
              "offsets": offsets, "parents": np.arange(24)}  # parents: unused by a retarget
    apply_motion(scene, {"joint_names": list(SMPL_NAMES)}, arrays, Output(target="SELECTED"),
                 metarig)
    return scene, metarig


def test_plain_rig_reads_back_and_continues(keyed_metarig, walk):
    """A plain rig keyed through a bone map reads back into the keyed motion on its mapped
    joints, and Continue Motion appends after its last key, existing keys kept."""
    from addon.predict import keyed_frames, read_smpl_poses

    scene, metarig = keyed_metarig
    frames, mask = keyed_frames(metarig)
    np.testing.assert_allclose(frames, np.arange(1, SECONDS * 30 + 1))
    rotations, root = read_smpl_poses(scene, metarig, frames)
    mapped = [pair.split(":", 1)[0] for pair in
              metarig.animation_data.action["motionfield_retarget"]["mapped"]]
    joints = [SMPL_NAMES.index(j) for j in mapped]
    got, want = (smpl_world_rotations(r)[:, joints] for r in (rotations, walk[0]))
    cos = (np.trace(np.swapaxes(got, -1, -2) @ want, axis1=-2, axis2=-1) - 1) / 2
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    root_error = np.linalg.norm(root - walk[1], axis=-1)
    worst = mapped[int(angle.max(0).argmax())]
    print(f"metarig read back: rotations max {angle.max():.3f} deg ({worst}), pelvis max "
          f"{root_error.max() * 1000:.2f} mm")
    # 0.04 degrees on most joints (float32 keys); the right toe up to 0.46
    assert np.median(angle) < 0.1 and angle.max() < 1.0 and root_error.max() < 1e-3

    before = key_snapshot(metarig)
    assert bpy.ops.motionfield.predict(seconds=1.0) == {"FINISHED"}
    after = key_snapshot(metarig)
    assert_keys_kept(before, after)
    spine = after['pose.bones["spine"].location', 0]["co"][:, 0]
    np.testing.assert_allclose(spine[spine > 60 + 1e-3], 60 + np.arange(1, 31), atol=1e-3)
    assert {path for path, _ in after} == {path for path, _ in before}
