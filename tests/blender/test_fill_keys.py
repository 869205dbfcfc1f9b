"""Fill Between Keys in real Blender against a real backend: sparse keys of a real walk get
every frame between them keyed, the animator's keys stay as they were, and the filled
motion is closer to the capture than Blender's own interpolation of those keys, linear or
Bezier."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from test_continue_motion import assert_keys_kept, key_snapshot

KEY_SPACING = 6  # frames at 30 fps: a key every 200 ms


def _curves(obj):
    action = obj.animation_data.action
    if hasattr(action, "layers") and action.layers:
        return action.layers[0].strips[0].channelbags[0].fcurves
    return action.fcurves


def _keys(curve) -> np.ndarray:
    co = np.empty(2 * len(curve.keyframe_points), dtype=np.float32)
    curve.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


def _keep_only(curve, frames: np.ndarray, interpolation: str) -> None:
    """Delete the curve's keys at frames not in `frames`; the rest interpolate LINEAR (as
    imported) or BEZIER with Blender's default automatic clamped handles (a cubic through
    the keys, as an animator's curves usually are)."""
    co = _keys(curve)
    kept = co[np.isin(np.round(co[:, 0]), frames)]
    points = curve.keyframe_points
    points.clear()
    points.add(len(kept))
    points.foreach_set("co", kept.ravel())
    for point in points:
        point.interpolation = interpolation
        point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
    curve.update()


def _joint_track(scene, obj, frames) -> np.ndarray:
    """(F, 24, 3) world positions of the bone heads at each whole frame."""
    out = []
    for f in frames:
        scene.frame_set(int(f))
        out.append([np.array(obj.matrix_world @ b.head) for b in obj.pose.bones])
    return np.array(out)


@pytest.mark.parametrize("interpolation", ["LINEAR", "BEZIER"])
def test_fill_keys_every_frame_between_sparse_keys(imported_walk, interpolation):
    scene, obj = imported_walk
    first, last = (int(round(f)) for f in obj.animation_data.action.frame_range)
    frames = np.arange(first, last + 1)
    truth = _joint_track(scene, obj, frames)
    kept = frames[(frames - first) % KEY_SPACING == 0]
    for curve in _curves(obj):
        _keep_only(curve, kept, interpolation)
    before = {c.data_path + str(c.array_index): _keys(c) for c in _curves(obj)}
    every_field = key_snapshot(obj)
    blender = _joint_track(scene, obj, frames)  # Blender interpolating the sparse keys

    assert bpy.ops.motionfield.fill() == {"FINISHED"}

    assert_keys_kept(every_field, key_snapshot(obj))  # handles and settings too

    for curve in _curves(obj):
        keys = _keys(curve)
        np.testing.assert_allclose(keys[:, 0], np.arange(first, kept[-1] + 1), atol=1e-3)
        old = before[curve.data_path + str(curve.array_index)]
        at_old = np.isin(np.round(keys[:, 0]), kept)
        np.testing.assert_array_equal(keys[at_old], old)  # the animator's keys untouched
    filled = _joint_track(scene, obj, frames)
    inside = (frames <= kept[-1]) & ~np.isin(frames, kept)
    ours = np.linalg.norm(filled - truth, axis=-1)[inside].mean()
    interpolated = np.linalg.norm(blender - truth, axis=-1)[inside].mean()
    assert ours < interpolated, (ours, interpolated)


def test_fill_refuses_an_armature_with_one_keyed_frame(imported_walk):
    scene, obj = imported_walk
    for curve in _curves(obj):
        _keep_only(curve, np.array([1]), "LINEAR")
    with pytest.raises(RuntimeError, match="at least two frames"):
        bpy.ops.motionfield.fill()


def test_the_api_fills_and_continues_headless(imported_walk):
    from addon import api

    scene, obj = imported_walk
    first, last = (int(round(f)) for f in obj.animation_data.action.frame_range)
    kept = np.arange(first, last + 1, KEY_SPACING)
    for curve in _curves(obj):
        _keep_only(curve, kept, "LINEAR")
    assert api.fill_between_keys(obj) == kept[-1] - first + 1 - len(kept)
    assert api.continue_motion(obj, seconds=0.5, fps=60) == 30
    xs = _keys(_curves(obj)[0])[:, 0]
    np.testing.assert_allclose(xs[-30:], kept[-1] + np.arange(1, 31) / 2, atol=1e-3)
