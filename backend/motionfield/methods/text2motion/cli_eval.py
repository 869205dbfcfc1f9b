"""`motionfield eval text2motion` and the baselines' training commands
(`motionfield train text2motion-evaluator`, `motionfield train text2motion-cvae`):
argument wiring only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_eval(sub) -> None:
    p = sub.add_parser("text2motion", help="T2M protocol on held-out takes: ours against "
                       "real takes, caption retrieval and a CVAE")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val: val + val_novel (every choice: guidance, steps); test: test + "
                   "test_novel, scored once per shipped model")
    p.add_argument("--json", help="write the full report here")
    p.add_argument("--model", help="our checkpoint (default: the shipped nerm.safetensors)")
    p.add_argument("--evaluator", help="the evaluator (default: the shipped one)")
    p.add_argument("--cvae", help="the CVAE baseline (default: the shipped one)")
    p.add_argument("--methods", nargs="+", default=["real", "retrieval", "cvae", "ours"],
                   choices=("real", "retrieval", "cvae", "ours"))
    p.add_argument("--repeats", type=int, default=10,
                   help="repetitions (seeds, shuffles) averaged; T2M uses 20")
    p.add_argument("--guidance", type=float, help="ours: classifier-free guidance scale "
                   "(default: infer.DEFAULT_GUIDANCE)")
    p.add_argument("--steps", type=int, help="ours: DDIM steps (default: infer.DEFAULT_STEPS)")
    p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.set_defaults(func=_eval)


def add_train_baselines(sub) -> None:
    for name, what in (("text2motion-evaluator", "the T2M-style evaluator (motion and text "
                        "encoders, content/style heads) on real training takes"),
                       ("text2motion-cvae", "the conditional VAE baseline (no diffusion) on "
                        "the training clips")):
        p = sub.add_parser(name, help=f"train {what}")
        p.add_argument("-o", "--output", required=True, help="run folder")
        p.add_argument("--steps", type=int, help="optimiser steps (default: the config's)")
        p.add_argument("--batch", type=int, help="batch size (default: the config's)")
        p.add_argument("--lr", type=float, help="learning rate (default: the config's)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
        p.add_argument("--threads", type=int, default=0,
                       help="torch CPU threads (0: torch's choice)")
        p.add_argument("--resume", action="store_true", help="continue the run in --output")
        p.set_defaults(func=_train_baseline, which=name)


def _limit_threads(threads: int) -> None:
    """torch's threads and numpy's BLAS threads (the evaluation's FID and FK are numpy: an
    OpenBLAS pool on a shared 2-core machine ran them 20 times slower)."""
    import torch

    if not threads:
        return
    torch.set_num_threads(threads)
    try:  # ships with scikit-learn, which the sentence encoder's package requires
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(threads)


def _overrides(args: argparse.Namespace) -> dict:
    values = {"steps": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed}
    return {k: v for k, v in values.items() if v is not None}


def _train_baseline(args: argparse.Namespace) -> int:
    _limit_threads(args.threads)
    options = {"resume": args.resume, "data_root": Path(args.data) if args.data else None}
    if args.which == "text2motion-evaluator":
        from motionfield.methods.text2motion.evaluator import EvaluatorConfig, train

        path = train(Path(args.output), EvaluatorConfig(**_overrides(args)), **options)
    else:
        from motionfield.methods.text2motion.baselines import CvaeConfig, train_cvae

        path = train_cvae(Path(args.output), CvaeConfig(**_overrides(args)), **options)
    print(path)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from motionfield.methods.text2motion.eval import format_table, run

    _limit_threads(args.threads)

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    out = run(args.split, path(args.json), path(args.model), path(args.evaluator),
              path(args.cvae), args.repeats, tuple(args.methods), args.guidance, args.steps,
              path(args.data))
    print(out["protocol"])
    print(format_table(out))
    print(json.dumps({"framerate": out["framerate"]}, indent=1))
    if args.json:
        print(f"wrote {args.json}")
    return 0
