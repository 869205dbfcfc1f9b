"""Pictures for docs/predict_history.md: where the per-action bar was hard to meet. One joint
in the 8 CMU test windows of one action (LTD's protocol), its history, the truth and the two
shipped models' predictions, one coordinate per column, with the 400 ms mark.

Needs matplotlib (not a project dependency) and the unpacked data (motionfield data unpack):
    python benchmarks/plot_predict_windows.py --action basketball  # predict_basketball.png
    python benchmarks/plot_predict_windows.py --action jumping  # docs/img/predict_jumping.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def predictions(action: str, joint: str):
    """History times, future times, and (history, truth, ours, siMLPe) of one joint, each
    (windows, frames, 3) in LTD units."""
    from motionfield.data.sources import source_path
    from motionfield.methods.predict.data import CMU_FRAME_TIME, CmuBenchmark
    from motionfield.methods.predict.eval import HISTORY, methods
    from motionfield.methods.predict.infer import load_checkpoint, shipped_checkpoint

    bench = CmuBenchmark.load(source_path("cmu_mocap"))
    windows = bench.test_windows(HISTORY)[action]
    history = windows[:, :HISTORY, bench.used].astype(np.float32)
    t_obs = (np.arange(HISTORY) - (HISTORY - 1)) * CMU_FRAME_TIME
    t_future = np.arange(1, windows.shape[1] - HISTORY + 1) * CMU_FRAME_TIME
    field = load_checkpoint(shipped_checkpoint("cmu"))
    table = methods(field, load_checkpoint(shipped_checkpoint("cmu-simlpe")),
                    field.model.mean_pose.numpy())  # the evaluation's own predictors
    complete = np.ones(history.shape[:3], np.float32)
    ours, theirs = table["ours"](history, complete), table["simlpe"](history, complete)
    j = bench.used_names.index(joint)
    truth = windows[:, HISTORY:, bench.used][:, :, j]
    return t_obs, t_future, history[:, :, j], truth, ours[:, :, j], theirs[:, :, j]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--action", default="basketball")
    parser.add_argument("-o", "--output", help="default: docs/img/predict_ACTION.png")
    parser.add_argument("--joint", default="RightHand")
    args = parser.parse_args(argv)
    output = args.output or f"docs/img/predict_{args.action}.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_obs, t_future, history, truth, ours, theirs = predictions(args.action, args.joint)
    count = len(history)
    fig, axes = plt.subplots(count, 3, figsize=(11, 1.6 * count), sharex=True)
    for w in range(count):
        for axis in range(3):
            ax = axes[w, axis]
            ax.plot(t_obs, history[w, :, axis], "k", lw=1)
            ax.plot(t_future, truth[w, :, axis], "k--", lw=1, label="truth")
            ax.plot(t_future, ours[w, :, axis], "C3", lw=1.5, label="ours")
            ax.plot(t_future, theirs[w, :, axis], "C0", lw=1.5, label="siMLPe")
            ax.axvline(0.4, color="gray", lw=0.5)
            ax.tick_params(labelsize=7)
        axes[w, 0].set_ylabel(f"window {w + 1}", fontsize=8)
    for axis, name in enumerate("xyz"):
        axes[0, axis].set_title(f"{args.joint} {name} (LTD units)", fontsize=9)
        axes[-1, axis].set_xlabel("seconds from the last seen frame", fontsize=8)
    axes[0, 2].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"CMU {args.action}, the 8 test windows: history, truth and predictions "
                 "(grey line: 400 ms)", fontsize=10)
    fig.tight_layout()
    fig.savefig(output, dpi=70)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
