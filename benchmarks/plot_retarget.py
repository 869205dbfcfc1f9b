"""Picture for docs/retarget.md: source skeletons and their SMPL retargets side by side.

Needs matplotlib (not a project dependency): pip install matplotlib
    python benchmarks/plot_retarget.py -o docs/img/retarget.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from motionfield.body.skeleton import SMPL_PARENTS
from motionfield.data.sources import data_dir, unpack
from motionfield.io.bvh import read_bvh
from motionfield.io.retarget import retarget
from motionfield.io.rigs import detect_rig

CLIPS = [("Bandai-Namco-Research-Motiondataset-1/data/dataset-1_kick_normal_001.bvh", 0.5),
         ("cmu_bvh/05_06.bvh", 0.4), ("ReActIdle/acted/004_acted.bvh", 0.5)]


def main() -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="docs/img/retarget.png")
    args = parser.parse_args()
    unpack()
    fig, axes = plt.subplots(1, len(CLIPS), figsize=(4 * len(CLIPS), 4.6))
    for ax, (rel, at) in zip(axes, CLIPS):
        clip = read_bvh(data_dir() / rel)
        motion, report = retarget(clip)
        frame = int(at * (clip.num_frames - 1))
        rig = detect_rig(clip.names, clip.parents)
        scale = report.metres_per_unit * report.body_scale
        glob, src = clip.forward_kinematics(scale)
        if rig.root_offset_added:
            src = src + clip.offsets[0] * scale
        glob, src = glob[frame], src[frame]
        ours = motion.joint_positions()[frame]
        shift = np.array([0.9, 0, 0])
        placeholder = clip.names[0] not in rig.joints.values()
        bones = [(p, src[j]) for j, p in enumerate(clip.parents) if p > 0 or
                 (p == 0 and not placeholder)]
        bones += [(j, src[j] + glob[j] @ (end * scale)) for j, end in clip.end_sites.items()]
        for p, tip in bones:
            ax.plot(*zip(src[p][[0, 1]], tip[[0, 1]]), color="tab:gray", lw=2)
        for j, p in enumerate(SMPL_PARENTS):
            if p >= 0:
                a, b = ours[p] + shift, ours[j] + shift
                ax.plot(*zip(a[[0, 1]], b[[0, 1]]), color="tab:orange", lw=2.5)
        ax.set_title(f"{rel.split('/')[-1]}\n{report.rig}: {report.error_mean_m * 100:.2f} cm "
                     "mean error", fontsize=9)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle("source rig (grey) and its SMPL retarget (orange), front view, same frame")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
