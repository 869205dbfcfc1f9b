"""The text-to-motion evaluation: generative metrics on known embeddings, the evaluator's
features and masks, the retrieval and real baselines, the framerate check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionfield import metrics
from motionfield.body.rotations import axis_angle_to_quat
from motionfield.methods.text2motion import data, evaluator
from motionfield.methods.text2motion.baselines import Real, Retrieval, crop
from motionfield.methods.text2motion.eval import framerate_check
from motionfield.motion import Motion


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    x = _rng().standard_normal((500, 16))
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    # a mean shift of 1 in every one of 16 dimensions adds |mu_a - mu_b|^2 = 16
    assert metrics.frechet_distance(x, x + 1.0) == pytest.approx(16.0, rel=1e-6)
    # a wider spread (same mean) is also far: tr(S + 4S - 2 * 2S) = tr(S) ~ 16
    assert metrics.frechet_distance(x, 2.0 * (x - x.mean(0)) + x.mean(0)) == \
        pytest.approx(np.trace(np.cov(x, rowvar=False)), rel=1e-3)
    with pytest.raises(ValueError, match="sizes differ"):
        metrics.frechet_distance(x, x[:, :8])


def test_r_precision_perfect_and_random():
    texts = _rng(1).standard_normal((100, 32))
    own = _rng(2).integers(0, 100, 640)
    assert np.allclose(metrics.r_precision(texts[own], texts, own, _rng()), 1.0)
    chance = metrics.r_precision(_rng(3).standard_normal((6400, 32)), texts,
                                 _rng(4).integers(0, 100, 6400), _rng())
    assert chance == pytest.approx([1 / 32, 2 / 32, 3 / 32], abs=0.012)
    assert np.all(np.diff(chance) > 0)


def test_r_precision_counts_equal_captions_as_one_text():
    # every motion of a batch shares one caption: 1 own text + 31 drawn others, all far
    texts = np.eye(40) * 10
    texts[0] = 0.0
    own = np.zeros(32, dtype=int)
    motions = _rng().standard_normal((32, 40)) * 0.01
    assert np.allclose(metrics.r_precision(motions, texts, own, _rng()), 1.0)
    with pytest.raises(ValueError, match="at least 32 distinct texts"):
        metrics.r_precision(motions, texts[:10], own, _rng())


def test_matching_diversity_multimodality_on_known_inputs():
    a = np.zeros((10, 3))
    b = np.zeros((10, 3))
    b[:, 0] = 2.0
    assert metrics.matching_score(a, b) == pytest.approx(2.0)
    # two points 5 apart: a random pair is 5 apart exactly when it is not one point twice
    pts = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert metrics.diversity(pts, _rng(), pairs=4000) == pytest.approx(2.5, abs=0.15)
    # each prompt's K samples lie on two points 1 apart; pairs never repeat a sample
    samples = np.zeros((7, 10, 4))
    samples[:, 1::2, 0] = 1.0
    mm = metrics.multimodality(samples, _rng(), pairs=1000)
    assert mm == pytest.approx(5 / 9, abs=0.03)  # other index of the other parity: 5 of 9
    assert metrics.multimodality(np.ones((3, 10, 4)), _rng()) == 0.0
    with pytest.raises(ValueError):
        metrics.multimodality(np.ones((3, 1, 4)), _rng())


def test_mean_ci95():
    out = metrics.mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert out["mean"] == 2.5
    assert out["ci95"] == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2)


def _take(content: str, style: str, seconds: float, fps: float = 30.0, seed: int = 0,
          split: str = "train") -> data.Take:
    frames = int(seconds * fps) + 1
    rng = _rng(seed)
    angle = np.sin(np.linspace(0, 4 * np.pi, frames))[:, None] * rng.uniform(0.2, 1.0, 24)
    axis = np.zeros((frames, 24, 3))
    axis[..., rng.integers(0, 3)] = 1.0
    rot = axis_angle_to_quat(axis * angle[..., None]).astype(np.float32)
    trans = np.zeros((frames, 3), dtype=np.float32)
    trans[:, 1] = 0.9
    trans[:, 2] = np.linspace(0, seconds, frames)  # 1 m/s forward
    return data.Take(f"{content}-{style}-{seed}", "test", content, style, fps, rot, trans,
                     split)


def test_features_shape_velocity_and_mask():
    take = _take("walk", "happy", 12.0)
    pos = evaluator.positions_at_eval_fps(take.rotations, take.root_translation, take.fps)
    assert pos.shape == (241, 24, 3)  # 12 s at 20 fps
    feats = evaluator.features(pos)
    assert feats.shape == (241, evaluator.FEATURES)
    assert np.allclose(feats[:, -1], 1.0, atol=1e-4)  # forward root speed, m/s
    assert np.allclose(feats[:, 69], 0.9)             # root height
    first, mask = evaluator.window(feats)
    assert first.shape == (200, evaluator.FEATURES) and mask.all()
    assert np.array_equal(first, feats[:200])
    short, mask = evaluator.window(feats[:50])
    assert mask.sum() == 50 and not short[50:].any()
    moved, _ = evaluator.window(feats, _rng(5))
    assert any(np.array_equal(moved, feats[s:s + 200]) for s in range(42))
    with pytest.raises(ValueError):
        evaluator.features(pos[:1])


def test_motion_embedding_ignores_padding_and_info_nce_leaves_out_same_label():
    torch.manual_seed(0)
    model = evaluator.Evaluator(3, 2).eval()
    feats = torch.randn(1, 200, evaluator.FEATURES)
    mask = torch.zeros(1, 200, dtype=torch.bool)
    mask[:, :80] = True
    noisy = feats.clone()
    noisy[:, 80:] = 100.0
    with torch.no_grad():
        a, b = model.embed_motion(feats, mask), model.embed_motion(noisy, mask)
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(a.norm(dim=-1), torch.ones(1))
    emb = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    # two copies of one label: neither counts as the other's negative, so matched pairs
    # of identical embeddings cost exactly what they cost with distinct labels far apart
    twins = torch.cat([emb[:1], emb[:1], emb[2:]])
    same = evaluator.info_nce(twins, twins, torch.tensor([0, 0, 1, 2]), 0.1)
    different = evaluator.info_nce(twins, twins, torch.tensor([0, 1, 2, 3]), 0.1)
    assert same < different


def test_retrieval_picks_the_take_of_its_own_caption():
    takes = [_take("walk", "happy", 3, seed=1), _take("bow", "sad", 3, seed=2),
             _take("kick", "angry", 3, seed=3), _take("kick", "angry", 4, seed=4)]
    retrieval = Retrieval(takes)
    prompts = [data.caption("walk", "happy"), data.caption("bow", "sad"),
               data.caption("kick", "angry")]
    assert retrieval.nearest_pairs(prompts) == [("walk", "happy"), ("bow", "sad"),
                                                ("kick", "angry")]
    motions = retrieval.generate(prompts, 2.0, 30, seed=0)
    assert np.allclose(motions[0].root_translation, takes[0].root_translation[:61], atol=1e-6)
    assert np.allclose(motions[1].rotations, takes[1].rotations[:61], atol=1e-6)
    picks = {tuple(retrieval.generate(prompts[2:], 2.0, 30, seed=s)[0].rotations[5, 3])
             for s in range(12)}
    assert len(picks) == 2  # the seed chooses among the label's tied takes


def test_real_and_crop_hold_the_last_pose():
    take = _take("walk", "happy", 2.0)
    motion = crop(take, 3.0, 20)
    assert motion.num_frames == 61 and float(motion.fps) == 20
    assert np.allclose(motion.root_translation[40:], take.root_translation[-1], atol=1e-6)
    real = Real([take]).generate(["anything"], 1.5, 30)[0]
    assert np.allclose(real.rotations, take.rotations[:46], atol=1e-6)
    with pytest.raises(ValueError):
        Real([take]).generate(["a", "b"], 1.5, 30)


def test_framerate_check_of_a_continuous_motion_is_exact_and_catches_a_lag():
    take = _take("walk", "happy", 4.0, fps=120)

    def continuous(prompts, seconds, fps, seed=0):
        return [crop(take, s, fps) for s in seconds]

    out = framerate_check(continuous, ["x"], [3.0])
    assert out["20_vs_120"]["max_mm"] < 1e-3 and out["30_vs_120"]["timestamps"] == 31

    def lagging(prompts, seconds, fps, seed=0):  # 20 fps runs one frame (50 ms) ahead
        if fps != 20:
            return continuous(prompts, seconds, fps)
        ahead = crop(take, seconds[0] + 0.05, fps)
        return [Motion(ahead.rotations[1:], ahead.root_translation[1:], ahead.times[:-1],
                       ahead.skeleton, fps)]

    lag = framerate_check(lagging, ["x"], [3.0])["20_vs_120"]
    assert lag["max_mm"] > 49  # the root alone moves 50 mm in 50 ms
