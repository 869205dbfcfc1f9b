"""BVH -> SMPL conversion speed: a 10-second 120 fps clip, ours against a per-frame loop.

The clip is real CMU mocap (cgspeed 05_06, 31 joints) played forward then backward to make
exactly 1,200 frames. "per-frame loop" is the straightforward way: values parsed line by
line with float(), then Euler angles and forward kinematics one frame at a time; it does
the same work up to the SMPL rotations, so the two are compared on equal terms.

    python benchmarks/bench_convert.py [--repeat 5] [--json benchmarks/results/convert.json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_io import report
from scipy.spatial.transform import Rotation

from motionfield.data.sources import source_path
from motionfield.io.bvh import parse_bvh, read_bvh
from motionfield.methods.convert.pipeline import convert

FRAMES = 1200


def ten_second_clip() -> str:
    text = (source_path("cmu_bvh") / "05_06.bvh").read_text()
    head, motion = text.split("MOTION", 1)
    lines = [ln for ln in motion.strip().splitlines()[2:] if ln.strip()]
    frames = (lines + lines[::-1])[:FRAMES]
    return f"{head}MOTION\nFrames: {FRAMES}\nFrame Time: 0.00833333\n" + "\n".join(frames) + "\n"


def _timed(fn, *args) -> float:
    began = time.perf_counter()
    fn(*args)
    return time.perf_counter() - began


def ours(path: Path) -> float:
    began = time.perf_counter()
    convert(read_bvh(path), 120)  # the pipeline `motionfield convert` and the job share
    return time.perf_counter() - began


def per_frame_loop(path: Path) -> float:
    """Parse and pose one frame at a time (the baseline)."""
    began = time.perf_counter()
    clip = parse_bvh(path.read_text())  # hierarchy only is reused; values are re-parsed below
    text = path.read_text().split("MOTION", 1)[1].strip().splitlines()[2:]
    orders = ["".join(c[0] for c in ch if c.endswith("rotation")) for ch in clip.channels]
    for line in text:
        values = [float(v) for v in line.split()]
        k, glob, pos = 0, [], []
        for j, chans in enumerate(clip.channels):
            vals = dict(zip(chans, values[k:k + len(chans)]))
            k += len(chans)
            rot = Rotation.from_euler(orders[j], [vals[f"{a}rotation"] for a in orders[j]],
                                      degrees=True).as_matrix() if orders[j] else np.eye(3)
            p = clip.parents[j]
            glob.append(rot if p < 0 else glob[p] @ rot)
            pos.append(np.zeros(3) if p < 0 else pos[p] + glob[p] @ clip.offsets[j])
    return time.perf_counter() - began


def cli(path: Path, out: Path) -> float:
    """The whole `motionfield convert` command, interpreter start-up included."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "motionfield.cli", "convert", str(path), "--fps",
                    "120", "-o", str(out)], check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default="benchmarks/results/convert.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ten_seconds_120fps.bvh"
        path.write_text(ten_second_clip())
        text = path.read_text()
        parse_s = [_timed(parse_bvh, text) for _ in range(args.repeat)]
        ours(path)  # warm imports and caches
        ours_s = [ours(path) for _ in range(args.repeat)]
        loop_s = [per_frame_loop(path) for _ in range(max(1, args.repeat // 2))]
        cli_s = [cli(path, Path(tmp) / "out.npz") for _ in range(3)]
    result = {"clip": "CMU 05_06 ping-pong, 1200 frames at 120 fps, 31 joints",
              "parse_median_s": statistics.median(parse_s),
              "parse_target_s": 0.1,
              "ours_median_s": statistics.median(ours_s),
              "per_frame_loop_median_s": statistics.median(loop_s),
              "speedup": statistics.median(loop_s) / statistics.median(ours_s),
              "cli_process_median_s": statistics.median(cli_s),
              "target_s": 1.0}
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
