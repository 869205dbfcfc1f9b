"""`motionfield train predict` and `motionfield eval predict`: argument wiring only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_train(sub) -> None:
    p = sub.add_parser("predict", help="meta-train the prediction field (or a published "
                       "baseline: siMLPe, LTD)")
    p.add_argument("--task", choices=("cmu", "smpl"), default="cmu",
                   help="cmu: the benchmark's joint positions; smpl: SMPL motion for the product")
    p.add_argument("--model", choices=("field", "simlpe", "ltd"), default="field",
                   help="our field, or siMLPe / LTD with their authors' optimiser, schedule "
                   "and loss (pass their batch and --lr: docs/predict.md)")
    p.add_argument("--data", help="unpacked data folder (default: the unpacked archives)")
    p.add_argument("-o", "--output", required=True, help="run folder (weights, optimiser state)")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0)
    seeds.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                       help="train one run per seed (in OUTPUT/seed-N) and write their "
                       "ensemble, the mean of their predictions, to OUTPUT/model.safetensors")
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="train on the windows as they are (no mirroring / turning)")
    p.add_argument("--speed-change", type=float, default=0.2,
                   help="replay windows up to this much slower or faster (0: off)")
    p.add_argument("--time-reverse", type=float, default=0.0,
                   help="share of the training windows played backwards (0: off)")
    p.add_argument("--fill-weight", type=float, default=0.5,
                   help="weight of the error over the history (gap filling) in the field's loss")
    p.add_argument("--extra-data", nargs="+", default=[], metavar="SET",
                   help="cmu task: built sets whose training split joins the benchmark's "
                   "(bandai-namco-1, bandai-namco-2), on its skeleton")
    p.add_argument("--extra-share", type=float, default=0.5,
                   help="share of the training windows drawn from --extra-data")
    p.add_argument("--action-balance", type=float, default=0.0,
                   help="0: every training window equally likely (long files dominate); "
                   "1: every action drawn equally often; between: in proportion to "
                   "windows^(1 - balance)")
    p.add_argument("--incomplete", type=float, default=0.5,
                   help="share of the training windows whose history has frames and joints "
                   "hidden (field only)")
    p.add_argument("--max-frame-drop", type=float, default=0.8,
                   help="the most of a damaged history's frames hidden in training")
    p.add_argument("--skip-short-files", dest="short_files", action="store_false",
                   help="leave out files shorter than the speed change's source window (how "
                   "training drew windows before 2026-11-30, and how the shipped SMPL "
                   "checkpoints were trained)")
    p.add_argument("--hold-out-validation", action="store_true",
                   help="cmu task: train without the validation files (one training file of "
                   "each test action), to compare recipes with eval predict --split validation")
    p.add_argument("--init-from", default="", metavar="RUN",
                   help="start from this trained run's weights (its model.safetensors, or its "
                   "folder: with --seeds, each seed from the folder's seed-N) instead of fresh "
                   "ones, e.g. pretrained with --extra-share 1; same model settings")
    p.add_argument("--set", dest="model_settings", action="append", default=[],
                   metavar="NAME=VALUE", help="a model setting of the field (config.ModelConfig), "
                   "e.g. --set refiner=256; repeatable")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--validate-every", type=int, default=0, metavar="STEPS",
                   help="cmu task with --hold-out-validation: score the validation windows "
                   "every STEPS steps, keep the best in OUTPUT/best.safetensors and stop when "
                   "--patience scores in a row did not improve (0: off)")
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output")
    p.set_defaults(func=_train)


def add_eval(sub) -> None:
    p = sub.add_parser("predict", help="MPJPE per horizon: ours against the baselines")
    p.add_argument("--data", required=True,
                   help="the unpacked cmu_mocap folder, a set the smpl field trains on "
                   "(bandai-namco-1, bandai-namco-2: its held-out clips, by --split), or any "
                   "folder of BVH files")
    p.add_argument("--json", help="write the full table here")
    p.add_argument("--model", help="our checkpoint (default: the shipped one for the data)")
    p.add_argument("--simlpe", help="the siMLPe checkpoint (default: the shipped one)")
    p.add_argument("--ltd", help="the LTD checkpoint (default: the shipped one, where the data's "
                   "task has one)")
    p.add_argument("--split", choices=("test", "validation"), default="test",
                   help="CMU benchmark: the test windows (the published protocol) or the "
                   "validation windows, for models trained with --hold-out-validation; a "
                   "named set: its test or validation clips")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.set_defaults(func=_eval)


def _train(args: argparse.Namespace) -> int:
    import torch

    from motionfield.methods.predict.config import TrainConfig
    from motionfield.methods.predict.train import train, train_members

    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig(task=args.task, steps=args.steps, batch=args.batch, lr=args.lr,
                         seed=args.seed, augment=args.augment,
                         speed_change=args.speed_change, time_reverse=args.time_reverse,
                         fill_weight=args.fill_weight, weight_decay=args.weight_decay,
                         extra_data=tuple(args.extra_data),
                         extra_share=args.extra_share, action_balance=args.action_balance,
                         short_files=args.short_files,
                         hold_out_validation=args.hold_out_validation,
                         incomplete=args.incomplete, max_frame_drop=args.max_frame_drop,
                         init_from=args.init_from, validate_every=args.validate_every,
                         patience=args.patience)
    options = {"data_root": Path(args.data) if args.data else None, "resume": args.resume,
               "model_config": _model_settings(args.model_settings)}
    if args.seeds:
        path = train_members(args.model, config, args.seeds, Path(args.output), **options)
    else:
        path = train(args.model, config, Path(args.output), **options)
    print(path)
    return 0


def _model_settings(pairs: list[str]) -> dict:
    """["refiner=256", "time_scale=2"] -> {"refiner": 256, "time_scale": 2.0}, typed as in
    ModelConfig; an unknown name or a bad value is an error."""
    import dataclasses

    from motionfield.methods.predict.config import ModelConfig

    types = {f.name: f.type for f in dataclasses.fields(ModelConfig)
             if f.name not in ("joints", "dims")}  # set by the task
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in types:
            raise SystemExit(f"--set {pair}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(types)}")
        try:
            out[name] = _typed(types[name], value)
        except ValueError:
            raise SystemExit(f"--set {pair}: {value!r} is not a {types[name]}") from None
    return out


def _typed(kind, value: str):
    """A --set value as its setting's type (the dataclass annotation, a type or its name)."""
    kind = getattr(kind, "__name__", kind)
    return float(value) if kind == "float" else int(value)


def _eval(args: argparse.Namespace) -> int:
    import torch

    from motionfield.methods.predict.eval import SETS, format_table, run

    if args.threads:
        torch.set_num_threads(args.threads)
    out = run(args.data, Path(args.json) if args.json else None,
              Path(args.model) if args.model else None,
              Path(args.simlpe) if args.simlpe else None, args.split,
              Path(args.ltd) if args.ltd else None)
    print(out["protocol"])
    if out["split"] == "validation" and out["data"] not in SETS:
        print("Windows drawn the same way from the validation files (one training file of "
              "each test action, held out from both models' training), not the test files.")
    print(format_table(out))
    if args.json:
        print(f"wrote {args.json}")
    else:
        print(json.dumps({k: out[k] for k in out["per_action"]}, indent=1))
    return 0
