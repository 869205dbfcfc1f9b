"""The shared training loop (training.py) on a toy model: resuming, settings, seeds,
starting from other weights and ensembles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from motionfield import training
from motionfield.checkpoints import read_checkpoint, read_meta, save_checkpoint


@dataclass
class Settings:
    steps: int = 6
    lr: float = 0.05
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint_every: int = 2


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.register_buffer("scale", torch.ones(1))


def _train(out, settings=None, resume=False, stop_after=None, meta=None):
    settings = settings or Settings()
    torch.manual_seed(settings.seed)
    model = Toy()
    target = torch.tensor([1.0, -2.0, 0.5])

    def loss(rng):
        x = torch.from_numpy(rng.normal(size=(8, 3)).astype(np.float32))
        return ((model.layer(x)[:, 0] - x @ target) ** 2).mean()

    def save(step):
        save_checkpoint(out / training.WEIGHTS, "toy", model.state_dict(),
                        {"step": step, "train": {"seed": settings.seed, "steps": settings.steps},
                         "data": "noise", "licence": "none needed", **(meta or {})})

    training.run(model, loss, save, out, settings, training.resuming(out, resume),
                 progress=False, stop_after=stop_after)
    return out / training.WEIGHTS


def test_a_run_stopped_and_resumed_ends_where_an_uninterrupted_one_does(tmp_path):
    whole = read_checkpoint(_train(tmp_path / "whole"))[1]
    _train(tmp_path / "parts", stop_after=3)
    assert read_meta(tmp_path / "parts" / training.WEIGHTS)["step"] == 3
    _train(tmp_path / "parts", resume=True)
    parts = read_checkpoint(tmp_path / "parts" / training.WEIGHTS)[1]
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    fresh = read_checkpoint(_train(tmp_path / "fresh", Settings(steps=1)))[1]
    assert not torch.equal(fresh["layer.weight"], whole["layer.weight"])  # it learnt


def test_differences_name_each_setting_but_those_that_may_change():
    saved = {"steps": 4, "extra_data": ["a"], "checkpoint_every": 500}
    now = {"steps": 6, "extra_data": ("a",), "checkpoint_every": 1, "added": 0.0}
    assert training.differences(saved, now) == ["steps 4 (now 6)", "added None (now 0.0)"]


def test_init_from_a_folder_takes_this_seeds_run(tmp_path):
    (tmp_path / "seed-1").mkdir()
    (tmp_path / "seed-1" / training.WEIGHTS).write_bytes(b"")
    assert training.initial_weights(str(tmp_path), 1) == tmp_path / "seed-1" / training.WEIGHTS
    assert training.initial_weights(str(tmp_path), 2) == tmp_path / training.WEIGHTS
    assert training.initial_weights(str(tmp_path / "w.st"), 1) == tmp_path / "w.st"


def test_starting_from_trained_weights_keeps_the_buffers():
    trained, fresh = Toy(), Toy()
    trained.scale.fill_(5.0)
    training.load_learned(fresh, trained.state_dict())
    assert torch.equal(fresh.layer.weight, trained.layer.weight) and fresh.scale == 1.0


def test_seeds_train_one_run_each_and_merge_into_an_ensemble(tmp_path):
    with pytest.raises(ValueError, match="each seed once"):
        training.train_seeds(lambda seed, out: out, [1, 1], tmp_path)
    runs = training.train_seeds(lambda seed, out: _train(out, Settings(seed=seed)), [0, 1],
                                tmp_path)
    assert runs == [tmp_path / f"seed-{s}" / training.WEIGHTS for s in (0, 1)]
    merged = training.merge_members(runs, tmp_path / "both.safetensors", "toy", ("step",),
                                    {"scale"})
    meta, tensors = read_checkpoint(merged, "toy")
    assert meta["members"] == 2 and meta["train"]["seed"] == [0, 1]
    assert tensors["members.1.layer.weight"].dtype == torch.float16
    assert tensors["members.1.scale"].dtype == torch.float32  # buffers in full precision
    other = _train(tmp_path / "other", Settings(steps=4))
    with pytest.raises(ValueError, match="differs .* in train.steps"):
        training.merge_members([runs[0], other], tmp_path / "x.safetensors", "toy", (), set())
    with pytest.raises(ValueError, match="ensemble already"):
        training.merge_members([merged, runs[0]], tmp_path / "y.safetensors", "toy", (), set())


def test_any_number_of_steps_trains(tmp_path):
    """One-cycle's warm-up is 5% of the steps: at 20 steps it would end at step 0."""
    for steps in (1, 20, 21):
        _train(tmp_path / str(steps), Settings(steps=steps, checkpoint_every=50))
        assert read_meta(tmp_path / str(steps) / training.WEIGHTS)["step"] == steps
