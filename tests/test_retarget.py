"""Retargeting onto SMPL: real rigs from the data archives and synthetic Mixamo/Rigify rigs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from motionfield.body.rotations import quat_to_matrix
from motionfield.errors import RigError
from motionfield.io.bvh import parse_bvh, read_bvh
from motionfield.io.retarget import retarget
from motionfield.io.rigs import detect_rig, guess_rig, load_rig_map, split_side

from rigs_synth import MIXAMO, RIGIFY, a_pose_corrections, names_for, smooth_motion, synth_bvh


def test_every_bandai_1_clip_retargets_within_2cm(data_root):
    folder = data_root / "Bandai-Namco-Research-Motiondataset-1" / "data"
    errors = {}
    for path in sorted(folder.glob("*.bvh")):
        clip = read_bvh(path)
        motion, report = retarget(clip)
        assert report.rig == "bandai_namco" and report.reference == "rig calibration"
        assert motion.fps == 30 and motion.num_frames == clip.num_frames
        errors[path.stem] = report.error_mean_m
    assert len(errors) == 174
    worst = max(errors, key=errors.get)
    assert errors[worst] < 0.02, (worst, errors[worst])


# CMU's hierarchy has joints SMPL lacks (LHipJoint, LowerBack, Neck) that rotate on their own:
# one SMPL rotation cannot follow two source bones exactly, hence its looser bound.
@pytest.mark.parametrize("rel,rig,bound", [
    ("cmu_bvh/02_01.bvh", "cmu_cgspeed", 0.02), ("cmu_bvh/05_06.bvh", "cmu_cgspeed", 0.03),
    ("ReActIdle/genuine/003_genuine.bvh", "reactidle", 0.01)])
def test_cmu_and_reactidle_clips(data_root, rel, rig, bound):
    motion, report = retarget(read_bvh(data_root / rel))
    assert report.rig == rig
    assert report.error_mean_m < bound, report.lines()
    # upright: the head is well above the pelvis, the pelvis above the lower ankle
    pos = motion.joint_positions()
    assert np.mean(pos[:, 15, 1] - pos[:, 0, 1]) > 0.3
    assert np.mean(pos[:, 0, 1] - np.minimum(pos[:, 7, 1], pos[:, 8, 1])) > 0.6
    # on the floor (ReActIdle writes its root as a displacement from hip height)
    assert -0.08 < pos[:, [10, 11], 1].min() < 0.1


def test_smpl_proportions_keep_the_shipped_skeleton(data_root):
    from motionfield.body.skeleton import smpl_skeleton

    clip = read_bvh(data_root / "cmu_bvh" / "02_01.bvh")
    fitted, _ = retarget(clip)
    standard, report = retarget(clip, proportions="smpl")
    assert standard.skeleton == smpl_skeleton()
    np.testing.assert_allclose(standard.rotations, fitted.rotations)
    assert report.error_mean_m > 0.02  # CMU's torso is shorter than SMPL's: said, not hidden


@pytest.mark.parametrize("table,prefix,unit,order,a_pose,rig", [
    (MIXAMO, "mixamorig:", 0.01, "ZYX", True, "mixamo"),
    (RIGIFY, "DEF-", 1.0, "XYZ", False, "rigify"),
    (RIGIFY, "", 0.0254, "YXZ", True, "rigify"),
])
def test_synthetic_rigs_give_back_the_smpl_motion(table, prefix, unit, order, a_pose, rig):
    motion = smooth_motion()
    text = synth_bvh(motion, names_for(table, prefix), unit, order,
                     a_pose_corrections() if a_pose else None)
    got, report = retarget(parse_bvh(text))
    assert report.rig == rig and not report.missing
    np.testing.assert_allclose(got.joint_positions(), motion.joint_positions(), atol=1e-4)
    np.testing.assert_allclose(quat_to_matrix(got.rotations), quat_to_matrix(motion.rotations),
                               atol=1e-4)


def test_name_guess_handles_other_conventions():
    names = ["Hips", "Chest", "Neck", "Head", "LeftCollar", "LeftShoulder", "LeftElbow",
             "LeftWrist", "RightCollar", "RightShoulder", "RightElbow", "RightWrist",
             "LeftHip", "LeftKnee", "LeftAnkle", "RightHip", "RightKnee", "RightAnkle"]
    parents = [-1, 0, 1, 2, 1, 4, 5, 6, 1, 8, 9, 10, 0, 12, 13, 0, 15, 16]
    rig = detect_rig(names, parents)
    assert rig.joints["left_collar"] == "LeftCollar"
    assert rig.joints["left_shoulder"] == "LeftShoulder"
    assert rig.joints["right_knee"] == "RightKnee"
    assert rig.joints["spine3"] == "Chest"
    assert split_side("l_thigh") == ("left", "thigh")
    assert split_side("upperarm_r") == ("right", "upperarm")
    assert split_side("RThumb") == ("right", "thumb")


def test_unknown_rig_is_refused_clearly():
    with pytest.raises(RigError, match="unknown rig"):
        guess_rig([f"bone{i}" for i in range(20)])


def test_mapping_file_overrides(tmp_path):
    motion = smooth_motion(frames=10)
    names = [f"b{i}" for i in range(24)]
    text = synth_bvh(motion, names, 1.0, "ZXY")
    from motionfield.body.skeleton import SMPL_JOINT_NAMES

    (tmp_path / "map.json").write_text(
        '{"joints": {' + ", ".join(f'"{s}": "b{i}"' for i, s in enumerate(SMPL_JOINT_NAMES))
        + "}}")
    got, report = retarget(parse_bvh(text), load_rig_map(tmp_path / "map.json"))
    np.testing.assert_allclose(got.joint_positions(), motion.joint_positions(), atol=1e-4)
    (tmp_path / "bad.json").write_text('{"joints": {"elbow": "b1"}}')
    with pytest.raises(RigError, match="not SMPL joints"):
        load_rig_map(tmp_path / "bad.json")
    (tmp_path / "absent.json").write_text('{"joints": {"pelvis": "nope"}}')
    with pytest.raises(RigError, match="lacks"):
        retarget(parse_bvh(text), load_rig_map(tmp_path / "absent.json"))


def test_non_t_pose_zero_pose_needs_a_reference(data_root):
    clip = read_bvh(data_root / "Bandai-Namco-Research-Motiondataset-1" / "data"
                    / "dataset-1_walk_normal_001.bvh")
    rig = detect_rig(clip.names, clip.parents)
    from dataclasses import replace

    with pytest.raises(RigError, match="not a T or A pose"):
        retarget(clip, replace(rig, calibration={}))
    _, report = retarget(clip, replace(rig, calibration={}), reference_frame=0)
    assert report.error_mean_m < 0.02


def test_every_reactidle_clip_retargets(data_root):
    """Its clavicles start where its neck does: the chest's child bones lie on one line,
    which must not make the chest's rotation arbitrary (it once flipped the arms)."""
    files = sorted((data_root / "ReActIdle").rglob("*.bvh"))
    assert len(files) == 22
    for path in files:
        _, report = retarget(read_bvh(path))
        assert report.error_mean_m < 0.01, (path.name, report.lines())


