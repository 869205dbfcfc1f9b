"""Import Mocap with the user's SMPL folder set: the new armature carries that model's mesh
(a synthetic SMPL-format file here), skinned so it follows the bones."""

from __future__ import annotations

from types import SimpleNamespace

import bpy
import numpy as np
from test_user_body import human_smpl

from addon import apply
from addon.backend import BACKEND
from motionfield.body.skeleton import SMPL_JOINT_NAMES


def test_import_mocap_with_an_smpl_folder_skins_the_models_mesh(registered, empty_scene,
                                                                 data_root, tmp_path,
                                                                 monkeypatch):
    arrays, per_joint = human_smpl(), 6
    np.savez(tmp_path / "SMPL_MALE.npz", **arrays)
    # a backend started before the folder was chosen: it is started again allowing it
    # (`serve --smpl-folder`; a backend reads SMPL files only inside folders it was given)
    assert bpy.ops.motionfield.backend_start() == {"FINISHED"}
    first = BACKEND.process.pid
    prefs = SimpleNamespace(smpl_folder=str(tmp_path), smpl_gender="male")
    monkeypatch.setattr(apply, "_preferences", lambda context: prefs)
    assert bpy.ops.motionfield.import_mocap(
        filepath=str(data_root / "cmu_bvh" / "02_01.bvh")) == {"FINISHED"}
    assert BACKEND.process.pid != first and BACKEND.smpl_folders == (str(tmp_path),)
    armature = bpy.data.objects["02_01"]
    body = bpy.data.objects["02_01_body"]
    assert len(body.data.vertices) == len(arrays["v_template"]) == 24 * per_joint
    assert len(body.vertex_groups) == 24 and body.parent == armature
    (modifier,) = body.modifiers
    assert modifier.type == "ARMATURE" and modifier.object == armature
    # the mesh sits on the bones: each joint's vertex cluster is centred on its bone's head
    rest = np.array([v.co for v in body.data.vertices]).reshape(24, per_joint, 3)
    heads = np.array([armature.data.bones[name].head_local for name in SMPL_JOINT_NAMES])
    np.testing.assert_allclose(rest.mean(axis=1), heads, atol=1e-5)

    empty_scene.frame_set(40)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    posed_mesh = body.evaluated_get(depsgraph).to_mesh()
    posed = np.array([v.co for v in posed_mesh.vertices])
    body.evaluated_get(depsgraph).to_mesh_clear()
    pose = armature.evaluated_get(depsgraph).pose
    moved = 0.0
    for v, weight in ((v, v.groups[0]) for v in body.data.vertices if len(v.groups) == 1):
        bone = armature.data.bones[body.vertex_groups[weight.group].name]
        deform = np.array(pose.bones[bone.name].matrix) @ np.linalg.inv(bone.matrix_local)
        expect = deform[:3, :3] @ np.array(v.co) + deform[:3, 3]  # rigid with its bone
        np.testing.assert_allclose(posed[v.index], expect, atol=1e-4)
        moved = max(moved, float(np.linalg.norm(posed[v.index] - np.array(v.co))))
    assert moved > 0.1  # the clip really moved the body
