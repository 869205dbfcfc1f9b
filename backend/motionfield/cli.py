"""The `motionfield` command. Subcommands are thin: each parses arguments and calls a module.

argparse (standard library) parses; tqdm shows progress for long work.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from motionfield.client import BackendError
from motionfield.errors import MotionfieldError
from motionfield.protocol import ProtocolError


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

    from motionfield.io.atomic import check_output, write_text_atomic
    from motionfield.io.bvh import read_bvh
    from motionfield.io.retarget import calibrate, file_units, resolve_rig
    from motionfield.io.rigs import load_rig_map

    output = check_output(args.output, [args.input, *([args.map] if args.map else [])],
                          args.force, suffixes=(".json",))
    clip = read_bvh(args.input)
    rig = resolve_rig(clip, load_rig_map(args.map) if args.map else None)
    _, scale = file_units(clip, rig, args.units)
    calib = calibrate(clip, rig, scale, args.frame)
    rig = replace(rig, calibration={k: [round(float(x), 6) for x in v] for k, v in calib.items()},
                  description=(rig.description + f" Calibrated on {Path(args.input).name} "
                               f"frame {args.frame}.").strip())
    write_text_atomic(output, rig.to_json() + "\n")
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

    import zmq

    from motionfield.protocol import (
        connection_owner,
        default_connection_file,
        new_key,
        read_key_file,
        remove_connection_file,
        write_connection_file,
    )
    from motionfield.server import parent
    from motionfield.server.app import Server, is_loopback

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    remote = not is_loopback(args.bind)
    if remote and not args.key_file:
        raise MotionfieldError(f"refusing to listen on {args.bind} without --key-file: only "
                               "loopback addresses may use a generated key")
    if args.parent_pid is not None and (args.parent_pid <= 0
                                        or not parent.is_alive(args.parent_pid)):
        raise MotionfieldError(f"--parent-pid {args.parent_pid}: no such process")
    for folder in args.smpl_folder:
        if not Path(folder).is_dir():
            raise MotionfieldError(f"--smpl-folder {folder}: no such folder")
    key = read_key_file(args.key_file) if args.key_file else new_key()
    # CURVE everywhere it is available: a peer without the connection file then cannot even
    # complete the handshake, so it cannot make ZeroMQ buffer a huge multipart message
    curve = zmq.has("curve") if args.curve is None else args.curve
    if curve and not zmq.has("curve"):
        raise MotionfieldError("this pyzmq has no CURVE support; pass --no-curve to listen "
                               "unencrypted (messages are still signed)")
    if remote and not curve and args.curve is None:
        raise MotionfieldError(f"refusing to listen on {args.bind} unencrypted: this pyzmq "
                               "has no CURVE support (pass --no-curve to accept that)")
    conn_path = Path(args.connection_file or default_connection_file())
    owner = connection_owner(conn_path, parent.is_alive)  # before binding: a clear refusal
    if owner is not None:
        raise MotionfieldError(f"a backend (pid {owner}) is already running with connection "
                               f"file {conn_path}; stop it first or give another "
                               "--connection-file")
    server = Server(args.bind, key, workers=args.workers, allow_remote=remote,
                    curve_secret_key=zmq.curve_keypair()[1] if curve else None,
                    allowed_paths={"smpl_folders": args.smpl_folder})
    try:
        conn = write_connection_file(conn_path, server.address, key,
                                     curve_server_key=server.curve_public_key,
                                     still_running=parent.is_alive)
    except BaseException:
        server.close()
        raise
    _stop_when_told(server, args.parent_pid)
    if remote and not curve:
        logging.getLogger("motionfield.server").warning(
            "listening on %s without encryption (--no-curve): anyone on the network sees "
            "the motion data", server.address)
    print(f"motionfield backend listening on {server.address}"
          f"{' (CURVE encrypted)' if curve else ''}; connection file {conn}", flush=True)
    try:
        server.serve_forever()
    finally:
        remove_connection_file(conn, server.address)
    return 0


def _stop_when_told(server, parent_pid: int | None) -> None:
    """Stop `server` on SIGTERM and, with a pid, once that process (Blender) has ended."""
    import logging
    import signal
    import threading

    from motionfield.server import parent

    if parent_pid is not None:
        def parent_ended() -> None:
            logging.getLogger("motionfield.server").info(
                "process %d (the parent) ended: stopping", parent_pid)
            server.stop()

        parent.watch(parent_pid, parent_ended)
    if threading.current_thread() is threading.main_thread():  # signals reach it alone
        signal.signal(signal.SIGTERM, lambda *_: server.stop())


def _methods(args: argparse.Namespace) -> int:
    from motionfield import methods

    described = {name: job.describe() for name, job in methods.job_types().items()}
    if args.json:
        print(json.dumps(described, indent=1))
        return 0
    for name, d in described.items():
        print(f"{name}: {d['label']} - {d['help']}")
        for param, spec in d["params"].items():
            bounds = "".join(f", {k[:3]} {spec[k]:g}" for k in ("minimum", "maximum")
                             if k in spec)
            print(f"  {param} ({spec['type']}{bounds}): {spec['help']}")
    return 0


def _client(args: argparse.Namespace) -> int:
    from motionfield.client import Client
    from motionfield.io.atomic import check_output

    with Client.from_connection_file(args.connection_file) as client:
        if args.client_command == "ping":
            rtt = [client.ping() for _ in range(args.count)]
            print(f"pong from {client.address}: median {sorted(rtt)[len(rtt) // 2] * 1e3:.3f} ms")
        elif args.client_command == "info":
            print(json.dumps(client.info(), indent=1))
        elif args.client_command == "convert":
            import numpy as np

            check_output(args.output, [args.input], args.force, suffixes=(".npz",))
            params = {"name": Path(args.input).name, "fps": _typed("fps", "number", args.fps)}
            file = {"bvh_file": np.frombuffer(Path(args.input).read_bytes(), dtype=np.uint8)}
            _run_and_save(client, "convert", params, file, args.output, args.force)
        else:
            return _client_run(client, args)
    return 0


def _typed(name: str, kind: str, text: str):
    """A --param value as the schema's JSON type."""
    try:
        if kind == "number":
            return float(text)
        if kind == "integer":
            return int(text)
        if kind == "boolean":
            return {"true": True, "1": True, "yes": True, "false": False, "0": False,
                    "no": False}[text.lower()]
        if kind == "object":
            return json.loads(text)
    except (ValueError, KeyError):
        raise MotionfieldError(f"--param {name}={text}: not a valid {kind}") from None
    return text


