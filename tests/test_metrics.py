"""Metrics on tiny cases worked by hand, against scipy references, and as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from motionfield.metrics import (
    FootSkating,
    foot_skating,
    horizon_frame,
    jitter,
    mpjpe,
    mpjre,
    mpjve,
    pa_mpjpe,
    per_horizon_mpjpe,
    procrustes_align,
)

rng = np.random.default_rng(7)


def wxyz(r: Rotation) -> np.ndarray:
    return r.as_quat()[..., [3, 0, 1, 2]]


def similarity(x: np.ndarray, rot: Rotation, scale: float, shift) -> np.ndarray:
    """Apply one rotation, scale and translation to every point of (..., J, 3)."""
    return scale * rot.apply(x.reshape(-1, 3)).reshape(x.shape) + np.asarray(shift)


# --------------------------------------------------------------------------- MPJPE


def test_mpjpe_two_joints_by_hand():
    target = np.zeros((2, 3))
    pred = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]])  # errors 5 and 1
    assert mpjpe(pred, target) == pytest.approx(3.0)
    assert mpjpe(pred, target, joints=[0]) == pytest.approx(5.0)
    assert mpjpe(pred[None].repeat(4, 0), target[None].repeat(4, 0)) == pytest.approx(3.0)


def test_mpjpe_mask_counts_only_the_marked_entries():
    target = np.zeros((2, 2, 3))  # (T=2, J=2)
    pred = np.zeros((2, 2, 3))
    pred[0, 0, 0], pred[1, 1, 1] = 2.0, 4.0
    mask = np.array([[True, False], [True, True]])
    assert mpjpe(pred, target, mask=mask) == pytest.approx((2.0 + 0.0 + 4.0) / 3)
    with pytest.raises(ValueError, match="selects no joints"):
        mpjpe(pred, target, mask=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="mask must be"):
        mpjpe(pred, target, mask=np.ones(2, bool))


@pytest.mark.parametrize("fn", [mpjpe, pa_mpjpe])
def test_position_metrics_refuse_bad_input(fn):
    good = np.zeros((5, 3))
    with pytest.raises(ValueError, match="differ"):
        fn(good, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fn(good, np.where(np.arange(15).reshape(5, 3) == 7, np.nan, 0.0))
    with pytest.raises(ValueError, match="J, 3"):
        fn(np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="out of range"):
        fn(good, good, joints=[5])


# --------------------------------------------------------------------------- PA-MPJPE


def test_pa_mpjpe_is_zero_for_a_similarity_transformed_target():
    target = rng.normal(size=(6, 24, 3))
    pred = similarity(target, Rotation.random(random_state=1), 2.7, [0.3, -1.0, 5.0])
    assert mpjpe(pred, target) > 1.0
    assert pa_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(procrustes_align(pred, target), target, atol=1e-10)


def test_pa_mpjpe_by_hand():
    # Target: a unit square's corners in the XY plane. Pred: the square turned 90 degrees
    # about Z, doubled and shifted, then its corners pushed along Z by +1, -1, +1, -1.
    # That push is uncorrelated with the target (X^T Y has no Z row or column), so the
    # best rotation undoes the turn and keeps Z; the best scale is
    # trace(S) / ||X||^2 = (4 + 4) / (4 * 4 + 4 * 1) = 0.4. The aligned corners are then
    # 0.4 * 2 = 0.8 of the target in XY (0.2 off) and +-0.4 in Z: each sqrt(0.2) away.
    target = np.array([[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]])
    pred = similarity(target, Rotation.from_euler("z", 90, degrees=True), 2.0, [5, 5, 5])
    pred[:, 2] += [1.0, -1.0, 1.0, -1.0]
    assert pa_mpjpe(pred, target) == pytest.approx(np.sqrt(0.2))
    expected = 0.8 * target + np.array([0, 0, 0.4]) * [[1], [-1], [1], [-1]]
    np.testing.assert_allclose(procrustes_align(pred, target), expected, atol=1e-12)


def reference_align(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Similarity alignment of one pose through scipy.linalg.orthogonal_procrustes."""
    x, y = pred - pred.mean(0), target - target.mean(0)
    rot, sigma = orthogonal_procrustes(x, y)  # argmin ||x R - y||, sigma = trace(S)
    return sigma / np.sum(x * x) * x @ rot + target.mean(0), np.linalg.det(rot)


