"""`motionfield keypoints`, `motionfield lift`, `motionfield train video` and `motionfield eval
video`: argument wiring only."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from motionfield.methods.video.config import FitConfig, ModelConfig, TrainConfig

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
    p.add_argument("--multi", action="store_true", help="the multi-video fit instead: several "
                   "takes of one Bandai Namco 2 action, each through its own camera, against "
                   "the lifter alone and the fit on one video at a time (multi_eval.py)")
    p.add_argument("--actions", type=int, help="with --multi: every k-th action so that at "
                   "most this many are scored (default: all)")
    p.add_argument("--steps", type=int, default=FitConfig.steps, help="with --multi: fit steps")
    p.add_argument("--rendered", action="store_true", help="with --multi: from pixels; each "
                   "take rendered by Blender (needs bpy) with a body mesh and read by MediaPipe")
    p.add_argument("--render-workers", type=int, default=2,
                   help="with --rendered: Blender processes at once")
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
    f = FitConfig()
    p = sub.add_parser("reconstruct", help="several videos (or keypoint files) of one action to "
                       "one synchronised SMPL motion and camera per video (the lifter, then "
                       "the multi-video fit after NeMo; docs/video.md)")
    p.add_argument("inputs", nargs="+", help="videos or keypoint files (as for `keypoints`)")
    p.add_argument("-o", "--output", required=True, help="folder: NAME.npz or NAME.bvh and "
                   "NAME.camera.json per input")
    _source_options(p)
    p.add_argument("--format", choices=("npz", "bvh"), default="npz")
    p.add_argument("--out-fps", default=None, help="the motions' framerate (default 30)")
    p.add_argument("--steps", type=int, default=f.steps, help="fit steps")
    p.add_argument("--alone", action="store_true", help="fit each video alone (no shared "
                   "motion field, no synchronisation)")
    p.add_argument("--model", help="a video lifter checkpoint (default: the shipped one)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=_reconstruct)


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


def _eval_multi(args: argparse.Namespace) -> int:
    from motionfield.methods.video import infer, multi_eval

    config = FitConfig.of_steps(args.steps)
    lifter, meta = infer.load(Path(args.model) if args.model else None)
    sets = multi_eval.action_sets(args.split, Path(args.data) if args.data else None)
    if args.actions and args.actions < len(sets):
        every = -(-len(sets) // args.actions)
        sets = sets[::every]
    rendered = None
    if args.rendered:
        rendered = multi_eval.rendered_keypoints([take for _, action in sets for take in action],
                                                 workers=args.render_workers)
        sets = rendered.usable(sets)
    report = multi_eval.evaluate(lifter, sets, config,
                                 seen=rendered and rendered.keypoints)
    report["split"] = args.split
    report["input"] = ("rendered by Blender, MediaPipe Pose" if args.rendered
                       else "projected truth with the detector model")
    if args.rendered:
        report["render"] = multi_eval.render_settings()
        report["mediapipe_frames_per_second"] = rendered.mediapipe_fps
        report["nobody_found"] = rendered.nobody_found
    report["lifter"] = {k: meta.get(k) for k in ("model", "train", "data", "licence")}
    print(multi_eval.format_table(report))
    print(f"{report['actions']} {args.split} actions, {report['videos']} videos, "
          f"{report['frames']} frames at 30 fps; seconds per method: "
          + json.dumps(report["seconds"]))
    if args.json:
        multi_eval.write(report, Path(args.json))
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from motionfield.io.bvh import write_bvh
    from motionfield.methods.video import infer
    from motionfield.methods.video.keypoints import KeypointsError
    from motionfield.methods.video.reconstruct import reconstruct
    from motionfield.training import use_threads

    out = Path(args.output)
    names = [Path(i).stem for i in args.inputs]
    names = [f"{i}_{n}" for i, n in enumerate(names)] if len(set(names)) < len(names) else names
    files = [out / f"{n}.{args.format}" for n in names] + [out / f"{n}.camera.json"
                                                            for n in names]
    taken = [str(f) for f in files if f.exists()]
    if taken and not args.force:
        raise KeypointsError(f"{', '.join(taken)} exist; --force to overwrite")
    try:
        config = FitConfig.of_steps(args.steps)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    use_threads(args.threads)
    keypoints = []
    for path in args.inputs:
        args.input = path
        keypoints.append(_read(args)[0])
    model, _meta = infer.load(Path(args.model) if args.model else None)
    began = time.perf_counter()
    with tqdm(total=config.steps, desc="fit", unit="step") as bar:
        def progress(done: int, total: int, stage: str) -> None:
            bar.set_postfix_str(stage, refresh=False)
            bar.update(done - bar.n)
        done = reconstruct(model, keypoints, config, joint=not args.alone, progress=progress)
    took = time.perf_counter() - began
    out.mkdir(parents=True, exist_ok=True)
    for name, answer in zip(names, done):
        motion = answer.motion.at_fps(args.out_fps) if args.out_fps else answer.motion
        path = out / f"{name}.{args.format}"
        motion.save(path) if args.format == "npz" else write_bvh(path, motion)
        (out / f"{name}.camera.json").write_text(json.dumps(answer.camera_dict(name), indent=1))
        cam = answer.camera.to_dict()
        print(f"{path}: {motion.num_frames} frames, {motion.duration:.2f} s; camera "
              f"{cam['hfov_deg']:.0f} deg across, {np.linalg.norm(cam['position_m']):.1f} m "
              "from the origin")
    print(f"{len(done)} videos {'fitted alone' if args.alone else 'fitted together'} in "
          f"{took:.1f} s (Y up, floor at y = 0; cameras and sync in *.camera.json)")
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
    if args.multi:
        return _eval_multi(args)
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
