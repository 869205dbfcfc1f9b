"""Backend round trips on loopback: ping latency against a bare ZeroMQ echo, and the cost of
returning a 10-second 120 fps SMPL motion beyond the job's own compute.

(a) `Client.ping` to a `motionfield serve` subprocess, N times, against a bare pyzmq
    REQ/REP echo (another subprocess) of the same frames: the floor any protocol over
    ZeroMQ pays, so what our signing, JSON and dispatch add is visible.
(b) a `convert` job on SMPL arrays (1,200 frames at 120 fps: rotations, root translation,
    times) through `Client.run`, against the same job function called in this process:
    the difference is what the service costs (serialising, signing, two sockets, queueing).

    python benchmarks/bench_server.py [--pings 2000] [--repeat 40] [--kept 2000] \
        [--no-curve] [--json benchmarks/results/server.json]

The server encrypts with CURVE as `serve` does by default; `--no-curve` measures plain TCP
(the bare echo is always plain: the difference includes the encryption).

A second ping series runs once the server keeps `--kept` finished results (a busy day),
so the cost of bookkeeping on the hot path shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq
from results_io import report

from motionfield.client import Client
from motionfield.methods.convert.job import JOB as CONVERT
from motionfield.protocol import Message, Session

ECHO = """
import sys, zmq
ctx = zmq.Context()
rep = ctx.socket(zmq.REP)
rep.bind("tcp://127.0.0.1:*")
print(rep.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
while True:
    frames = rep.recv_multipart()
    if frames == [b"stop"]:
        rep.send(b"")
        break
    rep.send_multipart(frames)
"""


def serve(tmp: Path, curve: bool) -> tuple[subprocess.Popen, Path]:
    conn = tmp / "backend.json"
    proc = subprocess.Popen([sys.executable, "-m", "motionfield.cli", "serve",
                             "--connection-file", str(conn),
                             "--curve" if curve else "--no-curve"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not conn.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("motionfield serve did not start")
        time.sleep(0.02)
    return proc, conn


def percentiles(samples: list[float]) -> dict:
    a = np.sort(np.asarray(samples)) * 1e3
    return {"median_ms": float(np.median(a)), "p99_ms": float(np.percentile(a, 99)),
            "min_ms": float(a[0]), "n": len(a)}


def bare_echo(frames: list[bytes], n: int) -> list[float]:
    """REQ/REP echo of the same frames: the ZeroMQ floor."""
    proc = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    try:
        address = proc.stdout.readline().strip()
        ctx = zmq.Context()
        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.RCVTIMEO, 5000)
        req.connect(address)
        for _ in range(200):  # warm up
            req.send_multipart(frames)
            req.recv_multipart()
        samples = []
        for _ in range(n):
            began = time.perf_counter()
            req.send_multipart(frames)
            req.recv_multipart()
            samples.append(time.perf_counter() - began)
        req.send(b"stop")
        req.recv()
        req.close(0)
        ctx.term()
        return samples
    finally:
        proc.wait(timeout=10)


def motion_arrays(frames: int = 1200, fps: int = 120) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(frames, 24, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    # what the add-on sends: poses as float32 (keyframe precision), times as float64
    return {"rotations": q.astype(np.float32),
            "root_translation": rng.normal(size=(frames, 3)).astype(np.float32),
            "times": np.arange(frames) / fps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--kept", type=int, default=2000,
                        help="finished jobs kept by the server for the second ping series")
    parser.add_argument("--curve", action=argparse.BooleanOptionalAction, default=True,
                        help="encrypt as `serve` does by default (--no-curve: plain TCP)")
    parser.add_argument("--json", default="benchmarks/results/server.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        proc, conn = serve(Path(tmp), args.curve)
        try:
            with Client.from_connection_file(conn) as client:
                for _ in range(200):  # warm up
                    client.ping()
                ping_s = [client.ping() for _ in range(args.pings)]

                arrays, params = motion_arrays(), {"fps": 120}
                sent = sum(a.nbytes for a in arrays.values())
                valid = CONVERT.validate(params, arrays)
                client.run("convert", params, arrays)  # warm imports in the server
                CONVERT.run(valid, arrays, lambda *a: None)
                served_s, compute_s, returned = [], [], 0
                for _ in range(args.repeat):  # interleaved, so drifts in machine speed cancel
                    began = time.perf_counter()
                    result = client.run("convert", params, arrays)
                    served_s.append(time.perf_counter() - began)
                    returned = sum(a.nbytes for a in result.arrays.values())
                    began = time.perf_counter()
                    CONVERT.run(CONVERT.validate(params, arrays), arrays, lambda *a: None)
                    compute_s.append(time.perf_counter() - began)
                assert result.content["frames"] == 1200

                small = motion_arrays(2)  # many finished results kept by the server
                for _ in range(args.kept):
                    client.run("convert", params, small)
                kept_ping_s = [client.ping() for _ in range(args.pings)]
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    # the same frames a ping puts on the wire, echoed by a bare REQ/REP pair
    ping_frames = Session(b"0" * 64).serialize(Message("ping"))
    echo_s = bare_echo(ping_frames, args.pings)

    ping, echo = percentiles(ping_s), percentiles(echo_s)
    served_ms = statistics.median(served_s) * 1e3
    compute_ms = statistics.median(compute_s) * 1e3
    result = {
        "machine": f"{platform.processor() or platform.machine()} x{os.cpu_count()}, "
                   f"{platform.python_implementation()} {platform.python_version()}, "
                   f"libzmq {zmq.zmq_version()}",
        "transport": "CURVE" if args.curve else "plain TCP",
        "ping": {**ping, "target_median_ms": 0.3},
        "bare_zmq_req_rep_echo": echo,
        "protocol_overhead_median_ms": ping["median_ms"] - echo["median_ms"],
        f"ping_with_{args.kept}_kept_results": percentiles(kept_ping_s),
        "smpl_10s_120fps": {
            "frames": 1200, "bytes_sent": sent, "bytes_returned": returned,
            "client_run_median_ms": served_ms, "compute_in_process_median_ms": compute_ms,
            "beyond_compute_ms": served_ms - compute_ms,
            "beyond_compute_min_ms": (min(served_s) - min(compute_s)) * 1e3,
            "target_beyond_compute_ms": 5.0},
    }
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