def test_procrustes_matches_scipy_on_random_poses():
    pred, target = rng.normal(size=(2, 200, 5, 3))
    aligned = procrustes_align(pred, target)
    proper = 0
    for p, t, a in zip(pred, target, aligned):
        ref, det = reference_align(p, t)
        if det > 0:  # scipy's orthogonal map may be a reflection; ours never is
            np.testing.assert_allclose(a, ref, atol=1e-10)
            proper += 1
        else:  # restricted to rotations the fit can only be worse
            assert np.sum((a - t) ** 2) >= np.sum((ref - t) ** 2) - 1e-10
    assert 50 < proper < 200


def test_procrustes_never_reflects():
    target = rng.normal(size=(10, 3))
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    aligned = procrustes_align(mirrored, target)
    x = mirrored - mirrored.mean(0)
    rot, *_ = np.linalg.lstsq(x, aligned - aligned.mean(0), rcond=None)
    assert np.linalg.det(rot) > 0  # s * R with s > 0 and R proper
    assert pa_mpjpe(mirrored, target) > 0.1


def test_pa_mpjpe_sees_non_rigid_changes():
    target = rng.normal(size=(24, 3))
    stretched = target * np.array([1.0, 1.5, 1.0])  # anisotropic: no similarity undoes it
    assert pa_mpjpe(stretched, target) > 0.05
    moved = target.copy()
    moved[3] += [0.2, 0.0, 0.0]
    assert pa_mpjpe(moved, target) > 0.01


def test_procrustes_of_a_collapsed_pose_lands_on_the_centroid():
    target = rng.normal(size=(5, 3))
    aligned = procrustes_align(np.ones((5, 3)), target)
    np.testing.assert_allclose(aligned, np.broadcast_to(target.mean(0), (5, 3)))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.1, 10.0),
    shift=st.tuples(*[st.floats(-100, 100)] * 3),
)
def test_pa_mpjpe_invariant_to_similarity(seed, scale, shift):
    gen = np.random.default_rng(seed)
    target = gen.normal(size=(8, 3))
    pred = target + 0.1 * gen.normal(size=(8, 3))
    moved = similarity(pred, Rotation.random(random_state=seed), scale, shift)
    assert pa_mpjpe(moved, target) == pytest.approx(pa_mpjpe(pred, target), abs=1e-8)


# --------------------------------------------------------------------------- MPJRE


def test_mpjre_quarter_turn_is_90_degrees():
    ident = np.array([[1.0, 0, 0, 0]])
    quarter = wxyz(Rotation.from_euler("x", 90, degrees=True))[None]
    assert mpjre(quarter, ident) == pytest.approx(90.0)
    mats = Rotation.from_euler("x", [[90]], degrees=True).as_matrix()  # (1, 3, 3)
    assert mpjre(mats, np.eye(3)[None]) == pytest.approx(90.0)


def test_mpjre_by_hand_over_joints():
    angles = np.array([[0.0, 30.0], [60.0, 180.0]])  # (T=2, J=2) about Y
    pred = wxyz(Rotation.from_euler("y", angles.reshape(-1, 1), degrees=True)).reshape(2, 2, 4)
    target = np.tile([1.0, 0, 0, 0], (2, 2, 1))
    assert mpjre(pred, target) == pytest.approx(67.5)
    assert mpjre(pred, target, joints=[1]) == pytest.approx(105.0)


def test_mpjre_ignores_quaternion_sign_and_matches_matrices():
    a, b = Rotation.random(50, random_state=3), Rotation.random(50, random_state=4)
    qa, qb = wxyz(a).reshape(10, 5, 4), wxyz(b).reshape(10, 5, 4)
    signs = rng.choice([-1.0, 1.0], size=(10, 5, 1))
    expected = np.degrees((a.inv() * b).magnitude()).mean()
    assert mpjre(qa, qb) == pytest.approx(expected)
    assert mpjre(qa * signs, qb) == pytest.approx(expected)
    assert mpjre(-qa, qb) == pytest.approx(expected)
    mats = a.as_matrix().reshape(10, 5, 3, 3), b.as_matrix().reshape(10, 5, 3, 3)
    assert mpjre(*mats) == pytest.approx(expected)


