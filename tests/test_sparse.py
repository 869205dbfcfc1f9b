"""The sparse method's parts: the headset's view, holding unseen hands, the window frame,
the causal network and its mask tokens, training and resuming, tracking files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sparse_synth
import torch

from motionfield.body.rotations import axis_angle_to_matrix
from motionfield.checkpoints import read_meta
from motionfield.methods.sparse import data, features, infer, tracking
from motionfield.methods.sparse.config import CONTROLLERS, FPS, HEADSET, ModelConfig, TrainConfig
from motionfield.methods.sparse.model import SparsePoser
from motionfield.methods.sparse.train import train

TINY = ModelConfig(window=8, width=16, layers=1, heads=2, spatial_width=8)


def _head_and_hands(hands: list[list[float]], pitch_deg: float = 0.0):
    """One frame: the head at 1.6 m looking along +Z (turned down by `pitch_deg` beyond the
    view's own pitch), hands at the given offsets from it."""
    view = data.pitch_down(HEADSET.view_pitch_deg).T @ data.pitch_down(pitch_deg)
    rot = np.stack([view, np.eye(3), np.eye(3)])[None].astype(np.float32)
    head = np.array([0.0, 1.6, 0.0])
    pos = np.stack([head, head + hands[0], head + hands[1]])[None].astype(np.float32)
    return rot, pos


def test_the_headset_sees_hands_ahead_and_below_within_reach_only():
    ahead, behind = [0.1, -0.2, 0.45], [0.1, -0.3, -0.3]
    assert data.in_view(HEADSET, *_head_and_hands([ahead, behind])).tolist() == [[True, False]]
    far, at_side = [0.0, -0.2, 1.5], [0.6, -0.1, 0.0]   # beyond reach; 90 degrees aside
    assert data.in_view(HEADSET, *_head_and_hands([far, at_side])).tolist() == [[False, False]]
    hanging = [0.2, -0.65, 0.05]  # arm down by the side: below the volume...
    assert not data.in_view(HEADSET, *_head_and_hands([hanging, hanging])).any()
    # ...until the wearer looks down at it
    assert data.in_view(HEADSET, *_head_and_hands([hanging, hanging], 50.0)).all()
    assert data.in_view(CONTROLLERS, *_head_and_hands([behind, far])).all()


def test_observing_is_seeded_noisy_and_drops_hands_briefly():
    take = sparse_synth.takes(1, 900)[0]
    first = data.observe(np.random.default_rng(3), HEADSET, take.rot, take.pos)
    again = data.observe(np.random.default_rng(3), HEADSET, take.rot, take.pos)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    noise = np.linalg.norm(first[1] - take.pos, axis=-1)
    assert 0.001 < noise[:, 1:].mean() < 0.01 and noise[:, 0].mean() < noise[:, 1:].mean()
    lost = data.dropouts(np.random.default_rng(0), HEADSET, (50, 900))
    starts = (lost[..., 1:, :] & ~lost[..., :-1, :]).sum() / (50 * 2 * 30)  # per hand-second
    assert 0.5 * HEADSET.dropouts_per_s < starts < 1.5 * HEADSET.dropouts_per_s
    seen = data.observe(np.random.default_rng(0), CONTROLLERS, take.rot, take.pos)[2]
    assert seen.all()


def test_unseen_hands_are_held_and_timed():
    frames = 10
    rot = np.tile(np.eye(3, dtype=np.float32), (frames, 3, 1, 1))
    pos = np.zeros((frames, 3, 3), np.float32)
    pos[:, 0, 1] = 1.6
    pos[:, 1, 0] = np.arange(frames)  # the left hand moves; seen at frames 2 and 3
    seen = np.zeros((frames, 2), bool)
    seen[2:4, 0] = True
    held_rot, held_pos, since = features.fill_unseen(rot, pos, seen)
    assert held_pos[:4, 1, 0].tolist()[2:] == [2, 3] and (held_pos[4:, 1, 0] == 3).all()
    np.testing.assert_allclose(since[:, 0], [2, 2, 0, 0, *(np.arange(1, 7) / FPS)])
    # never seen: the rest pose's wrist, carried by the head
    np.testing.assert_allclose(held_pos[:, 2], pos[:, 0] + features.rest_hands()[1], atol=1e-6)
    assert (since[:, 1] == features.MAX_SINCE).all()


def test_window_inputs_do_not_change_when_the_world_turns_about_the_vertical():
    take = sparse_synth.takes(1)[0]
    turn = axis_angle_to_matrix(np.array([0.0, 1.1, 0.0])).astype(np.float32)
    shift = np.array([3.0, 0.0, -2.0], np.float32)
    a, yaw_a, origin_a = features.window_inputs(take.rot[:9], take.pos[:9])
    b, yaw_b, origin_b = features.window_inputs(turn @ take.rot[:9], take.pos[:9] @ turn.T + shift)
    np.testing.assert_allclose(a, b, atol=2e-4)
    np.testing.assert_allclose(yaw_b, turn @ yaw_a, atol=1e-5)
    # a recurrent model's inputs: every frame in its own heading frame, so the same too
    per_a, per_yaw_a, _ = features.frame_inputs(take.rot[:9], take.pos[:9])
    per_b, per_yaw_b, _ = features.frame_inputs(turn @ take.rot[:9],
                                                take.pos[:9] @ turn.T + shift)
    assert per_a.shape == (8, 3, 18)
    np.testing.assert_allclose(per_a, per_b, atol=2e-4)
    np.testing.assert_allclose(per_yaw_b, turn @ per_yaw_a, atol=1e-5)
    np.testing.assert_allclose(per_a[-1], features.window_inputs(take.rot[7:9],
                                                                 take.pos[7:9])[0][0], atol=1e-6)
    tokens = take.tokens[1:9]
    local = features.tokens_to_window(tokens, yaw_a, origin_a)
    np.testing.assert_allclose(features.to_world(local, yaw_a, origin_a), tokens, atol=1e-5)


def _inputs(frames: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, frames, 3, 18, generator=g), torch.rand(1, frames, 2, generator=g) > 0.5,
            torch.rand(1, frames, 2, generator=g))


