"""`motionfield train predict`: meta-train the motion field (or a published baseline:
siMLPe, LTD, each with its authors' optimiser, schedule and loss; baselines.py).

Each step draws windows of `history + future` frames, hides frames and joints of the
history in a share of the batch (and shortens it at random, so any history length works),
fits the instance part on what is left and scores the future (and, for the field, the
history it should have filled): the outer loop of the bi-level optimisation. The loop,
resuming, seeds, ensembles and `--init-from` are motionfield.training's; here are the
models, their losses and one step's batch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import torch

from motionfield import training
from motionfield.checkpoints import credited, read_meta, save_checkpoint
from motionfield.data.windows import (
    WindowSampler,
    history_mask,
    time_reverse,
    time_warp,
    warp_source_frames,
)
from motionfield.methods.predict.baselines import LTD, SiMLPe
from motionfield.methods.predict.config import ModelConfig, TrainConfig, saved_training
from motionfield.methods.predict.infer import KINDS, METHOD, build_trained, load_checkpoint
from motionfield.methods.predict.model import MotionField
from motionfield.methods.predict.tasks import Task, load_task

WEIGHTS = training.WEIGHTS


# siMLPe trains on 10 predicted frames and rolls out for more (official config's
# motion.h36m_target_length_train); LTD sees the last 10 frames (its input_n on CMU)
SIMLPE_FRAMES = 10
LTD_HISTORY = 10


def build_model(kind: str, task: Task, config: TrainConfig, model_config: dict | None = None):
    """A fresh model of `kind` for `task`; the field gets the task's normalisation."""
    if kind == "field":
        settings = {**(model_config or {}), "joints": task.joints, "dims": task.dims}
        model = MotionField(ModelConfig(**settings))
        model.mean_pose.copy_(torch.as_tensor(task.mean_pose))
        model.scale.copy_(torch.as_tensor(task.scale))
        model.value_mask.copy_(torch.as_tensor(task.value_mask))
        return model
    if kind == "simlpe":
        return SiMLPe(config.history, SIMLPE_FRAMES, task.joints, task.dims)
    if kind == "ltd":
        return LTD(LTD_HISTORY, config.future, task.joints, task.dims)
    raise ValueError(f"unknown model kind {kind!r}: use one of {', '.join(KINDS)}")


def field_loss(model, task: Task, history, future, mask, frame_time, fill_weight: float):
    """The future's error, plus `fill_weight` times the error over the history from its
    first observed frame on: hidden frames and joints included, so the same fit that
    predicts also fills gaps (NeRMo's outer loss scores the future only)."""
    h, f = history.shape[1], future.shape[1]
    t_obs = (torch.arange(h, dtype=torch.float32) - (h - 1)) * frame_time
    t_query = torch.arange(-(h - 1), f + 1, dtype=torch.float32) * frame_time
    b = history.shape[0]
    pred = model(t_obs.expand(b, -1), history, mask, t_query.expand(b, -1))
    loss = task.loss(pred[:, h:], future)
    if fill_weight:
        seen = mask.amax(dim=2) > 0  # (B, H): frames with anything observed
        spanned = seen.to(torch.float32).cummax(dim=1).values[..., None, None] > 0
        filled = torch.where(spanned, pred[:, :h], history)  # outside the span: no error
        loss = loss + fill_weight * task.loss(filled, history)
    return loss


def velocity_error(pred, future):
    """Mean distance between the predicted and true frame-to-frame steps (B, F, ...)."""
    velocity = (pred[:, 1:] - pred[:, :-1]) - (future[:, 1:] - future[:, :-1])
    return velocity.norm(dim=-1).mean()


def simlpe_loss(model, task: Task, history, future):
    """siMLPe's: the error of its `future` frames plus that of their frame-to-frame steps."""
    future = future[:, :model.future]
    pred = model(history)
    return task.loss(pred, future) + velocity_error(pred, future)


def ltd_loss(model, task: Task, history, future):
    """LTD's: the error over the whole trajectory it outputs, its seen frames included."""
    seen = history[:, -model.history:]
    return task.loss(model(seen), torch.cat([seen, future[:, :model.future]], dim=1))


def recipe(kind: str, sampler: WindowSampler):
    """The optimiser, schedule and clipping of `kind` (training.run's `recipe`):

    * field: AdamW, one-cycle, gradients clipped to 1 (training.one_cycle);
    * siMLPe (official train.py): Adam with L2 weight decay, `lr` (3e-4 there) for the
      first three quarters of the steps (30,000 of 40,000 there), then 1e-5; no clipping;
    * LTD (official main_cmu_3d.py): Adam, `lr` (5e-4 there) times 0.96 every two epochs
      of the task's training windows at this batch, decayed smoothly per step; gradients
      clipped to 1."""
    if kind == "field":
        return training.one_cycle

    def baseline(model, config):
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr,
                                     weight_decay=config.weight_decay)
        if kind == "simlpe":
            drop = int(0.75 * config.steps)
            factor = 1e-5 / 3e-4
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimiser, lambda step: 1.0 if step < drop else factor)
            return optimiser, schedule, None
        windows = sum(len(seq) - sampler.shortest + 1 for seq in sampler.sequences)
        epoch = max(1, windows // config.batch)
        gamma = math.exp(math.log(0.96) / (2 * epoch))
        return optimiser, torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma), 1.0
    return baseline


