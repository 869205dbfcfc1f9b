"""Motion longer than one sample: samples of the shipped model joined over bridges that the
prediction method's fill answers (methods/text2motion/chain.py)."""

from __future__ import annotations

import numpy as np
import pytest

from motionfield.methods.text2motion import chain
from motionfield.methods.text2motion.config import BRIDGE_SECONDS, MAX_SECONDS
from motionfield.methods.text2motion.infer import load

PROMPT = "a person walks happily"


@pytest.fixture(scope="module")
def model():
    return load()  # the shipped checkpoint


@pytest.mark.parametrize("seconds", [10.0, 10.5, 19.0, 19.01, 37.3, 60.0])
def test_segments_cover_the_duration_each_one_sample_long(seconds):
    count, length = chain.segments(seconds)
    assert length <= MAX_SECONDS + 1e-9
    assert count * length - (count - 1) * BRIDGE_SECONDS == pytest.approx(seconds)
    if count > 1:  # one segment fewer would not do
        assert (count - 1) * MAX_SECONDS - (count - 2) * BRIDGE_SECONDS < seconds


def test_up_to_ten_seconds_is_the_plain_sample(model):
    plain = model.generate([PROMPT], 4.0, 30, seed=5)[0]
    chained = chain.generate(model, PROMPT, 4.0, 30, seed=5)
    np.testing.assert_array_equal(chained.rotations, plain.rotations)


def _steps(motion) -> np.ndarray:
    """Each frame's largest joint displacement from the frame before (m)."""
    return np.linalg.norm(np.diff(motion.joint_positions(), axis=0), axis=-1).max(1)


def test_a_long_walk_keeps_walking_without_a_jump_at_the_bridges(model):
    motion = chain.generate(model, PROMPT, 19.5, 30, seed=3)
    assert motion.num_frames == 586 and np.isfinite(motion.rotations).all()
    count, length = chain.segments(19.5)
    starts = np.arange(1, count) * (length - BRIDGE_SECONDS)
    steps, times = _steps(motion), motion.times[1:]
    near = np.zeros(len(times), dtype=bool)
    for start in starts:
        near |= (times > start - 0.1) & (times < start + BRIDGE_SECONDS + 0.1)
    # no frame in or at the edges of a bridge moves a joint further than the samples do
    assert steps[near].max() <= 1.2 * np.percentile(steps[~near], 99)
    # each segment starts where the walk is, so the walk goes on: the ground covered grows
    def ground(root):
        return np.linalg.norm(root[-1, [0, 2]] - root[0, [0, 2]])

    one = model.generate([PROMPT], length, 30, seed=3)[0]
    assert ground(motion.root_translation) > 1.5 * ground(one.root_translation)


def test_a_chained_motion_is_one_function_of_time(model):
    at_30 = chain.generate(model, PROMPT, 10.5, 30, seed=1)
    at_60 = chain.generate(model, PROMPT, 10.5, 60, seed=1)
    np.testing.assert_allclose(at_60.rotations[::2], at_30.rotations, atol=1e-6)
    np.testing.assert_allclose(at_60.root_translation[::2], at_30.root_translation, atol=1e-6)


@pytest.mark.parametrize("seconds", [0.5, 60.5, float("nan"), float("inf")])
def test_durations_out_of_bounds_are_refused(model, seconds):
    with pytest.raises(ValueError, match="1 to 60 s"):
        chain.generate(model, PROMPT, seconds, 30)
