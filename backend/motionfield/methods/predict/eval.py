"""`motionfield eval predict`: MPJPE per horizon for ours and the baselines, in one run.

Protocol on the CMU benchmark (LTD's 3D protocol, the one NeRMo reports): windows as in
data.py (8 per test file, seed 1234567890, every 2nd frame, frames counted as 40 ms), 50
frames of history for every method (LTD reads their last 10, as published), 25 predicted;
MPJPE in LTD's units ("mm" = ASF x 70) over all 38 joints with LTD's copied joints, at
frames 1, 3, 7, 9, 13, 24 after the history (80, 160, 320, 400, 560, 1000 ms).
Incomplete history: the same windows with 30% of the history frames hidden
(`missing_frames_30`), or 30% of the (frame, joint) entries hidden at random
(`missing_joints_30`), drawn from a generator seeded with 1234567890 per action.
Ours sees only what is observed; the baselines get the gaps filled by linear interpolation
first ("repair, then predict"). Filling (in-betweening): in the same 50 history frames only
every 3rd, 5th or 10th frame is kept as a key (120, 200, 400 ms apart, the last frame always
kept), the keys complete or with 30% of their (key, joint) entries hidden (the last key
whole); MPJPE over the frames after the first key that are not keys; ours (`fill_field`
with the checkpoint's handover, config.HANDOVERS) against linear and Catmull-Rom
interpolation of each joint's keys. Ours / each other method at every horizon and gap comes
with a 95% paired bootstrap interval over each action's windows (10,000 draws).

Any folder of BVH files, or the held-out clips of a set the `smpl` field trains on (its
validation or test split): each file retargeted onto SMPL (shipped skeleton), resampled to
25 fps, 8 windows of 50 + 25 frames per file drawn, predicted and filled as above; the
`smpl` checkpoints; MPJPE in millimetres over the 24 SMPL joints after forward kinematics
on the shipped skeleton, root translation included; an "action" is the file's folder (a
set's clips: their content label).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from motionfield import evaluation
from motionfield.data.windows import incomplete_mask, interpolate_observed, repair
from motionfield.methods.predict.baselines import (
    constant_velocity,
    cubic_interpolation,
    zero_velocity,
)
from motionfield.methods.predict.config import handover_for
from motionfield.methods.predict.data import (
    CMU_SEED,
    CMU_TARGET_FRAMES,
    CmuBenchmark,
    ltd_windows,
)
from motionfield.methods.predict.infer import (
    SHIPPED,
    Checkpoint,
    continue_field,
    fill_field,
    load_checkpoint,
    predict,
    shipped_checkpoint,
)
from motionfield.metrics import joint_errors

HORIZONS_MS = (80, 160, 320, 400, 560, 1000)
HISTORY = 50
KEY_SPACINGS = (3, 5, 10)  # frames between kept keys when filling: 120, 200, 400 ms
FILL_CONDITIONS = {"complete": 0.0, "missing_joints_30": 0.3}  # share of key entries hidden
CONDITIONS = {"complete": (0.0, 0.0), "missing_frames_30": (0.3, 0.0),
              "missing_joints_30": (0.0, 0.3)}
# Published CMU-Mocap figures (8 actions, 10 history frames, GPU-trained), as NeRMo's paper
# tables them; neither gives them per action, and siMLPe's paper has no CMU-Mocap table
# (it reports Human3.6M, AMASS and 3DPW).
PUBLISHED = {
    "NeRMo (ECCV 2024), CMU-Mocap average over its 8 actions, LTD 3D protocol":
        {"80": 8.05, "160": 14.14, "320": 29.43, "400": 37.15},
    "LTD (ICCV 2019) as NeRMo's paper tables it, CMU-Mocap average over 8 actions":
        {"80": 9.94, "160": 18.02, "320": 33.55, "400": 40.95},
}
PROTOCOL = __doc__.split("\n\n")[1].replace("\n", " ")
FOLDER_PROTOCOL = __doc__.split("\n\n")[2].replace("\n", " ")
RATIOS = {"ours_vs_simlpe_400ms": "ours / siMLPe at 400 ms"}
# The sets the `smpl` field trains on (their training split): their held-out clips by
# --split. Their validation clips decide the handover (config.HANDOVERS).
SETS = {name: {"validation": "val", "test": "test"}
        for name in ("bandai-namco-1", "bandai-namco-2")}


def methods(ours: Checkpoint, simlpe: Checkpoint | None, fallback: np.ndarray,
            ltd: Checkpoint | None = None) -> dict:
    """Each method as (history (B, H, J, D), mask (B, H, J)) -> (B, 25, J, D)."""
    dt, future = ours.frame_time, CMU_TARGET_FRAMES
    t_obs = (np.arange(HISTORY) - (HISTORY - 1)) * dt
    t_query = np.arange(1, future + 1) * dt

    handover = handover_for(ours.meta["task"])

    def field(history, mask):
        return continue_field(ours.model, t_obs, history, mask, t_query, handover)

    def repaired(fn):
        return lambda history, mask: fn(repair(history, mask, fallback), future)

    table = {"ours": field, "zero_velocity": repaired(zero_velocity),
             "constant_velocity": repaired(constant_velocity)}
    for name, baseline in (("simlpe", simlpe), ("ltd", ltd)):
        if baseline is not None:
            table[name] = repaired(lambda h, f, b=baseline: predict(b.kind, b.model, h, f))
    return table


def fill_methods(ours: Checkpoint) -> dict:
    """Each method as (t_keys (K,), keys (B, K, J, D), mask (B, K, J), t (N,)) ->
    (B, N, J, D)."""
    handover = handover_for(ours.meta["task"])

    def field(t_keys, keys, mask, t):
        return fill_field(ours.model, t_keys, keys, mask, t, handover)

    def cubic(t_keys, keys, mask, t):
        return cubic_interpolation(t_keys, keys, t, mask)

    return {"ours": field, "linear": interpolate_observed, "cubic": cubic}


def key_frames(frames: int, spacing: int) -> np.ndarray:
    """Indices of the kept keys: every `spacing`-th frame counted back from the last."""
    return np.arange(frames - 1, -1, -spacing)[::-1]


def evaluate_fill(windows: dict[str, np.ndarray], ours: Checkpoint,
                  positions: evaluation.Positions) -> tuple[dict, dict]:
    """The history's in-betweens from sparse keys, complete or missing 30% of their joint
    entries: ({condition: {method: {action: {spacing_ms: mm}}}}, the same with each
    window's error (B,) for the bootstrap)."""
    table = fill_methods(ours)
    t = (np.arange(HISTORY) - (HISTORY - 1)) * ours.frame_time  # 0 = the last key
    results: dict = {c: {m: {} for m in table} for c in FILL_CONDITIONS}
    per_window: dict = {c: {m: {} for m in table} for c in FILL_CONDITIONS}
    for action, win in windows.items():
        for ms, condition, keys, between, mask in fill_cases(win, ours.frame_time):
            for name, method in table.items():
                filled = method(t[keys], win[:, keys], mask, t)
                predicted, true = positions(filled, action, slice(0, HISTORY))
                errors = joint_errors(predicted[:, between], true[:, between])
                results[condition][name].setdefault(action, {})[ms] = float(errors.mean())
                per_window[condition][name].setdefault(action, {})[ms] = errors.mean(axis=(1, 2))
    return results, per_window


def fill_cases(windows: np.ndarray, frame_time: float):
    """The filling tests of one action's windows (B, F, J, D): for each key spacing and
    condition, (spacing in ms as text, condition, key frames, frames between the keys,
    mask (B, keys, J) of the kept entries), masks drawn from a generator seeded per action."""
    rng = np.random.default_rng(CMU_SEED)
    for spacing in KEY_SPACINGS:
        keys = key_frames(HISTORY, spacing)
        between = np.setdiff1d(np.arange(keys[0], HISTORY), keys)
        ms = str(int(round(spacing * frame_time * 1000)))
        for condition, joint_drop in FILL_CONDITIONS.items():
            mask = incomplete_mask(rng, len(windows), len(keys), windows.shape[2], 0.0,
                                   joint_drop)
            mask[:, -1] = 1.0  # the last key is whole
            yield ms, condition, keys, between, mask


def evaluate(windows: dict[str, np.ndarray], ours: Checkpoint, simlpe: Checkpoint | None,
             positions: evaluation.Positions, conditions: dict = CONDITIONS,
             ltd: Checkpoint | None = None) -> dict:
    """The prediction table (evaluation.evaluate) of ours and the baselines, the filling
    table (evaluate_fill), timings and ours / siMLPe at 400 ms.

    windows : {action: (B, 50 + 25, J, D)} model values; positions(values, action, frames)
    gives the predicted and true joint positions of that action's windows at `frames` (a
    slice of the window).
    """
    table = methods(ours, simlpe, ours.model.mean_pose.numpy(), ltd)
    out = evaluation.evaluate(windows, table, positions, HISTORY, 1 / ours.frame_time,
                              HORIZONS_MS, conditions, CMU_SEED)
    out["fill"], fill_windows = evaluate_fill(windows, ours, positions)
    per_window = out.pop("per_window")
    if "simlpe" in per_window and "complete" in conditions:
        out["ours_vs_simlpe"] = evaluation.bootstrap_ratio(per_window["ours"],
                                                           per_window["simlpe"], CMU_SEED)
    windows_by_condition = {**out.pop("per_window_horizons"),
                            **{f"fill_{c}": v for c, v in fill_windows.items()}}
    out["intervals"] = {c: evaluation.bootstrap_columns(v, "ours", CMU_SEED)
                        for c, v in windows_by_condition.items()}
    return out


def evaluate_cmu(data: Path, ours: Checkpoint, simlpe: Checkpoint | None,
                 conditions: dict = CONDITIONS, split: str = "test",
                 ltd: Checkpoint | None = None) -> dict:
    """The published protocol on the benchmark folder (see the module notes), on its test
    files or on our validation files (data.CmuBenchmark.files)."""
    bench = CmuBenchmark.load(data)
    full_windows = bench.test_windows(HISTORY, split)
    windows = {a: w[:, :, bench.used].astype(np.float32) for a, w in full_windows.items()}

    def positions(pred, action, frames):
        truth = full_windows[action][:, frames]
        return bench.full_pose(pred, truth), truth  # LTD's 38 joints

    return evaluate(windows, ours, simlpe, positions, conditions, ltd)


def evaluate_smpl(windows: dict[str, np.ndarray], ours: Checkpoint,
                  simlpe: Checkpoint | None, conditions: dict = CONDITIONS,
                  ltd: Checkpoint | None = None) -> dict:
    """SMPL token windows {action: (B, 75, 25, 6)} (see the module notes)."""
    import torch

    from motionfield.body.tokens import SmplLoss

    forward_kinematics = SmplLoss().positions

    def millimetres(tokens):
        with torch.no_grad():
            return 1000.0 * forward_kinematics(torch.as_tensor(tokens)).numpy()

    def positions(pred, action, frames):
        return millimetres(pred), millimetres(windows[action][:, frames])

    return evaluate(windows, ours, simlpe, positions, conditions, ltd)


def bvh_folder_windows(folder: Path) -> dict[str, np.ndarray]:
    """{folder name: (B, 75, 25, 6)} SMPL token windows, 8 per file longer than 3 s."""
    from motionfield.data.build import build, load_set

    data = load_set(build(str(folder), progress=True))
    out = smpl_windows(data, range(len(data.clips)), "folder")
    if not out:
        raise ValueError(f"{folder}: no BVH file holds more than 3 s (75 frames at 25 fps)")
    return out


def set_windows(source: str, split: str) -> dict[str, np.ndarray]:
    """{content: (B, 75, 25, 6)} windows of the `split` clips ("val" or "test") of a named
    set that the `smpl` field's training split comes from (data.build's split rule)."""
    from motionfield.data.build import build, load_set

    data = load_set(build(source, progress=True))
    out = smpl_windows(data, data.split(split), "content")
    if not out:
        raise ValueError(f"{source}: no {split} clip holds more than 3 s")
    return out


def smpl_windows(data, clips, label: str) -> dict[str, np.ndarray]:
    """8 windows of 50 + 25 frames at 25 fps from each of a built set's `clips` longer
    than that, grouped by the clip label `label` ("all" where it has none)."""
    from motionfield.body.tokens import clip_tokens
    from motionfield.methods.predict.tasks import SMPL_FPS

    out: dict[str, list] = {}
    for i in clips:
        tokens = clip_tokens(data, i, SMPL_FPS)
        if len(tokens) > HISTORY + CMU_TARGET_FRAMES:
            name = str(data.clips[i]["labels"].get(label, ""))
            out.setdefault(name if name not in ("", ".") else "all", []).append(
                ltd_windows(tokens, HISTORY))
    return {a: np.concatenate(w) for a, w in sorted(out.items())}


def report(raw: dict, ours_path: Path, simlpe_path: Path | None, benchmark: bool,
           task: str, ltd_path: Path | None = None) -> dict:
    """The JSON the CLI writes: each method -> {horizon_ms: mm} averaged over the actions
    (complete history); per-action, incomplete-history and filling tables under their own
    keys (evaluation.summary)."""
    out = evaluation.summary(raw["results"], raw["fill"])
    if benchmark:
        out["published"] = PUBLISHED
    out["protocol"] = PROTOCOL if benchmark else FOLDER_PROTOCOL
    out["history_frames"] = HISTORY
    out["checkpoints"] = {"ours": str(ours_path), "simlpe": str(simlpe_path),
                          "ltd": str(ltd_path) if ltd_path else None}
    out["seconds"] = raw["seconds"]
    if "ours_vs_simlpe" in raw:
        out["ours_vs_simlpe_400ms"] = raw["ours_vs_simlpe"]
    out["intervals"] = raw["intervals"]
    out["handover"] = dataclasses.asdict(handover_for(task))
    return out


def run(data: str | Path, json_out: Path | None = None, model: Path | None = None,
        simlpe: Path | None = None, split: str = "test", ltd: Path | None = None) -> dict:
    """Evaluate on the CMU benchmark folder (the unpacked cmu_mocap, or the folder above
    it), its test or validation windows; on the test or validation clips of a named set
    (SETS); or on any folder of BVH files."""
    named = str(data) in SETS
    data = Path(data)
    if not named and not data.is_dir():
        raise ValueError(f"{data}: not a folder, nor one of the sets {', '.join(SETS)}")
    if (data / "cmu_mocap" / "skeleton.json").exists():
        data = data / "cmu_mocap"
    benchmark = not named and (data / "skeleton.json").exists()
    if split != "test" and not (benchmark or named):
        raise ValueError("--split validation is for the CMU benchmark folder or a named set; "
                         "a folder of BVH files is scored whole")
    task = "cmu" if benchmark else "smpl"
    ours_path = Path(model) if model else shipped_checkpoint(task)
    simlpe_path = Path(simlpe) if simlpe else shipped_checkpoint(f"{task}-simlpe")
    ltd_path = (Path(ltd) if ltd else
                shipped_checkpoint(f"{task}-ltd") if f"{task}-ltd" in SHIPPED else None)
    ours, baseline = load_checkpoint(ours_path), load_checkpoint(simlpe_path)
    graph = load_checkpoint(ltd_path) if ltd_path else None
    if benchmark:
        checked = ((ours_path, ours), (simlpe_path, baseline), (ltd_path, graph))
        for path, checkpoint in checked:
            if checkpoint is not None:
                _check_split(path, checkpoint, split)
        raw = evaluate_cmu(data, ours, baseline, split=split, ltd=graph)
    elif named:
        raw = evaluate_smpl(set_windows(str(data), SETS[str(data)][split]), ours, baseline,
                            ltd=graph)
    else:
        raw = evaluate_smpl(bvh_folder_windows(data), ours, baseline, ltd=graph)
    out = report(raw, ours_path, simlpe_path, benchmark, ours.meta["task"], ltd_path)
    out["data"] = str(data)
    out["split"] = split if benchmark or named else "folder"
    if json_out:
        evaluation.write_report(out, json_out)
    return out


def _check_split(path: Path, checkpoint: Checkpoint, split: str) -> None:
    """The validation windows are only held out from a model trained without their files."""
    held_out = checkpoint.meta.get("train", {}).get("hold_out_validation", False)
    if split == "validation" and not held_out:
        raise ValueError(f"{path} was trained on the validation files: retrain it with "
                         "--hold-out-validation to compare on them")


def format_table(out: dict) -> str:
    """The averages as a plain-text table, ours and the baselines, each condition, then
    ours / each other method with its 95% paired bootstrap interval."""
    lines = [evaluation.format_table(out, RATIOS)]
    for condition, table in out.get("intervals", {}).items():
        lines.append(f"-- ours / other, {condition} (95% paired bootstrap interval)")
        for other, columns in table.items():
            cells = [f"{c} {r['average']['ratio']:.3f} [{r['average']['low']:.3f}, "
                     f"{r['average']['high']:.3f}]" for c, r in columns.items()]
            lines.append(f"{other:<20}" + "  ".join(cells))
    return "\n".join(lines)