# ---------------------------------------------------------------- zero-length bones

def _collars_on_the_chest(length: float = 0.0):
    """SMPL with each collar `length` metres from spine3 (CMU's sit on it); the shoulders
    stay where they were."""
    from motionfield.body.skeleton import SMPL_JOINT_NAMES, smpl_skeleton

    skel = smpl_skeleton()
    offsets = skel.offsets.copy()
    for side in ("left", "right"):
        collar = SMPL_JOINT_NAMES.index(f"{side}_collar")
        shoulder = SMPL_JOINT_NAMES.index(f"{side}_shoulder")
        new = offsets[collar] / np.linalg.norm(offsets[collar]) * length
        offsets[shoulder] += offsets[collar] - new
        offsets[collar] = new
    return skel.with_offsets(offsets)


def _smpl_names_map():
    from motionfield.body.skeleton import SMPL_JOINT_NAMES
    from motionfield.io.rigs import RigMap

    return RigMap("smpl names", {n: n for n in SMPL_JOINT_NAMES}, units="metres")


@pytest.mark.parametrize("collar_m", [0.0, 1e-7, 1e-5])
def test_zero_and_tiny_source_bones_are_skipped(collar_m):
    """Source collars of no length (and the rig's tiny bones) say nothing about direction:
    no NaN reaches the SVD, no warning, the pose still matches."""
    from dataclasses import replace

    from motionfield.body.skeleton import SMPL_JOINT_NAMES

    motion = replace(smooth_motion(), skeleton=_collars_on_the_chest(collar_m))
    text = synth_bvh(motion, list(SMPL_JOINT_NAMES), 1.0, "ZXY")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, report = retarget(parse_bvh(text, "collars.bvh"), _smpl_names_map())
    assert "left_collar" in report.mapped and np.isfinite(got.rotations).all()
    assert report.error_mean_m < 1e-3, report.lines()


