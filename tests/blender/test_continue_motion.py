"""Continue Motion in real Blender against a real backend: keys land after the last key at
the output framerate and continue the motion without a jump at the seam."""

from __future__ import annotations

import bpy
import numpy as np
import pytest


def _joint_track(scene, obj, frames) -> np.ndarray:
    """(F, 24, 3) world positions of the bone heads at each frame (subframes allowed)."""
    out = []
    for f in frames:
        whole = int(np.floor(f))
        scene.frame_set(whole, subframe=float(f - whole))
        out.append([np.array(obj.matrix_world @ b.head) for b in obj.pose.bones])
    return np.array(out)


def test_continuation_starts_where_the_keys_end(imported_walk):
    scene, obj = imported_walk
    last = obj.animation_data.action.frame_range[1]
    scene.motionfield.use_scene_fps = False
    scene.motionfield.fps = 60.0  # keys every half frame of the 30 fps scene
    assert bpy.ops.motionfield.predict(seconds=1.0) == {"FINISHED"}

    curves = (obj.animation_data.action.layers[0].strips[0].channelbags[0].fcurves
              if hasattr(obj.animation_data.action, "layers")
              else obj.animation_data.action.fcurves)
    xs = np.array([k.co[0] for k in curves[0].keyframe_points])
    new = xs[xs > last + 1e-3]
    np.testing.assert_allclose(new, last + np.arange(1, 61) / 2, atol=1e-3)

    frames = np.arange(last - 5, last + 6, 0.5)  # half frames across the seam
    track = _joint_track(scene, obj, frames)
    steps = np.linalg.norm(np.diff(track, axis=0), axis=-1).max(axis=1)  # per half frame
    before, seam, after = steps[:9], steps[10], steps[11:]
    assert seam <= 2.0 * before.max() + 1e-3, (seam, before)
    assert after.max() <= 2.5 * before.max() + 1e-3, (after, before)
    # it keeps walking: the pelvis travels during the predicted second
    pelvis = _joint_track(scene, obj, [last, last + 30])[:, 0]
    assert np.linalg.norm(pelvis[1] - pelvis[0]) > 0.3
    assert np.abs(pelvis[1][2] - pelvis[0][2]) < 0.1  # and does not sink or fly


def test_continue_refuses_what_is_not_an_smpl_armature(registered, empty_scene):
    bpy.ops.object.empty_add()
    with pytest.raises(RuntimeError, match="SMPL armature"):
        bpy.ops.motionfield.predict()
