"""One prediction, per-sequence fitting included, on CPU: our field against siMLPe (no
fitting) in the same run, on a CMU benchmark window and on SMPL motion (the backend job's
work: 2 s of history -> 1 s at 30 fps), and filling 3 s of keys 200 ms apart at 30 fps
against Catmull-Rom interpolation of the same keys. The seed reports a time cost of 41.27 s for its
incomplete-observation test (NeRMo, H3.6M, GPU); we also time our whole CMU evaluation.

    python benchmarks/bench_predict.py [--threads 1]
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
from results_io import report  # noqa: E402

from motionfield.data.sources import source_path  # noqa: E402
from motionfield.methods.predict import eval as predict_eval  # noqa: E402
from motionfield.methods.predict.baselines import cubic_interpolation  # noqa: E402
from motionfield.methods.predict.data import CmuBenchmark  # noqa: E402
from motionfield.methods.predict.infer import (  # noqa: E402
    continue_smpl,
    fill_smpl,
    load_checkpoint,
    predict_field,
    predict_simlpe,
    shipped_checkpoint,
)

REPEATS = 200


def median_ms(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cmu = source_path("cmu_mocap")
    bench = CmuBenchmark.load(cmu)
    window = bench.test_windows(50)["walking"][:1, :50][:, :, bench.used].astype(np.float32)
    ours, simlpe = load_checkpoint(shipped_checkpoint("cmu")), load_checkpoint(
        shipped_checkpoint("cmu-simlpe"))
    t_obs = (np.arange(50) - 49) * 0.04
    t_query = np.arange(1, 26) * 0.04
    mask = np.ones((1, 50, 25), np.float32)
    smpl = load_checkpoint(shipped_checkpoint("smpl"))
    rng = np.random.default_rng(0)
    rot = np.tile([1.0, 0, 0, 0], (60, 24, 1)) + 0.05 * rng.normal(size=(60, 24, 4))
    rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
    trans = np.cumsum(np.full((60, 3), [0.0, 0.0, 0.04]), axis=0) + [0, 0.9, 0]
    times = np.arange(60) / 30
    query = times[-1] + np.arange(1, 31) / 30
    fill_times = np.arange(91) / 30  # 3 s at 30 fps, keys every 6th frame
    keys = np.arange(0, 91, 6)
    key_rot = np.tile(rot, (2, 1, 1))[keys]
    key_trans = np.tile(trans, (2, 1))[keys]
    key_tokens = key_rot[None]  # (1, K, 24, 4): the cubic baseline on the quaternions
    began = time.perf_counter()
    predict_eval.evaluate_cmu(cmu, ours, simlpe)
    whole_eval = time.perf_counter() - began
    result = {
        "threads": args.threads,
        "cmu_window_ms": {
            "ours (fit + 25 frames)": median_ms(
                lambda: predict_field(ours.model, t_obs, window, mask, t_query)),
            "simlpe": median_ms(lambda: predict_simlpe(simlpe.model, window)),
        },
        "smpl_continue_1s_at_30fps_ms": median_ms(
            lambda: continue_smpl(smpl, rot, trans, times, query)),
        "smpl_fill_3s_keys_200ms_apart_at_30fps_ms": {
            "ours (fill_smpl)": median_ms(
                lambda: fill_smpl(smpl, key_rot, key_trans, fill_times[keys], fill_times)),
            "catmull-rom (cubic_interpolation)": median_ms(
                lambda: cubic_interpolation(fill_times[keys], key_tokens, fill_times)),
        },
        "whole_cmu_evaluation_s (48 windows x 3 conditions x 4 methods)": whole_eval,
        "seed_reported_time_cost_s (NeRMo, incomplete-observation test, H3.6M)": 41.27,
        "target_ms": 30,
    }
    return report(result, "benchmarks/results/predict.json")


if __name__ == "__main__":
    sys.exit(main())