AVATARPOSER_TINY = ModelConfig(**{**TINY.to_dict(), "spatial": False, "unseen": "hold",
                                   "temporal": "window"})


@pytest.mark.parametrize("config", [TINY, AVATARPOSER_TINY])
def test_the_network_is_causal(config):
    model = SparsePoser(config).eval()
    feats, seen, since = _inputs(8)
    later = feats.clone()
    later[:, 5:] += 3.0
    with torch.no_grad():
        a, b = model(feats, seen, since), model(later, seen, since)
    assert a.shape == (1, 8, 25, 6)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert (a[:, 5:] - b[:, 5:]).abs().max() > 1e-3


def test_mask_tokens_replace_what_an_unseen_hand_reports_but_adapt_to_its_absence():
    torch.manual_seed(0)
    model = SparsePoser(TINY).eval()
    torch.nn.init.normal_(model.mask_token)
    feats, _, since = _inputs(8)
    seen = torch.ones(1, 8, 2, dtype=torch.bool)
    seen[:, 4:, 0] = False
    changed = feats.clone()
    changed[:, 4:, 1, 9:] += 5.0  # the unseen hand's velocities: not read
    with torch.no_grad():
        a, b = model(feats, seen, since), model(changed, seen, since)
        longer = since.clone()
        longer[:, 4:, 0] += 1.0
        c = model(feats, seen, longer)
    torch.testing.assert_close(a, b)
    assert (a[:, 4:] - c[:, 4:]).abs().max() > 1e-4  # the token changes with time unseen


def test_training_runs_resumes_and_solves_online_like_a_stream(tmp_path):
    takes = sparse_synth.takes(3)
    config = TrainConfig(steps=6, batch=4, checkpoint_every=3, lead=10)
    path = train(config, TINY, tmp_path / "run", takes=takes, progress=False, stop_after=3)
    assert read_meta(path, "sparse")["steps_done"] == 3
    train(config, TINY, tmp_path / "run", takes=takes, progress=False, resume=True)
    meta = read_meta(path, "sparse")
    assert meta["steps_done"] == 6 and "CC BY-NC" in meta["licence"]
    with pytest.raises(ValueError, match="other settings"):
        train(TrainConfig(steps=6, batch=8, checkpoint_every=3, lead=10), TINY,
              tmp_path / "run", takes=takes, progress=False, resume=True)
    solver = infer.load(path)
    take = takes[0]
    rot, pos, seen = data.observe(np.random.default_rng(0), HEADSET, take.rot, take.pos)
    whole = solver.solve(rot, pos, seen)
    assert whole.shape == (len(pos), 25, 6) and np.isfinite(whole).all()
    # frame t depends on frames <= t only: solving a prefix gives the same poses
    np.testing.assert_allclose(solver.solve(rot[:40], pos[:40], seen[:40]), whole[:40], atol=1e-4)


