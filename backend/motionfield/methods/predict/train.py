"""`motionfield train predict`: meta-train the motion field (or the siMLPe baseline).

Each step draws windows of `history + future` frames, hides frames and joints of the
history in a share of the batch (and shortens it at random, so any history length works),
fits the instance part on what is left and scores the future (and, for the field, the
history it should have filled): the outer loop of the bi-level optimisation. Resumable:
the run folder keeps the latest weights (safetensors) and the optimiser state
(`torch.load(weights_only=True)`); `--resume` continues from there.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from motionfield.methods.predict.baselines import SiMLPe
from motionfield.methods.predict.config import ModelConfig, TrainConfig
from motionfield.methods.predict.data import (
    WindowSampler,
    ease_out,
    incomplete_mask,
    time_reverse,
    time_warp,
    warp_source_frames,
)
from motionfield.methods.predict.infer import build_trained, checkpoint_meta, load_checkpoint
from motionfield.methods.predict.model import MotionField
from motionfield.methods.predict.tasks import Task, load_task

KINDS = ("field", "simlpe")
WEIGHTS = "model.safetensors"
STATE = "train_state.pt"


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
        return SiMLPe(config.history, config.future, task.joints, task.dims)
    raise ValueError(f"unknown model kind {kind!r}: use one of {', '.join(KINDS)}")


def history_mask(rng: np.random.Generator, config: TrainConfig, batch: int, joints: int):
    """Training masks: complete for most of the batch, incomplete (dropped frames, dropped
    joints, a shortened history) for `config.incomplete` of it."""
    mask = np.ones((batch, config.history, joints), dtype=np.float32)
    for b in np.flatnonzero(rng.random(batch) < config.incomplete):
        mask[b] = incomplete_mask(rng, 1, config.history, joints,
                                  rng.uniform(0, config.max_frame_drop),
                                  rng.uniform(0, config.max_joint_drop))[0]
        keep = rng.integers(2, config.history + 1)
        mask[b, :config.history - keep] = 0.0
        mask[b, -1, rng.integers(joints)] = 1.0  # something is always seen
    return mask


def field_loss(model, task: Task, history, future, mask, frame_time, fill_weight: float,
               velocity_weight: float = 0.0, mirrored=None):
    """The future's error, plus `fill_weight` times the error over the history from its
    first observed frame on: hidden frames and joints included, so the same fit that
    predicts also fills gaps (NeRMo's outer loss scores the future only); plus
    `velocity_weight` times the error of the future's frame-to-frame steps (siMLPe's term).
    `mirrored` (B,) marks the windows the augmentation mirrored."""
    h, f = history.shape[1], future.shape[1]
    t_obs = (torch.arange(h, dtype=torch.float32) - (h - 1)) * frame_time
    t_query = torch.arange(-(h - 1), f + 1, dtype=torch.float32) * frame_time
    b = history.shape[0]
    pred = model(t_obs.expand(b, -1), history, mask, t_query.expand(b, -1), mirrored)
    loss = task.loss(pred[:, h:], future)
    if velocity_weight:
        loss = loss + velocity_weight * velocity_error(pred[:, h - 1:], history[:, -1:], future)
    if fill_weight:
        seen = mask.amax(dim=2) > 0  # (B, H): frames with anything observed
        spanned = seen.to(torch.float32).cummax(dim=1).values[..., None, None] > 0
        filled = torch.where(spanned, pred[:, :h], history)  # outside the span: no error
        loss = loss + fill_weight * task.loss(filled, history)
    return loss


def velocity_error(pred, start, future):
    """Mean distance between the predicted and true frame-to-frame steps; `pred` (B, 1 + F)
    starts at the last history frame (given as `start` (B, 1) for the truth), or is (B, F)
    with the first step left out when `start` is None."""
    truth = future if start is None else torch.cat([start, future], 1)
    velocity = (pred[:, 1:] - pred[:, :-1]) - (truth[:, 1:] - truth[:, :-1])
    return velocity.norm(dim=-1).mean()


def simlpe_loss(model, task: Task, history, future):
    pred = model(history)
    return task.loss(pred, future) + velocity_error(pred, None, future)


def train(kind: str, config: TrainConfig, out: Path, data_root: Path | None = None,
          resume: bool = False, model_config: dict | None = None,
          progress: bool = True, stop_after: int | None = None) -> Path:
    """Train and write `out/model.safetensors`; returns its path. `stop_after` ends this
    call after that many steps with the state saved (a time-boxed session; `resume` goes on)."""
    out.mkdir(parents=True, exist_ok=True)
    resuming = resume and (out / STATE).exists()
    start = initial_weights(config) if config.init_from and not resuming else None
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
        task = credited(task, start_from(model, kind, start, config.hold_out_validation))
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=config.steps,
                                                   pct_start=0.05)
    average = weight_average(model, config.ema)
    step, rng = 0, np.random.default_rng(config.seed)
    if resuming:
        step, rng = _restore(out, model, optimiser, schedule, average)
    length = config.history + config.future
    source = warp_source_frames(length, config.speed_change)
    sampler = WindowSampler(task.train, source, task.train_groups, task.group_shares,
                            task.train_labels, config.action_balance,
                            shortest=length if config.short_files else source)
    bar = tqdm(total=config.steps, initial=step, disable=not progress,
               desc=f"train {kind}, seed {config.seed}")  # --seeds trains several in turn
    model.train()
    last = config.steps if stop_after is None else min(config.steps, step + stop_after)
    while step < last:
        windows, real = sampler.sample(rng, config.batch)
        if config.speed_change:
            windows = time_warp(rng, windows, length, config.speed_change, real)
        if config.ease_out:  # drawn only when on, as time reversal below
            windows = ease_out(rng, windows, config.ease_out, config.history)
        if config.time_reverse:  # drawn only when on, so other runs keep their windows
            windows = time_reverse(rng, windows, config.time_reverse)
        mirrored = np.zeros(len(windows), bool)
        if config.augment:
            windows, mirrored = task.augment(rng, windows)
        windows = torch.from_numpy(windows)
        # drawn for both kinds, so a seed gives the same windows to each
        mask = torch.from_numpy(history_mask(rng, config, config.batch, task.joints))
        history, future = windows[:, :config.history], windows[:, config.history:]
        if kind == "field":
            loss = field_loss(model, task, history, future, mask, task.frame_time,
                              config.fill_weight, config.velocity_weight,
                              torch.from_numpy(mirrored))
        else:  # trained on complete histories, as published
            loss = simlpe_loss(model, task, history, future)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if average is not None:
            average.update_parameters(model)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % config.checkpoint_every == 0 or step == last:
            save(out, kind, model if average is None else average.module, config, task,
                 step, model_config)
            _keep_state(out, optimiser, schedule, step, rng, model, average)
    bar.close()
    return out / WEIGHTS


def initial_weights(config: TrainConfig) -> Path:
    """The weights file `config.init_from` names for this seed: a file as it is; in a run
    folder its `seed-N/` for this seed where it has one (trained with --seeds), else its own."""
    path = Path(config.init_from)
    if path.is_dir():
        own_seed = path / f"seed-{config.seed}" / WEIGHTS
        path = own_seed if own_seed.is_file() else path / WEIGHTS
    return path


def start_from(model, kind: str, path: Path, hold_out_validation: bool = False) -> dict:
    """Load the learned weights of the trained run at `path` into `model` and return its
    metadata. The buffers (this task's normalisation) stay as built. Refused with a
    ValueError when it is an ensemble, of another kind, or of other model settings, and
    for a run to be held out from the validation files when those weights saw them."""
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
    buffers = {name for name, _ in model.named_buffers()}
    model.load_state_dict({name: value for name, value in trained.model.state_dict().items()
                           if name not in buffers}, strict=False)
    return trained.meta


def saw_validation_files(meta: dict) -> bool:
    """Whether a CMU run's weights were trained on the validation files: unless it held
    them out, or trained on the extra data alone from fresh weights."""
    train = meta["train"]
    extra_alone = (train.get("extra_data") and train.get("extra_share") == 1.0
                   and not train.get("init_from"))
    return meta["task"] == "cmu" and not (train.get("hold_out_validation") or extra_alone)


def credited(task: Task, started_from: dict) -> Task:
    """`task` with the data and licence of the weights it starts from added to its own:
    a model trained on from them is theirs too."""
    return dataclasses.replace(
        task, description=f"{task.description}; started from weights trained on "
        f"{started_from['data']}",
        licence="; ".join(dict.fromkeys(part for licence in (task.licence, started_from["licence"])
                                        for part in licence.split("; "))))


# settings a run may be resumed with otherwise: they do not change what it learns
RESUME_MAY_CHANGE = ("checkpoint_every",)


def resumable_settings(out: Path, kind: str, config: TrainConfig,
                       model_config: dict | None) -> dict | None:
    """The model settings to resume the run in `out` with: its own. Refused with a
    ValueError naming each difference when the kind, a training setting (the schedule's
    length, the data, the augmentation...) or a model setting passed now differs from the
    run's: the optimiser state and the schedule would go on under another recipe."""
    meta = checkpoint_meta(out / WEIGHTS)
    saved = {**OPTIONS_ADDED_OFF, **meta["train"]}
    now = config.to_dict()
    differs = [f"{key} {saved.get(key)!r} (now {now[key]!r})" for key in now
               if key not in RESUME_MAY_CHANGE and _as_saved(now[key]) != saved.get(key)]
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


def _as_saved(value):  # a setting as it reads back from the checkpoint's JSON
    return json.loads(json.dumps(value))


def weight_average(model, decay: float):
    """An exponential moving average of `model`'s weights (torch.optim.swa_utils), or None
    for decay 0. Its copy is what gets saved; training goes on with the raw weights."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def train_members(kind: str, config: TrainConfig, seeds: list[int], out: Path,
                  **options) -> Path:
    """Train one run per seed in `out/seed-N` (each resumable as a run of its own) and write
    their ensemble to `out/model.safetensors` (infer.Ensemble); returns its path."""
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {' '.join(map(str, seeds))}: each seed once")
    runs = [train(kind, dataclasses.replace(config, seed=seed), out / f"seed-{seed}",
                  **options) for seed in seeds]
    return merge_members(runs, out / WEIGHTS)


# Training options added after runs were shipped, each drawn only when on: a run saved
# before one existed trained with it off, so merge_members reads it so.
OPTIONS_ADDED_OFF = {"time_reverse": 0.0, "ease_out": 0.0, "ema": 0.0,
                     "hold_out_validation": False, "init_from": ""}


def merge_members(paths: list[Path], target: Path) -> Path:
    """One checkpoint holding the trained runs at `paths` as an ensemble. They must be of
    one kind, task and model shape, trained alike but for the seed. Learned weights are
    stored in half precision, which keeps three members about as small as one run's file
    and moved the CMU benchmark's table by at most 0.01 mm; the normalisation buffers (in
    mm) stay in full precision."""
    metas = [checkpoint_meta(path) for path in paths]
    for path, meta in zip(paths, metas):
        if meta.get("members"):
            raise ValueError(f"{path} is an ensemble already: merge its runs instead")
        if meta["kind"] == "field":  # runs saved before a setting existed have its default
            meta["model"] = ModelConfig.from_dict(meta["model"]).to_dict()
        meta["train"] = {**OPTIONS_ADDED_OFF, **meta["train"]}
    first = metas[0]
    for path, meta in zip(paths[1:], metas[1:]):
        differs = [key for key in ("kind", "task", "model", "step", "frame_time")
                   if meta[key] != first[key]]
        # any other training setting one run predates counts as a difference: it may have
        # trained otherwise then (short_files did)
        keys = sorted(set(first["train"]) | set(meta["train"]))
        differs += [f"train.{key}" for key in keys
                    if key != "seed" and meta["train"].get(key) != first["train"].get(key)]
        if differs:
            raise ValueError(f"{path} differs from {paths[0]} in {', '.join(differs)}")
    buffers = {name for name, _ in build_trained(first["kind"], first["model"]).named_buffers()}
    tensors = {f"members.{index}.{k}": v if k in buffers else v.half()
               for index, path in enumerate(paths) for k, v in load_file(path).items()}
    seeds = [meta["train"]["seed"] for meta in metas]
    meta = {**first, "members": len(paths), "train": {**first["train"], "seed": seeds}}
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, target, metadata={"motionfield": json.dumps(meta)})
    return target


def save(out: Path, kind: str, model, config: TrainConfig, task: Task, step: int,
         model_config: dict | None) -> None:
    """Weights + everything needed to rebuild and to credit the data, in one safetensors."""
    meta = {"kind": kind, "task": task.name, "step": str(step), "train": config.to_dict(),
            "model": model.config.to_dict() if kind == "field" else model.settings,
            "data": task.description, "licence": task.licence,
            "frame_time": task.frame_time}
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, out / WEIGHTS, metadata={"motionfield": json.dumps(meta)})


def _keep_state(out: Path, optimiser, schedule, step: int, rng: np.random.Generator,
                model, average) -> None:
    state = {"optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
             "step": step, "rng": json.dumps(rng.bit_generator.state)}
    if average is not None:  # the weights file holds the average: keep the raw weights here
        state["model"] = model.state_dict()
        state["n_averaged"] = average.n_averaged
    tmp = out / (STATE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(out / STATE)  # a run stopped mid-write keeps the previous state


def _restore(out: Path, model, optimiser, schedule, average):
    state = torch.load(out / STATE, weights_only=True)
    if average is None:
        model.load_state_dict(load_file(out / WEIGHTS))
    else:
        model.load_state_dict(state["model"])
        average.module.load_state_dict(load_file(out / WEIGHTS))
        average.n_averaged.copy_(state["n_averaged"])
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(state["rng"])
    return int(state["step"]), rng
