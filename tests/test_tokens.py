"""SMPL tokens (body/tokens.py): the 6D encoding, the FK loss and the mirror."""

from __future__ import annotations

import numpy as np
import torch

from motionfield.body.rotations import quat_to_matrix
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.tokens import (
    ROOT_TOKEN,
    SMPL_SIDES,
    SmplLoss,
    mirror_and_turn,
    mirror_pairs,
    motion_to_tokens,
    tokens_to_motion,
)


def _motion(frames=5, seed=0):
    rng = np.random.default_rng(seed)
    quats = rng.normal(size=(frames, 24, 4))
    return quats / np.linalg.norm(quats, axis=-1, keepdims=True), rng.normal(size=(frames, 3))


def test_tokens_hold_the_rotations_and_the_root_translation():
    quats, trans = _motion()
    tokens = motion_to_tokens(quats, trans)
    assert tokens.shape == (5, 25, 6) and tokens.dtype == np.float32
    assert np.all(tokens[:, ROOT_TOKEN, 3:] == 0)  # padding
    rot, back = tokens_to_motion(tokens)
    np.testing.assert_allclose(rot, quat_to_matrix(quats), atol=1e-5)
    np.testing.assert_allclose(back, trans, atol=1e-6)


def test_loss_is_zero_on_the_truth_and_sees_a_moved_root():
    quats, trans = _motion()
    tokens = torch.tensor(motion_to_tokens(quats, trans))
    loss = SmplLoss()
    assert loss(tokens, tokens) == 0
    moved = tokens.clone()
    moved[:, ROOT_TOKEN, 1] += 0.1  # every joint 10 cm higher
    assert abs(float(loss(moved, tokens)) - 0.1) < 1e-5


def test_mirror_is_a_reflection_of_the_body():
    """On a left-right symmetric skeleton the mirrored tokens' joints are the original
    joints reflected and swapped: every distance between joints is kept, pairs swapped,
    heights unchanged (the turn is about the vertical)."""
    quats, trans = _motion()
    tokens = motion_to_tokens(quats, trans)[None].repeat(8, 0)
    out = mirror_and_turn()(np.random.default_rng(1), tokens)
    flipped = np.random.default_rng(1).random(8) < 0.5  # the augmentation's first draw
    pairs = mirror_pairs(smpl_skeleton().names, SMPL_SIDES)
    loss = SmplLoss()
    offsets = loss.offsets.numpy()
    loss.offsets = torch.tensor((offsets + offsets[pairs] * [-1, 1, 1]) / 2)
    before, after = (loss.positions(torch.tensor(x)).numpy() for x in (tokens, out))
    mirrored = [b for b in range(8) if not np.allclose(out[b, :, 1], tokens[b, :, 1])]
    assert mirrored and mirrored == list(np.flatnonzero(flipped))
    for b in range(8):
        same = before[b][:, pairs] if flipped[b] else before[b]
        dist = np.linalg.norm(same[:, :, None] - same[:, None], axis=-1)
        dist_after = np.linalg.norm(after[b][:, :, None] - after[b][:, None], axis=-1)
        np.testing.assert_allclose(dist_after, dist, atol=1e-5)
        np.testing.assert_allclose(after[b][..., 1], same[..., 1], atol=1e-5)  # height
