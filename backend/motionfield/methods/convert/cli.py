"""`motionfield convert`: argument wiring only; the work is pipeline.convert."""

from __future__ import annotations

import argparse
import json
import time


def add_commands(sub) -> None:
    p = sub.add_parser("convert", help="retarget a BVH onto SMPL and resample it")
    p.add_argument("input", help="a .bvh file of any humanoid rig")
    p.add_argument("--fps", required=True,
                   help="output framerate, any positive number (23.976 and 29.97 are NTSC-exact)")
    p.add_argument("--start", type=float, help="seconds from the clip's start (default 0)")
    p.add_argument("--end", type=float, help="seconds from the clip's start (default: its end)")
    p.add_argument("--map", help="a rig map JSON overriding the automatic joint mapping")
    p.add_argument("--units", help="file units: metres, centimetres, millimetres, inches, cmu_asf")
    p.add_argument("--reference-frame", type=int,
                   help="a frame where the character stands neutrally, for rigs whose zero "
                        "pose is no T or A pose")
    p.add_argument("-o", "--output", required=True, help="OUT.npz or OUT.bvh (never the input)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_convert)


def _convert(args: argparse.Namespace) -> int:
    from motionfield.io.atomic import check_output
    from motionfield.io.bvh import read_bvh, write_bvh
    from motionfield.io.rigs import load_rig_map
    from motionfield.methods.convert.pipeline import convert

    out = check_output(args.output, [args.input, *([args.map] if args.map else [])],
                       args.force, suffixes=(".npz", ".bvh"))
    began = time.perf_counter()
    rig = load_rig_map(args.map) if args.map else None
    motion, report = convert(read_bvh(args.input), args.fps, start=args.start, end=args.end,
                             rig=rig, units=args.units, reference_frame=args.reference_frame)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npz":
        motion.save(out)
    else:
        write_bvh(out, motion)
    elapsed = time.perf_counter() - began
    if args.json:
        print(json.dumps({**report.__dict__, "frames": motion.num_frames,
                          "fps": str(motion.fps), "output": str(out), "seconds": elapsed}))
    else:
        print(f"{args.input} -> {out}: {motion.num_frames} frames at {float(motion.fps):g} fps "
              f"({motion.fps}), {motion.duration:.3f} s, in {elapsed * 1000:.0f} ms")
        for line in report.lines():
            print("  " + line)
    return 0