def test_the_standing_baseline_puts_the_rest_head_on_the_tracked_head():
    take = sparse_synth.takes(1)[0]
    from motionfield.methods.sparse.eval import body

    tokens = infer.Solver(None).solve(take.rot, take.pos, np.ones((len(take.pos), 2), bool))
    np.testing.assert_allclose(body(tokens)[1][:, 15], take.pos[:, 0], atol=1e-5)


# ---------------------------------------------------------------- tracking files


def _synthetic_tracking(frames: int = 60) -> tracking.Tracking:
    take = sparse_synth.takes(1, frames)[0]
    rot, pos, seen = data.observe(np.random.default_rng(1), HEADSET, take.rot, take.pos)
    seen[10:20, 0] = False
    seen[25:30, 0] = True
    return tracking.Tracking(np.arange(frames) / FPS, rot, pos, seen)


def test_a_json_tracking_file_reads_back_what_was_written(tmp_path):
    track = _synthetic_tracking()
    back = tracking.read_tracking(tracking.write_tracking_json(tmp_path / "t.json", track))
    assert np.array_equal(back.seen, track.seen)
    np.testing.assert_allclose(back.pos[:, 0], track.pos[:, 0], atol=1e-4)
    np.testing.assert_allclose(back.rot[:, 0], track.rot[:, 0], atol=1e-4)
    both = track.seen.all(-1)
    np.testing.assert_allclose(back.rot[both], track.rot[both], atol=1e-4)


def test_openxr_poses_map_onto_smpl_joints():
    """Someone standing in a T-pose facing the OpenXR reference space's -Z, looking level,
    palms down: the SMPL head joint looks up by the view's pitch, the wrists are at rest."""
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (1, 3, 1))
    quats[0, 1:] = [[0.0, np.sqrt(0.5), 0.0, np.sqrt(0.5)],    # -Z local towards world -X
                    [0.0, -np.sqrt(0.5), 0.0, np.sqrt(0.5)]]   # -Z local towards world +X
    pos = np.array([[[0.0, 1.6, 0.0], [-0.7, 1.4, 0.0], [0.7, 1.4, 0.0]]])
    track = tracking.from_openxr([0.0], pos, quats, [[1, 1]])
    np.testing.assert_allclose(track.rot[0, 1:], np.tile(np.eye(3), (2, 1, 1)), atol=1e-6)
    np.testing.assert_allclose(track.rot[0, 0], data.pitch_down(HEADSET.view_pitch_deg).T,
                               atol=1e-6)
    assert track.pos[0, 1, 0] > 0  # the left hand is on the body's left, SMPL +X


def test_a_csv_tracking_file_with_empty_cells_for_unseen_hands(tmp_path):
    columns = ["t"] + [f"{d}_{a}" for d in tracking.DEVICES for a in tracking.AXES] + [
        "left_tracked", "right_tracked"]
    head = ["0", "1.6", "0", "0", "0", "0", "1"]
    hand = ["0.2", "1.2", "-0.3", "0", "0", "0", "1"]
    rows = [[str(i / 90), *head, *hand, *([""] * 7), "1", "0"] for i in range(4)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(",".join(r) for r in [columns, *rows]))
    track = tracking.read_tracking(path)
    assert track.seen.tolist() == [[True, False]] * 4 and len(track.times) == 4
    assert len(tracking.at_rate(track).times) == 2  # 1/30 s of samples at 90 Hz -> 30 fps


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d["frames"][3].update(t=0.0), "strictly increasing"),
    (lambda d: d["frames"][2]["head"].pop("orientation"), r"frames\[2\].head"),
    (lambda d: d["frames"][1]["head"].update(position=[0, 1]), "position has 2 values"),
    (lambda d: d["frames"][1]["head"].update(orientation=dict(x=0, y=0, z=0, w=0)),
     "zero quaternion"),
    (lambda d: d["frames"][1].update(t="soon"), "must be a number"),
])
def test_malformed_tracking_files_are_refused_by_name(tmp_path, change, message):
    path = tracking.write_tracking_json(tmp_path / "t.json", _synthetic_tracking(8))
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(tracking.TrackingError, match=message):
        tracking.read_tracking(path)


def test_a_csv_without_its_columns_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("t,head_px\n0,1\n")
    with pytest.raises(tracking.TrackingError, match="missing columns"):
        tracking.read_tracking(path)


