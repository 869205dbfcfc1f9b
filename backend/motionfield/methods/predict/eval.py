"""`motionfield eval predict`: MPJPE per horizon for ours and the baselines, in one run.

Protocol on the CMU benchmark (LTD's 3D protocol, the one NeRMo reports): windows as in
data.py (8 per test file, seed 1234567890, every 2nd frame, frames counted as 40 ms), 50
frames of history for every method, 25 predicted; MPJPE in LTD's units ("mm" = ASF x 70)
over all 38 joints with LTD's copied joints, at frames 1, 3, 7, 9, 13, 24 after the history
(80, 160, 320, 400, 560, 1000 ms). Incomplete history: the same windows with 30% of the
history frames hidden (`missing_frames_30`), or 30% of the (frame, joint) entries hidden at
random (`missing_joints_30`), drawn from a generator seeded with 1234567890 per action.
Ours sees only what is observed; the baselines get the gaps filled by linear interpolation
first ("repair, then predict"). Filling (in-betweening): in the same 50 history frames only
every 3rd, 5th or 10th frame is kept as a key (120, 200, 400 ms apart, the last frame always
kept), the keys complete or with 30% of their (key, joint) entries hidden (the last key
whole); MPJPE over the frames after the first key that are not keys; ours (`fill_field`, the
field pinned to every key) against linear and Catmull-Rom interpolation of each joint's keys.

Any folder of BVH files: each file retargeted onto SMPL (shipped skeleton), resampled to
25 fps, 8 windows of 50 + 25 frames per file drawn, predicted and filled as above; the
`smpl` checkpoints; MPJPE in millimetres over the 24 SMPL joints after forward kinematics
on the shipped skeleton, root translation included; an "action" is the file's folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from motionfield.methods.predict.baselines import (
    constant_velocity,
    cubic_interpolation,
    zero_velocity,
)
from motionfield.methods.predict.data import (
    CMU_FRAME_TIME,
    CMU_SEED,
    CMU_TARGET_FRAMES,
    CmuBenchmark,
    incomplete_mask,
    interpolate_observed,
    ltd_windows,
    repair,
)
from motionfield.methods.predict.infer import (
    Checkpoint,
    fill_field,
    load_checkpoint,
    predict_field,
    predict_simlpe,
    shipped_checkpoint,
)

HORIZONS_MS = (80, 160, 320, 400, 560, 1000)
HISTORY = 50
KEY_SPACINGS = (3, 5, 10)  # frames between kept keys when filling: 120, 200, 400 ms
FILL_CONDITIONS = {"complete": 0.0, "missing_joints_30": 0.3}  # share of key entries hidden
CONDITIONS = {"complete": (0.0, 0.0), "missing_frames_30": (0.3, 0.0),
              "missing_joints_30": (0.0, 0.3)}
PUBLISHED = {
    "NeRMo (ECCV 2024), CMU-Mocap average over its 8 actions, LTD 3D protocol":
        {"80": 8.05, "160": 14.14, "320": 29.43, "400": 37.15},
}
PROTOCOL = __doc__.split("\n\n")[1].replace("\n", " ")
FOLDER_PROTOCOL = __doc__.split("\n\n")[2].replace("\n", " ")

def horizon_frames(frame_time: float = CMU_FRAME_TIME) -> list[int]:
    """Index in the predicted frames of each horizon: 80 ms at 40 ms frames is index 1."""
    return [int(round(h / 1000 / frame_time)) - 1 for h in HORIZONS_MS]


def methods(ours: Checkpoint, simlpe: Checkpoint | None, fallback: np.ndarray) -> dict:
    """Each method as (history (B, H, J, D), mask (B, H, J)) -> (B, 25, J, D)."""
    dt, future = ours.frame_time, CMU_TARGET_FRAMES
    t_obs = (np.arange(HISTORY) - (HISTORY - 1)) * dt
    t_query = np.arange(1, future + 1) * dt

    def field(history, mask):
        return predict_field(ours.model, t_obs, history, mask, t_query)

    def repaired(fn):
        return lambda history, mask: fn(repair(history, mask, fallback), future)

    table = {"ours": field, "zero_velocity": repaired(zero_velocity),
             "constant_velocity": repaired(constant_velocity)}
    if simlpe is not None:
        table["simlpe"] = repaired(lambda h, f: predict_simlpe(simlpe.model, h))
    return table


def fill_methods(ours: Checkpoint) -> dict:
    """Each method as (t_keys (K,), keys (B, K, J, D), mask (B, K, J), t (N,)) ->
    (B, N, J, D)."""
    def field(t_keys, keys, mask, t):
        return fill_field(ours.model, t_keys, keys, mask, t)

    def cubic(t_keys, keys, mask, t):
        return cubic_interpolation(t_keys, keys, t, mask)

    return {"ours": field, "linear": interpolate_observed, "cubic": cubic}


def key_frames(frames: int, spacing: int) -> np.ndarray:
    """Indices of the kept keys: every `spacing`-th frame counted back from the last."""
    return np.arange(frames - 1, -1, -spacing)[::-1]


def evaluate_fill(windows: dict[str, np.ndarray], ours: Checkpoint,
                  errors: Callable[[np.ndarray, str, slice], np.ndarray]) -> dict:
    """{condition: {method: {action: {spacing_ms: mm}}}}: the history's in-betweens from
    sparse keys, complete or missing 30% of their joint entries."""
    table = fill_methods(ours)
    t = (np.arange(HISTORY) - (HISTORY - 1)) * ours.frame_time  # 0 = the last key
    results: dict = {c: {m: {} for m in table} for c in FILL_CONDITIONS}
    for action, win in windows.items():
        rng = np.random.default_rng(CMU_SEED)
        for spacing in KEY_SPACINGS:
            keys = key_frames(HISTORY, spacing)
            between = np.setdiff1d(np.arange(keys[0], HISTORY), keys)
            ms = str(int(round(spacing * ours.frame_time * 1000)))
            for condition, joint_drop in FILL_CONDITIONS.items():
                mask = incomplete_mask(rng, len(win), len(keys), win.shape[2], 0.0, joint_drop)
                mask[:, -1] = 1.0  # the last key is whole
                for name, method in table.items():
                    filled = method(t[keys], win[:, keys], mask, t)
                    err = errors(filled, action, slice(0, HISTORY))[:, between].mean()
                    results[condition][name].setdefault(action, {})[ms] = float(err)
    return results


def evaluate(windows: dict[str, np.ndarray], ours: Checkpoint, simlpe: Checkpoint | None,
             errors: Callable[[np.ndarray, str, slice], np.ndarray],
             conditions: dict = CONDITIONS) -> dict:
    """The full table {condition: {method: {action: {horizon_ms: mm}}}}, the filling
    table (evaluate_fill) and timings.

    windows : {action: (B, 50 + 25, J, D)} model values; errors(values, action, frames)
    gives the mean joint error (B, frames) of each of that action's windows against the
    truth's `frames` (a slice of the window).
    """
    future = slice(HISTORY, None)
    table = methods(ours, simlpe, ours.model.mean_pose.numpy())
    frames = horizon_frames(ours.frame_time)
    results: dict = {c: {m: {} for m in table} for c in conditions}
    seconds = {m: 0.0 for m in table}
    per_window: dict = {m: {} for m in table}  # complete history, 400 ms: {action: (B,)}
    for action, win in windows.items():
        history = win[:, :HISTORY]
        for condition, (frame_drop, joint_drop) in conditions.items():
            rng = np.random.default_rng(CMU_SEED)
            mask = incomplete_mask(rng, len(win), HISTORY, win.shape[2], frame_drop,
                                   joint_drop)
            for name, method in table.items():
                start = time.perf_counter()
                pred = method(history, mask)
                seconds[name] += time.perf_counter() - start
                err = errors(pred, action, future)
                results[condition][name][action] = {str(h): float(err[:, f].mean())
                                                    for h, f in zip(HORIZONS_MS, frames)}
                if condition == "complete":
                    per_window[name][action] = err[:, frames[HORIZONS_MS.index(400)]]
    out = {"results": results, "fill": evaluate_fill(windows, ours, errors),
           "seconds": seconds}
    if "simlpe" in per_window and "complete" in conditions:
        out["ours_vs_simlpe"] = ratio_intervals(per_window["ours"], per_window["simlpe"])
    return out


def ratio_intervals(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray],
                    draws: int = 10000) -> dict:
    """Ours / theirs at 400 ms per action and for the average over actions, with a 95%
    paired bootstrap interval over each action's windows (redrawn with replacement, the
    same windows for both methods): how far a test of 8 windows per action can be trusted.
    {action or "average": {"ratio", "low", "high"}}."""
    rng = np.random.default_rng(CMU_SEED)
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


def evaluate_cmu(data: Path, ours: Checkpoint, simlpe: Checkpoint | None,
                 conditions: dict = CONDITIONS, split: str = "test") -> dict:
    """The published protocol on the benchmark folder (see the module notes), on its test
    files or on our validation files (data.CmuBenchmark.files)."""
    bench = CmuBenchmark.load(data)
    full_windows = bench.test_windows(HISTORY, split)
    windows = {a: w[:, :, bench.used].astype(np.float32) for a, w in full_windows.items()}

    def errors(pred, action, frames):
        truth = full_windows[action][:, frames]
        full = bench.full_pose(pred, truth)  # LTD's 38 joints
        return np.linalg.norm(full - truth, axis=-1).mean(axis=2)

    return evaluate(windows, ours, simlpe, errors, conditions)


def evaluate_folder(folder: Path, ours: Checkpoint, simlpe: Checkpoint | None,
                    conditions: dict = CONDITIONS) -> dict:
    """Any folder of BVH files (see the module notes)."""
    import torch

    from motionfield.methods.predict.smpl_task import SmplLoss

    positions = SmplLoss().positions
    windows = bvh_folder_windows(folder)

    def errors(pred, action, frames):
        with torch.no_grad():
            p = positions(torch.as_tensor(pred))
            t = positions(torch.as_tensor(windows[action][:, frames]))
        return 1000.0 * (p - t).norm(dim=-1).mean(dim=2).numpy()

    return evaluate(windows, ours, simlpe, errors, conditions)


def bvh_folder_windows(folder: Path) -> dict[str, np.ndarray]:
    """{folder name: (B, 75, 25, 6)} SMPL token windows, 8 per file longer than 3 s."""
    from motionfield.data.build import build, load_set
    from motionfield.methods.predict.smpl_task import clip_tokens

    data = load_set(build(str(folder), progress=True))
    out: dict[str, list] = {}
    for i, clip in enumerate(data.clips):
        tokens = clip_tokens(data, i)
        if len(tokens) > HISTORY + CMU_TARGET_FRAMES:
            folder_name = clip["labels"].get("folder", ".")
            action = "all" if folder_name in ("", ".") else folder_name
            out.setdefault(action, []).append(ltd_windows(tokens, HISTORY))
    if not out:
        raise ValueError(f"{folder}: no BVH file holds more than 3 s (75 frames at 25 fps)")
    return {a: np.concatenate(w) for a, w in out.items()}


def average(per_action: dict) -> dict:
    """Mean over actions of each horizon."""
    actions = list(per_action.values())
    return {h: float(np.mean([a[h] for a in actions])) for h in actions[0]}


def report(raw: dict, ours_path: Path, simlpe_path: Path | None, benchmark: bool) -> dict:
    """The JSON the CLI writes: each method -> {horizon_ms: mm} averaged over the actions
    (complete history); per-action and incomplete-history tables under their own keys."""
    res = raw["results"]
    out: dict = {m: average(per) for m, per in res["complete"].items()}
    out["per_action"] = res["complete"]
    out["incomplete"] = {c: {"average": {m: average(per) for m, per in table.items()},
                             "per_action": table}
                         for c, table in res.items() if c != "complete"}
    out["fill"] = {c: {"average": {m: average(per) for m, per in table.items()},
                       "per_action": table} for c, table in raw["fill"].items()}
    if benchmark:
        out["published"] = PUBLISHED
    out["protocol"] = PROTOCOL if benchmark else FOLDER_PROTOCOL
    out["history_frames"] = HISTORY
    out["checkpoints"] = {"ours": str(ours_path), "simlpe": str(simlpe_path)}
    out["seconds"] = raw["seconds"]
    if "ours_vs_simlpe" in raw:
        out["ours_vs_simlpe_400ms"] = raw["ours_vs_simlpe"]
    return out


def run(data: Path, json_out: Path | None = None, model: Path | None = None,
        simlpe: Path | None = None, split: str = "test") -> dict:
    """Evaluate on the CMU benchmark folder (the unpacked cmu_mocap, or the folder above
    it), its test or validation windows, or on any folder of BVH files."""
    data = Path(data)
    if not data.is_dir():
        raise ValueError(f"{data}: not a folder")
    if (data / "cmu_mocap" / "skeleton.json").exists():
        data = data / "cmu_mocap"
    benchmark = (data / "skeleton.json").exists()
    if split != "test" and not benchmark:
        raise ValueError("--split validation is for the CMU benchmark folder")
    task = "cmu" if benchmark else "smpl"
    ours_path = Path(model) if model else shipped_checkpoint(task)
    simlpe_path = Path(simlpe) if simlpe else shipped_checkpoint(f"{task}-simlpe")
    ours, baseline = load_checkpoint(ours_path), load_checkpoint(simlpe_path)
    if benchmark:
        for path, checkpoint in ((ours_path, ours), (simlpe_path, baseline)):
            _check_split(path, checkpoint, split)
        raw = evaluate_cmu(data, ours, baseline, split=split)
    else:
        raw = evaluate_folder(data, ours, baseline)
    out = report(raw, ours_path, simlpe_path, benchmark)
    out["split"] = split if benchmark else "folder"
    if json_out:
        Path(json_out).write_text(json.dumps(out, indent=1))
    return out


def _check_split(path: Path, checkpoint: Checkpoint, split: str) -> None:
    """The validation windows are only held out from a model trained without their files."""
    held_out = checkpoint.meta.get("train", {}).get("hold_out_validation", False)
    if split == "validation" and not held_out:
        raise ValueError(f"{path} was trained on the validation files: retrain it with "
                         "--hold-out-validation to compare on them")


def format_table(out: dict) -> str:
    """The averages as a plain-text table, ours and the baselines, each condition."""
    lines = [f"{'method':<20}" + "".join(f"{h:>8}" for h in HORIZONS_MS)]
    blocks = [("complete history", {m: out[m] for m in out["per_action"]})]
    blocks += [(c, v["average"]) for c, v in out["incomplete"].items()]
    for title, table in blocks:
        lines.append(f"-- {title}")
        for name, row in table.items():
            lines.append(f"{name:<20}" + "".join(f"{row[str(h)]:8.2f}" for h in HORIZONS_MS))
    if "ours_vs_simlpe_400ms" in out:
        lines.append("-- ours / siMLPe at 400 ms (95% paired bootstrap interval over windows)")
        for name, r in out["ours_vs_simlpe_400ms"].items():
            lines.append(f"{name:<20}{r['ratio']:8.3f}   [{r['low']:.3f}, {r['high']:.3f}]")
    for condition, fill in out["fill"].items():
        spacings = list(next(iter(fill["average"].values())))
        lines.append(f"-- filling between {condition} keys, ms apart: " + ", ".join(spacings))
        for name, row in fill["average"].items():
            lines.append(f"{name:<20}" + "".join(f"{row[s]:8.2f}" for s in spacings))
    return "\n".join(lines)
