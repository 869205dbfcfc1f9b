"""Choose the `smpl` field's handover (config.Handover) on a validation split: the field's
share beside a Catmull-Rom spline when filling, per gap between keys and where a joint
skips keys, and how long a continuation blends from constant velocity into the field.

Only validation clips are read: the `val` split of both sets the field trains on (Bandai
Namco 1 and 2; never trained on, and no test clip), pooled. The windows, keys and masks
are those of `motionfield eval predict` (eval.fill_cases); errors are MPJPE in mm after
forward kinematics, averaged over the contents of both sets (each set's content its own
group, as the evaluation averages over contents).

* Fill: the fill is the spline plus a share of the field's departure from it
  (infer.fill_field), linear in the share, so each candidate is the spline plus share x
  (the field's fill - the spline), exactly. With whole keys every gap is the key spacing:
  each spacing's share is chosen on its own (the least error among 0, 0.1, ..., 1). The
  share where a joint skips keys is then chosen on the keys missing 30% of their entries
  (the least error averaged over the three spacings).
* Continuation: the blend length, among 0 to 320 ms, with the least error averaged over
  the 25 predicted frames (each frame counted once), complete history.

    python benchmarks/choose_predict_handover.py [--data bandai-namco-1 bandai-namco-2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from results_io import report  # noqa: E402

from motionfield.body.tokens import SmplLoss  # noqa: E402
from motionfield.methods.predict import eval as predict_eval  # noqa: E402
from motionfield.methods.predict.config import Handover  # noqa: E402
from motionfield.methods.predict.infer import (  # noqa: E402
    continue_field,
    fill_field,
    fill_share,
    load_checkpoint,
    shipped_checkpoint,
)

SHARES = np.round(np.arange(0.0, 1.01, 0.1), 2)
BLENDS_MS = (0, 40, 80, 120, 160, 240, 320)
FIELD_ONLY, SPLINE_ONLY = Handover(), Handover(fill_weights=(0.0,) * 3, skipped_key_weight=0.0)


def millimetres(tokens: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return 1000.0 * SmplLoss().positions(torch.as_tensor(tokens)).numpy()


def fill_parts(model, windows: dict, frame_time: float) -> list[dict]:
    """Per action and filling case: the spline, the field's fill, the truth (positions
    need FK per candidate, so values are kept) and what fill_share needs."""
    t = (np.arange(predict_eval.HISTORY) - (predict_eval.HISTORY - 1)) * frame_time
    parts = []
    for action, win in windows.items():
        for ms, condition, keys, between, mask in predict_eval.fill_cases(win, frame_time):
            args = (t[keys], win[:, keys], mask, t)
            parts.append({"action": action, "ms": ms, "condition": condition,
                          "between": between, "mask": mask, "t_keys": t[keys], "t": t,
                          "spline": fill_field(model, *args, SPLINE_ONLY),
                          "field": fill_field(model, *args, FIELD_ONLY),
                          "truth": millimetres(win[:, between])})
            print(f"{action} {ms} ms {condition}", flush=True)
    return parts


def fill_error(part: dict, handover: Handover) -> float:
    share = fill_share(handover, part["t_keys"], part["mask"], part["t"])[..., None]
    filled = part["spline"] + share * (part["field"] - part["spline"])
    between = part["between"]
    return float(np.linalg.norm(millimetres(filled[:, between]) - part["truth"],
                                axis=-1).mean())


def mean_over_actions(parts: list[dict], handover: Handover) -> float:
    per_action: dict[str, list] = {}
    for part in parts:
        per_action.setdefault(part["action"], []).append(fill_error(part, handover))
    return float(np.mean([np.mean(v) for v in per_action.values()]))


def choose_fill(parts: list[dict], gaps_ms: list[str]) -> tuple[Handover, dict]:
    scores: dict = {"complete": {}, "missing_joints_30": {}}
    weights = []
    for ms in gaps_ms:
        cases = [p for p in parts if p["ms"] == ms and p["condition"] == "complete"]
        row = {str(s): mean_over_actions(cases, Handover(fill_weights=(s,) * 3))
               for s in SHARES}
        scores["complete"][ms] = row
        weights.append(float(min(row, key=row.get)))
    chosen = Handover(fill_gaps_s=tuple(int(ms) / 1000 for ms in gaps_ms),
                      fill_weights=tuple(weights))
    missing = [p for p in parts if p["condition"] == "missing_joints_30"]
    row = {str(s): mean_over_actions(missing, dataclasses.replace(chosen,
                                                                  skipped_key_weight=s))
           for s in SHARES}
    scores["missing_joints_30"] = row
    return dataclasses.replace(chosen, skipped_key_weight=float(min(row, key=row.get))), scores


def choose_blend(model, windows: dict, frame_time: float) -> tuple[float, dict]:
    history, future = predict_eval.HISTORY, predict_eval.CMU_TARGET_FRAMES
    t_obs = (np.arange(history) - (history - 1)) * frame_time
    t_query = np.arange(1, future + 1) * frame_time
    scores = {}
    for ms in BLENDS_MS:
        per_action = []
        for win in windows.values():
            mask = np.ones(win.shape[:2] + (win.shape[2],), np.float32)[:, :history]
            pred = continue_field(model, t_obs, win[:, :history], mask, t_query,
                                  Handover(velocity_blend_s=ms / 1000))
            err = np.linalg.norm(millimetres(pred) - millimetres(win[:, history:]), axis=-1)
            per_action.append(err.mean(axis=(0, 2)))  # (25,) per frame
        frames = np.mean(per_action, axis=0)
        scores[str(ms)] = {"mean_over_frames": float(frames.mean()),
                           **{f"{h}ms": float(frames[round(h / 1000 / frame_time) - 1])
                              for h in predict_eval.HORIZONS_MS}}
        print(f"blend {ms} ms: {scores[str(ms)]}", flush=True)
    best = min(scores, key=lambda k: scores[k]["mean_over_frames"])
    return int(best) / 1000, scores


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", nargs="+", default=list(predict_eval.SETS),
                        choices=tuple(predict_eval.SETS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="benchmarks/results/predict_handover_val.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(shipped_checkpoint("smpl"))
    windows = {f"{name}/{content}": w for name in args.data
               for content, w in predict_eval.set_windows(name, "val").items()}
    dt = checkpoint.frame_time
    blend, blend_scores = choose_blend(checkpoint.model, windows, dt)
    parts = fill_parts(checkpoint.model, windows, dt)
    gaps = sorted({p["ms"] for p in parts}, key=int)
    handover, fill_scores = choose_fill(parts, gaps)
    handover = dataclasses.replace(handover, velocity_blend_s=blend)
    return report({"data": f"{', '.join(args.data)}: val split",
                   "windows": sum(map(len, windows.values())),
                   "chosen": dataclasses.asdict(handover),
                   "fill_mm_by_share": fill_scores,
                   "continuation_mm_by_blend_ms": blend_scores}, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
