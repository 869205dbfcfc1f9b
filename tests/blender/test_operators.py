"""The add-on's operators in real Blender against a real backend process."""

from __future__ import annotations

import time

import bpy
import numpy as np
import pytest

from addon import operators
from addon.backend import BACKEND
from addon.jobs import JOBS


def test_import_mocap_blocks_headless_and_keys_an_smpl_armature(registered, empty_scene,
                                                                 data_root):
    empty_scene.render.fps, empty_scene.render.fps_base = 30, 1.001
    bvh = data_root / "cmu_bvh" / "02_01.bvh"
    assert bpy.ops.motionfield.import_mocap(filepath=str(bvh)) == {"FINISHED"}
    assert BACKEND.state in ("ready", "busy") and "convert" in BACKEND.methods
    obj = bpy.data.objects["02_01"]
    assert obj.type == "ARMATURE" and len(obj.pose.bones) == 24
    action = obj.animation_data.action
    assert action.name == "02_01"
    # 343 frames at 120 fps = 2.85 s -> 86 keys at 29.97 fps, on whole frames from 1
    curves = (action.layers[0].strips[0].channelbags[0].fcurves if hasattr(action, "layers")
              else action.fcurves)  # slotted actions from 4.4 on
    xs = np.array([k.co[0] for k in curves[0].keyframe_points])
    np.testing.assert_allclose(xs, 1 + np.arange(86), atol=1e-4)


def test_submit_returns_while_the_job_runs(registered, empty_scene, data_root, monkeypatch):
    monkeypatch.setattr(operators, "should_block", lambda: False)
    bvh = data_root / "ReActIdle" / "acted" / "001_acted.bvh"  # 141 s of motion
    began = time.perf_counter()
    assert bpy.ops.motionfield.import_mocap(filepath=str(bvh)) == {"FINISHED"}
    returned = time.perf_counter() - began
    assert JOBS.running, "the job should still be running"
    assert "001_acted" not in bpy.data.objects  # nothing keyed yet
    deadline = time.monotonic() + 30
    while JOBS.running and time.monotonic() < deadline:
        operators.poll_jobs()
        time.sleep(0.02)
    assert not JOBS.running
    obj = bpy.data.objects["001_acted"]
    assert obj.animation_data.action is not None
    assert JOBS.message.startswith("keyed 001_acted")
    assert returned < 1.0, returned  # the BVH read and the submit only


def test_a_bad_file_is_reported_not_raised(registered, empty_scene, tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT x\n{")
    with pytest.raises(RuntimeError, match="bad.bvh"):  # bpy.ops turns a report into this
        bpy.ops.motionfield.import_mocap(filepath=str(bad))


def test_bone_map_saved_from_a_rig_is_offered_as_a_preset(registered, empty_scene, data_root,
                                                          tmp_path, monkeypatch):
    from addon import apply
    from addon.retarget import presets

    monkeypatch.setattr(operators, "user_bone_maps", lambda: tmp_path)  # not the user's own
    monkeypatch.setattr(apply, "_user_folders", lambda: [tmp_path])
    bvh = data_root / "cmu_bvh" / "02_01.bvh"
    bpy.ops.motionfield.import_mocap(filepath=str(bvh))  # a new SMPL armature, selected below
    obj = bpy.data.objects["02_01"]
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.motionfield.save_bone_map(name="smpl_copy") == {"FINISHED"}
    saved = presets(apply._user_folders())["smpl_copy"]
    assert (tmp_path / "smpl_copy.json").exists()
    assert saved["left_elbow"] == "left_elbow" and len(saved) == 24
