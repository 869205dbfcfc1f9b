"""Training windows (data/windows.py): the sampler, the augmentations and the masks."""

from __future__ import annotations

import numpy as np
import pytest

from motionfield.body.tokens import mirror_pairs
from motionfield.data.windows import (
    WindowSampler,
    history_mask,
    incomplete_mask,
    mirror_positions,
    repair,
    time_reverse,
    time_warp,
    warp_source_frames,
)


def test_time_warp_replays_windows_at_a_speed_within_the_bounds():
    track = np.arange(40, dtype=np.float32)[None, :, None, None].repeat(32, 0)
    source = warp_source_frames(10, 0.25)
    out = time_warp(np.random.default_rng(0), track[:, :source], 10, 0.25)
    speed = np.diff(out[:, :, 0, 0], axis=1)
    assert out.shape == (32, 10, 1, 1) and np.all(out[:, 0] == 0)
    assert np.allclose(speed, speed[:, :1], atol=1e-5)  # constant within a window
    assert 0.75 - 1e-6 <= speed.min() and speed.max() <= 1.25 + 1e-6
    assert speed.max() - speed.min() > 0.2


def test_time_reverse_plays_the_asked_share_backwards():
    windows = np.arange(10, dtype=np.float32)[None, :, None, None].repeat(400, 0)
    out = time_reverse(np.random.default_rng(0), windows, 0.25)
    backwards = out[:, 0, 0, 0] == 9
    assert np.all(out[backwards] == windows[:1, ::-1]) and np.all(out[~backwards] == windows[:1])
    assert 0.2 < backwards.mean() < 0.3
    assert np.all(time_reverse(np.random.default_rng(0), windows, 0.0) == windows)


def test_short_sequences_are_drawn_and_replayed_only_as_fast_as_their_frames_allow():
    """A speed change needs longer source windows than training keeps; a sequence between
    the two lengths still counts, its missing frames repeat its last, and the warp never
    reads past its real frames."""
    short = np.arange(12, dtype=np.float32)[:, None, None]  # 12 frames: 10 kept, 13 read
    sampler = WindowSampler([short], warp_source_frames(10, 0.3), shortest=10)
    windows, real = sampler.sample(np.random.default_rng(0), 200)
    assert windows.shape == (200, 13, 1, 1) and set(real) == {10, 11, 12}
    for window, count in zip(windows, real):
        assert np.all(window[count:] == window[count - 1])
    out = time_warp(np.random.default_rng(0), windows, 10, 0.3, real)
    speed = out[:, 1, 0, 0] - out[:, 0, 0, 0]
    assert np.all(speed <= (real - 1) / 9 + 1e-6) and speed.min() < 0.8
    with pytest.raises(ValueError, match="10 frames"):
        WindowSampler([short[:9]], 13, shortest=10)


def test_window_sampler_draws_each_group_in_its_share():
    """Two sources of very different length, weighted to half the windows each."""
    small, large = np.zeros((20, 1, 1)), np.ones((2000, 1, 1))
    sampler = WindowSampler([small, large], 10, np.array([0, 1]), (0.5, 0.5))
    windows, _ = sampler.sample(np.random.default_rng(0), 4000)
    assert abs(windows[:, 0, 0, 0].mean() - 0.5) < 0.03
    plain, _ = WindowSampler([small, large], 10).sample(np.random.default_rng(0), 4000)
    assert plain[:, 0, 0, 0].mean() > 0.98  # by default every window is equally likely
    only, _ = WindowSampler([small, large], 10, np.array([0, 1]), (0.0, 1.0)).sample(
        np.random.default_rng(0), 100)
    assert only.min() == 1.0  # all of the share (--extra-share 1, pretraining): none of 0
    with pytest.raises(ValueError):
        WindowSampler([small, large], 10, np.array([0, 1]), (1.0,))


