"""Render docs/img/text2motion_variations.png: three variations (seeds 0, 1, 2) of two
prompts from the shipped text2motion model, as filmstrips of the SMPL skeleton every 0.5 s.

Needs matplotlib (not a project dependency): python benchmarks/plot_text2motion.py
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from motionfield.body.skeleton import smpl_skeleton
from motionfield.methods.text2motion.infer import load

PROMPTS = {"a person walks happily": (2, 1),           # side view: forward (Z) x up (Y)
           "a person waves the right hand": (0, 1)}    # front view: lateral (X) x up (Y)
SECONDS, STEP, SEEDS = 4.0, 0.5, (0, 1, 2)


def main() -> int:
    model = load()
    parents = smpl_skeleton().parents
    fig, axes = plt.subplots(len(PROMPTS) * len(SEEDS), 1, figsize=(11, 9.5))
    row = 0
    for prompt, (across, up) in PROMPTS.items():
        for seed in SEEDS:  # variation k of the panel is seed k - 1
            motion = model.generate([prompt], SECONDS, 1 / STEP, seed=seed)[0]
            ax = axes[row]
            joints = motion.joint_positions()
            for k, pose in enumerate(joints):
                # walks keep their travel; in-place motions are spread out to be seen
                shift = 0.0 if across == 2 else 0.9 * k
                for j, p in enumerate(parents):
                    if p >= 0:
                        ax.plot([pose[p, across] + shift, pose[j, across] + shift],
                                [pose[p, up], pose[j, up]], color=plt.cm.viridis(k / len(joints)),
                                lw=1.4)
            ax.set_aspect("equal")
            ax.axis("off")
            ax.set_title(f'"{prompt}", seed {seed} (every {STEP} s, {SECONDS:g} s)', fontsize=9)
            row += 1
    fig.tight_layout()
    fig.savefig("docs/img/text2motion_variations.png", dpi=80)
    return 0


if __name__ == "__main__":
    sys.exit(main())
