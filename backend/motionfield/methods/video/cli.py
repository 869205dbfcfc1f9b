"""`motionfield keypoints`, `motionfield lift`, `motionfield train video` and `motionfield eval
video`: argument wiring only."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from motionfield.methods.video.config import ModelConfig, TrainConfig

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def add_train(sub) -> None:
    d = TrainConfig()
    p = sub.add_parser("video", help="train the 2D-to-3D lifter (temporal convolutions over "
                       f"{ModelConfig().receptive_field} frames) or, with --baseline, the "
                       "per-frame one, on keypoints synthesised from every mocap set")
    p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
    p.add_argument("-o", "--output", required=True, help="run folder (OUT/model.safetensors)")
    p.add_argument("--baseline", action="store_true",
                   help="the per-frame lifter (kernel 1: each frame alone)")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch, help="windows per step")
    p.add_argument("--frames", type=int, default=d.frames, help="scored frames per window")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--width", type=int, default=ModelConfig.width)
    p.add_argument("--blocks", type=int, default=ModelConfig.blocks)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's "
                   "choice; 1 on a shared 2-core machine)")
    p.add_argument("--resume", action="store_true", help="go on with the run in --output")
    p.set_defaults(func=_train)


def add_eval(sub) -> None:
    p = sub.add_parser("video", help="the lifter and the per-frame baseline on held-out "
                       "takes seen by random cameras, with detector errors and exact")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val for every choice; test once per shipped model")
    p.add_argument("--model", help="our checkpoint (default: the shipped one)")
    p.add_argument("--baseline", help="the per-frame checkpoint (default: the shipped one)")
    p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
    p.add_argument("--json", help="write the full report here")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.set_defaults(func=_eval)


def add_commands(sub) -> None:
    p = sub.add_parser("keypoints", help="2D keypoints of the person in a video (MediaPipe "
                       "Pose; needs the 'video' extra), or a keypoint file converted")
    p.add_argument("input", help="a video file, or keypoints (OpenPose JSON folder, COCO "
                   ".json, MediaPipe .csv, .npz)")
    p.add_argument("-o", "--output", required=True,
                   help="OUT.npz, OUT.csv (MediaPipe landmarks; from a video only), OUT.json "
                        "(COCO results) or a folder (OpenPose JSON per frame)")
    _source_options(p)
    p.add_argument("--max-frames", type=int, help="read at most this many frames")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=_keypoints)
    p = sub.add_parser("lift", help="one video or keypoint file to SMPL motion with the "
                       "lifter alone (root-relative: the body stays in place; docs/video.md)")
    p.add_argument("input", help="a video file or keypoints (as for `keypoints`)")
    p.add_argument("-o", "--output", required=True, help="OUT.npz or OUT.bvh")
    _source_options(p)
    p.add_argument("--out-fps", default=None,
                   help="output framerate (default: the lifter's 30; 29.97 is NTSC-exact)")
    p.add_argument("--model", help="a video lifter checkpoint (default: the shipped one)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=_lift)


def _source_options(p) -> None:
    p.add_argument("--fps", type=float, help="the video's framerate, where the file does not "
                   "give it (OpenPose, COCO and CSV files do not)")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"),
                   help="the video's frame size in pixels, where the file does not give it")


def _read(args: argparse.Namespace, max_frames: int | None = None):
    """(Keypoints2D, MediaPipe landmarks or None) from a video or a keypoint file."""
    from tqdm import tqdm

    from motionfield.methods.video.keypoints import read_keypoints

    path = Path(args.input)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        size = tuple(args.image_size) if args.image_size else None
        return read_keypoints(path, args.fps, size), None
    from motionfield.methods.video.extract import extract_video

    with tqdm(desc=f"keypoints {path.name}", unit="frame") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total or None
            bar.update(done - bar.n)
        done = extract_video(path, args.fps, max_frames, progress)
    print(f"{path}: {done.keypoints.frames} frames, a person in "
          f"{done.keypoints.detected.mean():.0%}, {done.frames_per_second:.1f} frames/s")
    return done.keypoints, done.landmarks


def _keypoints(args: argparse.Namespace) -> int:
    from motionfield.io.atomic import check_output
    from motionfield.methods.video import keypoints as kp

    out = Path(args.output)
    if out.suffix.lower() in (".npz", ".csv", ".json"):
        out = check_output(args.output, [args.input], args.force,
                           suffixes=(".npz", ".csv", ".json"))
    elif out.exists() and any(out.iterdir()) and not args.force:
        raise kp.KeypointsError(f"{out} is a folder with files in it; --force to write there")
    keypoints, landmarks = _read(args, args.max_frames)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        if landmarks is None:
            raise kp.KeypointsError("a MediaPipe .csv holds MediaPipe's 33 landmarks: write it "
                                    "from a video, or write .npz, .json or a folder")
        kp.write_mediapipe_csv(out, landmarks)
    elif suffix == ".json":
        kp.write_coco_json(out, keypoints)
    elif suffix == ".npz":
        kp.save_keypoints(out, keypoints)
    else:
        kp.write_openpose_folder(out, keypoints)
    print(f"wrote {out}: {keypoints.frames} frames at {keypoints.fps:g} fps, "
          f"{keypoints.image_size[0]}x{keypoints.image_size[1]}")
    return 0


def _lift(args: argparse.Namespace) -> int:
    from motionfield.io.atomic import check_output
    from motionfield.io.bvh import write_bvh
    from motionfield.methods.video import infer

    out = check_output(args.output, [args.input], args.force, suffixes=(".npz", ".bvh"))
    keypoints, _ = _read(args)
    model, _meta = infer.load(Path(args.model) if args.model else None)
    began = time.perf_counter()
    motion = infer.to_motion(infer.lift(model, keypoints))
    if args.out_fps:
        motion = motion.at_fps(args.out_fps)
    took = time.perf_counter() - began
    out.parent.mkdir(parents=True, exist_ok=True)
    motion.save(out) if out.suffix.lower() == ".npz" else write_bvh(out, motion)
    print(f"{out}: {motion.num_frames} frames, {motion.duration:.2f} s, lifted in {took:.2f} s "
          "(root-relative: the body stays in place, axes as the camera's)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from motionfield.methods.video.train import train
    from motionfield.training import train_command, use_threads

    use_threads(args.threads)
    try:
        config = TrainConfig(steps=args.steps, batch=args.batch, frames=args.frames,
                             lr=args.lr, seed=args.seed)
        model = ModelConfig(width=args.width, blocks=args.blocks,
                            kernel=1 if args.baseline else ModelConfig.kernel)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return train_command(train, config, model, Path(args.output),
                         Path(args.data) if args.data else None, args.resume)


def _eval(args: argparse.Namespace) -> int:
    from motionfield.checkpoints import shipped
    from motionfield.methods.video import data, infer
    from motionfield.methods.video.config import SHIPPED_BASELINE
    from motionfield.methods.video.eval import evaluate, format_table, write
    from motionfield.training import use_threads

    use_threads(args.threads)
    ours, ours_meta = infer.load(Path(args.model) if args.model else None)
    frame, frame_meta = infer.load(Path(args.baseline) if args.baseline else
                                   shipped("video", SHIPPED_BASELINE))
    takes = data.load_takes(Path(args.data) if args.data else None, splits=(args.split,))
    report = evaluate({"ours": ours, "per-frame": frame}, takes)
    report["split"] = args.split
    report["models"] = {name: {k: meta.get(k) for k in ("model", "train", "data", "licence")}
                        for name, meta in (("ours", ours_meta), ("per-frame", frame_meta))}
    print(format_table(report))
    print(f"{report['takes']} {args.split} takes, {report['clips']} clips, {report['frames']} "
          "frames at 30 fps; seconds per method: "
          + json.dumps({k: round(v, 1) for k, v in report["seconds"].items()}))
    if args.json:
        write(report, Path(args.json))
    return 0
