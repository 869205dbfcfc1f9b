"""Video on the CPU: 2D keypoint extraction (OpenCV decoding + MediaPipe Pose, the full
landmark model) in frames per second on real footage (the OpenPose repository's street
video, 1280x720, ../shared/data/video) and on a 640x640 clip of a photograph, and the
lifter on 4 videos of 5 s at 30 fps (the issue's reconstruction bar's input), after load,
and the multi-video fit (reconstruct.py, default settings) of those 4 videos: made-up walks
(tests/sparse_synth.py) seen by random cameras with the detector model's errors. "From
pixels" adds the extraction of 600 frames at the street video's measured rate.

    python benchmarks/bench_video.py [--threads 1] [--frames 150] [--out ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from results_io import report  # noqa: E402
from test_video_keypoints import _hopper_clip, _street_video  # noqa: E402

from motionfield.methods.video import infer  # noqa: E402
from motionfield.methods.video.extract import extract_video  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the lifter")
    parser.add_argument("--frames", type=int, default=150, help="frames extracted per video")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "video.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {"threads": args.threads, "extraction": {}}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {"photograph 640x640 (25 fps)": _hopper_clip(Path(tmp) / "hopper.avi",
                                                             frames=50, step=2)}
        street = _street_video()
        if street is not None:
            clips["street 1280x720 (50 fps, OpenPose's video)"] = street
        for name, path in clips.items():
            done = extract_video(path, max_frames=args.frames)
            result["extraction"][name] = {
                "frames": done.keypoints.frames, "seconds": round(done.seconds, 2),
                "frames_per_s": round(done.frames_per_second, 1),
                "detected": round(float(done.keypoints.detected.mean()), 3)}
    model, _ = infer.load()
    rng = np.random.default_rng(0)
    pixels = rng.uniform(400, 600, (4, 150, 17, 2)).astype(np.float32)
    conf = np.ones((4, 150, 17), dtype=np.float32)
    infer.lift_arrays(model, pixels[0], conf[0])  # warm-up
    times = []
    for _ in range(5):
        began = time.perf_counter()
        for v in range(4):
            infer.lift_arrays(model, pixels[v], conf[v])
        times.append(time.perf_counter() - began)
    result["lift_4_videos_5s_ms"] = round(1000 * statistics.median(times), 1)
    result["lift_frames_per_s"] = round(600 / statistics.median(times))
    result["fit"] = _fit(model)
    rate = min(v["frames_per_s"] for v in result["extraction"].values())
    result["pixels_to_motions_4x5s_s"] = round(600 / rate + result["fit"]["seconds"], 1)
    return report(result, args.out)


def _fit(model) -> dict:
    """Keypoints of 4 made-up 5 s walks to motions and cameras: lifting and the joint fit."""
    from sparse_synth import walking

    from motionfield.body.skeleton import smpl_skeleton
    from motionfield.methods.video import data as vdata
    from motionfield.methods.video.config import CAMERAS, DETECTOR, FitConfig
    from motionfield.methods.video.keypoints import Keypoints2D
    from motionfield.methods.video.reconstruct import reconstruct
    from motionfield.motion import Motion

    keypoints = []
    for seed in range(4):
        take = vdata.take_from_motion(f"bench/{seed}", "val", Motion.from_frames(
            *walking(150, seed=seed), smpl_skeleton(), 30))
        rng = np.random.default_rng(seed)
        view = vdata.random_view(rng, CAMERAS, take.points[None], take.tokens[None])
        pixels, conf = vdata.detect(rng, DETECTOR, view.project(take.points[None])[0],
                                    view.size)
        keypoints.append(Keypoints2D(pixels[0], conf[0], tuple(int(x) for x in view.size[0]),
                                     30.0))
    config = FitConfig()
    began = time.perf_counter()
    reconstruct(model, keypoints, config)
    took = time.perf_counter() - began
    return {"videos": 4, "frames": 600, "steps": config.steps, "seconds": round(took, 1),
            "ms_per_step": round(1000 * took / config.steps, 1)}


if __name__ == "__main__":
    sys.exit(main())
