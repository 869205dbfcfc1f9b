"""The evaluation report every method shares: errors per horizon on `metrics.py` for a method
and its baselines under complete and incomplete observations, averages over actions, a
paired bootstrap of two methods' ratio, the JSON report and its plain-text table.

A method's evaluation supplies the windows {action: (B, H + F, J, D)} in its own values,
the methods to compare as `fn(history (B, H, J, D), mask (B, H, J)) -> (B, F, J, D)`, and
`positions(values, action, frames) -> (predicted, true)` joint positions (..., J, 3) of
those values against the truth at `frames` (a slice of the window): the error is measured
on bodies, whatever the values are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from motionfield.data.windows import incomplete_mask
from motionfield.metrics import horizon_frame, joint_errors, per_horizon_mpjpe

Positions = Callable[[np.ndarray, str, slice], tuple[np.ndarray, np.ndarray]]


def evaluate(windows: dict[str, np.ndarray], methods: dict[str, Callable],
             positions: Positions, history: int, fps: float, horizons_ms: tuple[int, ...],
             conditions: dict[str, tuple[float, float]], seed: int,
             compare_ms: int = 400) -> dict:
    """{"results": {condition: {method: {action: {horizon_ms: error}}}}, "seconds": time
    each method took, "per_window": {method: {action: (B,) errors at `compare_ms`}}, complete
    history, "per_window_horizons": {condition: {method: {action: {horizon_ms: (B,)
    errors}}}}}. Each condition hides (share of frames, share of entries) of the history
    with a generator seeded with `seed` per action (`incomplete_mask`), the same for every
    method."""
    future = slice(history, None)
    compare = horizon_frame(compare_ms, fps)
    results: dict = {c: {m: {} for m in methods} for c in conditions}
    seconds = {m: 0.0 for m in methods}
    per_window: dict = {m: {} for m in methods}
    per_horizon: dict = {c: {m: {} for m in methods} for c in conditions}
    for action, win in windows.items():
        past = win[:, :history]
        for condition, (frame_drop, joint_drop) in conditions.items():
            rng = np.random.default_rng(seed)
            mask = incomplete_mask(rng, len(win), history, win.shape[2], frame_drop,
                                   joint_drop)
            for name, method in methods.items():
                start = time.perf_counter()
                pred = method(past, mask)
                seconds[name] += time.perf_counter() - start
                predicted, true = positions(pred, action, future)
                row = per_horizon_mpjpe(predicted, true, fps, horizons_ms)
                results[condition][name][action] = {str(h): e for h, e in row.items()}
                per_horizon[condition][name][action] = {
                    str(h): joint_errors(predicted[:, horizon_frame(h, fps)],
                                         true[:, horizon_frame(h, fps)]).mean(axis=-1)
                    for h in horizons_ms}
                if condition == "complete":
                    per_window[name][action] = joint_errors(predicted[:, compare],
                                                            true[:, compare]).mean(axis=-1)
    return {"results": results, "seconds": seconds, "per_window": per_window,
            "per_window_horizons": per_horizon}


def bootstrap_ratio(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray], seed: int,
                    draws: int = 10000) -> dict:
    """Ours / theirs per action and for the average over actions, from per-window errors
    {action: (B,)}, with a 95% paired bootstrap interval over each action's windows
    (redrawn with replacement, the same windows for both methods): how far a test of a few
    windows per action can be trusted. {action or "average": {"ratio", "low", "high"}}."""
    rng = np.random.default_rng(seed)
    resampled = {}
    for action in ours:
        picks = rng.integers(0, len(ours[action]), (draws, len(ours[action])))
        resampled[action] = (ours[action][picks].mean(1), theirs[action][picks].mean(1))
    point = {a: (ours[a].mean(), theirs[a].mean()) for a in ours}
    point["average"] = tuple(np.mean([point[a][i] for a in ours]) for i in (0, 1))
    resampled["average"] = tuple(np.mean([resampled[a][i] for a in ours], axis=0)
                                 for i in (0, 1))
    out = {}
    for name, (a, b) in resampled.items():
        low, high = np.percentile(a / b, [2.5, 97.5])
        out[name] = {"ratio": float(point[name][0] / point[name][1]),
                     "low": float(low), "high": float(high)}
    return out


def bootstrap_groups(sums: dict[str, np.ndarray], counts: dict[str, np.ndarray], seed: int,
                     ratios: dict[str, tuple[str, str]] | None = None, draws: int = 2000
                     ) -> dict:
    """Means pooled over groups (takes, clips) with 95% bootstrap intervals that redraw the
    groups with replacement, the same draws for every column: column k's mean is
    sum(sums[k]) / sum(counts[k]), each (N,) over the N groups. `ratios` {name: (a, b)}
    adds the paired ratio of column a's mean to column b's. {name: {"mean" or "ratio",
    "low", "high"}}."""
    groups = len(next(iter(sums.values())))
    picks = np.random.default_rng(seed).integers(0, groups, (draws, groups))
    means = {k: (v.sum() / max(counts[k].sum(), 1e-12),
                 v[picks].sum(1) / np.maximum(counts[k][picks].sum(1), 1e-12))
             for k, v in sums.items()}
    out = {k: {"mean": float(point), **_interval(drawn)} for k, (point, drawn) in means.items()}
    for name, (a, b) in (ratios or {}).items():
        out[name] = {"ratio": float(means[a][0] / means[b][0]),
                     **_interval(means[a][1] / means[b][1])}
    return out


def _interval(drawn: np.ndarray) -> dict:
    low, high = np.percentile(drawn, [2.5, 97.5])
    return {"low": float(low), "high": float(high)}


def bootstrap_columns(per_window: dict, ours: str, seed: int) -> dict:
    """`ours` / each other method at every column (horizon, gap...), with bootstrap_ratio's
    intervals: per_window {method: {action: {column: (B,) errors}}} ->
    {other: {column: {action or "average": {"ratio", "low", "high"}}}}."""
    mine = per_window[ours]
    columns = next(iter(mine.values()))
    return {other: {c: bootstrap_ratio({a: mine[a][c] for a in mine},
                                       {a: table[a][c] for a in mine}, seed)
                    for c in columns}
            for other, table in per_window.items() if other != ours}


def average(per_action: dict) -> dict:
    """Mean over actions of each column."""
    actions = list(per_action.values())
    return {h: float(np.mean([a[h] for a in actions])) for h in actions[0]}


def summary(results: dict, fill: dict | None = None) -> dict:
    """The report's tables: each method -> {horizon_ms: error} averaged over the actions
    (complete history), then "per_action", "incomplete" (each other condition's averages
    and per-action table) and, given, "fill" ({condition: {method: {action: {col: err}}}})
    the same way."""
    out: dict = {m: average(per) for m, per in results["complete"].items()}
    out["per_action"] = results["complete"]
    out["incomplete"] = {c: _averaged(table) for c, table in results.items() if c != "complete"}
    if fill is not None:
        out["fill"] = {c: _averaged(table) for c, table in fill.items()}
    return out


def _averaged(table: dict) -> dict:
    return {"average": {m: average(per) for m, per in table.items()}, "per_action": table}


def write_report(out: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(out, indent=1))


def format_table(out: dict, ratios: dict[str, str] | None = None) -> str:
    """A summary's averages as a plain-text table, each condition; `ratios` names the
    report's bootstrap_ratio entries to list, {key: title}."""
    horizons = list(out[next(iter(out["per_action"]))])  # the first method's columns
    lines = [f"{'method':<20}" + "".join(f"{h:>8}" for h in horizons)]
    blocks = [("complete history", {m: out[m] for m in out["per_action"]})]
    blocks += [(c, v["average"]) for c, v in out["incomplete"].items()]
    for title, table in blocks:
        lines.append(f"-- {title}")
        for name, row in table.items():
            lines.append(f"{name:<20}" + "".join(f"{row[h]:8.2f}" for h in horizons))
    for key, title in (ratios or {}).items():
        if key in out:
            lines.append(f"-- {title} (95% paired bootstrap interval over windows)")
            for name, r in out[key].items():
                lines.append(f"{name:<20}{r['ratio']:8.3f}   [{r['low']:.3f}, {r['high']:.3f}]")
    for condition, fill in out.get("fill", {}).items():
        spacings = list(next(iter(fill["average"].values())))
        lines.append(f"-- filling between {condition} keys, ms apart: " + ", ".join(spacings))
        for name, row in fill["average"].items():
            lines.append(f"{name:<20}" + "".join(f"{row[s]:8.2f}" for s in spacings))
    return "\n".join(lines)
