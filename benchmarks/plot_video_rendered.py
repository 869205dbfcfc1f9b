"""The rendered evaluation, seen: one val action's takes as Blender rendered them (each
through its own camera), MediaPipe's keypoints on them (white) and the joint fit's body
projected through its fitted camera (colour), at three moments of the first take and the
moments the fit's time warps match to them in the others. Writes
docs/img/video_rendered_eval.png.

    python benchmarks/plot_video_rendered.py [--action 0] [--steps 400]
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
from plot_video_overlay import COCO_BONES, project  # noqa: E402

from motionfield.body.skeleton import smpl_skeleton  # noqa: E402
from motionfield.methods.video import fit as nemo  # noqa: E402
from motionfield.methods.video import infer, multi_eval  # noqa: E402
from motionfield.methods.video.config import FitConfig  # noqa: E402
from motionfield.methods.video.infer import lift_arrays  # noqa: E402


def frame_of(video: Path, index: int) -> np.ndarray:
    import cv2

    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"{video}: no frame {index}")
    return image[..., ::-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--action", type=int, default=0, help="which val action (sorted)")
    parser.add_argument("--steps", type=int, default=FitConfig.steps)
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "img" /
                                             "video_rendered_eval.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    action = multi_eval.action_sets("val")[args.action]
    rendered = multi_eval.rendered_keypoints(action[1])
    (name, takes), = rendered.usable([action])
    seen = rendered.keypoints
    videos = [nemo.Video(seen[t.id].xy, seen[t.id].confidence, seen[t.id].image_size)
              for t in takes]
    lifter, _ = infer.load()
    lifted = [lift_arrays(lifter, v.pixels, v.confidence) for v in videos]
    fitted = nemo.fit(videos, lifted, FitConfig.of_steps(args.steps))
    moments = np.linspace(0.15, 0.85, 3) * (videos[0].frames - 1)
    parents = smpl_skeleton().parents
    fig, axes = plt.subplots(len(takes), 3, figsize=(9, 3.1 * len(takes)))
    for row, (take, video, answer) in enumerate(zip(takes, videos, fitted)):
        match = nemo.matching_frames(fitted[0].phase, answer.phase)
        for col, moment in enumerate(moments):
            frame = int(round(match[int(round(moment))])) if row else int(round(moment))
            ax = axes[row, col]
            ax.imshow(frame_of(multi_eval.rendered_stem(take.id).with_suffix(".mp4"), frame))
            drawn = project(answer.camera, answer.joints[frame])
            for j, parent in enumerate(parents[:22]):
                if parent >= 0:
                    ax.plot(*drawn[[parent, j]].T, color="tab:orange" if j % 3 else
                            "tab:red", lw=1.5)
            xy, conf = video.pixels[frame], video.confidence[frame]
            for a, b in COCO_BONES:
                if conf[a] > 0.3 and conf[b] > 0.3:
                    ax.plot(*xy[[a, b]].T, color="white", lw=1, ls="--")
            points = np.concatenate([drawn, xy[conf > 0.3]])
            centre = (points.min(0) + points.max(0)) / 2
            half = max(np.ptp(points, axis=0).max() * 0.65, 40)   # the body, close up
            ax.set_xlim(centre[0] - half, centre[0] + half)
            ax.set_ylim(centre[1] + half, centre[1] - half)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"take {take.id.rsplit('_', 1)[-1]}, frame {frame}", fontsize=9)
    fig.suptitle(f"{name}: rendered takes, MediaPipe (white, dashed),\nthe joint fit through "
                 "its cameras (colour); each column one moment, matched by the fit's warps",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
