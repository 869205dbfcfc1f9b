"""The multi-video fit on real footage (no ground truth): clips of the OpenPose repository's
street video (../shared/data/video; people walking) as instances of one action, keypoints
by MediaPipe, then the lifter and the joint fit (motionfield reconstruct's path). For a few
frames of each clip it draws the 2D keypoints MediaPipe found (grey) and the fitted SMPL
skeleton projected through the clip's fitted camera (colour), and, from above, each clip's
fitted root path and camera. No video pixels: the footage's licence is the OpenPose
repository's. Writes docs/img/video_overlay_street.png and prints the reprojection error.

    python benchmarks/plot_video_overlay.py [--clips 3] [--seconds 1.6] [--steps 600]
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

from motionfield.body.kinematics import forward_kinematics  # noqa: E402
from motionfield.body.rotations import quat_to_matrix  # noqa: E402
from motionfield.body.skeleton import smpl_skeleton  # noqa: E402
from motionfield.methods.video import infer  # noqa: E402
from motionfield.methods.video.config import FitConfig  # noqa: E402
from motionfield.methods.video.extract import extract_video  # noqa: E402
from motionfield.methods.video.keypoints import Keypoints2D  # noqa: E402
from motionfield.methods.video.reconstruct import reconstruct  # noqa: E402

COCO_BONES = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (11, 12), (5, 11), (6, 12),
              (11, 13), (13, 15), (12, 14), (14, 16))
# SMPL joints beside the COCO joints they stand for (shoulders, elbows, wrists, hips,
# knees, ankles), for the reprojection error
SMPL_OF_COCO = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5,
                15: 7, 16: 8}


def project(camera, points: np.ndarray) -> np.ndarray:
    """World points (..., 3) -> pixels (..., 2) from the image's top-left corner."""
    x = points @ camera.rotation.T + camera.translation
    w, h = camera.image_size
    return np.stack([w / 2 + camera.focal * x[..., 0] / -x[..., 2],
                     h / 2 - camera.focal * x[..., 1] / -x[..., 2]], axis=-1)


def clip(keypoints: Keypoints2D, first: int, frames: int, name: str) -> Keypoints2D:
    part = slice(first, first + frames)
    return Keypoints2D(keypoints.xy[part], keypoints.confidence[part], keypoints.image_size,
                       keypoints.fps, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.2)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "img" /
                                             "video_overlay_street.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    video = _street_video()
    if video is None:
        raise SystemExit("the street video (shared/data/video) is not here")
    whole = extract_video(video).keypoints
    length = int(round(args.seconds * whole.fps))
    starts = np.linspace(0, whole.frames - length, args.clips).round().astype(int)
    clips = [clip(whole, s, length, f"frames {s}-{s + length - 1}") for s in starts]
    lifter, _ = infer.load()
    answers = reconstruct(lifter, clips, FitConfig.of_steps(args.steps), joint=True)
    skel = smpl_skeleton()
    shown = np.linspace(0, length - 1, 3).round().astype(int)
    fig, axes = plt.subplots(args.clips, 4, figsize=(16, 2.9 * args.clips))
    errors = []
    for row, (k, answer) in enumerate(zip(clips, answers)):
        motion = answer.motion
        _, joints = forward_kinematics(quat_to_matrix(motion.rotations),
                                       motion.root_translation, skel.offsets, skel.parents)
        for col, frame in enumerate(shown):
            ax = axes[row, col]
            t = min(int(round(frame / k.fps * motion.fps)), motion.num_frames - 1)
            drawn = project(answer.camera, joints[t])
            seen, conf = k.xy[frame], k.confidence[frame]
            for a, b in COCO_BONES:
                if conf[a] > 0.3 and conf[b] > 0.3:
                    ax.plot(*seen[[a, b]].T, color="0.6", lw=4, solid_capstyle="round")
            for j, parent in enumerate(skel.parents):
                if parent >= 0 and j < 22:
                    ax.plot(*drawn[[parent, j]].T, color="tab:blue" if j % 3 else
                            "tab:orange", lw=1.6)
            ok = [c for c in SMPL_OF_COCO if conf[c] > 0.3]
            errors.append(np.linalg.norm(drawn[[SMPL_OF_COCO[c] for c in ok]] - seen[ok],
                                         axis=-1).mean())
            centre = seen[conf > 0.3].mean(0)
            span = max(np.ptp(seen[conf > 0.3], axis=0).max() * 0.75, 60)
            ax.set_xlim(centre[0] - span, centre[0] + span)
            ax.set_ylim(centre[1] + span, centre[1] - span)
            ax.set_aspect("equal")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"clip {row + 1}, {frame / k.fps:.2f} s", fontsize=9)
        ax = axes[row, 3]
        for other, each in enumerate(answers):
            path = each.motion.root_translation
            ax.plot(path[:, 0], path[:, 2], color="0.8" if other != row else "tab:blue")
            position = each.camera.position
            ax.plot(position[0], position[2], "^", color="tab:red" if other == row else "0.7")
        ax.set_aspect("equal")
        ax.set_title(f"from above: clip {row + 1}'s root and camera (red)", fontsize=9)
    fig.suptitle(f"{args.clips} clips of a real street video fitted together: MediaPipe's "
                 f"keypoints (grey), the fitted SMPL body through each fitted camera (colour)",
                 fontsize=11)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}; mean reprojection error over the drawn frames "
          f"{np.mean(errors):.1f} px (image {whole.image_size[0]} x {whole.image_size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
