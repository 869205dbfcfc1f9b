"""The lifter on real footage (no ground truth): the OpenPose repository's street video
(../shared/data/video), keypoints by MediaPipe, lifted by the shipped lifter. Draws, for a
few frames, the 2D keypoints as MediaPipe found them (no video pixels: the footage's licence
is the OpenPose repository's) and the lifted SMPL joints seen from the camera and from the
side, to docs/img/video_lift_street.png.

    python benchmarks/plot_video_lift.py [--frames 150] [--out docs/img/video_lift_street.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_video_keypoints import _street_video  # noqa: E402

from motionfield.body.skeleton import smpl_skeleton  # noqa: E402
from motionfield.methods.video import infer  # noqa: E402
from motionfield.methods.video.extract import extract_video  # noqa: E402

COCO_BONES = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (11, 12), (5, 11), (6, 12),
              (11, 13), (13, 15), (12, 14), (14, 16), (0, 5), (0, 6))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "img" /
                                             "video_lift_street.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    video = _street_video()
    if video is None:
        raise SystemExit("the street video is not in ../shared/data/video")
    keypoints = extract_video(video, max_frames=args.frames).keypoints
    model, _ = infer.load()
    lifted = infer.lift(model, keypoints)
    parents = smpl_skeleton().parents
    picks = np.linspace(0, len(lifted.times) - 1, 4).round().astype(int)
    fig, axes = plt.subplots(3, len(picks), figsize=(3.2 * len(picks), 9.5))
    w, h = keypoints.image_size
    for col, k in enumerate(picks):
        frame = int(round(lifted.times[k] * keypoints.fps))
        xy, conf = keypoints.xy[frame], keypoints.confidence[frame]
        ax = axes[0, col]
        for a, b in COCO_BONES:
            if conf[a] > 0.3 and conf[b] > 0.3:
                ax.plot(xy[[a, b], 0], xy[[a, b], 1], "-", color="tab:blue")
        ax.scatter(*xy[conf > 0.3].T, s=8, color="tab:blue")
        ax.set_xlim(xy[conf > 0.3, 0].mean() - 200, xy[conf > 0.3, 0].mean() + 200)
        ax.set_ylim(min(h, xy[conf > 0.3, 1].max() + 60), max(0, xy[conf > 0.3, 1].min() - 60))
        ax.set_aspect("equal")
        ax.set_title(f"{lifted.times[k]:.2f} s: MediaPipe 2D")
        joints = lifted.joints[k]
        for row, (u, name) in enumerate(((0, "camera view (x, y)"), (2, "side view (z, y)")),
                                        start=1):
            ax = axes[row, col]
            for j, p in enumerate(parents):
                if p >= 0 and j < 22:
                    ax.plot(joints[[p, j], u], joints[[p, j], 1], "-", color="tab:red")
            ax.set_xlim(-1, 1)
            ax.set_ylim(-1.1, 0.9)
            ax.set_aspect("equal")
            ax.set_title(f"lifted, {name}", fontsize=9)
    fig.suptitle("Real street footage (OpenPose's example video): MediaPipe keypoints and the "
                 "lifted SMPL joints (root-relative, metres)", fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}: {keypoints.frames} frames, a person in "
          f"{keypoints.detected.mean():.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
