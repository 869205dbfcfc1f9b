"""Picture for docs/predict.md from the evaluations' JSON: error against horizon on the
CMU benchmark, and filling between keys on the held-out Bandai Namco clips.

Needs matplotlib (not a project dependency): pip install matplotlib
    python benchmarks/plot_predict.py -o docs/img/predict.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

LABELS = {"ours": "ours (motion field, 3 seeds)",
          "simlpe": "siMLPe (its recipe, 1,200 steps here)",
          "ltd": "LTD (its recipe, 2,850 steps here)",
          "constant_velocity": "constant velocity", "zero_velocity": "zero velocity"}
FILL_LABELS = {"ours": "ours (spline + share of the field)", "cubic": "Catmull-Rom",
               "linear": "linear"}


def horizon_panel(ax, table: dict) -> None:
    for name, label in LABELS.items():
        ms = [int(h) for h in table[name]]
        ax.plot(ms, list(table[name].values()), "o-", label=label, lw=2 if name == "ours" else 1)
    for (name, published), marker in zip(table["published"].items(), ("k*", "kx")):
        ax.plot([int(h) for h in published], list(published.values()), marker, ms=9,
                label=f"{name.split(' (')[0]}, published (8 actions, GPU)")
    ax.set(xlabel="horizon (ms)", ylabel="MPJPE (mm, LTD units)", ylim=(0, 200),
           title="Prediction: CMU-Mocap, 6 test actions, 50 frames of history")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def fill_panel(ax, fill: dict) -> None:
    groups = [(c, ms) for c in fill for ms in fill[c]["average"]["ours"]]
    x = np.arange(len(groups))
    for i, (name, label) in enumerate(FILL_LABELS.items()):
        values = [fill[c]["average"][name][ms] for c, ms in groups]
        ax.bar(x + (i - 1) * 0.27, values, 0.27, label=label)
    ax.set_xticks(x, [f"{ms} ms" + ("\n30% missing" if c != "complete" else "")
                      for c, ms in groups], fontsize=8)
    ax.set(xlabel="keys apart", ylabel="MPJPE over the filled frames (mm)",
           title="Filling: 20 held-out Bandai Namco clips, SMPL")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def main() -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="benchmarks/results/predict_cmu.json")
    parser.add_argument("--fill-results",
                        default="benchmarks/results/predict_bandai1_test.json")
    parser.add_argument("-o", "--output", default="docs/img/predict.png")
    args = parser.parse_args()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    horizon_panel(left, json.loads(Path(args.results).read_text()))
    fill_panel(right, json.loads(Path(args.fill_results).read_text())["fill"])
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
