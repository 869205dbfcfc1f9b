"""`motionfield eval sparse`: ours, the AvatarPoser-style baseline and the trivial one on
held-out takes, in two settings (hands always tracked; the headset's field of view).

Every take of the split is tracked once per setting with a generator seeded by the take's
id (data.take_seed), the same tracking for every method, and solved online frame by frame
(infer.Solver). Errors are pooled over frames and take, with 95% intervals that redraw
takes (evaluation.bootstrap_groups). Joints are SMPL's first 22 (no hand tips), as in the
AMASS protocol of AvatarPoser and AGRoL; lower body = pelvis, hips, knees, ankles, feet.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import tokens_to_motion
from motionfield.evaluation import bootstrap_groups
from motionfield.methods.sparse import data as sdata
from motionfield.methods.sparse.config import CONTROLLERS, FPS, HEADSET
from motionfield.metrics import rotation_errors

BODY = list(range(22))
LOWER = [0, 1, 2, 4, 5, 7, 8, 10, 11]
UPPER = [j for j in BODY if j not in LOWER]
HANDS = [20, 21]
SETTINGS = {"tracked": CONTROLLERS, "headset": HEADSET}
COLUMNS = ("mpjre_deg", "mpjpe_cm", "mpjve_cm_s", "jitter_100m_s3", "hand_cm",
           "upper_cm", "lower_cm")
SPLIT_COLUMNS = ("mpjpe_cm", "hand_cm")  # also reported on frames with a hand unseen / not


def body(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tokens (T, 25, 6) -> local rotations (T, 24, 3, 3) and joint positions (T, 24, 3)."""
    skel = smpl_skeleton()
    rot, trans = tokens_to_motion(tokens)
    return rot, forward_kinematics(rot, trans, skel.offsets, skel.parents)[1]


def frame_errors(pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame errors of one take, in the report's units: {column: (T,) or (T - k,)}."""
    (pr, pp), (tr, tp) = body(pred), body(true)
    dist = np.linalg.norm(pp - tp, axis=-1) * 100
    vel = np.linalg.norm(np.diff(pp, axis=0) - np.diff(tp, axis=0), axis=-1) * FPS * 100
    jerk = np.linalg.norm(np.diff(pp[:, BODY], n=3, axis=0), axis=-1) * FPS ** 3 / 100
    return {"mpjre_deg": rotation_errors(pr[:, BODY], tr[:, BODY]).mean(-1),
            "mpjpe_cm": dist[:, BODY].mean(-1), "mpjve_cm_s": vel[:, BODY].mean(-1),
            "jitter_100m_s3": jerk.mean(-1), "hand_cm": dist[:, HANDS],
            "upper_cm": dist[:, UPPER].mean(-1), "lower_cm": dist[:, LOWER].mean(-1)}


def take_sums(errors: dict[str, np.ndarray], seen: np.ndarray) -> dict[str, tuple]:
    """{column: (sum, count)} of one take; with the unseen split: `mpjpe_cm@unseen` over
    frames with a hand unseen, `@seen` over frames with both seen, and `hand_cm@unseen`
    over the unseen hands themselves."""
    out = {k: (float(v.sum()), v.size) for k, v in errors.items()}
    any_unseen = ~seen.all(-1)
    for mask, name in ((any_unseen, "unseen"), (~any_unseen, "seen")):
        out[f"mpjpe_cm@{name}"] = (float(errors["mpjpe_cm"][mask].sum()), int(mask.sum()))
    for mask, name in ((~seen, "unseen"), (seen, "seen")):
        out[f"hand_cm@{name}"] = (float(errors["hand_cm"][mask].sum()), int(mask.sum()))
    return out


def evaluate(solvers: dict, takes: list, seed: int = 0, progress: bool = True,
             settings: dict | None = None) -> dict:
    """{setting: {method: {column: {mean, low, high}}, "ours / other": ratios,
    "seen_share"}, "seconds": ..., "frames": ...} over `takes` (data.Take), in `settings`
    ({name: Headset}, default SETTINGS)."""
    from tqdm import tqdm

    report: dict = {"frames": int(sum(len(t.tokens) for t in takes)), "takes": len(takes),
                    "seconds": {m: 0.0 for m in solvers}}
    for setting, kit in (settings or SETTINGS).items():
        sums: dict = {m: [] for m in solvers}
        seen_frames = 0
        for take in tqdm(takes, desc=setting, disable=not progress):
            rng = np.random.default_rng(sdata.take_seed(take.id, setting))
            rot, pos, seen = sdata.observe(rng, kit, take.rot, take.pos)
            seen_frames += int(seen.sum())
            for name, solver in solvers.items():
                began = time.perf_counter()
                pred = solver.solve(rot, pos, seen)
                report["seconds"][name] += time.perf_counter() - began
                sums[name].append(take_sums(frame_errors(pred, take.tokens), seen))
        report[setting] = _pooled(sums, seed)
        report[setting]["seen_share"] = seen_frames / (2 * report["frames"])
    return report


def _pooled(sums: dict, seed: int) -> dict:
    """Each method's pooled columns with intervals, and ours / each other method."""
    out = {}
    first = next(iter(sums.values()))
    columns = [c for c in first[0] if sum(t[c][1] for t in first)]  # e.g. no unseen hands
    for name, per_take in sums.items():
        total = {c: np.array([t[c][0] for t in per_take]) for c in columns}
        count = {c: np.array([t[c][1] for t in per_take], dtype=float) for c in columns}
        out[name] = bootstrap_groups(total, count, seed)
    methods = list(sums)
    for other in methods[1:]:
        pairs = {}
        for c in ("mpjpe_cm", "mpjve_cm_s"):
            both = {f"{m}:{c}": np.array([t[c][0] for t in sums[m]]) for m in (methods[0], other)}
            count = {k: np.array([t[c][1] for t in sums[methods[0]]], dtype=float) for k in both}
            ratio = bootstrap_groups(both, count, seed, {c: tuple(both)})
            pairs[c] = ratio[c]
        out[f"{methods[0]} / {other}"] = pairs
    return out


def format_table(report: dict) -> str:
    """The report's means as plain text: one block per setting."""
    cols = list(COLUMNS) + ["mpjpe_cm@unseen", "mpjpe_cm@seen", "hand_cm@unseen"]
    lines = []
    for setting in [name for name in report if isinstance(report[name], dict)
                    and "seen_share" in report[name]]:
        block = report[setting]
        lines.append(f"-- {setting} (hands seen {block['seen_share']:.0%} of frames)")
        lines.append(f"{'method':<14}" + "".join(f"{c:>16}" for c in cols))
        for name, row in block.items():
            if isinstance(row, dict) and "mpjpe_cm" in row and "mean" in row["mpjpe_cm"]:
                lines.append(f"{name:<14}" + "".join(f"{_cell(row, c):>16}" for c in cols))
        for name, row in block.items():
            if " / " in name:
                lines.append(f"{name}: " + ", ".join(
                    f"{c} {r['ratio']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"
                    for c, r in row.items()))
    return "\n".join(lines)


def _cell(row: dict, column: str) -> str:
    value = row.get(column, {}).get("mean", float("nan"))
    return "-" if not np.isfinite(value) else f"{value:.2f}"


def write(report: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(report, indent=1))
