"""text2motion's model: a tiny NeRM trained on a few real takes, then its interface."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from motionfield.checkpoints import read_checkpoint
from motionfield.errors import Cancelled, MotionfieldError
from motionfield.methods.text2motion import cli, data
from motionfield.methods.text2motion.config import ModelConfig, TrainConfig
from motionfield.methods.text2motion.infer import load
from motionfield.methods.text2motion.model import AutoDecoder
from motionfield.methods.text2motion.train import (
    clip_set,
    draw_queries,
    reconstruction_error,
    train,
)
from motionfield.motion import Motion

TINY = ModelConfig(latent=16, width=64, layers=2, codebook=21, time_width=16, frequencies=4,
                   denoiser_width=64, denoiser_layers=2, diffusion_steps=100)
CONFIG = TrainConfig(steps_inr=50, steps_diffusion=20, batch=8, diffusion_batch=32,
                     queries=16, lr=3e-3, checkpoint_every=25)
PAIRS = (("walk", "normal"), ("bow", "normal"), ("punch", "normal"))


@pytest.fixture(scope="module")
def clips(data_root):
    torch.set_num_threads(1)  # two threads on the shared 2-core machines thrash (3x slower)
    # one source's takes (the splits are drawn over all three: any take serves here)
    takes = data.load_takes(data_root, ("bandai-namco-1",), progress=False)
    chosen = [t for pair in PAIRS for t in [t for t in takes if t.pair == pair][:2]]
    return clip_set(data.clips(chosen)[:8], "a few Bandai Namco 1 takes (tests)")


@pytest.fixture(scope="module")
def run(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("t2m")
    return out, train(CONFIG, TINY, out, clips=clips, progress=False)


@pytest.fixture(scope="module")
def model(run):
    return load(run[1])


def test_queries_are_native_frames_at_a_stride(clips):
    rng = np.random.default_rng(0)
    index = np.arange(len(clips.frames))
    rows, times = draw_queries(rng, clips, index, 16, 6)
    frames = rows - clips.start[index, None]
    assert (frames >= 0).all() and (frames < clips.frames[index, None]).all()
    np.testing.assert_allclose(times, frames / clips.fps[index, None], atol=1e-6)
    for row in frames:  # one stride per clip: every gap a multiple of a step in 1..6
        gaps = np.diff(np.unique(row))
        assert any((gaps % s == 0).all() for s in range(1, 7))


def test_training_lowers_the_reconstruction_error(run, clips):
    out, _ = run
    torch.manual_seed(CONFIG.seed)  # the weights train() started from
    fresh = AutoDecoder(TINY, len(clips.frames), CONFIG.latent_lr,
                        torch.Generator().manual_seed(CONFIG.seed))
    trained = AutoDecoder(TINY, len(clips.frames), CONFIG.latent_lr, torch.Generator())
    trained.load_state_dict(read_checkpoint(out / "inr" / "model.safetensors")[1])
    fresh.decoder.token_mean.copy_(trained.decoder.token_mean)
    fresh.decoder.token_std.copy_(trained.decoder.token_std)
    before, after = reconstruction_error(fresh, clips), reconstruction_error(trained, clips)
    assert after < 0.8 * before, (before, after)


def test_checkpoint_holds_the_networks_and_credits_the_data(run, model):
    _, path = run
    meta, tensors = read_checkpoint(path, "text2motion")
    assert meta["licence"] == data.LICENCE
    assert meta["data"] == "a few Bandai Namco 1 takes (tests)"
    assert meta["model"] == TINY.to_dict() and meta["train"] == CONFIG.to_dict()
    assert not any(name.startswith("latents") for name in tensors)
    assert tensors["decoder.inp.weight"].dtype == torch.float16
    assert tensors["denoiser.latent_std"].dtype == torch.float32
    assert model.meta["method"] == "text2motion"


def test_resuming_with_other_settings_is_refused(run, clips):
    out, _ = run
    other = TrainConfig(**{**CONFIG.to_dict(), "kl_weight": 0.5})
    with pytest.raises(ValueError, match="kl_weight"):
        train(other, TINY, out, clips=clips, resume=True, progress=False)


def test_generate_frame_counts_and_skeleton(model):
    ntsc, fast = (model.generate(["a person walks"], 2.0, fps)[0] for fps in ("29.97", 120))
    assert ntsc.num_frames == 60 and fast.num_frames == 241  # 2 s: 59.94 + 1 and 240 + 1
    assert isinstance(ntsc, Motion) and ntsc.skeleton.names[0] == "pelvis"
    assert float(ntsc.fps) == pytest.approx(30000 / 1001) and ntsc.times[0] == 0.0
    assert fast.times[-1] == pytest.approx(2.0)


def test_one_seed_gives_one_motion_at_every_framerate(model):
    prompts, seconds = ["a person walks", "someone waves the right hand"], [3.0, 2.0]
    motions = {fps: model.generate(prompts, seconds, fps, seed=7) for fps in (20, 30, 120)}
    for i, duration in enumerate(seconds):
        shared = np.round(np.arange(0, duration + 1e-9, 0.1), 6)
        picks = {}
        for fps, ms in motions.items():
            index = np.searchsorted(np.round(ms[i].times, 6), shared)
            np.testing.assert_allclose(ms[i].times[index], shared, atol=1e-9)
            picks[fps] = (ms[i].rotations[index], ms[i].root_translation[index])
        for fps in (30, 120):
            np.testing.assert_allclose(picks[fps][0], picks[20][0], atol=1e-4)
            np.testing.assert_allclose(picks[fps][1], picks[20][1], atol=1e-4)


def test_seeds_differ(model):
    a, b = (model.generate(["a person walks"], 2.0, 30, seed=s)[0] for s in (0, 1))
    assert np.abs(a.rotations - b.rotations).max() > 1e-3


def test_progress_and_cancel(model):
    seen = []
    model.generate(["a person bows"], 1.0, 30, steps=5, progress=lambda s, n: seen.append((s, n)))
    assert seen == [(s, 5) for s in range(1, 6)]
    calls = []
    with pytest.raises(Cancelled):
        model.generate(["a person bows"], 1.0, 30, steps=5,
                       should_stop=lambda: calls.append(1) or len(calls) > 2)
    assert len(calls) == 3


@pytest.mark.parametrize("prompts, seconds", [
    (["a person walks"], 0.5), (["a person walks"], 10.5), (["a person walks"], float("nan")),
    (["a person walks"], [2.0, 3.0]), ([], 2.0), ([" "], 2.0), ("a person walks", 2.0)])
def test_bad_requests_are_refused(model, prompts, seconds):
    with pytest.raises(ValueError):
        model.generate(prompts, seconds, 30)


def test_generate_command_writes_samples_and_keeps_existing_files(run, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers())
    argv = ["generate", "a person waves the right hand", "--seconds", "1.5", "--fps", "24",
            "--samples", "2", "--seed", "3", "--steps", "4", "--model", str(run[1]),
            "-o", str(tmp_path / "wave.npz")]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    first = Motion.load(tmp_path / "wave-1.npz")
    assert first.num_frames == 37 and (tmp_path / "wave-2.npz").is_file()
    assert "wave-2.npz" in capsys.readouterr().out
    with pytest.raises(MotionfieldError, match="exists"):
        args.func(parser.parse_args(argv))
    args = parser.parse_args([*argv[:-2], "-o", str(tmp_path / "wave.bvh"), "--samples", "1"])
    assert args.func(args) == 0 and (tmp_path / "wave.bvh").read_text().startswith("HIERARCHY")


def test_the_shipped_model_is_small_credits_its_data_and_follows_the_text():
    from motionfield.checkpoints import CheckpointError, shipped

    try:
        path = shipped("text2motion", "nerm.safetensors")
    except CheckpointError:
        pytest.skip("assets/text2motion/nerm.safetensors not built yet")
    assert path.stat().st_size <= 8e6
    model = load()
    assert model.meta["licence"] == data.LICENCE and "train split" in model.meta["data"]
    walk, wave = model.generate(["a person walks forward", "a person waves the right hand"],
                                4.0, 30, seed=0)
    travel = walk.root_translation[-1] - walk.root_translation[0]
    assert travel[2] > 1.0 and abs(travel[0]) < travel[2]  # forward: +Z, the start's facing
    assert np.abs(wave.root_translation[-1] - wave.root_translation[0]).max() < 0.5


def test_resuming_a_finished_run_changes_nothing(run, clips):
    out, path = run
    before = read_checkpoint(path)[1]
    train(CONFIG, TINY, out, clips=clips, resume=True, progress=False)
    after = read_checkpoint(path)[1]
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
