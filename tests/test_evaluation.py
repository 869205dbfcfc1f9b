"""The shared evaluation report (evaluation.py) on windows whose errors are known."""

from __future__ import annotations

import numpy as np

from motionfield.evaluation import (
    bootstrap_columns,
    bootstrap_ratio,
    evaluate,
    format_table,
    summary,
)


def _windows():
    """Two actions of straight-line motion: 3 windows of 4 + 5 frames, 2 joints, x = frame."""
    track = np.arange(9, dtype=np.float64)[None, :, None, None] * np.array([1.0, 0, 0])
    return {"walk": np.repeat(np.repeat(track, 3, 0), 2, 2), "run": 2 * np.repeat(
        np.repeat(track, 3, 0), 2, 2)}


def test_errors_are_per_horizon_per_action_under_each_condition():
    windows = _windows()

    def positions(values, action, frames):
        return values, windows[action][:, frames]

    def hold(history, mask):  # the last frame held: off by k frames' motion at step k
        return np.repeat(history[:, -1:], 5, axis=1)

    def perfect(history, mask):
        return history[:, -1:] + (history[:, -1:] - history[:, -2:-1]) * np.arange(
            1, 6)[None, :, None, None]

    out = evaluate(windows, {"hold": hold, "perfect": perfect}, positions, 4, 25.0,
                   (40, 80, 200), {"complete": (0.0, 0.0), "damaged": (0.5, 0.0)}, 0,
                   compare_ms=80)
    complete = out["results"]["complete"]
    assert complete["hold"]["walk"] == {"40": 1.0, "80": 2.0, "200": 5.0}
    assert complete["hold"]["run"] == {"40": 2.0, "80": 4.0, "200": 10.0}
    assert complete["perfect"]["walk"] == {"40": 0.0, "80": 0.0, "200": 0.0}
    np.testing.assert_array_equal(out["per_window"]["hold"]["run"], [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(
        out["per_window_horizons"]["complete"]["hold"]["run"]["200"], [10.0, 10.0, 10.0])
    assert set(out["results"]) == {"complete", "damaged"} and set(out["seconds"]) == {
        "hold", "perfect"}
    report = summary(out["results"])
    assert report["hold"] == {"40": 1.5, "80": 3.0, "200": 7.5}  # mean over the actions
    assert report["per_action"] is complete
    assert report["incomplete"]["damaged"]["average"]["perfect"]["80"] == 0.0
    table = format_table(report)
    assert "-- damaged" in table and "hold" in table and "7.50" in table


def test_ratio_intervals_are_paired_over_windows():
    rng = np.random.default_rng(0)
    theirs = {"a": rng.uniform(20, 200, 8), "b": rng.uniform(20, 60, 8)}
    half = bootstrap_ratio({k: v / 2 for k, v in theirs.items()}, theirs, 0, draws=500)
    assert set(half) == {"a", "b", "average"}
    for r in half.values():  # the same windows redrawn for both: always exactly half
        assert np.isclose(r["ratio"], 0.5) and np.isclose(r["low"], 0.5)
        assert np.isclose(r["high"], 0.5)
    noisy = bootstrap_ratio({k: v * rng.uniform(0.5, 1.5, 8) for k, v in theirs.items()},
                            theirs, 0, draws=500)
    for r in noisy.values():
        assert r["low"] < r["ratio"] < r["high"]


def test_bootstrap_columns_compares_ours_with_each_other_method_per_column():
    per_window = {"ours": {"a": {"80": np.array([1.0, 2.0]), "160": np.array([2.0, 2.0])}},
                  "other": {"a": {"80": np.array([2.0, 4.0]), "160": np.array([1.0, 1.0])}}}
    out = bootstrap_columns(per_window, "ours", 0)
    assert set(out) == {"other"} and set(out["other"]) == {"80", "160"}
    assert out["other"]["80"]["average"]["ratio"] == 0.5  # ours halves its error
    assert out["other"]["160"]["a"] == {"ratio": 2.0, "low": 2.0, "high": 2.0}
