"""The sparse job and `motionfield solve-sparse` with the shipped model: tracked head and
hands become a body whose head and wrists follow them; OpenXR and SMPL inputs agree; bad
requests and files are refused by name; one request through a real server and client."""

from __future__ import annotations

import numpy as np
import pytest
import sparse_synth

from motionfield import methods
from motionfield.cli import main
from motionfield.client import BackendError, Client
from motionfield.methods.sparse import data, tracking
from motionfield.methods.sparse.config import HEADSET
from motionfield.motion import Motion
from motionfield.server.jobs import JobError

JOB = methods.job_type("sparse")


@pytest.fixture(scope="module")
def track() -> tracking.Tracking:
    """8 s of a made-up walk at 30 fps through the headset: hands come and go."""
    take = sparse_synth.takes(1, 240)[0]
    rot, pos, seen = data.observe(np.random.default_rng(5), HEADSET, take.rot, take.pos)
    assert 0.1 < seen.mean() < 0.9
    return tracking.Tracking(np.arange(240) / 30.0, rot, pos, seen)


def _arrays(track: tracking.Tracking, space: str = "smpl") -> dict[str, np.ndarray]:
    from motionfield.body.rotations import matrix_to_quat

    if space == "openxr":
        pos, xyzw = tracking.to_openxr(track)
        quats = xyzw[..., [3, 0, 1, 2]]
    else:
        pos, quats = track.pos, matrix_to_quat(track.rot.astype(np.float64))
    return {"times": track.times, "positions": pos, "orientations": quats,
            "tracked": track.seen.astype(np.uint8)}


def _run(arrays: dict, **params) -> tuple[dict, dict]:
    return JOB.run(JOB.validate(params, arrays), arrays, lambda *a: None)


def _devices(content: dict, arrays: dict) -> np.ndarray:
    from motionfield.methods.results import motion_from_result

    motion = motion_from_result(content, arrays)
    return motion.joint_positions()[:, [15, 20, 21]]


def test_the_body_follows_the_tracked_head_and_seen_hands(track):
    content, arrays = _run(_arrays(track), space="smpl", fps=30.0)
    assert content["frames"] == 240 and "CC BY-NC" in content["licence"]
    joints = _devices(content, arrays)
    error = np.linalg.norm(joints - track.pos, axis=-1)
    assert error[:, 0].max() < 1e-3              # the head, metres
    assert error[:, 1:][track.seen].mean() < 0.02  # hands while seen


def test_openxr_and_smpl_inputs_give_one_body_at_any_rate(track):
    smpl = _run(_arrays(track), space="smpl", fps=30.0)[1]
    openxr = _run(_arrays(track, "openxr"), space="openxr", fps=30.0)[1]
    np.testing.assert_allclose(openxr["root_translation"], smpl["root_translation"], atol=1e-3)
    content, arrays = _run(_arrays(track), space="smpl", fps=59.94)
    assert content["fps"] == "60000/1001" and content["frames"] == int(7.966 * 59.94) + 1


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("tracked"), "'tracked'"),
    (lambda a: a.update(positions=a["positions"][:, :2]), "positions must be"),
    (lambda a: a["times"].__setitem__(5, 0.0), "strictly increasing"),
    (lambda a: a["positions"].__setitem__((3, 0, 1), np.nan), "finite"),
    (lambda a: a.update(tracked=a["tracked"] * 3), "0/1"),
])
def test_bad_arrays_are_refused_by_name(track, change, message):
    arrays = {k: np.array(v, copy=True) for k, v in _arrays(track).items()}
    change(arrays)
    with pytest.raises(JobError, match=message):
        _run(arrays, space="smpl", fps=30.0)


