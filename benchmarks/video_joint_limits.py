"""The joint-limit prior of the multi-video fit (methods/video/fit.py): for each SMPL joint,
the range of each axis-angle component of its local rotation over the training split of
every built mocap set (0.2 and 99.8 percentiles), written to assets/video/joint_limits.json.

    python benchmarks/video_joint_limits.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from motionfield.body.rotations import quat_continuous, quat_to_axis_angle
from motionfield.data.takes import ALL_SOURCES, built_clips

OUT = Path(__file__).parents[1] / "assets" / "video" / "joint_limits.json"


def main() -> int:
    parts, takes = [], 0
    for clip in built_clips(ALL_SOURCES, progress=False):
        if clip.split != "train":
            continue
        q = quat_continuous(clip.rotations[::3].astype(np.float64))
        parts.append(quat_to_axis_angle(q).astype(np.float32))   # (T, 24, 3)
        takes += 1
    aa = np.concatenate(parts)
    low, high = np.percentile(aa, [0.2, 99.8], axis=0)
    OUT.write_text(json.dumps({
        "about": "axis-angle range of each SMPL joint's local rotation (radians), 0.2 and 99.8 "
                 "percentiles over the training split of every built set (every third frame); "
                 "benchmarks/video_joint_limits.py",
        "takes": takes, "frames": int(len(aa)),
        "low": np.round(low, 4).tolist(), "high": np.round(high, 4).tolist()}, indent=1))
    print(f"{OUT}: {takes} takes, {len(aa)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
