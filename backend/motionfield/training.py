"""The training loop every method shares, and what goes with it: resuming, seeds, starting
from a trained run's weights (`--init-from`) and ensembles of runs trained with other seeds.

A run folder holds the latest weights (`model.safetensors`, motionfield.checkpoints) and the
optimiser's state (`train_state.pt`, read with `torch.load(weights_only=True)`: tensors and
plain types only). A method gives the loop its model, a function that draws a batch and
returns its loss, and a function that saves the weights; the loop owns the optimiser
(AdamW), the one-cycle schedule, gradient clipping, progress and the saved state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from motionfield.checkpoints import read_checkpoint, read_meta, save_checkpoint

WEIGHTS = "model.safetensors"
STATE = "train_state.pt"
# settings a run may be resumed with otherwise: they do not change what it learns
RESUME_MAY_CHANGE = ("checkpoint_every",)
# share of the steps the learning rate rises over (one-cycle); OneCycleLR divides by zero
# when that ends at step 0 (20 steps), so such a run rises over 1.5 steps instead
WARM_UP = 0.05


def one_cycle(model: torch.nn.Module, config) -> tuple:
    """The default recipe: AdamW, the one-cycle schedule, gradients clipped to norm 1."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    warm_up = WARM_UP if WARM_UP * config.steps != 1 else 1.5 / config.steps
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr,
                                                   total_steps=config.steps, pct_start=warm_up)
    return optimiser, schedule, 1.0


def run(model: torch.nn.Module, loss: Callable[[np.random.Generator], torch.Tensor],
        save: Callable[[int], None], out: Path, config, resume: bool = False,
        progress: bool = True, desc: str = "train", stop_after: int | None = None,
        recipe: Callable = one_cycle, stop: Callable[[int], bool] | None = None) -> None:
    """Train `model` in run folder `out` up to `config.steps` steps (also read:
    `lr`, `weight_decay`, `seed`, `checkpoint_every`). `loss(rng)` draws a batch from the
    run's generator and returns its loss; `save(step)` writes `out/model.safetensors`,
    then the optimiser's state is kept beside it. `resume` goes on from that state;
    `stop_after` ends this call after that many steps (a time-boxed session).
    `recipe(model, config)` gives the optimiser, its per-step schedule and the gradient
    norm to clip to (None: no clipping; default `one_cycle`, a published baseline brings
    its authors' own); `stop(step)`, asked after each save, ends the run early when true
    (say, on a validation plateau)."""
    optimiser, schedule, clip = recipe(model, config)
    step, rng = 0, np.random.default_rng(config.seed)
    if resume:
        step, rng = _restore(out, model, optimiser, schedule)
    bar = tqdm(total=config.steps, initial=step, disable=not progress, desc=desc)
    model.train()
    last = config.steps if stop_after is None else min(config.steps, step + stop_after)
    while step < last:
        value = loss(rng)
        optimiser.zero_grad()
        value.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        schedule.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{value.item():.3f}")
        if step % config.checkpoint_every == 0 or step == last:
            save(step)
            _keep_state(out, optimiser, schedule, step, rng)
            if stop is not None and stop(step):
                break
    bar.close()


def resuming(out: Path, resume: bool) -> bool:
    """Whether `resume` finds a run to go on with in `out` (else it starts afresh)."""
    return resume and (Path(out) / STATE).exists()


def resuming_same(out: Path, resume: bool, method: str, settings: dict) -> bool:
    """`resuming`, refusing (ValueError) a run whose saved train and model settings differ
    from `settings` ({"train": ..., "model": ...}): resumed, it would be neither run."""
    if not resuming(out, resume):
        return False
    saved = read_meta(Path(out) / WEIGHTS, method)
    changed = differences({**saved["train"], **saved["model"]},
                          {**settings["train"], **settings["model"]})
    if changed:
        raise ValueError(f"cannot resume {out} with other settings: {', '.join(changed)}")
    return True


def use_threads(count: int) -> None:
    """A command's `--threads`: torch's CPU threads (0 leaves torch's own choice)."""
    if count:
        torch.set_num_threads(count)