def batch_loss(kind: str, model, task: Task, config: TrainConfig, sampler: WindowSampler):
    """rng -> the loss of one batch drawn from `sampler`, augmented as `config` says."""
    length = config.history + config.future

    def loss(rng: np.random.Generator) -> torch.Tensor:
        windows, real = sampler.sample(rng, config.batch)
        if config.speed_change:
            windows = time_warp(rng, windows, length, config.speed_change, real)
        if config.time_reverse:  # drawn only when on, so other runs keep their windows
            windows = time_reverse(rng, windows, config.time_reverse)
        if config.augment:
            windows = task.augment(rng, windows)
        windows = torch.from_numpy(windows)
        # drawn for both kinds, so a seed gives the same windows to each
        mask = torch.from_numpy(history_mask(rng, config.batch, config.history, task.joints,
                                             config.incomplete, config.max_frame_drop,
                                             config.max_joint_drop))
        history, future = windows[:, :config.history], windows[:, config.history:]
        if kind == "field":
            return field_loss(model, task, history, future, mask, task.frame_time,
                              config.fill_weight)
        if kind == "ltd":  # complete histories, as published
            return ltd_loss(model, task, history, future)
        return simlpe_loss(model, task, history, future)
    return loss


def train(kind: str, config: TrainConfig, out: Path, data_root: Path | None = None,
          resume: bool = False, model_config: dict | None = None,
          progress: bool = True, stop_after: int | None = None) -> Path:
    """Train and write `out/model.safetensors`; returns its path. `stop_after` ends this
    call after that many steps with the state saved (a time-boxed session; `resume` goes on)."""
    out.mkdir(parents=True, exist_ok=True)
    if config.validate_every:  # scored after a save: save at each score
        config = dataclasses.replace(config, checkpoint_every=config.validate_every)
    resuming = training.resuming(out, resume)
    start = (training.initial_weights(config.init_from, config.seed)
             if config.init_from and not resuming else None)
    if start is not None and not start.is_file():  # said before the data takes its time
        raise ValueError(f"--init-from {config.init_from}: no trained run at {start}")
    task = load_task(config.task, data_root, config.extra_data, config.extra_share,
                     config.hold_out_validation)
    if config.action_balance and task.train_labels is None:
        raise ValueError(f"the {task.name} task has no actions to balance (--action-balance)")
    torch.manual_seed(config.seed)
    if resuming:
        model_config = resumable_settings(out, kind, config, model_config)
    model = build_model(kind, task, config, model_config)
    if start is not None:  # a resumed run has its own weights already
        task = start_from(model, kind, start, task, config.hold_out_validation)
    length = config.history + config.future
    source = warp_source_frames(length, config.speed_change)
    sampler = WindowSampler(task.train, source, task.train_groups, task.group_shares,
                            task.train_labels, config.action_balance,
                            shortest=length if config.short_files else source)

    def save(step: int, path: Path = out / WEIGHTS) -> None:
        meta = {"kind": kind, "task": task.name, "step": str(step), "train": config.to_dict(),
                "model": model.config.to_dict() if kind == "field" else model.settings,
                "data": task.description, "licence": task.licence,
                "frame_time": task.frame_time}
        save_checkpoint(path, METHOD, model.state_dict(), meta)

    stop = None
    if config.validate_every:
        stop = plateau(kind, model, config, data_root, out,
                       lambda step: save(step, out / BEST))
    training.run(model, batch_loss(kind, model, task, config, sampler), save, out, config,
                 resuming, progress, f"train {kind}, seed {config.seed}", stop_after,
                 recipe(kind, sampler), stop)
    return out / (BEST if config.validate_every else WEIGHTS)


BEST = "best.safetensors"
VALIDATION_LOG = "validation.jsonl"


def plateau(kind: str, model, config: TrainConfig, data_root: Path | None, out: Path,
            keep_best):
    """training.run's `stop` for `config.validate_every`: at each multiple of it, the mean
    over the validation actions of the MPJPE over the 25 predicted frames (the benchmark's
    25 used joints, complete history); a new best is kept (`keep_best(step)`), each score
    logged to `out/validation.jsonl`; true once `patience` scores in a row did not improve."""
    if config.task != "cmu" or not config.hold_out_validation:
        raise ValueError("--validate-every scores the CMU validation files: use --task cmu "
                         "with --hold-out-validation")
    from motionfield.data.sources import source_path
    from motionfield.methods.predict.data import CmuBenchmark
    from motionfield.methods.predict.infer import predict

    root = Path(data_root) if data_root else source_path("cmu_mocap")
    root = root if (root / "skeleton.json").exists() else root / "cmu_mocap"
    bench = CmuBenchmark.load(root)
    windows = {a: w[:, :, bench.used].astype(np.float32)
               for a, w in bench.test_windows(config.history, "validation").items()}
    log = out / VALIDATION_LOG
    scores: list[float] = [json.loads(line)["mpjpe"] for line in log.read_text().splitlines()
                           ] if log.exists() else []

    def stop(step: int) -> bool:
        if step % config.validate_every:
            return False
        model.eval()
        errors = []
        for win in windows.values():
            pred = predict(kind, model, win[:, :config.history], win.shape[1] - config.history)
            errors.append(float(np.linalg.norm(pred - win[:, config.history:], axis=-1).mean()))
        model.train()
        score = float(np.mean(errors))
        if not scores or score < min(scores):
            keep_best(step)
        scores.append(score)
        with log.open("a") as f:
            f.write(json.dumps({"step": step, "mpjpe": score}) + "\n")
        best = int(np.argmin(scores))
        return len(scores) - 1 - best >= config.patience
    return stop