def test_mpjre_refuses_bad_input():
    q = np.tile([1.0, 0, 0, 0], (3, 1))
    with pytest.raises(ValueError, match="differ"):
        mpjre(q, q[:2])
    with pytest.raises(ValueError, match="NaN"):
        mpjre(q, np.where(q == 1.0, np.nan, q))
    with pytest.raises(ValueError, match="proper rotations"):
        mpjre(np.diag([1.0, 1.0, -1.0])[None], np.eye(3)[None])
    with pytest.raises(ValueError, match="J, 4"):
        mpjre(np.zeros((3, 5)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="zero"):
        mpjre(np.zeros((3, 4)), q)


# --------------------------------------------------------------------------- MPJVE and jitter


def constant_velocity(frames: int, fps: float) -> np.ndarray:
    t = np.arange(frames) / fps
    start = np.array([[0.0, 1.0, 0.0], [0.5, 0.2, 0.1]])
    velocity = np.array([[1.0, 0.0, 2.0], [-0.3, 0.0, 0.4]])
    return start + t[:, None, None] * velocity  # (T, 2, 3)


def test_mpjve_zero_for_equal_velocities_and_exact_for_a_known_one():
    fps = 30
    target = constant_velocity(10, fps)
    assert mpjve(target + [1.0, 2.0, 3.0], target, fps) == pytest.approx(0.0, abs=1e-12)
    # pred moves an extra 0.02 m per frame in X on every joint: 0.6 m/s of error.
    drift = np.arange(10)[:, None, None] * np.array([0.02, 0.0, 0.0])
    assert mpjve(target + drift, target, fps) == pytest.approx(0.6)
    assert mpjve(target + drift, target, "29.97") == pytest.approx(0.02 * 30000 / 1001)


def test_jitter_zero_for_constant_velocity_and_acceleration():
    assert jitter(constant_velocity(12, 60), 60) == pytest.approx(0.0, abs=1e-9)
    t = np.arange(12) / 60.0
    falling = np.stack([np.zeros_like(t), -4.9 * t**2, t], axis=-1)[:, None, :]
    assert jitter(falling, 60) == pytest.approx(0.0, abs=1e-9)


def test_jitter_of_a_cubic_is_six_times_its_coefficient():
    fps = 20
    t = np.arange(8) / fps
    x = np.zeros((8, 2, 3))
    x[:, 0, 0] = 2.0 * t**3 + t**2 - t  # jerk 12 m/s^3
    x[:, 1, 2] = -0.5 * t**3  # jerk 3 m/s^3
    assert jitter(x, fps) == pytest.approx(7.5)
    assert jitter(x, fps, joints=[1]) == pytest.approx(3.0)


def test_motion_metrics_need_enough_frames():
    x = constant_velocity(3, 30)
    with pytest.raises(ValueError, match="at least 4"):
        jitter(x, 30)
    with pytest.raises(ValueError, match="at least 2"):
        mpjve(x[:1], x[:1], 30)
    with pytest.raises(ValueError, match="framerate"):
        mpjve(x, x, 0)
    with pytest.raises(ValueError, match="T, J, 3"):
        jitter(np.zeros((4, 3)), 30)
    with pytest.raises(ValueError, match="empty"):
        jitter(np.zeros((4, 0, 3)), 30)


@settings(max_examples=30, deadline=None)
@given(coeffs=st.lists(st.floats(-5, 5), min_size=4, max_size=4),
       fps=st.sampled_from([10, 24, 30, 60, 120]))
def test_jitter_of_any_cubic(coeffs, fps):
    a, b, c, d = coeffs
    t = np.arange(10) / fps
    x = np.zeros((10, 1, 3))
    x[:, 0, 1] = a * t**3 + b * t**2 + c * t + d
    assert jitter(x, fps) == pytest.approx(6 * abs(a), abs=1e-5 * fps**3 * 10)


# --------------------------------------------------------------------------- foot skating


def feet_track(ground_speed: float, lift: float, frames: int = 21, fps: float = 20.0):
    """Two joints: a pelvis far above and one foot moving along X at `ground_speed` (m/s)
    at height `lift` above a second, planted foot that marks the floor (y = 0.1)."""
    t = np.arange(frames) / fps
    x = np.zeros((frames, 3, 3))
    x[:, 0] = [0.0, 1.0, 0.0]
    x[:, 1, 0] = ground_speed * t
    x[:, 1, 1] = 0.1 + lift
    x[:, 2] = [0.3, 0.1, 0.0]
    return x


def test_sliding_foot_skates():
    result = foot_skating(feet_track(1.0, 0.0), 20, foot_joints=[1, 2])
    assert isinstance(result, FootSkating)
    assert result.skating_ratio == pytest.approx(1.0)
    assert result.sliding_speed == pytest.approx(0.5)  # 1 m/s and 0 m/s feet, both down
    assert result.contact_ratio == pytest.approx(1.0)
    alone = foot_skating(feet_track(1.0, 0.0), 20, foot_joints=[1])
    assert alone.sliding_speed == pytest.approx(1.0)


def test_slow_or_lifted_or_planted_feet_do_not_skate():
    slow = foot_skating(feet_track(0.3, 0.0), 20, foot_joints=[1, 2])
    assert slow.skating_ratio == 0.0
    assert slow.sliding_speed == pytest.approx(0.15)
    lifted = foot_skating(feet_track(1.0, 0.2), 20, foot_joints=[1, 2])
    assert lifted.skating_ratio == 0.0
    assert lifted.sliding_speed == pytest.approx(0.0)  # only the planted foot touches
    assert lifted.contact_ratio == pytest.approx(0.5)
    planted = foot_skating(feet_track(0.0, 0.0), 20, foot_joints=[1, 2])
    assert planted == FootSkating(0.0, 0.0, 1.0)


def test_foot_skating_floor_threshold_and_axis():
    track = feet_track(1.0, 0.04)  # 4 cm up: in contact at the default 5 cm
    assert foot_skating(track, 20, [1, 2]).skating_ratio == 1.0
    assert foot_skating(track, 20, [1, 2], contact_height=0.03).skating_ratio == 0.0
    assert foot_skating(track, 20, [1], floor=0.0).skating_ratio == 0.0  # 14 cm up
    z_up = track[..., [0, 2, 1]]
    assert foot_skating(z_up, 20, [1, 2], up_axis=2).skating_ratio == 1.0


def test_foot_skating_counts_steps_and_window():
    track = feet_track(0.0, 0.0, frames=11)
    track[5:, 1, 0] = 0.1 * np.arange(6)  # slides at 2 m/s over steps 5..9
    result = foot_skating(track, 20, [1, 2])
    assert result.skating_ratio == pytest.approx(5 / 10)
    # Above 1.5 m/s with a centred 5-step average (zero past the ends): the means over
    # steps 3..7, 4..8, 5..9, 6..10, 7..11 are 1.2, 1.6, 2.0, 1.6, 1.2, so steps 6-8 skate.
    assert foot_skating(track, 20, [1, 2], speed_threshold=1.5).skating_ratio == 0.5
    smooth = foot_skating(track, 20, [1, 2], speed_threshold=1.5, window=5)
    assert smooth.skating_ratio == pytest.approx(3 / 10)


def test_foot_skating_refuses_bad_input():
    track = feet_track(1.0, 0.0)
    with pytest.raises(ValueError, match="up_axis"):
        foot_skating(track, 20, [1], up_axis=3)
    with pytest.raises(ValueError, match="out of range"):
        foot_skating(track, 20, [7])
    with pytest.raises(ValueError, match=r"\(T, J, 3\)"):
        foot_skating(track[None], 20, [1])
    with pytest.raises(ValueError, match="NaN"):
        foot_skating(np.where(track > 0.5, np.inf, track), 20, [1])


# --------------------------------------------------------------------------- horizons


def test_horizon_frames_follow_the_protocol():
    assert [horizon_frame(h, 25) for h in (80, 160, 320, 400, 560, 1000)] == [1, 3, 7, 9, 13, 24]
    assert horizon_frame(1000, "29.97") == 29  # 29.97 frames -> frame 30 -> index 29
    assert horizon_frame(100, 15) == 1  # 1.5 frames rounds half up to 2
    with pytest.raises(ValueError, match="half a frame"):
        horizon_frame(10, 25)
    with pytest.raises(ValueError, match="positive integers"):
        horizon_frame(80.5, 25)


def test_per_horizon_mpjpe_picks_single_frames():
    frames = 25
    target = np.zeros((frames, 2, 3))
    pred = np.zeros((frames, 2, 3))
    pred[:, :, 0] = np.arange(frames)[:, None]  # error k at frame index k
    errors = per_horizon_mpjpe(pred, target, 25, [80, 160, 400, 1000])
    assert errors == {80: 1.0, 160: 3.0, 400: 9.0, 1000: 24.0}
    batched = per_horizon_mpjpe(np.stack([pred, 3 * pred]), np.stack([target, target]), 25,
                                [320])
    assert batched == {320: pytest.approx(14.0)}  # (7 + 21) / 2


def test_per_horizon_mpjpe_refuses_horizons_beyond_the_prediction():
    pred = np.zeros((10, 2, 3))
    assert per_horizon_mpjpe(pred, pred, 25, [400]) == {400: 0.0}
    with pytest.raises(ValueError, match="beyond"):
        per_horizon_mpjpe(pred, pred, 25, [440])
    with pytest.raises(ValueError, match="differ"):
        per_horizon_mpjpe(pred, pred[:9], 25, [80])