def train_command(train: Callable[..., Path], *args) -> int:
    """The end of a `motionfield train METHOD` command: `train(*args)` run and timed, a
    run it cannot do (ValueError: say, resuming with other settings) a clean exit, and the
    weights file it wrote told."""
    import time

    began = time.perf_counter()
    try:
        path = train(*args)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - began:.0f} s")
    return 0


def _keep_state(out: Path, optimiser, schedule, step: int, rng: np.random.Generator) -> None:
    state = {"optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
             "step": step, "rng": json.dumps(rng.bit_generator.state)}
    tmp = out / (STATE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(out / STATE)  # a run stopped mid-write keeps the previous state


def _restore(out: Path, model, optimiser, schedule) -> tuple[int, np.random.Generator]:
    state = torch.load(out / STATE, weights_only=True)
    model.load_state_dict(load_file(out / WEIGHTS))
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(state["rng"])
    return int(state["step"]), rng


def differences(saved: dict, now: dict, may_change: tuple[str, ...] = RESUME_MAY_CHANGE
                ) -> list[str]:
    """Each setting of `now` whose value differs from the one `saved` in a checkpoint, as
    "name saved (now value)"; a setting missing from `saved` differs too."""
    return [f"{key} {saved.get(key)!r} (now {value!r})" for key, value in now.items()
            if key not in may_change and _as_saved(value) != saved.get(key)]


def _as_saved(value):  # a setting as it reads back from the checkpoint's JSON
    return json.loads(json.dumps(value))


def initial_weights(init_from: str, seed: int) -> Path:
    """The weights file `--init-from` names for a run of `seed`: a file as it is; in a run
    folder its `seed-N/` for this seed where it has one (trained with --seeds), else its
    own weights."""
    path = Path(init_from)
    if path.is_dir():
        own_seed = path / f"seed-{seed}" / WEIGHTS
        path = own_seed if own_seed.is_file() else path / WEIGHTS
    return path


def load_learned(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """The learned weights of `tensors` into `model`; its buffers (the normalisation of the
    data it is about to learn from) stay as they are."""
    buffers = {name for name, _ in model.named_buffers()}
    model.load_state_dict({name: value for name, value in tensors.items()
                           if name not in buffers}, strict=False)


def train_seeds(train_one: Callable[[int, Path], Path], seeds: list[int], out: Path
                ) -> list[Path]:
    """One run per seed, `train_one(seed, out/seed-N)`, each resumable as a run of its own;
    returns their weights files."""
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {' '.join(map(str, seeds))}: each seed once")
    return [train_one(seed, Path(out) / f"seed-{seed}") for seed in seeds]


def merge_members(paths: list[Path], target: Path, method: str, alike: tuple[str, ...],
                  buffers: set[str], normalise: Callable[[dict], dict] = dict) -> Path:
    """One checkpoint holding the trained runs at `paths` as an ensemble: tensors
    `members.N.<name>`, metadata "members" (their count) and "train"'s seed as the list of
    theirs. They must agree on each metadata key in `alike` and on every training setting
    but the seed, each metadata read through `normalise` (a method's reading of older
    files); a setting one run lacks counts as a difference (it may have trained otherwise
    then). Learned weights are stored in half precision (three members take about one
    run's room); `buffers` (the normalisation) stay in full precision."""
    metas = []
    for path in paths:
        meta = read_meta(path, method)
        if meta.get("members"):
            raise ValueError(f"{path} is an ensemble already: merge its runs instead")
        metas.append(normalise(meta))
    first = metas[0]
    for path, meta in zip(paths[1:], metas[1:]):
        differs = [key for key in alike if meta[key] != first[key]]
        keys = sorted(set(first["train"]) | set(meta["train"]))
        differs += [f"train.{key}" for key in keys
                    if key != "seed" and meta["train"].get(key) != first["train"].get(key)]
        if differs:
            raise ValueError(f"{path} differs from {paths[0]} in {', '.join(differs)}")
    tensors = {}
    for index, path in enumerate(paths):
        for name, value in read_checkpoint(path, method)[1].items():
            tensors[f"members.{index}.{name}"] = value if name in buffers else value.half()
    seeds = [meta["train"]["seed"] for meta in metas]
    merged = {**first, "members": len(paths), "train": {**first["train"], "seed": seeds}}
    merged.pop("method", None)
    return save_checkpoint(target, method, tensors, merged)