def start_from(model, kind: str, path: Path, task: Task, hold_out_validation: bool) -> Task:
    """Load the learned weights of the trained run at `path` into `model` (its buffers, this
    task's normalisation, stay) and return `task` crediting that run's data and licence.
    Refused with a ValueError when it is an ensemble, of another kind, or of other model
    settings, and for a run to be held out from the validation files when those weights
    saw them."""
    trained = load_checkpoint(path)
    if trained.meta.get("members"):
        raise ValueError(f"--init-from {path} is an ensemble: start from one of its runs")
    if hold_out_validation and saw_validation_files(trained.meta):
        raise ValueError(f"--init-from {path} was trained on the validation files: "
                         "--hold-out-validation needs weights that never saw them")
    if trained.kind != kind:
        raise ValueError(f"--init-from {path} is a {trained.kind} (now {kind})")
    own = model.config.to_dict() if kind == "field" else model.settings
    theirs = (ModelConfig.from_dict(trained.meta["model"]).to_dict() if kind == "field"
              else trained.meta["model"])
    differs = [f"{key}={theirs.get(key)!r} (now {value!r})" for key, value in own.items()
               if theirs.get(key) != value]
    if differs:
        raise ValueError(f"--init-from {path} has other model settings: {'; '.join(differs)}")
    training.load_learned(model, trained.model.state_dict())
    description, licence = credited(task.description, task.licence, trained.meta)
    return dataclasses.replace(task, description=description, licence=licence)


def saw_validation_files(meta: dict) -> bool:
    """Whether a CMU run's weights were trained on the validation files: unless it held
    them out, or trained on the extra data alone from fresh weights."""
    train = meta["train"]
    extra_alone = (train.get("extra_data") and train.get("extra_share") == 1.0
                   and not train.get("init_from"))
    return meta["task"] == "cmu" and not (train.get("hold_out_validation") or extra_alone)


def resumable_settings(out: Path, kind: str, config: TrainConfig,
                       model_config: dict | None) -> dict | None:
    """The model settings to resume the run in `out` with: its own. Refused with a
    ValueError naming each difference when the kind, a training setting (the schedule's
    length, the data, the augmentation...) or a model setting passed now differs from the
    run's: the optimiser state and the schedule would go on under another recipe."""
    meta = read_meta(out / WEIGHTS, METHOD)
    differs = training.differences(saved_training(meta["train"]), config.to_dict())
    if meta["kind"] != kind:
        differs.insert(0, f"model {meta['kind']} (now {kind})")
    elif kind == "field":
        own = ModelConfig.from_dict(meta["model"]).to_dict()
        differs += [f"--set {key}={own[key]!r} (now {value!r})"
                    for key, value in (model_config or {}).items() if own.get(key) != value]
    if differs:
        raise ValueError(f"{out} was trained with other settings: {'; '.join(differs)}. "
                         "Resume it with the command that started it, or train a new run")
    return meta["model"] if kind == "field" else model_config


def train_members(kind: str, config: TrainConfig, seeds: list[int], out: Path,
                  **options) -> Path:
    """Train one run per seed in `out/seed-N` (each resumable as a run of its own) and write
    their ensemble to `out/model.safetensors` (infer.Ensemble); returns its path."""
    runs = training.train_seeds(
        lambda seed, folder: train(kind, dataclasses.replace(config, seed=seed), folder,
                                   **options), seeds, out)
    return merge_members(runs, out / WEIGHTS)


def merge_members(paths: list[Path], target: Path) -> Path:
    """One checkpoint holding the trained runs at `paths` as an ensemble
    (training.merge_members): of one kind, task and model shape, trained alike but for the
    seed. Half precision moved the CMU benchmark's table by at most 0.01 mm."""
    def normalise(meta: dict) -> dict:  # as this version reads older files' settings
        model = meta["model"]
        if meta["kind"] == "field":
            model = ModelConfig.from_dict(model).to_dict()
        return {**meta, "model": model, "train": saved_training(meta["train"])}

    first = read_meta(paths[0], METHOD)
    buffers = {name for name, _ in build_trained(first["kind"], first["model"]).named_buffers()}
    return training.merge_members(paths, target, METHOD,
                                  ("kind", "task", "model", "step", "frame_time"), buffers,
                                  normalise)
