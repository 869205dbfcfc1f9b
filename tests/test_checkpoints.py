"""Checkpoints (checkpoints.py): weights with the settings, data and licence to credit."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from motionfield.checkpoints import (
    CheckpointError,
    credited,
    read_checkpoint,
    read_meta,
    save_checkpoint,
)

META = {"settings": {"width": 3}, "data": "some clips", "licence": "CC BY 4.0"}


def test_a_checkpoint_reads_back_its_weights_method_and_credits(tmp_path):
    weights = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2).t()}
    path = save_checkpoint(tmp_path / "run" / "model.safetensors", "toy", weights, META)
    meta, tensors = read_checkpoint(path, "toy")
    assert meta == {**META, "method": "toy"}
    assert all(torch.equal(tensors[k], weights[k]) for k in weights)
    with pytest.raises(CheckpointError, match="a toy checkpoint, not other"):
        read_meta(path, "other")


def test_saving_without_data_or_licence_is_refused(tmp_path):
    for missing in ("data", "licence"):
        with pytest.raises(ValueError, match=missing):
            save_checkpoint(tmp_path / "x.safetensors", "toy", {},
                            {k: v for k, v in META.items() if k != missing})
    assert not (tmp_path / "x.safetensors").exists()


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(1)}, foreign)  # a safetensors file without our metadata
    for path in (bad, foreign, tmp_path / "missing.safetensors"):
        with pytest.raises(CheckpointError):
            read_checkpoint(path)


def test_weights_trained_on_from_others_credit_their_data_and_terms_once():
    description, licence = credited("clips B", "CMU terms", {"data": "clips A",
                                                             "licence": "CMU terms; CC BY-NC"})
    assert description == "clips B; started from weights trained on clips A"
    assert licence == "CMU terms; CC BY-NC"