def _client_run(client, args: argparse.Namespace) -> int:
    import numpy as np

    from motionfield.io.atomic import check_output

    offered = client.info()["methods"]
    if args.method not in offered:
        raise MotionfieldError(f"the backend offers no method {args.method!r}; it offers "
                               f"{sorted(offered)}")
    if args.output:
        check_output(args.output, [*filter(None, [args.motion]),
                                   *(pair.partition("=")[2] for pair in args.file)],
                     args.force, suffixes=(".npz",))
    schema = offered[args.method]["params"]
    params = {}
    for pair in args.param:
        name, sep, text = pair.partition("=")
        if not sep or name not in schema:
            raise MotionfieldError(f"--param {pair!r}: give NAME=VALUE with NAME one of "
                                   f"{sorted(schema)}")
        params[name] = _typed(name, schema[name]["type"], text)
    arrays = {}
    if args.motion:
        from motionfield.motion import Motion

        motion = Motion.load(args.motion)
        arrays = {"rotations": motion.rotations, "root_translation": motion.root_translation,
                  "times": motion.times}
    for pair in args.file:
        name, sep, path = pair.partition("=")
        if not sep:
            raise MotionfieldError(f"--file {pair!r}: give NAME=PATH")
        arrays[name] = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    _run_and_save(client, args.method, params, arrays, args.output, args.force)
    return 0


def _run_and_save(client, method: str, params: dict, arrays: dict, output: str | None,
                  force: bool = False) -> None:
    """Run the job with a progress bar; save a motion result to `output` (.npz, written
    atomically), print any other result's content as JSON."""
    from tqdm import tqdm

    from motionfield.io.atomic import check_output
    from motionfield.methods.results import is_motion_result, motions_from_result

    with tqdm(desc=method, unit="step", leave=False) as bar:
        def progress(p: dict) -> None:
            bar.total = p["total"]
            bar.update(p["step"] - bar.n)

        result = client.run(method, params, arrays, progress=progress)
    if output and is_motion_result(result.content, result.arrays):
        motions = motions_from_result(result.content, result.arrays)
        # several motions (variations): OUT-1.npz, OUT-2.npz, ... (as `generate --samples`)
        paths = [output] if len(motions) == 1 else [
            str(Path(output).with_name(f"{Path(output).stem}-{k}.npz"))
            for k in range(1, len(motions) + 1)]
        for path in paths:
            check_output(path, (), force, suffixes=(".npz",))  # again: the job took a while
        for path, motion in zip(paths, motions, strict=True):
            motion.save(path)
            print(f"{path}: {motion.num_frames} frames at {result.content['fps']} fps")
        return
    if output:
        raise MotionfieldError(f"{method}'s result carries no motion to save in {output}")
    shown = dict(result.content)
    shown["arrays"] = {k: list(v.shape) for k, v in result.arrays.items()}
    print(json.dumps(shown, indent=1, default=str))


