"""The `motionfield` command. Subcommands are thin: each parses arguments and calls a module.

argparse (standard library) parses; tqdm shows progress for long work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from motionfield.client import BackendError
from motionfield.errors import MotionfieldError
from motionfield.protocol import ProtocolError


def _convert(args: argparse.Namespace) -> int:
    from motionfield.io.bvh import read_bvh, write_bvh
    from motionfield.io.retarget import retarget
    from motionfield.io.rigs import load_rig_map

    out = Path(args.output)
    if out.suffix.lower() not in (".npz", ".bvh"):
        raise MotionfieldError(f"output must end in .npz or .bvh, got {out.name!r}")
    began = time.perf_counter()
    clip = read_bvh(args.input)
    rig = load_rig_map(args.map) if args.map else None
    motion, report = retarget(clip, rig, units=args.units, reference_frame=args.reference_frame)
    start = motion.times[0] + (args.start or 0.0)
    end = motion.times[-1] if args.end is None else motion.times[0] + args.end
    motion = motion.at_fps(args.fps, start, end)
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


def _rig_show(args: argparse.Namespace) -> int:
    from motionfield.io.bvh import read_bvh
    from motionfield.io.retarget import resolve_rig
    from motionfield.io.rigs import load_rig_map

    clip = read_bvh(args.input)
    rig = resolve_rig(clip, load_rig_map(args.map) if args.map else None)
    print(rig.to_json())
    return 0


def _rig_calibrate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from motionfield.io.bvh import read_bvh
    from motionfield.io.retarget import calibrate, file_units, resolve_rig
    from motionfield.io.rigs import load_rig_map

    clip = read_bvh(args.input)
    rig = resolve_rig(clip, load_rig_map(args.map) if args.map else None)
    _, scale = file_units(clip, rig, args.units)
    calib = calibrate(clip, rig, scale, args.frame)
    rig = replace(rig, calibration={k: [round(float(x), 6) for x in v] for k, v in calib.items()},
                  description=(rig.description + f" Calibrated on {Path(args.input).name} "
                               f"frame {args.frame}.").strip())
    Path(args.output).write_text(rig.to_json() + "\n")
    print(f"wrote {args.output}: {len(calib)} joints calibrated from frame {args.frame}")
    return 0


def _data_unpack(args: argparse.Namespace) -> int:
    from motionfield.data import sources

    dest = sources.unpack(Path(args.archives) if args.archives else None,
                          Path(args.dest) if args.dest else None)
    print(dest)
    return 0


def _data_build(args: argparse.Namespace) -> int:
    from motionfield.data.build import build_cli

    return build_cli(args)


def _serve(args: argparse.Namespace) -> int:
    import logging

    from motionfield.protocol import default_connection_file, new_key, write_connection_file
    from motionfield.server.app import Server, is_loopback

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not is_loopback(args.bind) and not args.key_file:
        raise MotionfieldError(f"refusing to listen on {args.bind} without --key-file: only "
                               "loopback addresses may use a generated key")
    key = Path(args.key_file).read_bytes().strip() if args.key_file else new_key()
    server = Server(args.bind, key, workers=args.workers,
                    allow_remote=not is_loopback(args.bind))
    conn = write_connection_file(args.connection_file or default_connection_file(),
                                 server.address, key)
    print(f"motionfield backend listening on {server.address}; connection file {conn}",
          flush=True)
    server.serve_forever()
    return 0


def _client(args: argparse.Namespace) -> int:
    from motionfield.client import Client

    with Client.from_connection_file(args.connection_file) as client:
        if args.client_command == "ping":
            rtt = [client.ping() for _ in range(args.count)]
            print(f"pong from {client.address}: median {sorted(rtt)[len(rtt) // 2] * 1e3:.3f} ms")
        elif args.client_command == "info":
            print(json.dumps(client.info(), indent=1))
        else:
            return _client_convert(client, args)
    return 0


def _client_convert(client, args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from motionfield.body.skeleton import Skeleton
    from motionfield.motion import Motion

    params = {"name": Path(args.input).name,
              "fps": float(args.fps) if args.fps.replace(".", "", 1).isdigit() else args.fps}
    file = {"bvh_file": np.frombuffer(Path(args.input).read_bytes(), dtype=np.uint8)}
    with tqdm(total=3, desc="convert", unit="step") as bar:
        result = client.run("convert", params, file,
                            progress=lambda p: bar.update(p["step"] - bar.n))
    a = result.arrays
    skel = Skeleton(tuple(result.content["joint_names"]), tuple(a["parents"].tolist()),
                    a["offsets"])
    Motion(a["rotations"], a["root_translation"], a["times"], skel,
           result.content["fps"]).save(args.output)
    print(f"{args.output}: {result.content['frames']} frames at {result.content['fps']} fps")
    return 0


def _addon_build(args: argparse.Namespace) -> int:
    from motionfield.addon_build import build

    for path in build(Path(args.output) if args.output else None,
                      Path(args.wheels) if args.wheels else None, args.split_platforms):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionfield", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.add_argument("-o", "--output", required=True, help="OUT.npz or OUT.bvh")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_convert)

    rig = sub.add_parser("rig", help="inspect and calibrate rig maps").add_subparsers(
        dest="rig_command", required=True)
    p = rig.add_parser("show", help="print the joint map used for a BVH")
    p.add_argument("input")
    p.add_argument("--map")
    p.set_defaults(func=_rig_show)
    p = rig.add_parser("calibrate", help="write a rig map calibrated on a neutral frame")
    p.add_argument("input")
    p.add_argument("--frame", type=int, required=True)
    p.add_argument("--map")
    p.add_argument("--units")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_rig_calibrate)

    data = sub.add_parser("data", help="motion data sets").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("unpack", help="unpack the shipped archives into the cache")
    p.add_argument("--archives", help="folder of the .tar.xz archives (default: shared/data)")
    p.add_argument("--dest", help="destination (default: ~/.cache/motionfield/data)")
    p.set_defaults(func=_data_unpack)
    p = data.add_parser("build", help="build a cached training set from a source")
    p.add_argument("source", help="bandai-namco-1, bandai-namco-2, cmu-benchmark, or a folder "
                                  "of BVH files")
    p.add_argument("--out", help="cache folder (default: ~/.cache/motionfield/sets)")
    p.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    p.set_defaults(func=_data_build)
    p = sub.add_parser("serve", help="run the backend (ZeroMQ, loopback by default)")
    p.add_argument("--bind", default="tcp://127.0.0.1:0",
                   help="ZeroMQ address; port 0 picks a free port (default: loopback)")
    p.add_argument("--connection-file", help="where to write address and key (mode 0600)")
    p.add_argument("--key-file", help="a key to use (required to listen beyond loopback)")
    p.add_argument("--workers", type=int, default=1, help="jobs run at once")
    p.set_defaults(func=_serve)

    p = sub.add_parser("client", help="talk to a running backend")
    p.add_argument("--connection-file", help="default: the one `serve` writes")
    csub = p.add_subparsers(dest="client_command", required=True)
    c = csub.add_parser("ping")
    c.add_argument("--count", type=int, default=5)
    csub.add_parser("info")
    c = csub.add_parser("convert", help="a BVH onto SMPL through the backend")
    c.add_argument("input")
    c.add_argument("--fps", required=True)
    c.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_client)

    addon = sub.add_parser("addon", help="the Blender extension").add_subparsers(
        dest="addon_command", required=True)
    p = addon.add_parser("build", help="build and validate dist/motionfield-<version>.zip")
    p.add_argument("-o", "--output", help="folder for the zip (default: dist/)")
    p.add_argument("--wheels", help="a folder of pyzmq wheels to bundle instead of downloading "
                                    "them (offline builds)")
    p.add_argument("--split-platforms", action="store_true",
                   help="one smaller zip per platform instead of one for all")
    p.set_defaults(func=_addon_build)

    from motionfield.methods.predict import cli as predict_cli

    train = sub.add_parser("train", help="train a method's model").add_subparsers(
        dest="train_command", required=True)
    predict_cli.add_train(train)
    evaluate = sub.add_parser("eval", help="evaluate a method against its baselines")
    evaluate = evaluate.add_subparsers(dest="eval_command", required=True)
    predict_cli.add_eval(evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (MotionfieldError, ValueError, OSError, BackendError, ProtocolError) as e:
        print(f"motionfield: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
