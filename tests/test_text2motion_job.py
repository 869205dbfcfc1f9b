"""The text2motion job through a real server and client over loopback: K variations on one
timeline at the asked framerate, bad requests refused by name, a cancel mid-sampling.

The model is the shipped checkpoint (assets/text2motion/nerm.safetensors); where it is not
built yet, a tiny one trained here (tests/text2motion_tiny.py: the job is tested, not the
model).
One model and one server for the module: loading MiniLM takes ~7 s.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import text2motion_tiny

from motionfield.client import BackendError, Client
from motionfield.methods import results
from motionfield.methods.text2motion import job as t2m_job
from motionfield.protocol import new_key, write_connection_file
from motionfield.server.app import Server

PROMPT = "a person waves happily"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, data_root):
    return text2motion_tiny.model_path(tmp_path_factory.mktemp("t2m"), data_root)[0]


@pytest.fixture(scope="module")
def model(model_file):
    from motionfield.methods.text2motion import infer

    return infer.load(model_file)


class Sampler:
    """The model, its sampler slowed to `step_s` a step when asked (so a cancel lands mid-
    sampling), counting the steps it ran."""

    def __init__(self, model):
        self.model, self.meta, self.step_s, self.steps = model, model.meta, 0.0, []

    def generate(self, *args, progress=None, **kw):
        def slowed(step, total):
            self.steps.append((step, total))
            time.sleep(self.step_s)
            progress(step, total)

        return self.model.generate(*args, progress=slowed, **kw)

    def __getattr__(self, name):  # what a chained (over 10 s) request uses
        return getattr(self.model, name)


@pytest.fixture(scope="module")
def served(model, tmp_path_factory):
    """A server thread whose text2motion job uses `model`; yields (client, sampler,
    connection file)."""
    sampler = Sampler(model)
    patch = pytest.MonkeyPatch()
    patch.setattr(t2m_job, "_model", lambda: sampler)
    key = new_key()
    server = Server("tcp://127.0.0.1:0", key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = Client(server.address, key, heartbeat=30.0)
    connection = write_connection_file(tmp_path_factory.mktemp("serve") / "backend.json",
                                       server.address, key)
    yield client, sampler, connection
    client.shutdown()
    client.close()
    thread.join(timeout=10)
    patch.undo()
    assert not thread.is_alive()


def _params(**kw) -> dict:
    return {"prompt": PROMPT, "seconds": 2.0, "variations": 3, "seed": 1, "fps": 29.97, **kw}


def test_k_variations_at_29_97_on_one_timeline(served):
    client, _, _ = served
    result = client.run("text2motion", _params(), timeout=120)
    content, arrays = result.content, result.arrays
    assert content["motions"] == 3 and content["prompt"] == PROMPT
    assert content["seeds"] == [1, 2, 3] and "CC BY-NC" in content["licence"]
    assert content["fps"] == "30000/1001" and content["frames"] == 60  # 2 s at 29.97 fps
    assert arrays["rotations"].shape == (3, 60, 24, 4)
    assert arrays["root_translation"].shape == (3, 60, 3)
    np.testing.assert_allclose(arrays["times"], np.arange(60) * 1001 / 30000, rtol=0, atol=1e-12)
    motions = results.motions_from_result(content, arrays)
    assert len(motions) == 3 and all(m.num_frames == 60 for m in motions)
    np.testing.assert_allclose(np.linalg.norm(arrays["rotations"], axis=-1), 1.0, atol=1e-5)
    # three different motions, not one three times
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert np.abs(arrays["rotations"][a] - arrays["rotations"][b]).max() > 1e-3
    with pytest.raises(ValueError, match="3 motions"):
        results.motion_from_result(content, arrays)


def test_over_ten_seconds_samples_are_chained(served):
    client, _, _ = served
    result = client.run("text2motion", _params(seconds=12.0, variations=1, fps=30.0),
                        timeout=120)
    assert result.content["frames"] == 361 and result.arrays["rotations"].shape == (1, 361, 24, 4)
    assert np.isfinite(result.arrays["root_translation"]).all()


def test_a_seed_gives_the_same_motions_at_any_framerate(served):
    client, _, _ = served
    at_30 = client.run("text2motion", _params(fps=30.0, variations=2), timeout=120).arrays
    again = client.run("text2motion", _params(fps=30.0, variations=2), timeout=120).arrays
    at_60 = client.run("text2motion", _params(fps=60.0, variations=2), timeout=120).arrays
    np.testing.assert_array_equal(at_30["rotations"], again["rotations"])
    assert at_60["rotations"].shape[1] == 2 * at_30["rotations"].shape[1] - 1
    # every 30 fps frame is an even 60 fps frame
    np.testing.assert_allclose(at_60["rotations"][:, ::2], at_30["rotations"], atol=1e-5)
    np.testing.assert_allclose(at_60["root_translation"][:, ::2], at_30["root_translation"],
                               atol=1e-5)
    # variation k is drawn with seed + k - 1 (as `motionfield generate --samples`)
    later = client.run("text2motion", _params(fps=30.0, variations=2, seed=2),
                       timeout=120).arrays
    np.testing.assert_array_equal(later["rotations"][0], at_30["rotations"][1])
    assert np.abs(later["rotations"][1] - at_30["rotations"][1]).max() > 1e-3


def test_client_run_saves_each_variation_as_generate_does(served, model_file, tmp_path):
    from motionfield.cli import main
    from motionfield.motion import Motion

    client, _, connection = served
    out = tmp_path / "wave.npz"
    assert main(["client", "--connection-file", str(connection), "run", "text2motion",
                 "--param", f"prompt={PROMPT}", "--param", "variations=2", "--param",
                 "seconds=1.5", "--param", "seed=1", "--param", "fps=29.97", "-o",
                 str(out)]) == 0
    expected = client.run("text2motion", _params(variations=2, seconds=1.5),
                          timeout=120).arrays
    assert not out.exists()
    for k in (1, 2):
        motion = Motion.load(tmp_path / f"wave-{k}.npz")
        assert motion.num_frames == 45 and str(motion.fps) == "30000/1001"  # 1.5 s
        np.testing.assert_allclose(motion.rotations, expected["rotations"][k - 1], atol=1e-6)
    # `motionfield generate --samples` writes the same motions
    assert main(["generate", PROMPT, "--seconds", "1.5", "--fps", "29.97", "--seed", "1",
                 "--samples", "2", "--model", str(model_file),
                 "-o", str(tmp_path / "gen.npz")]) == 0
    for k in (1, 2):
        generated = Motion.load(tmp_path / f"gen-{k}.npz")
        np.testing.assert_allclose(generated.rotations, expected["rotations"][k - 1],
                                   atol=1e-6)


@pytest.mark.parametrize(("change", "message"), [
    ({"prompt": "   \n "}, "'prompt' is empty"),
    ({"prompt": "wave " * 70}, "at most 300"),
    ({"prompt": None}, "'prompt' is required"),
    ({"variations": 9}, "'variations' must be at most 8"),
    ({"variations": 0}, "'variations' must be at least 1"),
    ({"seconds": 0.5}, "'seconds' must be at least 1"),
    ({"seconds": 60.5}, "'seconds' must be at most 60"),
    ({"seed": -1}, "'seed' must be at least 0"),
    ({"guidance": 10.5}, "'guidance' must be at most 10"),
    ({"guidance": "high"}, "'guidance' must be a number"),
    ({"fps": 0}, "'fps' must be at least"),
    ({"steps": 5}, "unknown parameters \\['steps'\\]"),
])
def test_bad_requests_are_refused_with_an_error_reply(served, change, message):
    """Schema problems are refused at submit, the rest when the job starts: both are an
    error reply naming the parameter."""
    client, _, _ = served
    params = {k: v for k, v in _params(**change).items() if v is not None}
    with pytest.raises(BackendError, match=message):
        client.run("text2motion", params, timeout=60)


def test_the_largest_request_fits_one_result_or_is_refused_before_sampling(served):
    """8 variations of one 10 s sample at 1000 fps: within the frame bound and one message.
    Longer (chained) requests past the bound are refused before the model is asked."""
    from motionfield.methods.text2motion.config import MAX_SECONDS
    from motionfield.protocol import MAX_MESSAGE_BYTES

    params = t2m_job.JOB.params
    frames = params["variations"].maximum * (MAX_SECONDS * results.MAX_FPS + 1)
    results.check_frames(frames, 24, "text2motion")  # raises if not
    assert frames * (24 * 4 + 3) * 4 < MAX_MESSAGE_BYTES / 2
    client, sampler, _ = served
    sampler.steps.clear()
    largest = _params(seconds=params["seconds"].maximum, variations=8, fps=1000.0)
    with pytest.raises(BackendError, match="frames of 24 joints is more than one job"):
        client.run("text2motion", largest, timeout=60)
    assert not sampler.steps


def test_a_cancel_mid_sampling_ends_the_job_as_cancelled(served):
    client, sampler, _ = served
    sampler.steps.clear()
    sampler.step_s = 0.1
    try:
        job = client.submit("text2motion", _params())
        deadline = time.monotonic() + 60
        while len(sampler.steps) < 2 and time.monotonic() < deadline:
            client.poll(0.02)
        assert len(sampler.steps) >= 2, "the sampler never got going"
        client.cancel(job)
        while client.status(job)["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        status = client.status(job)
        assert status["state"] == "cancelled", status
        total = sampler.steps[0][1]
        assert len(sampler.steps) < total, (len(sampler.steps), total)  # stopped early
        assert client.fetch(job)["stage"] == "sampling"  # the cancelled event's content
    finally:
        sampler.step_s = 0.0
    # the backend goes on: the next job runs to its end
    assert client.run("text2motion", _params(variations=1), timeout=120).content["motions"] == 1


def test_the_cli_offers_training_generation_and_evaluation():
    from motionfield.cli import build_parser

    parser = build_parser()
    for argv in (["train", "text2motion", "-o", "x"], ["train", "text2motion-cvae", "-o", "x"],
                 ["train", "text2motion-evaluator", "-o", "x"],
                 ["generate", PROMPT, "-o", "x.npz"], ["eval", "text2motion"]):
        assert callable(parser.parse_args(argv).func), argv


def test_schema_bounds_are_the_models_and_the_add_ons():
    """The job states bounds that live in modules `info` must not import (torch, scipy) and
    in the add-on's operator; they must agree."""
    from motionfield.methods.text2motion import chain, data, infer

    params = t2m_job.JOB.params
    assert params["guidance"].default == infer.DEFAULT_GUIDANCE
    assert data.MAX_SECONDS == infer.MAX_SECONDS == 10
    assert params["seconds"].maximum == chain.MAX_CHAINED_SECONDS == 60
    assert params["seconds"].minimum == infer.MIN_SECONDS
