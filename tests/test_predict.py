"""Prediction (methods/predict): the closed-form inner loop, the field's contract, the
benchmark windows, training (on the shared loop of training.py), the shipped checkpoints
and the options removed from them, and the job's refusals. The shared modules it uses are
tested in test_windows, test_tokens, test_checkpoints, test_training and test_evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from motionfield.checkpoints import CheckpointError, read_meta
from motionfield.data.windows import interpolate_observed
from motionfield.methods.predict.baselines import (
    SiMLPe,
    constant_velocity,
    constant_velocity_at,
    cubic_interpolation,
    dct_matrix,
    key_spans,
    zero_velocity,
)
from motionfield.methods.predict.config import Handover, ModelConfig, TrainConfig
from motionfield.methods.predict.data import CmuBenchmark
from motionfield.methods.predict.infer import (
    continue_field,
    fill_field,
    fill_share,
    predict_field,
)
from motionfield.methods.predict.model import MotionField, masked_ridge


def test_masked_ridge_is_weighted_least_squares():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1, 30, 2, 5))
    y = rng.normal(size=(1, 30, 2, 3))
    m = (rng.random((1, 30, 2)) > 0.3).astype(float)
    prior = rng.normal(size=(1, 2, 5, 3))
    lam = np.array([0.5, 2.0])
    got = masked_ridge(*(torch.tensor(v) for v in (a, y, m, lam, prior)))
    for j in range(2):
        rows = m[0, :, j] > 0
        lhs = a[0, rows, j].T @ a[0, rows, j] + lam[j] * np.eye(5)
        rhs = a[0, rows, j].T @ y[0, rows, j] + lam[j] * prior[0, j]
        np.testing.assert_allclose(got[0, j].numpy(), np.linalg.solve(lhs, rhs), atol=1e-10)


def _field(joints=4, dims=3, refiner=0) -> MotionField:
    torch.manual_seed(0)
    model = MotionField(ModelConfig(joints=joints, dims=dims, hidden=32, basis=8, features=8,
                                    field_width=16, layers=1, heads=2, refiner=refiner)).eval()
    if refiner:  # trained weights: its zero-initialised output layer no longer is
        with torch.no_grad():
            model.refiner[-1].weight.normal_()
    return model


def test_field_answers_any_times_and_hidden_entries_do_not_matter():
    model = _field()
    t_obs = torch.linspace(-1.0, 0.0, 20)[None]
    values = torch.randn(1, 20, 4, 3)
    mask = torch.ones(1, 20, 4)
    mask[0, 5:9] = 0
    mask[0, :, 2] = 0  # joint 2 never seen
    queries = torch.tensor([[0.013, 0.5, 1.7]])
    out = model(t_obs, values, mask, queries)
    assert out.shape == (1, 3, 4, 3) and torch.isfinite(out).all()
    garbage = values.clone()
    garbage[mask == 0] = 1e6
    torch.testing.assert_close(model(t_obs, garbage, mask, queries), out)


def test_refiner_starts_as_the_plain_field_and_mixes_joints():
    plain, refined = _field(), _field(refiner=16)
    refined.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        refined.refiner[-1].weight.zero_()
    t_obs, queries = torch.linspace(-1.0, 0.0, 20)[None], torch.tensor([[0.2, 0.6]])
    values, mask = torch.randn(1, 20, 4, 3), torch.ones(1, 20, 4)
    torch.testing.assert_close(refined(t_obs, values, mask, queries),
                               plain(t_obs, values, mask, queries))
    refined = _field(refiner=16)
    out, codes = torch.randn(1, 3, 4, 3), torch.randn(1, 4, 32)
    times, last = torch.tensor([[0.0, 0.3, 0.6]]), torch.zeros(1, 4, dtype=torch.long)
    moved = out.clone()
    moved[0, 1:, 3] += 1.0  # only joint 3's future changes
    before = refined.refine(out, times, codes, last)
    after = refined.refine(moved, times, codes, last)
    assert not torch.allclose(before[0, 1:, 0], after[0, 1:, 0])  # joint 0 is corrected by it
    assert "refiner.0.weight" not in plain.state_dict()  # off by default: old files load


def test_anchor_is_the_last_observation_and_the_mean_pose_for_unseen_joints():
    model = _field(joints=2)
    model.mean_pose.fill_(7.0)
    values = torch.arange(12.0).reshape(1, 2, 2, 3)
    mask = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    anchor, last = model.anchors(values, mask)
    torch.testing.assert_close(anchor[0, 0], values[0, 0, 0])
    torch.testing.assert_close(anchor[0, 1], torch.full((3,), 7.0))
    assert last[0, 0] == 0


@pytest.mark.parametrize("refiner", [0, 16])
def test_prediction_starts_at_the_last_observation(refiner):
    """The field (and its cross-joint correction) is zero at each joint's last observed
    time, so a query at that time returns the observation itself, for any weights and with
    missing frames."""
    model = _field(joints=3, refiner=refiner)
    values = torch.randn(2, 6, 3, 3)
    mask = torch.ones(2, 6, 3)
    mask[0, -1, 1] = 0.0  # joint 1's last observation is one frame earlier
    t_obs = torch.linspace(-0.5, 0.0, 6).expand(2, -1)
    with torch.no_grad():
        at_now = model(t_obs, values, mask, torch.zeros(2, 1))[:, 0]
        before = model(t_obs, values, mask, t_obs[:, -2:-1])[:, 0]
    torch.testing.assert_close(at_now[1], values[1, -1])
    torch.testing.assert_close(at_now[0, 0], values[0, -1, 0])
    torch.testing.assert_close(before[0, 1], values[0, -2, 1])


def test_baselines():
    h = np.cumsum(np.ones((1, 5, 2, 3)), axis=1)  # 1, 2, ... 5
    assert np.allclose(zero_velocity(h, 3), 5.0)
    assert np.allclose(constant_velocity(h, 3)[0, :, 0, 0], [6, 7, 8])
    d = dct_matrix(50)
    torch.testing.assert_close(d @ d.T, torch.eye(50), atol=1e-5, rtol=0)
    model = SiMLPe(50, 25, 4, 3, blocks=2)
    hist = torch.randn(2, 50, 4, 3)
    assert model(hist).shape == (2, 25, 4, 3)


def test_interpolation_baselines_pass_through_the_keys():
    t = np.array([0.0, 1.0, 2.0, 4.0])
    keys = np.stack([t ** 2, 3 * t + 1], -1)[None, :, None, :]  # (1, 4, 1, 2)
    query = np.array([0.0, 1.5, 1.0, 3.0, 4.0, 5.0])
    linear = interpolate_observed(t, keys, np.ones((1, 4, 1)), query)
    cubic = cubic_interpolation(t, keys, query)
    for out in (linear, cubic):
        np.testing.assert_allclose(out[0, [0, 2, 4], 0], keys[0, [0, 1, 3], 0])
        np.testing.assert_allclose(out[0, :, 0, 1], np.minimum(3 * query + 1, 13))  # a line
        np.testing.assert_allclose(out[0, -1, 0], keys[0, -1, 0])  # held after the last key
    assert linear[0, 1, 0, 0] == pytest.approx(2.5)
    assert cubic[0, 1, 0, 0] == pytest.approx(2.25)  # follows the parabola


def test_masked_catmull_rom_runs_through_each_joints_own_keys():
    rng = np.random.default_rng(1)
    t = np.sort(rng.random(9)) * 2
    keys = rng.normal(size=(3, 9, 4, 2))
    mask = (rng.random((3, 9, 4)) > 0.4).astype(np.float32)
    mask[0, :, 0] = 0.0  # never keyed: 0
    mask[1, :, 1] = 0.0
    mask[1, 4, 1] = 1.0  # one key: held
    query = np.linspace(-0.5, 2.5, 40)
    out = cubic_interpolation(t, keys, query, mask)
    np.testing.assert_array_equal(out[0, :, 0], 0.0)
    np.testing.assert_allclose(out[1, :, 1], np.broadcast_to(keys[1, 4, 1], (40, 2)))
    for b, j in [(0, 1), (1, 2), (2, 3)]:
        own = mask[b, :, j] > 0
        alone = cubic_interpolation(t[own], keys[b:b + 1, own, j:j + 1], query)
        np.testing.assert_allclose(out[b, :, j], alone[0, :, 0], atol=1e-12)


def test_key_spans_are_the_gaps_between_a_joints_own_keys():
    t = np.array([0.0, 0.1, 0.3, 0.4])
    mask = np.ones((1, 4, 2))
    mask[0, 1:3, 1] = 0.0  # joint 1 skips the middle keys
    gaps, skipped = key_spans(t, mask, np.array([-0.1, 0.05, 0.2, 0.35, 0.5]))
    np.testing.assert_allclose(gaps[0, :, 0], [np.inf, 0.1, 0.2, 0.1, np.inf])
    np.testing.assert_allclose(gaps[0, :, 1], [np.inf, 0.4, 0.4, 0.4, np.inf])
    np.testing.assert_array_equal(skipped[0, :, 1], [False, True, True, True, False])
    assert not skipped[0, :, 0].any()


def test_constant_velocity_carries_each_joint_on_from_its_last_two_observations():
    t = np.arange(5.0)
    values = np.stack([t, 2 * t], -1)[None, :, None, :].repeat(3, axis=2)  # (1, 5, 3, 2)
    mask = np.ones((1, 5, 3))
    mask[0, 3:, 1] = 0.0  # joint 1 last seen at t = 2
    mask[0, :, 2] = 0.0
    mask[0, 0, 2] = 1.0  # joint 2 seen once: held
    out = constant_velocity_at(t, values, mask, np.array([5.0, 6.0]))
    np.testing.assert_allclose(out[0, :, 0], [[5, 10], [6, 12]])
    np.testing.assert_allclose(out[0, :, 1], [[5, 10], [6, 12]])
    np.testing.assert_allclose(out[0, :, 2], 0.0)
    full = constant_velocity_at(t, values, np.ones((1, 5, 3)), np.arange(5.0, 8.0))
    np.testing.assert_allclose(full, constant_velocity(values, 3))


def _small_field():
    torch.manual_seed(0)
    return MotionField(ModelConfig(joints=3, dims=2, hidden=16, basis=4, features=8,
                                   field_width=16)).eval()


def test_filling_passes_through_every_observation():
    model = _small_field()
    t_obs = np.linspace(-1.0, 0.0, 6)
    values = np.random.default_rng(0).normal(size=(2, 6, 3, 2)).astype(np.float32)
    mask = np.ones((2, 6, 3), np.float32)
    mask[1, 2, 0] = 0.0
    for handover in (Handover(), Handover(fill_weights=(0.3, 0.5, 0.2))):
        out = fill_field(model, t_obs, values, mask, t_obs, handover)
        seen = mask > 0
        np.testing.assert_allclose(out[seen], values[seen], atol=1e-5)
        assert not np.allclose(out[1, 2, 0], values[1, 2, 0])  # the hidden entry is inferred


def test_fill_hands_over_between_the_spline_and_the_field_by_gap():
    model = _small_field()
    t_obs = np.array([-0.8, -0.6, -0.4, 0.0])  # gaps of 200, 200 and 400 ms
    values = np.random.default_rng(2).normal(size=(1, 4, 3, 2)).astype(np.float32)
    mask = np.ones((1, 4, 3), np.float32)
    query = np.array([-0.7, -0.5, -0.2])
    spline = cubic_interpolation(t_obs, values, query)
    field = fill_field(model, t_obs, values, mask, query)  # the field alone: share 1
    handover = Handover(fill_gaps_s=(0.2, 0.4), fill_weights=(0.0, 0.5))
    out = fill_field(model, t_obs, values, mask, query, handover)
    np.testing.assert_allclose(out[:, :2], spline[:, :2], atol=1e-6)  # 200 ms: the spline
    np.testing.assert_allclose(out[:, 2], 0.5 * (spline[:, 2] + field[:, 2]), atol=1e-5)
    # between the chosen gaps the share is interpolated, and a joint skipping keys takes
    # its own share
    mask[0, 1:3, 2] = 0.0
    share = fill_share(Handover(fill_gaps_s=(0.2, 0.4), fill_weights=(0.0, 0.5),
                                skipped_key_weight=0.9), t_obs, mask, np.array([-0.7, -0.1]))
    np.testing.assert_allclose(share[0, :, 0], [0.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(share[0, 0, 2], 0.9)
    # a joint never observed (a bone not keyed in a stretch the job fills) is the field's
    mask[0, :, 1] = 0.0
    out = fill_field(model, t_obs, values, mask, query, handover)
    field = predict_field(model, t_obs, values, mask, query)
    np.testing.assert_allclose(out[0, :, 1], field[0, :, 1], atol=1e-6)


def test_continuation_leaves_the_last_key_with_its_velocity_then_hands_over():
    model = _small_field()
    t_obs = np.linspace(-0.4, 0.0, 11)
    values = np.random.default_rng(3).normal(size=(2, 11, 3, 2)).astype(np.float32)
    mask = np.ones((2, 11, 3), np.float32)
    query = np.array([0.01, 0.05, 0.1, 0.2])
    field = predict_field(model, t_obs, values, mask, query)
    velocity = constant_velocity_at(t_obs, values, mask, query)
    out = continue_field(model, t_obs, values, mask, query, Handover(velocity_blend_s=0.1))
    np.testing.assert_allclose(out[:, 0], 0.9 * velocity[:, 0] + 0.1 * field[:, 0], atol=1e-5)
    np.testing.assert_allclose(out[:, 1], 0.5 * (velocity[:, 1] + field[:, 1]), atol=1e-5)
    np.testing.assert_allclose(out[:, 2:], field[:, 2:], atol=1e-6)
    np.testing.assert_array_equal(continue_field(model, t_obs, values, mask, query), field)


@pytest.mark.parametrize("settings", [{"fill_weights": (0.5, 1.2, 0.3)},
                                      {"fill_gaps_s": (0.2, 0.1, 0.4)},
                                      {"fill_gaps_s": (0.1,)}, {"velocity_blend_s": -0.1},
                                      {"skipped_key_weight": -0.5}])
def test_impossible_handovers_are_refused(settings):
    with pytest.raises(ValueError):
        Handover(**settings)


def test_cmu_test_windows_follow_ltd(data_root):
    bench = CmuBenchmark.load(data_root / "cmu_mocap")
    windows = bench.test_windows(50)
    assert sorted(windows) == ["basketball", "jumping", "running", "soccer", "walking",
                               "washwindow"]
    assert all(w.shape == (8, 75, 38, 3) for w in windows.values())
    # LTD's first walking window: RandomState(1234567890).randint(0, 180 - 75)
    walking = bench.sequences("test")["walking"][0]
    idx = np.random.RandomState(1234567890).randint(0, len(walking) - 75)
    np.testing.assert_array_equal(windows["walking"][0], walking[idx:idx + 75])
    # the root and its children stay at the origin in LTD's frame
    assert np.allclose(windows["walking"][..., [0, 1, 7, 13], :], 0.0)


def test_validation_files_are_one_training_file_per_test_action_held_out(data_root):
    bench = CmuBenchmark.load(data_root / "cmu_mocap")
    train, test = bench.files("train"), bench.files("test")
    held, kept = bench.files("validation"), bench.files("train-without-validation")
    assert sorted(held) == ["basketball", "jumping", "running", "soccer", "walking"]
    for action, paths in train.items():
        assert sorted(kept[action] + held.get(action, [])) == sorted(paths)
        if action in held:
            assert held[action] == paths[-1:] and action in test
    windows = bench.test_windows(50, "validation")
    assert all(w.shape == (8, 75, 38, 3) for w in windows.values())


def test_validation_is_refused_for_a_model_trained_on_its_files(tmp_path, data_root):
    from motionfield.methods.predict.eval import run
    from motionfield.methods.predict.train import train

    small = {"hidden": 16, "basis": 4, "features": 4, "field_width": 8, "layers": 1,
             "heads": 2}
    config = TrainConfig(steps=2, batch=4, hold_out_validation=True)
    held_out = train("field", config, tmp_path / "held", data_root, model_config=small,
                     progress=False)
    seen = train("field", TrainConfig(steps=2, batch=4), tmp_path / "seen", data_root,
                 model_config=small, progress=False)
    simlpe = tmp_path / "simlpe"
    baseline = train("simlpe", TrainConfig(steps=1, batch=4, hold_out_validation=True), simlpe,
                     data_root, progress=False)
    with pytest.raises(ValueError, match="trained on the validation files"):
        run(data_root / "cmu_mocap", model=seen, simlpe=baseline, split="validation")
    out = run(data_root / "cmu_mocap", model=held_out, simlpe=baseline, split="validation")
    assert out["split"] == "validation" and "washwindow" not in out["per_action"]
    assert "held out" in read_meta(held_out)["data"]


def test_training_resumes_where_it_stopped(tmp_path, data_root):
    from motionfield.methods.predict.infer import load_checkpoint
    from motionfield.methods.predict.train import train

    small = {"hidden": 16, "basis": 4, "features": 4, "field_width": 8, "layers": 1,
             "heads": 2}
    config = TrainConfig(steps=4, batch=4, checkpoint_every=2)
    train("field", TrainConfig(**{**config.to_dict(), "steps": 4}), tmp_path / "a",
          data_root, model_config=small, progress=False)
    # the same run stopped after 2 steps (its state saved) and resumed
    run = tmp_path / "b"
    train("field", config, run, data_root, model_config=small, progress=False,
          stop_after=2)
    assert load_checkpoint(run / "model.safetensors").meta["step"] == "2"
    # another recipe would go on with this one's optimiser state and schedule: refused,
    # every difference named, and the run left as it was
    before = (run / "model.safetensors").read_bytes()
    other = TrainConfig(**{**config.to_dict(), "steps": 6, "time_reverse": 0.25})
    with pytest.raises(ValueError, match=r"steps 4 \(now 6\); time_reverse 0\.0 \(now 0\.25\)"):
        train("field", other, run, data_root, resume=True, model_config=small, progress=False)
    with pytest.raises(ValueError, match=r"--set hidden=16 \(now 32\)"):
        train("field", config, run, data_root, resume=True,
              model_config={**small, "hidden": 32}, progress=False)
    with pytest.raises(ValueError, match=r"model field \(now simlpe\)"):
        train("simlpe", config, run, data_root, resume=True, progress=False)
    assert (run / "model.safetensors").read_bytes() == before
    # how often it saves does not change what it learns; no --set means the run's own
    config = TrainConfig(**{**config.to_dict(), "checkpoint_every": 1})
    train("field", config, run, data_root, resume=True, progress=False)
    a = load_checkpoint(tmp_path / "a" / "model.safetensors").model.state_dict()
    b = load_checkpoint(run / "model.safetensors").model.state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_seeds_train_an_ensemble_answering_the_mean_of_its_members(tmp_path, data_root):
    from motionfield.methods.predict.infer import load_checkpoint, predict_field
    from motionfield.methods.predict.train import train_members

    small = {"hidden": 16, "basis": 4, "features": 4, "field_width": 8, "layers": 1,
             "heads": 2, "refiner": 8}
    path = train_members("field", TrainConfig(steps=2, batch=4), [0, 1], tmp_path,
                         data_root=data_root, model_config=small, progress=False)
    ensemble = load_checkpoint(path)
    members = [load_checkpoint(tmp_path / f"seed-{seed}" / "model.safetensors")
               for seed in (0, 1)]
    assert ensemble.meta["members"] == 2 and ensemble.meta["train"]["seed"] == [0, 1]
    rng = np.random.default_rng(0)
    mean_pose = members[0].model.mean_pose.numpy()
    values = (mean_pose + rng.normal(0, 30, (3, 20, *mean_pose.shape))).astype(np.float32)
    mask = np.ones(values.shape[:3], dtype=np.float32)
    t_obs, t_query = np.linspace(-0.76, 0.0, 20), np.array([0.0, 0.2, 0.4, 1.0])
    got = predict_field(ensemble.model, t_obs, values, mask, t_query)
    each = [predict_field(m.model, t_obs, values, mask, t_query) for m in members]
    assert np.abs(each[0] - each[1]).max() > 1.0  # the seeds differ
    # the members' weights are stored in half precision: sub-millimetre differences
    np.testing.assert_allclose(got, np.mean(each, axis=0), atol=0.5)
    np.testing.assert_allclose(got[:, 0], values[:, -1], atol=1e-3)  # starts where it ends


def test_merging_refuses_runs_that_are_not_alike(tmp_path, data_root):
    from motionfield.methods.predict.train import merge_members, train

    small = {"hidden": 16, "basis": 4, "features": 4, "field_width": 8, "layers": 1,
             "heads": 2}
    config = TrainConfig(steps=1, batch=4)
    runs = [train("field", config, tmp_path / name, data_root, model_config=settings,
                  progress=False)
            for name, settings in (("a", small), ("b", {**small, "features": 8}))]
    with pytest.raises(ValueError, match="differs .* in model"):
        merge_members(runs, tmp_path / "ab.safetensors")
    both = merge_members([runs[0], runs[0]], tmp_path / "aa.safetensors")
    with pytest.raises(ValueError, match="ensemble already"):
        merge_members([both, runs[0]], tmp_path / "x.safetensors")
    # a run saved before a training setting existed may have trained otherwise: refused
    meta = read_meta(runs[0])
    del meta["train"]["short_files"]
    older = tmp_path / "older.safetensors"
    save_file(load_file(runs[0]), older, metadata={"motionfield": json.dumps(meta)})
    with pytest.raises(ValueError, match="differs .* in train.short_files"):
        merge_members([runs[0], older], tmp_path / "y.safetensors")
    # one that names a removed option at its off value (as the shipped ones do): merged
    meta = read_meta(runs[0])
    meta["train"]["ema"] = 0.0
    meta["model"]["dropout"] = 0.0
    save_file(load_file(runs[0]), older, metadata={"motionfield": json.dumps(meta)})
    merged = merge_members([runs[0], older], tmp_path / "z.safetensors")
    assert "ema" not in read_meta(merged)["train"]
    meta["train"]["ema"] = 0.999  # trained by code that is gone: refused
    save_file(load_file(runs[0]), older, metadata={"motionfield": json.dumps(meta)})
    with pytest.raises(ValueError, match="removed training option ema=0.999"):
        merge_members([runs[0], older], tmp_path / "w.safetensors")


def test_extra_data_joins_the_benchmark_task_in_its_share_and_is_credited(data_root,
                                                                         monkeypatch):
    """The extra sets (replaced here by a few still poses: building them takes minutes)
    join the benchmark's files in their share; alone (share 1) the description says the
    benchmark gave only the normalisation; either way both licences are kept."""
    from motionfield.methods.predict import tasks

    root = data_root / "cmu_mocap"
    bench = tasks.CmuBenchmark.load(root)
    still = [np.zeros((60, len(bench.used), 3), np.float32)] * 3
    monkeypatch.setattr(tasks, "extra_on_cmu_skeleton", lambda bench, names, **_: still)
    plain = tasks.cmu_task(root)
    mixed = tasks.cmu_task(root, ("bandai-namco-1",), 0.25)
    alone = tasks.cmu_task(root, ("bandai-namco-1",), 1.0)
    assert len(mixed.train) == len(plain.train) + 3 and mixed.group_shares == (0.75, 0.25)
    assert mixed.description.startswith(plain.description)
    assert "25% of the windows" in mixed.description
    assert alone.description.endswith("gave only the normalisation")
    assert alone.group_shares == (0.0, 1.0)
    np.testing.assert_array_equal(alone.mean_pose, plain.mean_pose)  # the benchmark's own
    assert plain.licence in alone.licence and "CC BY-NC" in alone.licence
    with pytest.raises(ValueError, match="at most 1"):
        tasks.cmu_task(root, ("bandai-namco-1",), 1.5)


def test_a_run_starts_from_pretrained_weights_keeping_its_own_normalisation(tmp_path,
                                                                             data_root):
    from motionfield.methods.predict.infer import load_checkpoint
    from motionfield.methods.predict.train import saw_validation_files, train, train_members
    from motionfield.training import initial_weights

    small = {"hidden": 16, "basis": 4, "features": 4, "field_width": 8, "layers": 1,
             "heads": 2}
    pretrained = train("field", TrainConfig(steps=2, batch=4), tmp_path / "pre", data_root,
                       model_config=small, progress=False)
    # another normalisation in the pretrained file: the new run keeps its task's own
    tensors, meta = load_file(pretrained), read_meta(pretrained)
    tensors["mean_pose"] = tensors["mean_pose"] + 100.0
    meta["licence"] = "CC BY-NC 4.0 (pretraining data)"
    save_file(tensors, pretrained, metadata={"motionfield": json.dumps(meta)})
    # a learning rate too small to move anything: what is saved is what it started from
    still = TrainConfig(steps=1, batch=4, lr=1e-12)
    started = train("field", TrainConfig(**{**still.to_dict(), "init_from": str(pretrained)}),
                    tmp_path / "fine", data_root, model_config=small, progress=False)
    fresh = train("field", still, tmp_path / "fresh", data_root, model_config=small,
                  progress=False)
    a, b, c = (load_checkpoint(p).model.state_dict() for p in (pretrained, started, fresh))
    torch.testing.assert_close(b["joint_codes"], a["joint_codes"])
    assert not torch.allclose(c["joint_codes"], a["joint_codes"])
    torch.testing.assert_close(b["mean_pose"], c["mean_pose"])
    meta = read_meta(started)
    assert "started from weights trained on" in meta["data"]
    assert "CC BY-NC 4.0 (pretraining data)" in meta["licence"]
    # other model settings or an ensemble cannot be started from: refused by name
    other = TrainConfig(**{**still.to_dict(), "init_from": str(pretrained)})
    with pytest.raises(ValueError, match=r"features=4 \(now 8\)"):
        train("field", other, tmp_path / "x", data_root, model_config={**small, "features": 8},
              progress=False)
    both = train_members("field", TrainConfig(steps=1, batch=4), [0, 1], tmp_path / "two",
                         data_root=data_root, model_config=small, progress=False)
    with pytest.raises(ValueError, match="ensemble"):
        train("field", TrainConfig(**{**other.to_dict(), "init_from": str(both)}),
              tmp_path / "y", data_root, model_config=small, progress=False)
    # weights that saw the validation files cannot start a run held out from them
    with pytest.raises(ValueError, match="trained on the validation files"):
        train("field", TrainConfig(**{**other.to_dict(), "hold_out_validation": True}),
              tmp_path / "v", data_root, model_config=small, progress=False)
    pretraining = {"task": "cmu", "train": {"extra_data": ["bandai-namco-1"], "extra_share": 1.0,
                                            "init_from": "", "hold_out_validation": False}}
    assert not saw_validation_files(pretraining)  # other data alone, from fresh weights
    pretraining["train"]["extra_share"] = 0.5
    assert saw_validation_files(pretraining)
    # a run folder trained with --seeds: each seed starts from its own
    assert initial_weights(str(tmp_path / "two"), 1) == (tmp_path / "two" / "seed-1" /
                                                          "model.safetensors")
    assert initial_weights(str(tmp_path / "pre"), 1) == pretrained
    with pytest.raises(ValueError, match="no trained run at"):
        train("field", TrainConfig(steps=1, init_from=str(tmp_path / "none")), tmp_path / "z",
              data_root, progress=False)


@pytest.mark.parametrize("name", ["cmu", "cmu-simlpe", "cmu-ltd", "smpl", "smpl-simlpe"])
def test_shipped_checkpoints_load_small_and_say_their_data(name):
    from motionfield.methods.predict.infer import load_checkpoint, shipped_checkpoint

    path = shipped_checkpoint(name)
    # LTD's batch norm has statistics per graph node and feature: 7 MB in half precision
    assert path.stat().st_size < (8 if name == "cmu-ltd" else 5) * 2**20
    ckpt = load_checkpoint(path)
    assert ckpt.meta["data"] and ckpt.meta["licence"]
    # what a run started from is described, not a folder of the machine it ran on
    assert not ckpt.meta["train"].get("init_from", "").startswith("/")


def test_settings_of_removed_options_load_only_at_their_off_value():
    from motionfield.methods.predict.config import saved_training

    old = {"joints": 4, "dims": 3, "dropout": 0.0, "mirror_code": False,
           "refiner_history": False, "refiner": 8}
    assert ModelConfig.from_dict(old) == ModelConfig(joints=4, dims=3, refiner=8)
    with pytest.raises(ValueError, match="removed model setting dropout=0.1"):
        ModelConfig.from_dict({**old, "dropout": 0.1})
    with pytest.raises(ValueError, match="unknown model settings"):
        ModelConfig.from_dict({**old, "width": 3})
    assert saved_training({"steps": 5, "ease_out": 0.0, "ema": 0.0, "velocity_weight": 0.0,
                           "extra": {}}) == {"steps": 5}
    with pytest.raises(ValueError, match="ease_out=0.25"):
        saved_training({"ease_out": 0.25})


def test_tasks_read_the_data_folder_they_are_given(tmp_path, data_root):
    """--data names the folder every source comes from (here one holding only the CMU
    benchmark): the SMPL task's sets and the CMU task's extra data are looked for there."""
    from motionfield.errors import DataError
    from motionfield.methods.predict.tasks import load_task

    (tmp_path / "cmu_mocap").symlink_to(data_root / "cmu_mocap")
    with pytest.raises(DataError, match=f"bandai-namco-1: no .* in {tmp_path}"):
        load_task("smpl", tmp_path)
    for given in (tmp_path, tmp_path / "cmu_mocap"):
        with pytest.raises(DataError, match=f"bandai-namco-1: no .* in {tmp_path}"):
            load_task("cmu", given, ("bandai-namco-1",), 0.5)
    assert load_task("cmu", tmp_path).name == "cmu"


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    from motionfield.methods.predict.infer import load_checkpoint

    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing.safetensors")


# --------------------------------------------------------------------------- the predict job


def _walk(data_root, seconds: float = 2.0):
    """Two seconds of the CMU walk on SMPL at 30 fps, as job arrays."""
    from motionfield.io.bvh import read_bvh
    from motionfield.io.retarget import retarget

    motion, _ = retarget(read_bvh(data_root / "cmu_bvh" / "02_01.bvh"), proportions="smpl")
    motion = motion.at_fps(30, 0.0, seconds)
    return {"rotations": motion.rotations, "root_translation": motion.root_translation,
            "times": motion.times}


def run_predict(params: dict, arrays: dict):
    from motionfield.methods.predict.job import PREDICT

    return PREDICT.run(PREDICT.validate(params, arrays), arrays, lambda *a: None)


def test_predict_job_continues_at_the_output_rate_from_the_last_pose(data_root):
    arrays = _walk(data_root)
    content, out = run_predict({"fps": 23.976, "seconds": 1.0}, arrays)
    assert content["frames"] == 24 and out["rotations"].shape == (24, 24, 4)
    np.testing.assert_allclose(np.diff(out["times"]), 1001 / 24000, atol=1e-9)
    assert out["times"][0] == pytest.approx(arrays["times"][-1] + 1001 / 24000)
    # the first predicted frame is one frame's motion away from the last observed one
    last_step = np.abs(arrays["root_translation"][-1] - arrays["root_translation"][-2]).max()
    seam = np.abs(out["root_translation"][0] - arrays["root_translation"][-1]).max()
    assert seam < 3 * last_step + 1e-3
    # and the walk goes on forward (+Z in the SMPL frame for this clip's heading)
    travelled = out["root_translation"][-1] - arrays["root_translation"][-1]
    heading = arrays["root_translation"][-1] - arrays["root_translation"][0]
    assert np.dot(travelled[[0, 2]], heading[[0, 2]]) > 0


def test_predict_job_fills_a_gap(data_root):
    arrays = _walk(data_root)
    keep = np.ones(len(arrays["times"]), bool)
    keep[20:35] = False  # half a second hidden
    seen = {k: v[keep] for k, v in arrays.items()}
    content, out = run_predict({"fps": 30, "mode": "fill"}, seen)
    assert content["frames"] == len(arrays["times"])
    truth = arrays["root_translation"][20:35]
    filled = out["root_translation"][20:35]
    linear = np.linspace(arrays["root_translation"][19], arrays["root_translation"][35], 17)[1:-1]
    assert np.abs(filled - truth).mean() < 0.05  # metres
    assert np.abs(linear - truth).mean() < 0.05  # (a walk's root is nearly linear too)


def test_predict_job_fill_passes_through_sparse_keys_and_completes_hidden_bones(data_root):
    from motionfield.body.rotations import quat_to_matrix

    arrays = _walk(data_root)
    keys = np.arange(0, len(arrays["times"]), 6)  # 200 ms apart at 30 fps
    seen = {k: np.asarray(v)[keys] for k, v in arrays.items()}
    seen["joint_mask"] = np.ones((len(keys), 24), np.float32)
    hidden = np.arange(1, len(keys) - 1, 2)
    seen["joint_mask"][hidden, 4:6] = 0.0  # both knees left out of every other key
    content, out = run_predict({"fps": 30, "mode": "fill"}, seen)
    assert content["frames"] == keys[-1] + 1
    rot = quat_to_matrix(out["rotations"])
    truth = quat_to_matrix(np.asarray(arrays["rotations"])[:keys[-1] + 1])
    # through every observed key: the whole pose where a key is whole, the root everywhere
    whole = np.delete(keys, hidden)
    np.testing.assert_allclose(rot[whole], truth[whole], atol=1e-3)
    np.testing.assert_allclose(out["root_translation"][keys],
                               np.asarray(arrays["root_translation"])[keys], atol=1e-4)
    # the knees between their own keys: within the walk's motion (each swings ~54 degrees;
    # measured 9 degrees off on average, as interpolating their own keys is)
    relative = np.einsum("tjab,tjcb->tjac", rot[:, 4:6], truth[:, 4:6])
    angle = np.degrees(np.arccos(np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1) / 2,
                                         -1, 1)))
    assert angle.mean() < 15.0, angle.mean()


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(times=a["times"][::-1].copy()), "increasing"),
    (lambda a: a["rotations"].__setitem__((3, 2, 0), np.nan), "NaN"),
    (lambda a: a.update(rotations=a["rotations"][:, :20]), "rotations must be"),
    (lambda a: a.update(joint_mask=np.zeros((len(a["times"]), 24))), "root"),
])
def test_predict_job_refuses_bad_observations(data_root, change, message):
    from motionfield.server.jobs import JobError

    arrays = {k: np.array(v) for k, v in _walk(data_root, 0.5).items()}
    change(arrays)
    with pytest.raises(JobError, match=message):
        run_predict({"fps": 30}, arrays)


def test_eval_cli_on_a_folder_of_bvh_writes_the_table(data_root, tmp_path):
    import json
    import shutil

    from motionfield.cli import main

    folder = tmp_path / "clips" / "dance"
    folder.mkdir(parents=True)
    shutil.copy(data_root / "cmu_bvh" / "05_06.bvh", folder)
    out = tmp_path / "predict.json"
    assert main(["eval", "predict", "--data", str(tmp_path / "clips"), "--json", str(out)]) == 0
    table = json.loads(out.read_text())
    for method in ("ours", "zero_velocity", "constant_velocity", "simlpe"):
        assert set(table[method]) == {"80", "160", "320", "400", "560", "1000"}
        assert all(v > 0 for v in table[method].values())
    assert set(table["per_action"]["ours"]) == {"dance"}
    assert set(table["incomplete"]) == {"missing_frames_30", "missing_joints_30"}
    for condition in ("complete", "missing_joints_30"):  # keys 120, 200, 400 ms apart
        for method in ("ours", "linear", "cubic"):
            assert set(table["fill"][condition]["average"][method]) == {"120", "200", "400"}
        # ours against Catmull-Rom at each gap, with its paired bootstrap interval
        cubic = table["intervals"][f"fill_{condition}"]["cubic"]["400"]["average"]
        assert cubic["low"] <= cubic["ratio"] <= cubic["high"]
        ratio = table["fill"][condition]["average"]["ours"]["400"] / table["fill"][
            condition]["average"]["cubic"]["400"]
        assert cubic["ratio"] == pytest.approx(ratio, rel=1e-4)
    for other in ("zero_velocity", "constant_velocity", "simlpe"):  # at every horizon
        assert set(table["intervals"]["complete"][other]) == set(table["ours"])
    assert table["handover"]["velocity_blend_s"] > 0  # the smpl field's, from validation
    assert main(["eval", "predict", "--data", str(tmp_path / "nothing")]) == 2
    assert main(["eval", "predict", "--data", str(tmp_path / "clips"), "--split",
                 "validation"]) == 2  # a folder is scored whole


def test_model_settings_from_the_command_line_are_typed_and_checked():
    from motionfield.methods.predict.cli import _model_settings

    assert _model_settings(["time_scale=2", "hidden=96"]) == {"time_scale": 2.0, "hidden": 96}
    for bad in (["refiner"], ["joints=3"], ["width=3"], ["hidden=wide"], ["dropout=0.1"]):
        with pytest.raises(SystemExit):
            _model_settings(bad)


@pytest.mark.parametrize("setting, message", [
    ({"refiner": -4}, "refiner=-4"), ({"hidden": 0}, "hidden=0"),
    ({"time_scale": 0.0}, "time_scale=0.0"),
    ({"hidden": 30, "heads": 4}, "not a multiple of heads")])
def test_impossible_model_settings_are_refused_by_name(setting, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(joints=4, dims=3, **setting)


def test_velocity_error_scores_steps_not_positions():
    from motionfield.methods.predict.train import velocity_error

    future = torch.randn(2, 6, 4, 3)
    assert velocity_error(future, future) == 0
    assert velocity_error(future + 5.0, future) < 1e-5  # a shifted track, same steps
    jump = future.clone()
    jump[:, 3:] += 1.0  # a leap in the middle
    assert velocity_error(jump, future) > 0.1


def test_train_cli_refuses_a_seed_twice_or_seed_with_seeds(tmp_path, capsys):
    from motionfield.cli import main

    assert main(["train", "predict", "--seeds", "1", "1", "-o", str(tmp_path / "run")]) == 2
    assert "each seed once" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "predict", "--seed", "1", "--seeds", "2", "3", "-o", str(tmp_path)])
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_cli_refuses_impossible_training_settings(tmp_path, capsys):
    from motionfield.cli import main

    assert main(["train", "predict", "--max-frame-drop", "1.5", "-o", str(tmp_path / "r")]) == 2
    assert "max_frame_drop=1.5" in capsys.readouterr().err
    assert main(["train", "predict", "--time-reverse", "-0.1", "-o", str(tmp_path / "r")]) == 2
    assert "time_reverse=-0.1" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_training_settings_are_checked_together_and_by_name():
    with pytest.raises(ValueError) as error:
        TrainConfig(steps=0, lr=0.0, speed_change=1.0, action_balance=1.5)
    for part in ("steps=0 (at least 1)", "lr=0.0 (above 0)", "speed_change=1.0 (from 0 up to 1)",
                 "action_balance=1.5 (from 0 to 1)"):
        assert part in str(error.value)
    TrainConfig(incomplete=1.0, time_reverse=1.0, action_balance=1.0, speed_change=0.0)


def test_held_out_clips_give_eight_windows_each_grouped_by_content():
    from motionfield.data.build import TrainingSet
    from motionfield.methods.predict.eval import smpl_windows

    lengths, contents = [120, 60, 150], ["wave", "bow", "wave"]  # 4 s, 2 s, 5 s at 30 fps
    starts = np.cumsum([0] + lengths[:-1])
    clips = [{"start": int(s), "frames": n, "fps": "30", "labels": {"content": c}}
             for s, n, c in zip(starts, lengths, contents)]
    rotations = np.zeros((sum(lengths), 24, 4), np.float32)
    rotations[..., 0] = 1.0
    translation = np.linspace(0, 1, sum(lengths))[:, None] * np.ones(3, np.float32)
    data = TrainingSet(rotations, translation.astype(np.float32), clips)
    out = smpl_windows(data, [0, 1, 2], "content")
    assert list(out) == ["wave"]  # the 2 s clip is too short for 50 + 25 frames at 25 fps
    assert out["wave"].shape == (16, 75, 25, 6)
    assert list(smpl_windows(data, [2], "folder")) == ["all"]  # unlabelled clips
