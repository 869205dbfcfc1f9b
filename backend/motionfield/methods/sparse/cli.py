"""`motionfield train sparse`, `motionfield eval sparse` and `motionfield solve-sparse`:
argument wiring only."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from motionfield.methods.sparse.config import ModelConfig, TrainConfig


def add_train(sub) -> None:
    d = TrainConfig()
    p = sub.add_parser("sparse", help="train the head-and-hands model (HMD-NeMo style) or, "
                       "with --baseline, the AvatarPoser-style network")
    p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
    p.add_argument("-o", "--output", required=True, help="run folder (OUT/model.safetensors)")
    p.add_argument("--baseline", action="store_true",
                   help="AvatarPoser style: devices concatenated, unseen hands held")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch, help="windows per step")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--window", type=int, default=ModelConfig.window,
                   help="frames seen (--baseline) or that the loss sees in each sequence")
    p.add_argument("--width", type=int, default=ModelConfig.width)
    p.add_argument("--layers", type=int, default=ModelConfig.layers)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument("--resume", action="store_true", help="go on with the run in --output")
    p.set_defaults(func=_train)


def add_eval(sub) -> None:
    p = sub.add_parser("sparse", help="ours, the AvatarPoser-style and the standing baseline "
                       "on held-out takes, hands always tracked and through a headset")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val for every choice; test once per shipped model")
    p.add_argument("--model", help="our checkpoint (default: the shipped one)")
    p.add_argument("--baseline", help="the AvatarPoser-style checkpoint (default: shipped)")
    p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
    p.add_argument("--json", help="write the full report here")
    p.add_argument("--raw", action="store_true", help="the networks' bodies as they come, "
                   "not made to meet the trackers (reach.py)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.set_defaults(func=_eval)


def add_commands(sub) -> None:
    p = sub.add_parser("solve-sparse", help="a head-and-hands tracking file (.json/.csv, "
                       "OpenXR conventions; docs/sparse.md) to SMPL motion")
    p.add_argument("input", help="tracking file")
    p.add_argument("-o", "--output", required=True, help="OUT.npz or OUT.bvh")
    p.add_argument("--fps", default=None, help="output framerate (default: the model's 30)")
    p.add_argument("--model", help="a sparse checkpoint (default: the shipped one)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=_solve)


def _train(args: argparse.Namespace) -> int:
    from motionfield.methods.sparse.train import train
    from motionfield.training import train_command, use_threads

    use_threads(args.threads)
    try:
        config = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed)
        model = ModelConfig(window=args.window, width=args.width, layers=args.layers,
                            spatial=not args.baseline,
                            unseen="hold" if args.baseline else "mask",
                            temporal="window" if args.baseline else "recurrent")
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return train_command(train, config, model, Path(args.output),
                         Path(args.data) if args.data else None, args.resume)


def _eval(args: argparse.Namespace) -> int:
    from motionfield.checkpoints import shipped
    from motionfield.methods.sparse import data, infer
    from motionfield.methods.sparse.config import SHIPPED_BASELINE
    from motionfield.methods.sparse.eval import evaluate, format_table, write
    from motionfield.training import use_threads

    use_threads(args.threads)
    solvers = {"ours": infer.load(Path(args.model) if args.model else None),
               "avatarposer": infer.load(Path(args.baseline) if args.baseline else
                                         shipped("sparse", SHIPPED_BASELINE)),
               "standing": infer.Solver(None)}
    for solver in solvers.values():
        solver.meet_trackers = solver.meet_trackers and not args.raw
    takes = data.load_takes(Path(args.data) if args.data else None, splits=(args.split,))
    report = evaluate(solvers, takes)
    report["split"], report["meet_trackers"] = args.split, not args.raw
    report["models"] = {name: {k: s.meta.get(k) for k in ("model", "train", "data", "licence")}
                        for name, s in solvers.items() if s.model is not None}
    print(format_table(report))
    print(f"{report['takes']} {args.split} takes, {report['frames']} frames at 30 fps; "
          "seconds per method: " + json.dumps({k: round(v, 1)
                                               for k, v in report["seconds"].items()}))
    if args.json:
        write(report, Path(args.json))
    return 0


def _solve(args: argparse.Namespace) -> int:
    from motionfield.errors import MotionfieldError
    from motionfield.io.atomic import check_output
    from motionfield.io.bvh import write_bvh
    from motionfield.methods.sparse import infer
    from motionfield.methods.sparse.tracking import read_tracking

    try:
        out = check_output(args.output, [args.input], args.force, suffixes=(".npz", ".bvh"))
        tracking = read_tracking(args.input)
        solver = infer.load(Path(args.model) if args.model else None)
        began = time.perf_counter()
        motion = infer.solve_tracking(solver, tracking, args.fps)
        took = time.perf_counter() - began
    except (MotionfieldError, ValueError) as exc:
        raise SystemExit(f"solve-sparse: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    motion.save(out) if out.suffix.lower() == ".npz" else write_bvh(out, motion)
    seen = tracking.seen.mean(axis=0)
    print(f"{out}: {motion.num_frames} frames at {float(motion.fps):g} fps, "
          f"{motion.duration:.2f} s, solved in {took:.2f} s (hands seen {seen[0]:.0%} "
          f"left, {seen[1]:.0%} right)")
    return 0