def test_zero_length_smpl_bones_are_skipped():
    """The SMPL side may have collars of no length too (a skeleton taken from a converted CMU
    motion): retargeting onto it works for both proportions."""
    from motionfield.body.skeleton import SMPL_JOINT_NAMES

    motion = smooth_motion()
    text = synth_bvh(motion, list(SMPL_JOINT_NAMES), 1.0, "ZXY")
    got = {}
    for proportions in ("source", "smpl"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got[proportions], report = retarget(
                parse_bvh(text), _smpl_names_map(), proportions=proportions,
                skeleton=_collars_on_the_chest(0.0))
        assert np.isfinite(got[proportions].skeleton.offsets).all()
    # source proportions follow the source's joints; the rotations are the same either way
    np.testing.assert_allclose(got["source"].joint_positions(), motion.joint_positions(),
                               atol=1e-3)
    np.testing.assert_allclose(got["smpl"].rotations, got["source"].rotations, atol=1e-9)


def test_cmu_collars_onto_a_converted_cmu_skeleton(data_root):
    """The issue's case: CMU 02_01 converted to SMPL has zero-length collars (they sit on
    spine3); retargeting CMU again onto that skeleton, with the collars in the map, once
    ended in `SVD did not converge` after a divide warning."""
    from motionfield.body.skeleton import SMPL_JOINT_NAMES

    clip = read_bvh(data_root / "cmu_bvh" / "02_01.bvh")
    converted, first = retarget(clip)
    collars = [SMPL_JOINT_NAMES.index(n) for n in ("left_collar", "right_collar")]
    assert np.abs(converted.skeleton.offsets[collars]).max() == 0  # the data as found
    assert {"left_collar", "right_collar"} <= set(first.mapped)
    for proportions in ("source", "smpl"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again, report = retarget(clip, skeleton=converted.skeleton,
                                     proportions=proportions)
        assert np.isfinite(again.rotations).all()
        assert report.error_mean_m < 0.02, report.lines()
    np.testing.assert_allclose(again.rotations, converted.rotations, atol=1e-6)


def test_all_zero_offsets_are_a_clear_error():
    """Once a ZeroDivisionError (body scale over zero legs)."""
    import re

    from motionfield.body.skeleton import SMPL_JOINT_NAMES

    text = synth_bvh(smooth_motion(), list(SMPL_JOINT_NAMES), 1.0, "ZXY")
    flat = re.sub(r"OFFSET( +\S+){3}", "OFFSET 0 0 0", text)
    with pytest.raises(RigError, match=r"^flat\.bvh: the source's bones .*left_hip->left_knee"
                       r".*no length in the zero pose.*OFFSETs"):
        retarget(parse_bvh(flat, "flat.bvh"), _smpl_names_map())


def test_negative_reference_frames_are_refused():
    from motionfield.body.skeleton import SMPL_JOINT_NAMES

    clip = parse_bvh(synth_bvh(smooth_motion(frames=10), list(SMPL_JOINT_NAMES), 1.0, "ZXY"),
                     "take.bvh")
    for frame in (-5, -1, 10):
        with pytest.raises(RigError, match=rf"^take\.bvh: reference frame {frame} is outside"):
            retarget(clip, _smpl_names_map(), reference_frame=frame)
    retarget(clip, _smpl_names_map(), reference_frame=9)
