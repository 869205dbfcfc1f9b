"""`motionfield train text2motion` and `motionfield generate`: argument wiring only."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from motionfield.methods.text2motion.config import DEFAULT_GUIDANCE, DEFAULT_STEPS


def add_train(sub) -> None:
    from motionfield.methods.text2motion.config import TrainConfig

    d = TrainConfig()
    p = sub.add_parser("text2motion", help="train NeRM: the motion INR, then latent diffusion")
    p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
    p.add_argument("-o", "--output", required=True,
                   help="run folder: OUT/inr, OUT/diffusion, OUT/model.safetensors")
    p.add_argument("--steps-inr", type=int, default=d.steps_inr, help="stage-1 steps")
    p.add_argument("--steps-diffusion", type=int, default=d.steps_diffusion,
                   help="stage-2 steps")
    p.add_argument("--batch", type=int, default=d.batch, help="clips per stage-1 step")
    p.add_argument("--lr", type=float, default=d.lr, help="stage-1 learning rate")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--set", dest="settings", action="append", default=[],
                   metavar="NAME=VALUE", help="any other setting of config.TrainConfig or "
                   "config.ModelConfig, e.g. --set kl_weight=1e-3 --set width=256; repeatable")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --output (whichever stage is unfinished)")
    p.set_defaults(func=_train)


def add_commands(sub) -> None:
    p = sub.add_parser("generate", help="a sentence to SMPL motion (text2motion)")
    p.add_argument("prompt", help='what the person does, e.g. "a person walks happily"')
    p.add_argument("--seconds", type=float, default=4.0,
                   help="duration, 1 to 60 s (over 10 s: samples joined by the prediction "
                        "method's fill)")
    p.add_argument("--fps", default="30",
                   help="output framerate, any positive number (23.976 and 29.97 are NTSC-exact)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=1,
                   help="K motions with seeds SEED..SEED+K-1, written to OUT-1..OUT-K")
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                   help="classifier-free guidance r (1: none; higher follows the text more)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="DDIM sampler steps")
    p.add_argument("--model", help="a text2motion checkpoint (default: the shipped one)")
    p.add_argument("-o", "--output", required=True, help="OUT.npz or OUT.bvh")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=_generate)


def _settings(pairs: list[str]) -> tuple[dict, dict]:
    """["kl_weight=1e-3", "width=256"] -> (train settings, model settings), typed as in
    the dataclasses; an unknown name or a bad value is an error."""
    from motionfield.methods.text2motion.config import ModelConfig, TrainConfig

    kinds = [{f.name: f.type for f in dataclasses.fields(c)} for c in (TrainConfig, ModelConfig)]
    out: tuple[dict, dict] = ({}, {})
    for pair in pairs:
        name, sep, value = pair.partition("=")
        which = next((i for i, k in enumerate(kinds) if name in k), None)
        if not sep or which is None:
            raise SystemExit(f"--set {pair}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(n for k in kinds for n in k)}")
        kind = getattr(kinds[which][name], "__name__", kinds[which][name])
        try:
            out[which][name] = float(value) if kind == "float" else int(value)
        except ValueError:
            raise SystemExit(f"--set {pair}: {value!r} is not a {kind}") from None
    return out


def _train(args: argparse.Namespace) -> int:
    from motionfield.methods.text2motion.config import ModelConfig, TrainConfig
    from motionfield.methods.text2motion.train import train
    from motionfield.training import train_command, use_threads

    use_threads(args.threads)
    train_settings, model_settings = _settings(args.settings)
    given = {"steps_inr": args.steps_inr, "steps_diffusion": args.steps_diffusion,
             "batch": args.batch, "lr": args.lr, "seed": args.seed}
    if set(given) & set(train_settings):
        raise SystemExit(f"--set {', '.join(set(given) & set(train_settings))}: "
                         "use its own option")
    try:
        config = TrainConfig(**given, **train_settings)
        model_config = ModelConfig(**model_settings)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return train_command(train, config, model_config, Path(args.output),
                         Path(args.data) if args.data else None, args.resume)


def output_paths(output: str, samples: int) -> list[Path]:
    """OUT.ext for one sample, OUT-1.ext .. OUT-K.ext for K."""
    out = Path(output)
    if samples == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, samples + 1)]


def _generate(args: argparse.Namespace) -> int:
    from motionfield.io.atomic import check_output
    from motionfield.io.bvh import write_bvh
    from motionfield.methods.text2motion import chain
    from motionfield.methods.text2motion.infer import load

    if args.samples < 1:
        raise SystemExit(f"--samples {args.samples}: at least 1")
    paths = [check_output(p, [], args.force, suffixes=(".npz", ".bvh"))
             for p in output_paths(args.output, args.samples)]
    model = load(Path(args.model) if args.model else None)
    began = time.perf_counter()
    for i, path in enumerate(paths):
        motion = chain.generate(model, args.prompt, args.seconds, args.fps,
                                seed=args.seed + i, guidance=args.guidance, steps=args.steps)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".npz":
            motion.save(path)
        else:
            write_bvh(path, motion)
        print(f"{path}: {motion.num_frames} frames at {float(motion.fps):g} fps "
              f"({motion.fps}), {motion.duration:.3f} s, seed {args.seed + i}")
    print(f"{len(paths)} motion(s) of {args.prompt!r} in "
          f"{time.perf_counter() - began:.1f} s")
    return 0
