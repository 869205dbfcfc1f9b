"""`motionfield data build`: a real source into a cached, split, labelled SMPL set."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from motionfield.data.build import build, load_set, split_of
from motionfield.errors import DataError


def test_split_is_deterministic_and_roughly_80_10_10():
    groups = [f"clip_{i}" for i in range(3000)]
    splits = [split_of(g) for g in groups]
    assert splits == [split_of(g) for g in groups]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.77 < share["train"] < 0.83 and 0.08 < share["val"] < 0.12
    assert split_of("anything", official="test") == "test"
    assert split_of("x", official="train") in ("train", "val")


@pytest.fixture(scope="module")
def small_folder(data_root, tmp_path_factory):
    """A folder of BVH from three rigs, like a user's own."""
    folder = tmp_path_factory.mktemp("mine")
    for rel in ("cmu_bvh/02_01.bvh", "ReActIdle/genuine/003_genuine.bvh",
                "Bandai-Namco-Research-Motiondataset-1/data/dataset-1_walk_normal_001.bvh"):
        (folder / rel.split("/")[0]).mkdir(exist_ok=True)
        shutil.copy(data_root / rel, folder / rel.split("/")[0])
    (folder / "broken").mkdir()
    (folder / "broken" / "bad.bvh").write_text("HIERARCHY\nROOT x\n{")
    return folder


def test_build_a_folder_of_bvh(small_folder, tmp_path):
    dest = build(str(small_folder), tmp_path, workers=1, progress=False)
    manifest = json.loads((dest / "manifest.json").read_text())
    index = json.loads((dest / "index.json").read_text())
    assert manifest["clips"] == 3 and manifest["failed"] == 1
    assert "bad.bvh" in index["failed"][0]["file"]
    data = load_set(dest)
    fps = {c["id"].split("/")[0]: c["fps"] for c in data.clips}
    assert fps == {"cmu_bvh": "120", "ReActIdle": "24",
                   "Bandai-Namco-Research-Motiondataset-1": "30"}  # native rates kept
    rot, trans = data.clip(0)
    assert rot.shape == (data.clips[0]["frames"], 24, 4) and trans.shape[1] == 3
    np.testing.assert_allclose(np.linalg.norm(data.rotations, axis=-1), 1.0, atol=1e-5)
    # a second build with unchanged inputs is a cache hit (same files, untouched)
    stamp = (dest / "clips.npz").stat().st_mtime_ns
    build(str(small_folder), tmp_path, workers=1, progress=False)
    assert (dest / "clips.npz").stat().st_mtime_ns == stamp


def test_bandai_labels_and_licence(data_root, tmp_path):
    dest = build("bandai-namco-1", tmp_path, workers=2, progress=False)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert "CC BY-NC" in manifest["licence"] and manifest["clips"] == 174
    clips = load_set(dest).clips
    walk = next(c for c in clips if c["id"] == "dataset-1_walk_normal_001")
    assert walk["labels"]["content"] == "walk" and walk["labels"]["style"] == "normal"
    assert isinstance(walk["labels"]["content_index"], int)
    assert {c["split"] for c in clips} == {"train", "val", "test"}
    assert max(c["retarget_error_m"] for c in clips) < 0.02


def test_unknown_source_is_refused(tmp_path):
    with pytest.raises(DataError, match="unknown source"):
        build("no-such-source", tmp_path)
