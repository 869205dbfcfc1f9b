"""Continue Motion in real Blender against a real backend: keys land after the last key at
the output framerate, continue the motion without a jump at the seam, and every key the
animator had stays bit-identical."""

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


KEY_FIELDS = ("co", "handle_left", "handle_right", "interpolation", "handle_left_type",
              "handle_right_type", "easing")


def key_snapshot(obj) -> dict:
    """Every SMPL curve's keys: each of KEY_FIELDS as an array, by (data path, index)."""
    from addon.predict import _curves

    out = {}
    for curve in _curves(obj):
        points = curve.keyframe_points
        fields = {}
        for name in KEY_FIELDS:
            vector = name in ("co", "handle_left", "handle_right")
            values = np.empty(len(points) * (2 if vector else 1),
                              dtype=np.float32 if vector else np.int32)
            points.foreach_get(name, values)
            fields[name] = values.reshape(len(points), -1)
        out[curve.data_path, curve.array_index] = fields
    return out


def assert_keys_kept(before: dict, after: dict, new_frames=None) -> None:
    """Every key of `before` is in `after`, bit for bit, in every field; with `new_frames`,
    the only added keys are at those frames."""
    for path, old in before.items():
        now = after[path]
        frames = now["co"][:, 0]
        kept = np.isin(frames, old["co"][:, 0])
        for name in KEY_FIELDS:
            np.testing.assert_array_equal(now[name][kept], old[name], err_msg=f"{path} {name}")
        if new_frames is not None:
            np.testing.assert_allclose(frames[~kept], new_frames, atol=1e-3, err_msg=str(path))


def _as_animator_keys(obj) -> None:
    """Bezier keys with automatic handles, as keys an animator sets by hand."""
    from addon.predict import _curves

    for curve in _curves(obj):
        for point in curve.keyframe_points:
            point.interpolation = "BEZIER"
            point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
        curve.update()


def test_continuation_never_rewrites_a_key(registered, empty_scene, data_root):
    """At 29.97 fps the imported keys sit on float32 frames such as 85.99999: the
    continuation used to key from frame 86, overwriting the last key with another pose."""
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 30, 1.001
    assert bpy.ops.motionfield.import_mocap(
        filepath=str(data_root / "cmu_bvh" / "02_01.bvh")) == {"FINISHED"}
    obj = bpy.data.objects["02_01"]
    bpy.context.view_layer.objects.active = obj
    _as_animator_keys(obj)
    before = key_snapshot(obj)
    last = max(float(k["co"][-1, 0]) for k in before.values())
    assert last != round(last)  # the case that broke
    from addon.predict import _curves

    curve = _curves(obj)[0]
    probe = np.linspace(1, last, 400)
    shape = [curve.evaluate(f) for f in probe]

    assert bpy.ops.motionfield.predict(seconds=1.0) == {"FINISHED"}

    assert_keys_kept(before, key_snapshot(obj), last + np.arange(1, 31))
    assert [curve.evaluate(f) for f in probe] == shape  # the keyed motion plays as before
