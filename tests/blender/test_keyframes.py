"""Keys in real Blender: right times at 24, 29.97, 60 and 120 fps, exact at fractional
rates, and bones that reproduce the SMPL joint positions."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon.armature import create_armature
from addon.axes import Y_UP_TO_Z_UP, to_blender
from addon.keyframes import scene_fps, write_motion

from rigs_synth import smooth_motion

SCENE_RATES = {"24": (24, 1.0), "29.97": (30, 1.001), "60": (60, 1.0), "120": (120, 1.0)}


def _armature(motion):
    sk = motion.skeleton
    return create_armature("SMPL", list(sk.names), list(sk.parents), sk.offsets)


def _world_heads(obj, names) -> np.ndarray:
    bpy.context.view_layer.update()
    m = np.array(obj.matrix_world)
    heads = np.array([np.array(obj.pose.bones[n].head) for n in names])
    return heads @ m[:3, :3].T + m[:3, 3]


@pytest.mark.parametrize("rate", list(SCENE_RATES))
def test_keys_land_on_scene_frames_and_pose_matches_smpl(empty_scene, rate):
    fps, base = SCENE_RATES[rate]
    empty_scene.render.fps, empty_scene.render.fps_base = fps, base
    motion = smooth_motion(frames=30, fps=30).at_fps(rate)
    obj = _armature(motion)
    names = list(motion.skeleton.names)
    action = write_motion(obj, names, motion.rotations, motion.root_translation, motion.times,
                          fps=scene_fps(empty_scene), start_frame=10)
    curves = (action.layers[0].strips[0].channelbags[0].fcurves if hasattr(action, "layers")
              else action.fcurves)
    xs = np.array([k.co[0] for k in curves[0].keyframe_points])
    np.testing.assert_allclose(xs, 10 + np.arange(motion.num_frames), atol=1e-4)
    expected = to_blender(motion.joint_positions())
    for k in (0, motion.num_frames // 2, motion.num_frames - 1):
        empty_scene.frame_set(10 + k)
        np.testing.assert_allclose(_world_heads(obj, names), expected[k], atol=5e-4)  # float32 keys


def test_fractional_times_are_exact(empty_scene):
    """120 fps motion in a 24 fps scene: keys every fifth of a frame, poses between frames."""
    empty_scene.render.fps, empty_scene.render.fps_base = 24, 1.0
    motion = smooth_motion(frames=30, fps=30).at_fps(120)
    obj = _armature(motion)
    names = list(motion.skeleton.names)
    action = write_motion(obj, names, motion.rotations, motion.root_translation, motion.times,
                          fps=24.0, start_frame=1)
    curves = (action.layers[0].strips[0].channelbags[0].fcurves if hasattr(action, "layers")
              else action.fcurves)
    xs = np.array([k.co[0] for k in curves[0].keyframe_points])
    np.testing.assert_allclose(xs, 1 + np.arange(motion.num_frames) / 5, atol=1e-5)
    k = 37  # 37 / 5 = frame 7.4 after the start
    empty_scene.frame_set(8, subframe=0.4)
    np.testing.assert_allclose(_world_heads(obj, names),
                               to_blender(motion.joint_positions())[k], atol=5e-4)


def test_axes_conversion_is_a_proper_quarter_turn():
    assert np.isclose(np.linalg.det(Y_UP_TO_Z_UP), 1.0)
    np.testing.assert_allclose(to_blender([0, 1, 0]), [0, 0, 1])   # up stays up
    np.testing.assert_allclose(to_blender([0, 0, 1]), [0, -1, 0])  # faces the front view


def test_each_result_is_a_new_action_and_bad_input_is_refused(empty_scene):
    motion = smooth_motion(frames=5, fps=30)
    obj = _armature(motion)
    names = list(motion.skeleton.names)
    first = write_motion(obj, names, motion.rotations, motion.root_translation, motion.times,
                         fps=30)
    second = write_motion(obj, names, motion.rotations, motion.root_translation, motion.times,
                          fps=30)
    assert first != second and obj.animation_data.action == second
    bad = motion.rotations.copy()
    bad[2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_motion(obj, names, bad, motion.root_translation, motion.times, fps=30)
    with pytest.raises(ValueError, match="rotations must be"):
        write_motion(obj, names, bad[:, :3], motion.root_translation, motion.times, fps=30)
