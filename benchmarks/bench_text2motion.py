"""Text to motion on the CPU, after load: one sentence to 10 s of motion at 30 fps, text
encoding included, for ours (latent diffusion, DDIM, guidance) and, in the same run, the
CVAE and the retrieval baselines. The GPU figures of MDM, MLD and MotionLCM from their
papers are quoted beside ours (other hardware, other data: orientation, not a race).

    python benchmarks/bench_text2motion.py [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from results_io import report  # noqa: E402

from motionfield.methods.text2motion import data, infer, text  # noqa: E402
from motionfield.methods.text2motion.baselines import Retrieval, load_cvae  # noqa: E402

SECONDS, FPS = 10.0, 30
PROMPTS = ("a person walks happily", "someone waves the right hand", "a man runs forward",
           "a woman bows politely", "a person kicks angrily", "someone dances briefly")
PUBLISHED_GPU_S = {"MDM (Tevet et al. 2023)": 26.0, "MLD (Chen et al. 2023)": 0.24,
                   "MotionLCM (Dai et al. 2024)": 0.045}


def median_s(fn, repeats: int) -> float:
    """Median wall time of fn(i); a new sentence each call, so nothing is cached."""
    fn(0)  # warm-up
    times = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def prompt(i: int) -> str:
    return f"{PROMPTS[i % len(PROMPTS)]} ({i})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours, cvae = infer.load(), load_cvae()
    retrieval = Retrieval(data.split(data.load_takes(progress=False), "train"))
    text.encode(["warm up"])
    result = {
        "threads": args.threads, "seconds": SECONDS, "fps": FPS,
        "sampler_steps": infer.DEFAULT_STEPS, "guidance": infer.DEFAULT_GUIDANCE,
        "per_sentence_s": {
            "ours (text + DDIM + decode)": median_s(
                lambda i: ours.generate([prompt(i)], SECONDS, FPS, seed=i), args.repeats),
            "text encoding alone (MiniLM)": median_s(
                lambda i: text.encode([prompt(i)]), args.repeats),
            "cvae (text + decode)": median_s(
                lambda i: cvae.generate([prompt(i)], SECONDS, FPS, seed=i), args.repeats),
            "retrieval (text + nearest take)": median_s(
                lambda i: retrieval.generate([prompt(i)], SECONDS, FPS, seed=i), args.repeats),
        },
        "published_gpu_s_per_sentence": PUBLISHED_GPU_S,
        "target_s": 1.0,
    }
    return report(result, "benchmarks/results/text2motion_speed.json")


if __name__ == "__main__":
    sys.exit(main())