def _addon_build(args: argparse.Namespace) -> int:
    from motionfield.addon_build import build

    for path in build(Path(args.output) if args.output else None,
                      Path(args.wheels) if args.wheels else None, args.split_platforms):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from motionfield import methods

    parser = argparse.ArgumentParser(prog="motionfield", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add_commands in methods.hooks("add_commands"):
        add_commands(sub)

    p = sub.add_parser("methods", help="list the methods this backend offers, with their "
                       "parameters and bounds")
    p.add_argument("--json", action="store_true", help="each method's schema, as `info` sends it")
    p.set_defaults(func=_methods)

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
    p.add_argument("-o", "--output", required=True, help="the calibrated map (.json)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
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
    p.add_argument("--connection-file", help="where to write address and key (mode 0600); "
                   "removed again when the backend stops")
    p.add_argument("--key-file", help="a key to use (required to listen beyond loopback)")
    p.add_argument("--workers", type=int, default=1, help="jobs run at once")
    p.add_argument("--parent-pid", type=int, metavar="PID",
                   help="stop when process PID ends (Blender passes its own)")
    p.add_argument("--smpl-folder", action="append", default=[], metavar="DIR",
                   help="a folder whose SMPL model files jobs may name (smpl_folder); "
                        "repeatable. Without it, jobs cannot read model files here")
    p.add_argument("--curve", action=argparse.BooleanOptionalAction, default=None,
                   help="encrypt and authenticate connections with ZeroMQ CURVE (default: "
                        "on where pyzmq supports it); the connection file carries the "
                        "server's public key, so only its readers can connect")
    p.set_defaults(func=_serve)
    _add_client(sub)

    addon = sub.add_parser("addon", help="the Blender extension").add_subparsers(
        dest="addon_command", required=True)
    p = addon.add_parser("build", help="build and validate dist/motionfield-<version>.zip")
    p.add_argument("-o", "--output", help="folder for the zip (default: dist/)")
    p.add_argument("--wheels", help="a folder of pyzmq wheels to bundle instead of downloading "
                                    "them (offline builds)")
    p.add_argument("--split-platforms", action="store_true",
                   help="one smaller zip per platform instead of one for all")
    p.set_defaults(func=_addon_build)

    train = sub.add_parser("train", help="train a method's model").add_subparsers(
        dest="train_command", required=True)
    for add_train in methods.hooks("add_train"):
        add_train(train)
    evaluate = sub.add_parser("eval", help="evaluate a method against its baselines")
    evaluate = evaluate.add_subparsers(dest="eval_command", required=True)
    for add_eval in methods.hooks("add_eval"):
        add_eval(evaluate)
    return parser


def _add_client(sub) -> None:
    """`motionfield client ...`; --connection-file goes before or after the subcommand."""
    help_text = "the backend's connection file (default: the one `serve` writes)"
    p = sub.add_parser("client", help="talk to a running backend")
    p.add_argument("--connection-file", help=help_text)
    p.set_defaults(func=_client)
    after = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given only after the subcommand, it does not reset one given before it
    after.add_argument("--connection-file", default=argparse.SUPPRESS, help=help_text)
    csub = p.add_subparsers(dest="client_command", required=True)
    c = csub.add_parser("ping", parents=[after], help="round trip time")
    c.add_argument("--count", type=int, default=5)
    csub.add_parser("info", parents=[after], help="the backend's version and methods")
    c = csub.add_parser("run", parents=[after], help="run any method the backend offers")
    c.add_argument("method")
    c.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a job parameter, typed by the method's schema; repeatable")
    c.add_argument("--motion", metavar="IN.npz",
                   help="a motion file (`convert -o x.npz`) sent as the job's motion arrays")
    c.add_argument("--file", action="append", default=[], metavar="NAME=PATH",
                   help="a file's bytes sent as the array NAME (e.g. bvh_file=take.bvh)")
    c.add_argument("-o", "--output", help="save a motion result here (.npz); other results "
                   "are printed as JSON")
    c.add_argument("--force", action="store_true", help="overwrite an existing output file")
    c = csub.add_parser("convert", parents=[after], help="a BVH onto SMPL through the backend")
    c.add_argument("input")
    c.add_argument("--fps", required=True)
    c.add_argument("-o", "--output", required=True, help="OUT.npz (never the input)")
    c.add_argument("--force", action="store_true", help="overwrite an existing output file")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (MotionfieldError, ValueError, OSError, BackendError, ProtocolError) as e:
        print(f"motionfield: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