def test_a_recurrent_model_goes_on_from_its_state_as_if_never_stopped():
    model = SparsePoser(ModelConfig(**{**TINY.to_dict(), "layers": 2})).eval()
    feats, seen, since = _inputs(8)
    with torch.no_grad():
        whole, _ = model.run(feats, seen, since)
        first, state = model.run(feats[:, :5], seen[:, :5], since[:, :5])
        rest, _ = model.run(feats[:, 5:], seen[:, 5:], since[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole, atol=1e-6, rtol=1e-6)


def test_the_online_step_answers_as_the_whole_window_does():
    model = SparsePoser(ModelConfig(**{**TINY.to_dict(), "layers": 2,
                                       "temporal": "window"})).eval()
    feats, seen, since = _inputs(8)
    with torch.no_grad():
        whole, last = model(feats, seen, since), model(feats, seen, since, last_only=True)
    assert last.shape == (1, 1, 25, 6)
    torch.testing.assert_close(last[:, 0], whole[:, -1], atol=1e-5, rtol=1e-5)


def test_a_stream_answers_frame_by_frame_what_the_whole_take_gives(tmp_path):
    takes = sparse_synth.takes(2, 60)
    path = train(TrainConfig(steps=2, batch=4, lead=10), TINY, tmp_path / "run", takes=takes,
                 progress=False)
    solver = infer.load(path)
    take = takes[1]
    rot, pos, seen = data.observe(np.random.default_rng(2), HEADSET, take.rot, take.pos)
    seen[:7, 1] = False   # a hand unseen from the start: held at rest under the head
    seen[20:35, 0] = False
    whole = solver.solve(rot, pos, seen)
    for solver_ in (solver, infer.Solver(None)):
        stream = infer.Stream(solver_)
        steps = np.stack([stream.step(rot[t], pos[t], seen[t]) for t in range(len(pos))])
        np.testing.assert_allclose(steps, solver_.solve(rot, pos, seen), atol=1e-4)
    assert np.abs(steps - whole).max() > 1e-3  # the standing body is not the network's


def test_the_body_is_made_to_meet_its_trackers_and_lets_go_smoothly():
    from motionfield.body.rotations import matrix_to_6d, sixd_to_matrix
    from motionfield.methods.sparse import reach
    from motionfield.methods.sparse.eval import body

    take = sparse_synth.takes(1, 90)[0]
    rng = np.random.default_rng(0)
    guess = take.tokens.copy()  # a network's guess: arms and head off, body 5 cm aside
    turns = axis_angle_to_matrix(rng.normal(0, 0.3, (90, 5, 3)))
    joints = [15, 16, 17, 18, 19]
    guess[:, joints] = matrix_to_6d(turns @ sixd_to_matrix(guess[:, joints]))
    guess[:, 24, :3] += [0.05, 0.0, 0.0]
    rot, pos = take.rot.astype(np.float64), take.pos.astype(np.float64)
    full = reach.reach(guess, rot, pos, np.ones((90, 2)))
    local, joints_at = body(full)
    assert np.linalg.norm(joints_at[:, [15, 20, 21]] - pos, axis=-1).max() < 2e-3
    none = reach.reach(guess, rot, pos, np.zeros((90, 2)))
    np.testing.assert_allclose(none[:, 16:22], guess[:, 16:22], atol=1e-5)  # arms as guessed
    seen = np.ones((90, 2), bool)
    seen[30:60, 0] = False
    weight = reach.ramp(seen)
    assert weight[29, 0] == 1.0 and weight[59, 0] == 0.0 and weight[89, 0] == 1.0
    assert np.abs(np.diff(weight, axis=0)).max() <= 1 / (reach.RAMP_S * FPS) + 1e-9


def test_what_an_unseen_hand_reports_is_never_read(tmp_path):
    """Poses of unseen hands (a tracker's stale or made-up values) must not reach the body,
    not even while the arm lets go of its tracker."""
    takes = sparse_synth.takes(2, 60)
    solver = infer.load(train(TrainConfig(steps=1, batch=2, lead=4), TINY, tmp_path / "r",
                              takes=takes, progress=False))
    take = takes[0]
    seen = np.ones((60, 2), bool)
    seen[20:40, 0] = False
    moved_pos, moved_rot = take.pos.copy(), take.rot.copy()
    moved_pos[20:40, 1] += 5.0
    moved_rot[20:40, 1] = np.eye(3)[[1, 2, 0]]
    np.testing.assert_array_equal(solver.solve(moved_rot, moved_pos, seen),
                                  solver.solve(take.rot, take.pos, seen))
