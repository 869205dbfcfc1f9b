"""The motion core: rotations (against scipy and hand-made poses), FK, timing, Motion."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionfield.body import rotations as R
from motionfield.body import rotations_t as RT
from motionfield.body.kinematics import forward_kinematics, forward_kinematics_t
from motionfield.body.skeleton import SMPL_JOINT_NAMES, Skeleton, smpl_skeleton
from motionfield.body.timing import frame_times, parse_fps
from motionfield.motion import Motion

rng = np.random.default_rng(0)


def random_quats(*shape):
    return R.quat_canonical(R.axis_angle_to_quat(rng.normal(size=(*shape, 3))))


def test_quarter_turn_about_z_takes_x_to_y():
    q = R.axis_angle_to_quat(np.array([0, 0, np.pi / 2]))
    np.testing.assert_allclose(q, [np.sqrt(0.5), 0, 0, np.sqrt(0.5)], atol=1e-12)
    np.testing.assert_allclose(R.quat_rotate(q, np.array([1.0, 0, 0])), [0, 1, 0], atol=1e-12)


def test_conversions_agree_with_scipy_and_round_trip():
    q = random_quats(50)
    m = R.quat_to_matrix(q)
    ref = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()
    np.testing.assert_allclose(m, ref, atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_quat(m), q, atol=1e-10)
    np.testing.assert_allclose(R.axis_angle_to_quat(R.quat_to_axis_angle(q)), q, atol=1e-10)
    np.testing.assert_allclose(R.sixd_to_matrix(R.matrix_to_6d(m)), m, atol=1e-12)


def test_matrix_to_quat_reads_every_pivot_like_scipy():
    """Half turns about each axis and near-identity turns take each of the four pivots;
    float32 matrices and any batch shape are read the same way."""
    half_turns = Rotation.from_rotvec(np.pi * np.eye(3) + [[0, 1e-3, 0], [0, 0, 1e-3],
                                                            [1e-3, 0, 0]])
    turns = Rotation.concatenate([half_turns, Rotation.random(200, random_state=1),
                                  Rotation.from_rotvec(rng.normal(scale=1e-4, size=(5, 3)))])
    m = turns.as_matrix()
    expected = R.quat_canonical(turns.as_quat()[:, [3, 0, 1, 2]])
    np.testing.assert_allclose(R.matrix_to_quat(m), expected, atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_quat(m.astype(np.float32).reshape(4, 52, 3, 3)),
                               expected.reshape(4, 52, 4), atol=1e-6)
    assert R.matrix_to_quat(m[:0]).shape == (0, 4)


def test_sixd_gram_schmidt_repairs_a_perturbed_matrix():
    m = R.quat_to_matrix(random_quats(20))
    noisy = R.matrix_to_6d(m) + rng.normal(scale=1e-3, size=(20, 6))
    out = R.sixd_to_matrix(noisy)
    eye = np.broadcast_to(np.eye(3), out.shape)
    np.testing.assert_allclose(out @ np.swapaxes(out, -1, -2), eye, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(out), 1.0, atol=1e-12)


def test_multiply_matches_matrix_product_and_inverse():
    a, b = random_quats(30), random_quats(30)
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_multiply(a, b)),
                               R.quat_to_matrix(a) @ R.quat_to_matrix(b), atol=1e-12)
    ident = R.quat_multiply(a, R.quat_inverse(a))
    np.testing.assert_allclose(R.quat_canonical(ident), np.tile([1.0, 0, 0, 0], (30, 1)),
                               atol=1e-12)


def test_bvh_euler_is_intrinsic_in_listed_order():
    # ZXY with Z=90 then X=90: R = Rz(90) @ Rx(90)
    q = R.euler_to_quat(np.array([90.0, 90.0, 0.0]), "ZXY")
    rz = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    rx = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    np.testing.assert_allclose(R.quat_to_matrix(q), rz @ rx, atol=1e-12)
    angles = rng.uniform(-80, 80, size=(10, 3))
    np.testing.assert_allclose(R.quat_to_euler(R.euler_to_quat(angles, "ZXY"), "ZXY"), angles,
                               atol=1e-9)


def test_slerp_halfway_and_shorter_arc():
    a = np.array([1.0, 0, 0, 0])
    b = R.axis_angle_to_quat(np.array([0, np.pi / 2, 0]))
    mid = R.quat_slerp(a, b, 0.5)
    np.testing.assert_allclose(R.quat_to_axis_angle(mid), [0, np.pi / 4, 0], atol=1e-12)
    # -b is the same rotation: slerp must not take the long way round
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_slerp(a, -b, 0.5)),
                               R.quat_to_matrix(mid), atol=1e-12)


def test_rotation_between_including_opposite():
    u = rng.normal(size=(20, 3))
    v = rng.normal(size=(20, 3))
    q = R.rotation_between(u, v)
    got = R.quat_rotate(q, u / np.linalg.norm(u, axis=-1, keepdims=True))
    np.testing.assert_allclose(got, v / np.linalg.norm(v, axis=-1, keepdims=True), atol=1e-12)
    flip = R.rotation_between(np.array([0, 1.0, 0]), np.array([0, -1.0, 0]))
    np.testing.assert_allclose(R.quat_rotate(flip, np.array([0, 1.0, 0])), [0, -1, 0], atol=1e-12)


def test_torch_rotations_match_numpy():
    q = random_quats(40)
    qt = torch.tensor(q)
    np.testing.assert_allclose(RT.quat_to_matrix_t(qt).numpy(), R.quat_to_matrix(q), atol=1e-10)
    np.testing.assert_allclose(RT.matrix_to_quat_t(RT.quat_to_matrix_t(qt)).numpy(), q, atol=1e-8)
    v = rng.normal(size=(40, 3))
    np.testing.assert_allclose(RT.axis_angle_to_matrix_t(torch.tensor(v)).numpy(),
                               R.axis_angle_to_matrix(v), atol=1e-10)
    m = R.quat_to_matrix(q)
    np.testing.assert_allclose(RT.sixd_to_matrix_t(torch.tensor(R.matrix_to_6d(m))).numpy(), m,
                               atol=1e-10)


def test_smpl_skeleton_table():
    s = smpl_skeleton()
    assert s.names == SMPL_JOINT_NAMES and len(s) == 24
    rest = s.rest_positions()
    # left is +X, head above pelvis above ankles, arms spread along X in the T pose
    assert rest[s.index("left_hip"), 0] > 0 > rest[s.index("right_hip"), 0]
    assert rest[s.index("head"), 1] > rest[s.index("pelvis"), 1] > rest[s.index("left_ankle"), 1]
    assert rest[s.index("left_wrist"), 0] > 0.6
    assert 1.4 < s.height() < 1.6


def test_skeleton_rejects_bad_tables():
    with pytest.raises(ValueError, match="parents"):
        Skeleton(("a", "b"), (-1, 1), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        Skeleton(("a", "b"), (-1, 0), np.array([[0, 0, 0], [np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="unique"):
        Skeleton(("a", "a"), (-1, 0), np.zeros((2, 3)))


def test_fk_hand_made_elbow():
    # a two-bone arm: shoulder at the origin, elbow 1 m along +X, hand 1 m further
    skel = Skeleton(("shoulder", "elbow", "hand"), (-1, 0, 1),
                    np.array([[0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]]))
    local = np.broadcast_to(np.eye(3), (1, 3, 3, 3)).copy()
    local[0, 1] = R.axis_angle_to_matrix(np.array([0, 0, np.pi / 2]))  # bend the elbow up
    _, pos = forward_kinematics(local, np.zeros((1, 3)), skel.offsets, skel.parents)
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [1, 0, 0], [1, 1, 0]], atol=1e-12)


def test_fk_torch_matches_numpy():
    s = smpl_skeleton()
    q = random_quats(5, 24)
    root = rng.normal(size=(5, 3))
    g, p = forward_kinematics(R.quat_to_matrix(q), root, s.offsets, s.parents)
    gt, pt = forward_kinematics_t(RT.quat_to_matrix_t(torch.tensor(q)), torch.tensor(root),
                                  torch.tensor(s.offsets), s.parents)
    np.testing.assert_allclose(gt.numpy(), g, atol=1e-10)
    np.testing.assert_allclose(pt.numpy(), p, atol=1e-10)


@pytest.mark.parametrize("text,expected", [
    ("23.976", Fraction(24000, 1001)), (29.97, Fraction(30000, 1001)),
    ("59.94", Fraction(60000, 1001)), ("119.88", Fraction(120000, 1001)),
    (30, Fraction(30)), ("24", Fraction(24)), (12.5, Fraction(25, 2))])
def test_parse_fps(text, expected):
    assert parse_fps(text) == expected


@pytest.mark.parametrize("bad", [0, -24, "abc", "nan", "inf", ""])
def test_parse_fps_rejects(bad):
    with pytest.raises(ValueError):
        parse_fps(bad)


def test_23976_timestamps_are_exact():
    t = frame_times("23.976", 0.0, 10.0)
    k = np.arange(len(t))
    assert len(t) == 240  # 239 * 1001/24000 = 9.968 s; frame 240 would be at 10.01 s
    exact = [Fraction(int(i) * 1001, 24000) for i in k]
    assert all(float(e) == x for e, x in zip(exact, t))  # correctly rounded, every frame


def _random_motion(frames=30, fps=30):
    s = smpl_skeleton()
    # smooth motion: integrate small random angular velocities
    aa = np.cumsum(rng.normal(scale=0.05, size=(frames, 24, 3)), axis=0)
    return Motion.from_frames(R.axis_angle_to_quat(aa), np.cumsum(
        rng.normal(scale=0.01, size=(frames, 3)), axis=0), s, fps)


def test_resample_30_120_30_returns_original_frames():
    m = _random_motion()
    back = m.at_fps(120).at_fps(30)
    assert back.num_frames == m.num_frames
    np.testing.assert_allclose(R.quat_canonical(back.rotations), R.quat_canonical(m.rotations),
                               atol=1e-5)
    np.testing.assert_allclose(back.root_translation, m.root_translation, atol=1e-5)
    np.testing.assert_allclose(back.times, m.times, atol=1e-12)


def test_resample_midpoint_is_slerp():
    m = _random_motion(frames=2, fps=1)
    mid = m.sample(np.array([0.5]))
    expected = R.quat_slerp(m.rotations[0], m.rotations[1], 0.5)
    np.testing.assert_allclose(R.quat_to_matrix(mid.rotations[0]), R.quat_to_matrix(expected),
                               atol=1e-12)
    np.testing.assert_allclose(mid.root_translation[0], m.root_translation.mean(0), atol=1e-12)


def test_resample_outside_range_is_refused():
    m = _random_motion(frames=10)
    with pytest.raises(ValueError, match="outside"):
        m.sample(np.array([5.0]))


def test_motion_validation():
    s = smpl_skeleton()
    q = np.tile([1.0, 0, 0, 0], (3, 24, 1))
    with pytest.raises(ValueError, match="NaN"):
        Motion.from_frames(q, np.full((3, 3), np.nan), s, 30)
    with pytest.raises(ValueError, match="rotations must be"):
        Motion.from_frames(q[:, :10], np.zeros((3, 3)), s, 30)
    with pytest.raises(ValueError, match="increasing"):
        Motion(q, np.zeros((3, 3)), np.array([0.0, 0.0, 1.0]), s)
    with pytest.raises(ValueError, match="unit"):
        Motion.from_frames(q * 2, np.zeros((3, 3)), s, 30)


def test_motion_npz_round_trip(tmp_path):
    m = _random_motion().at_fps("29.97")
    m.save(tmp_path / "m.npz")
    back = Motion.load(tmp_path / "m.npz")
    assert back.fps == Fraction(30000, 1001) and back.skeleton == m.skeleton
    np.testing.assert_array_equal(back.rotations, m.rotations)
    np.testing.assert_array_equal(back.times, m.times)


def test_motion_load_refuses_foreign_npz(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a motionfield motion"):
        Motion.load(tmp_path / "x.npz")
    # a file whose arrays need pickle is refused, never unpickled
    good = dict(np.load(_saved(tmp_path)))
    good["joint_names"] = np.array(list(good["joint_names"]), dtype=object)
    np.savez(tmp_path / "evil.npz", **good)
    with pytest.raises(ValueError):
        Motion.load(tmp_path / "evil.npz")


def _saved(tmp_path):
    _random_motion().save(tmp_path / "ok.npz")
    return tmp_path / "ok.npz"