def test_solve_sparse_writes_a_bvh_and_refuses_a_bad_file(track, tmp_path, capsys):
    source = tracking.write_tracking_json(tmp_path / "take.json", track)
    assert main(["solve-sparse", str(source), "-o", str(tmp_path / "body.npz"),
                 "--fps", "24"]) == 0
    motion = Motion.load(tmp_path / "body.npz")
    assert float(motion.fps) == 24 and abs(motion.duration - 7.958) < 0.05
    assert main(["solve-sparse", str(source), "-o", str(tmp_path / "body.bvh")]) == 0
    assert (tmp_path / "body.bvh").read_text().startswith("HIERARCHY")
    (tmp_path / "bad.json").write_text('{"format": "motionfield-tracking", "version": 1}')
    with pytest.raises(SystemExit, match="frames"):
        main(["solve-sparse", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x.npz")])


def test_a_request_through_the_server(track, in_process_server):
    client = Client(*in_process_server, heartbeat=30.0)
    try:
        assert "sparse" in client.info()["methods"]
        result = client.run("sparse", {"space": "smpl", "fps": 30.0}, _arrays(track),
                            timeout=60)
        assert result.arrays["rotations"].shape == (240, 24, 4)
        with pytest.raises(BackendError, match="space"):
            client.run("sparse", {"space": "steamvr", "fps": 30.0}, _arrays(track), timeout=60)
    finally:
        client.close()


def _sample(track: tracking.Tracking, i: int) -> dict[str, np.ndarray]:
    return {k: v[i:i + 1] for k, v in _arrays(track).items()}


def _live(arrays: dict, stream: str, restart: bool = False) -> dict:
    return JOB.step(JOB.validate({"space": "smpl", "fps": 30.0}, arrays), arrays, stream,
                    restart)[1]


def test_a_live_stream_answers_each_sample_as_the_recording_would(track):
    whole = _run(_arrays(track), space="smpl", fps=30.0)[1]
    live = [_live(_sample(track, i), "test-live", restart=i == 0) for i in range(45)]
    np.testing.assert_allclose(np.concatenate([a["root_translation"] for a in live]),
                               whole["root_translation"][:45], atol=1e-4)
    np.testing.assert_allclose(np.concatenate([a["rotations"] for a in live]),
                               whole["rotations"][:45], atol=1e-4)
    for name, array in whole.items():  # a live answer is a motion result like the job's
        assert live[0][name].dtype == array.dtype and live[0][name].shape[1:] == array.shape[1:]
    np.testing.assert_array_equal(live[0]["offsets"], whole["offsets"])
    np.testing.assert_array_equal(live[0]["parents"], whole["parents"])
    assert [float(a["times"][0]) for a in live[:3]] == [0.0, 1 / 30, 2 / 30]
    # samples three times as fast: the network steps on every third, the others repeat it
    fast = tracking.Tracking(track.times[:30] / 3, track.rot[:30], track.pos[:30],
                             track.seen[:30])
    roots = _live(_arrays(fast), "fast", restart=True)["root_translation"]
    np.testing.assert_array_equal(roots[1:3], roots[[0, 0]])
    assert np.abs(roots[3] - roots[2]).max() > 0
    with pytest.raises(JobError, match="at most 90"):
        _live(_arrays(track), "long")


def test_live_steps_through_the_server_keep_each_clients_streams_apart(track,
                                                                     in_process_server):
    clients = [Client(*in_process_server, heartbeat=30.0) for _ in range(2)]
    params = {"space": "smpl", "fps": 30.0}
    try:
        assert clients[0].info()["methods"]["sparse"]["live"]
        # client 0 streams the take; client 1 streams a body standing still under the
        # same name: neither disturbs the other
        still = _arrays(tracking.Tracking(track.times, track.rot[[0] * 240],
                                          track.pos[[0] * 240], track.seen[[0] * 240]))
        ours, theirs = [], []
        for i in range(20):
            ours.append(clients[0].step("sparse", "viewport", params, _sample(track, i),
                                        restart=i == 0).arrays["root_translation"])
            theirs.append(clients[1].step("sparse", "viewport", params,
                                          {k: v[i:i + 1] for k, v in still.items()},
                                          restart=i == 0).arrays["root_translation"])
        alone = [_live(_sample(track, i), "alone", restart=i == 0)["root_translation"]
                 for i in range(20)]
        np.testing.assert_allclose(np.concatenate(ours), np.concatenate(alone), atol=1e-5)
        assert np.abs(np.diff(np.concatenate(theirs), axis=0)).max() < 0.05
        with pytest.raises(BackendError, match="no live streams"):
            clients[0].step("convert", "x", {}, {})
        with pytest.raises(BackendError, match="'stream' must name"):
            clients[0].step("sparse", "x" * 65, params, _sample(track, 0))
        with pytest.raises(BackendError, match="space"):
            clients[0].step("sparse", "viewport", {"space": "steamvr"}, _sample(track, 0))
    finally:
        for client in clients:
            client.close()
