"""Head and hands to body on the CPU, after load, with the shipped model: one online frame
at batch 1 (Stream.step: holding unseen hands, the window's features, the traced network,
back to the world, meeting the trackers), the network alone (eager and traced), and 60 s
of recorded 90 Hz tracking solved from a file's arrays (resampled to 30 fps, every frame
from the frames before it), and a live stream's round trip: one sample through the
`sparse` job of a server on loopback (live.py).

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

from motionfield.methods.sparse import data, infer, tracking  # noqa: E402
from motionfield.methods.sparse.config import HEADSET  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    for i in range(10):
        fn(i)  # warm-up
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _live_round_trip_ms(rot, pos, seen, repeats: int) -> float:
    """Median wall time of one live sample through a server and client on loopback (the
    job queue, signing, the online step and the answer), 30 Hz samples."""
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
    params = {"space": "smpl", "fps": 30.0, "stream": "bench"}

    def one(i):
        client.run("sparse", {**params, "restart": i == 0}, {
            "times": np.array([i / 30.0]), "positions": pos[i:i + 1],
            "orientations": quats[i:i + 1], "tracked": seen[i:i + 1].astype(np.uint8)},
            timeout=30)
    try:
        return median_ms(one, repeats)
    finally:
        client.shutdown()
        client.close()
        thread.join(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", default="benchmarks/results/sparse_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    solver = infer.load()
    take = sparse_synth.takes(1, 60 * 90)[0]   # 60 s; its frames read as 90 Hz samples
    rot, pos, seen = data.observe(np.random.default_rng(0), HEADSET, take.rot, take.pos)
    stream = infer.Stream(solver)
    model = solver.model
    stream.step(rot[0], pos[0], seen[0])  # traces the network
    window = model.config.window
    inputs = (torch.zeros(1, window, 3, 18), torch.ones(1, window, 2, dtype=torch.bool),
              torch.zeros(1, window, 2))

    def network(_):
        with torch.inference_mode():
            model(*inputs, last_only=True)

    traced = stream._network(inputs)

    def network_traced(_):
        with torch.inference_mode():
            traced(*inputs)

    live_ms = _live_round_trip_ms(rot, pos, seen, args.repeats)
    recorded = tracking.Tracking(np.arange(len(pos)) / 90.0, rot, pos, seen)
    began = time.perf_counter()
    motion = infer.solve_tracking(solver, recorded)
    file_s = time.perf_counter() - began
    result = {
        "threads": args.threads, "torch": torch.__version__, "model": model.config.to_dict(),
        "online_frame_ms": median_ms(lambda i: stream.step(rot[i], pos[i], seen[i]),
                                     args.repeats),
        "network_only_ms": median_ms(network, args.repeats),
        "network_only_traced_ms": median_ms(network_traced, args.repeats),
        "recorded_60s_at_90hz_s": file_s,
        "live_round_trip_median_ms": live_ms, "recorded_frames_out": motion.num_frames,
        "targets": {"online_frame_ms": 2.0, "recorded_60s_s": 2.0,
                    "live_round_trip_median_ms": 5.0},
    }
    return report(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