def test_window_sampler_balances_classes_inside_a_group():
    """Two actions of 10 and 990 windows: drawn 1:99 by default, equally with balance 1,
    and in proportion to the square roots with 0.5; a second source keeps its share."""
    short, long = np.zeros((19, 1, 1)), np.ones((999, 1, 1))
    other = np.full((500, 1, 1), 7.0)
    sequences, labels = [short, long, other], np.array([0, 1, 0])
    groups, shares = np.array([0, 0, 1]), (0.8, 0.2)
    rng = np.random.default_rng(0)

    def drawn(balance):
        sampler = WindowSampler(sequences, 10, groups, shares, labels, balance)
        first = sampler.sample(rng, 20000)[0][:, 0, 0, 0]
        return [np.mean(first == v) for v in (0.0, 1.0, 7.0)]

    assert np.allclose(drawn(0.0), [0.8 * 0.01, 0.8 * 0.99, 0.2], atol=0.01)
    assert np.allclose(drawn(1.0), [0.4, 0.4, 0.2], atol=0.015)
    root = np.sqrt([10, 990]) / np.sqrt([10, 990]).sum() * 0.8
    assert np.allclose(drawn(0.5), [*root, 0.2], atol=0.015)
    with pytest.raises(ValueError):
        WindowSampler(sequences, 10, groups, shares, labels, 1.5)


def test_position_mirror_swaps_sides_and_flips_the_lateral_axis():
    names = ["Spine", "LeftArm", "RightArm", "LThumb_EndSite", "RThumb_EndSite"]
    pairs = mirror_pairs(names, {"Left": "Right", "Right": "Left", "LThumb": "RThumb",
                                 "RThumb": "LThumb"})
    assert list(pairs) == [0, 2, 1, 4, 3]
    windows = np.random.default_rng(0).normal(size=(64, 3, 5, 3)).astype(np.float32)
    out = mirror_positions(pairs)(np.random.default_rng(1), windows)
    flipped = ~np.all(out == windows, axis=(1, 2, 3))
    assert np.array_equal(flipped, np.random.default_rng(1).random(64) < 0.5)
    assert 10 < flipped.sum() < 54  # about half
    expected = windows[flipped][:, :, pairs] * np.array([-1, 1, 1], np.float32)
    np.testing.assert_array_equal(out[flipped], expected)


def test_repair_interpolates_gaps_and_fills_unseen_joints():
    values = np.zeros((1, 5, 2, 1))
    values[0, :, 0, 0] = [0, 99, 2, 99, 4]
    mask = np.ones((1, 5, 2))
    mask[0, [1, 3], 0] = 0
    mask[0, :, 1] = 0
    out = repair(values, mask, fallback=np.array([[0.0], [5.0]]))
    assert np.allclose(out[0, :, 0, 0], [0, 1, 2, 3, 4])
    assert np.allclose(out[0, :, 1, 0], 5.0)


def test_incomplete_mask_hides_the_asked_share():
    rng = np.random.default_rng(1)
    mask = incomplete_mask(rng, 4, 50, 25, frame_drop=0.3)
    assert np.all(mask.sum(axis=(1, 2)) == 35 * 25)
    mask = incomplete_mask(rng, 200, 50, 25, joint_drop=0.3)
    assert abs(1 - mask.mean() - 0.3) < 0.01


def test_history_mask_damages_its_share_and_always_sees_the_last_frame():
    mask = history_mask(np.random.default_rng(0), 400, 20, 5, 0.5, 0.8, 0.3)
    damaged = (mask < 1).any(axis=(1, 2))
    assert 0.4 < damaged.mean() < 0.6
    assert np.all(mask[:, -1].max(axis=1) == 1)  # something seen at the end of each history
    assert np.all(mask[damaged, 0].max(axis=1) <= mask[damaged, -1].max(axis=1))
    assert np.all(history_mask(np.random.default_rng(0), 8, 20, 5, 0.0, 0.8, 0.3) == 1)
