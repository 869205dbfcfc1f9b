"""SMPL motion onto the CMU benchmark's skeleton: the inverse of the benchmark's retarget."""

from __future__ import annotations

import numpy as np
import pytest

from motionfield.body.skeleton import smpl_skeleton
from motionfield.io.bvh import bvh_text, parse_bvh, read_bvh
from motionfield.io.cmu_benchmark import (
    expmap_to_positions_ltd,
    list_sequences,
    load_cmu_skeleton,
    read_cmu_sequence,
    sequence_to_motion,
)
from motionfield.io.retarget import retarget
from motionfield.io.rigs import builtin_rigs
from motionfield.io.smpl_to_cmu import (
    cmu_calibration,
    mean_local_rotations,
    smpl_to_ltd_positions,
)
from motionfield.motion import Motion


def _smpl(rotations: np.ndarray) -> Motion:
    return Motion.from_frames(rotations, np.zeros((len(rotations), 3)), smpl_skeleton(), 30)


@pytest.fixture(scope="module")
def cmu(data_root):
    root = data_root / "cmu_mocap"
    skeleton = load_cmu_skeleton(root)
    train = [read_cmu_sequence(p) for paths in list_sequences(root, "train").values()
             for p in paths]
    return root, skeleton, cmu_calibration(skeleton), mean_local_rotations(train)


def test_benchmark_file_comes_back_through_smpl(cmu):
    """CMU rows -> SMPL (as the data build retargets them) -> CMU positions: the joints
    SMPL carries land where the benchmark's own kinematics put them; the error left is the
    bones SMPL has no joint for (a second neck bone, the thumbs), held at their mean."""
    root, skeleton, calibration, fixed = cmu
    rows = read_cmu_sequence(root / "train" / "basketball_signal" / "basketball_signal_1.txt")
    rows = rows[:301]
    motion = sequence_to_motion(rows, skeleton)
    smpl, _ = retarget(parse_bvh(bvh_text(motion)), units="metres")
    back = smpl_to_ltd_positions(smpl, skeleton, calibration, fixed)
    truth = expmap_to_positions_ltd(rows[1:], skeleton)
    error = np.linalg.norm(back - truth, axis=-1)[:, list(skeleton.used_joints)]
    assert error.mean() < 15.0  # LTD "mm"; the body spans about 2000
    legs = [skeleton.names.index(n) for n in ("LeftFoot", "RightFoot", "LeftLeg")]
    assert np.linalg.norm(back - truth, axis=-1)[:, legs].max() < 1.0


def test_uncaptured_joints_hold_their_mean_local_rotation(cmu):
    """A hand rig without fingers: the finger bones follow the wrist at the mean pose, so
    their positions relative to the wrist never change whatever SMPL's hand joint does."""
    _, skeleton, calibration, fixed = cmu
    rng = np.random.default_rng(0)
    rotations = rng.normal(size=(4, 24, 4))
    rotations /= np.linalg.norm(rotations, axis=-1, keepdims=True)
    captured = [n for n in calibration if not n.endswith("_hand")]
    pos = smpl_to_ltd_positions(_smpl(rotations), skeleton, calibration, fixed, captured)
    other = rotations.copy()
    other[:, [22, 23]] = [1.0, 0.0, 0.0, 0.0]  # SMPL's hands moved, nothing else
    moved = smpl_to_ltd_positions(_smpl(other), skeleton, calibration, fixed, captured)
    np.testing.assert_allclose(moved, pos, atol=1e-9)
    assert not np.allclose(smpl_to_ltd_positions(_smpl(other), skeleton, calibration, fixed),
                           pos)


def test_bandai_walk_stands_upright_on_the_benchmark_skeleton(cmu, data_root):
    _, skeleton, calibration, fixed = cmu
    path = next((data_root / "Bandai-Namco-Research-Motiondataset-1").rglob(
        "dataset-1_walk_normal_001.bvh"))
    smpl, _ = retarget(read_bvh(path), proportions="smpl")
    captured = list(builtin_rigs()["bandai_namco"].joints)
    pos = smpl_to_ltd_positions(smpl, skeleton, calibration, fixed, captured)
    y = {n: pos[:, skeleton.names.index(n), 1] for n in ("Head", "LeftFoot", "RightFoot")}
    assert (y["Head"] > 400).all() and (y["LeftFoot"] < -800).all()
    assert (y["RightFoot"] < -800).all()
    # the feet take turns in front: walking, not standing
    stride = pos[:, skeleton.names.index("LeftFoot"), 2] - pos[:, skeleton.names.index(
        "RightFoot"), 2]
    assert stride.max() > 200 and stride.min() < -200
