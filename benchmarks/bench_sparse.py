"""Head and hands to body on the CPU, after load: ours (the shipped recurrent model) and,
in the same run, the AvatarPoser-style window model (the shipped baseline: causal attention
over the last 40 frames). For each: one online frame at batch 1 (Stream.step: holding
unseen hands, the frame's features, the frozen network, back to the world, meeting the
trackers), the network alone (eager and frozen), and 60 s of recorded 90 Hz tracking solved
from a file's arrays (resampled to 30 fps, every frame from the frames before it). For ours,
a live sample's round trip on loopback as a `step` request, and as a submitted job (the way
streams went before `step`).

    python benchmarks/bench_sparse.py [--threads 1] [--repeats 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
import sparse_synth  # noqa: E402
from results_io import report  # noqa: E402

from motionfield.checkpoints import shipped  # noqa: E402
from motionfield.methods.sparse import data, infer, tracking  # noqa: E402
from motionfield.methods.sparse.config import HEADSET, SHIPPED_BASELINE  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    for i in range(10):
        fn(i)  # warm-up
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _round_trips_ms(rot, pos, seen, repeats: int) -> dict[str, float]:
    """Median wall time of one live sample through a server and client on loopback: as a
    `step` request at 30 Hz (each one steps the network), at a 90 Hz headset's rate (one in
    three does), and as a submitted job (queue, worker, result event); and a ping (the
    protocol's own round trip, no work)."""
    import threading

    from motionfield.body.rotations import matrix_to_quat
    from motionfield.client import Client
    from motionfield.protocol import new_key
    from motionfield.server.app import Server

    key = new_key()
    server = Server("tcp://127.0.0.1:0", key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = Client(server.address, key, heartbeat=30.0)
    quats = matrix_to_quat(rot.astype(np.float64))
    params = {"space": "smpl", "fps": 30.0}

    def sample(i, rate=30.0):
        return {"times": np.array([i / rate]), "positions": pos[i:i + 1],
                "orientations": quats[i:i + 1], "tracked": seen[i:i + 1].astype(np.uint8)}

    def step(i):
        client.step("sparse", "bench", params, sample(i), restart=i == 0, timeout=30)

    def headset(i):  # a 90 Hz headset: two samples in three repeat the last pose
        client.step("sparse", "headset", params, sample(i, 90.0), restart=i == 0, timeout=30)

    def job(i):
        client.run("sparse", params, sample(i), timeout=30)
    try:
        return {"step_request": median_ms(step, repeats),
                "step_request_90hz_stream": median_ms(headset, repeats),
                "ping": median_ms(lambda i: client.ping(), repeats),
                "submitted_job": median_ms(job, repeats)}
    finally:
        client.shutdown()
        client.close()
        thread.join(timeout=10)


def _online(solver, rot, pos, seen, repeats: int) -> dict:
    """One model's online frame, its network alone (eager and frozen), and 60 s solved."""
    stream = infer.Stream(solver)
    for i in range(3):
        stream.step(rot[i], pos[i], seen[i])  # traces the network
    model, config = solver.model, solver.model.config
    frames = 1 if solver.recurrent else config.window
    inputs = (torch.zeros(1, frames, 3, 18), torch.ones(1, frames, 2, dtype=torch.bool),
              torch.zeros(1, frames, 2))
    if solver.recurrent:
        inputs += (torch.zeros(config.layers, 1, config.width),)
    eager = infer._Recurrent(model) if solver.recurrent else infer._LastFrame(model)
    frozen = solver.online_step(inputs)

    def network(fn):
        def one(_):
            with torch.inference_mode():
                fn(*inputs)
        return one

    recorded = tracking.Tracking(np.arange(len(pos)) / 90.0, rot, pos, seen)
    began = time.perf_counter()
    motion = infer.solve_tracking(solver, recorded)
    return {"model": config.to_dict(),
            "online_frame_ms": median_ms(lambda i: stream.step(rot[i], pos[i], seen[i]),
                                         repeats),
            "network_only_eager_ms": median_ms(network(eager), repeats),
            "network_only_frozen_ms": median_ms(network(frozen), repeats),
            "recorded_60s_at_90hz_s": time.perf_counter() - began,
            "recorded_frames_out": motion.num_frames}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", default="benchmarks/results/sparse_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    take = sparse_synth.takes(1, 60 * 90)[0]   # 60 s; its frames read as 90 Hz samples
    rot, pos, seen = data.observe(np.random.default_rng(0), HEADSET, take.rot, take.pos)
    ours = infer.load()
    baseline = infer.load(shipped(infer.METHOD, SHIPPED_BASELINE))
    result = {
        "threads": args.threads, "torch": torch.__version__,
        "ours": _online(ours, rot, pos, seen, args.repeats),
        "avatarposer_style": _online(baseline, rot, pos, seen, args.repeats),
        "live_round_trip_median_ms": _round_trips_ms(rot, pos, seen, args.repeats),
        "targets": {"online_frame_ms": 2.0, "recorded_60s_s": 2.0,
                    "live_round_trip_median_ms": 5.0},
    }
    return report(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
