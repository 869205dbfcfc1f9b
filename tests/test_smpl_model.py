"""User SMPL files without the licensed models: a synthetic SMPL-format model as .npz and as
a chumpy-style .pkl, read by the restricted unpickler; dangerous pickles are refused."""

from __future__ import annotations

import builtins
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp

from motionfield.body import rotations as R
from motionfield.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS
from motionfield.body.smpl_model import (
    BodyModelError,
    convert_model_file,
    load_body_model,
    read_model_file,
    safe_unpickle,
)
from motionfield.motion import Motion

V, F = 60, 80


def synthetic_smpl(seed: int = 0) -> dict[str, np.ndarray]:
    """A small random mesh in the SMPL model format (24 joints, SMPL parents)."""
    rng = np.random.default_rng(seed)
    regressor = rng.random((24, V)) * (rng.random((24, V)) < 0.3)
    regressor[:, 0] += 1e-3
    weights = rng.random((V, 24)) ** 4
    parents = np.array([2**32 - 1, *SMPL_PARENTS[1:]], dtype=np.int64)
    return {
        "v_template": rng.normal(scale=0.3, size=(V, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(V, 3, 10)),
        "posedirs": rng.normal(scale=0.01, size=(V, 3, 207)),
        "J_regressor": regressor / regressor.sum(axis=1, keepdims=True),
        "weights": weights / weights.sum(axis=1, keepdims=True),
        "kintree_table": np.stack([parents, np.arange(24)]),
        "f": rng.integers(0, V, size=(F, 3)),
        "bs_type": np.array("lrotmin"),
    }


@pytest.fixture
def model_npz(tmp_path):
    arrays = synthetic_smpl()
    path = tmp_path / "SMPL_NEUTRAL.npz"
    np.savez(path, **arrays)
    return path, arrays


def identity_motion(skeleton, root: np.ndarray) -> Motion:
    rot = np.zeros((len(root), 24, 4))
    rot[..., 0] = 1.0
    return Motion.from_frames(rot, root, skeleton, fps=30)


def test_skeleton_comes_from_the_models_joint_regressor(model_npz):
    path, arrays = model_npz
    model = load_body_model(path)
    assert model.model_type == "smpl" and model.num_betas == 10
    betas = np.linspace(-1.0, 1.0, 10)
    skel = model.skeleton(betas)
    assert skel.names == SMPL_JOINT_NAMES and skel.parents == SMPL_PARENTS
    shaped = arrays["v_template"] + arrays["shapedirs"] @ betas
    joints = arrays["J_regressor"] @ shaped
    np.testing.assert_allclose(skel.offsets[0], joints[0], atol=1e-6)
    for j in range(1, 24):
        np.testing.assert_allclose(skel.offsets[j], joints[j] - joints[SMPL_PARENTS[j]],
                                   atol=1e-6)
    np.testing.assert_allclose(skel.rest_positions(), joints, atol=1e-6)
    np.testing.assert_array_equal(model.faces, arrays["f"])


def test_zero_pose_vertices_are_the_template_moved_to_the_root(model_npz):
    path, arrays = model_npz
    model = load_body_model(path)
    pelvis = (arrays["J_regressor"] @ arrays["v_template"])[0]
    root = np.array([[0.0, 0.9, 0.0], [0.3, 1.0, -2.0]])
    verts = model.vertices(identity_motion(model.skeleton(), root))
    assert verts.shape == (2, V, 3)
    expected = arrays["v_template"][None] - pelvis + root[:, None]
    np.testing.assert_allclose(verts, expected, atol=1e-5)


def test_posed_joints_match_forward_kinematics(model_npz):
    path, _ = model_npz
    model = load_body_model(path)
    rng = np.random.default_rng(1)
    rot = R.axis_angle_to_quat(rng.normal(scale=0.4, size=(3, 24, 3)))
    motion = Motion.from_frames(rot, rng.normal(size=(3, 3)), model.skeleton(), fps=30)
    np.testing.assert_allclose(model.joints(motion), motion.joint_positions(), atol=1e-5)
    assert np.all(np.isfinite(model.vertices(motion)))


def test_motion_betas_shape_the_body(model_npz):
    path, arrays = model_npz
    model = load_body_model(path)
    betas = np.array([0.5, -1.0, 2.0])
    rest = model.skeleton(betas)
    verts = model.vertices(identity_motion(rest, np.zeros((1, 3))), betas=betas)
    shaped = arrays["v_template"] + arrays["shapedirs"][..., :3] @ betas
    pelvis = (arrays["J_regressor"] @ shaped)[0]
    np.testing.assert_allclose(verts[0], shaped - pelvis, atol=1e-5)
    with pytest.raises(BodyModelError, match="betas"):
        model.skeleton(np.ones(12))


def test_folder_lookup_and_type_checks(tmp_path):
    arrays = synthetic_smpl()
    (tmp_path / "smpl").mkdir()
    np.savez(tmp_path / "smpl" / "SMPL_FEMALE.npz", **arrays)
    assert load_body_model(tmp_path, gender="female").model_type == "smpl"
    with pytest.raises(BodyModelError, match="SMPL_MALE"):
        load_body_model(tmp_path, gender="male")
    with pytest.raises(BodyModelError, match="smplx"):
        load_body_model(tmp_path / "smpl" / "SMPL_FEMALE.npz", model_type="smplx")
    with pytest.raises(BodyModelError, match="gender"):
        load_body_model(tmp_path, gender="other")
    broken = dict(arrays)
    del broken["posedirs"]
    np.savez(tmp_path / "broken.npz", **broken)
    with pytest.raises(BodyModelError, match="posedirs"):
        load_body_model(tmp_path / "broken.npz")


def test_object_arrays_in_npz_are_skipped_not_unpickled(tmp_path):
    arrays = synthetic_smpl()
    arrays["joint2num"] = np.array({"pelvis": 0}, dtype=object)
    np.savez(tmp_path / "model.npz", **arrays)
    loaded = read_model_file(tmp_path / "model.npz")
    assert "joint2num" not in loaded and "v_template" in loaded


# --------------------------------------------------------------------------- pickles


def fake_chumpy(monkeypatch) -> type:
    """A stand-in `chumpy` package whose Ch pickles its state the way chumpy's does:
    its __dict__ without the weak-reference caches, the array in `x`."""
    package = types.ModuleType("chumpy")
    package.__path__ = []
    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, dtype=np.float64)
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}
            self._make_dense = self._make_sparse = False
            self._parents, self._cache = {}, {"r": None}

        def __getstate__(self):
            state = dict(self.__dict__)
            del state["_parents"], state["_cache"]
            return state

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    package.ch = ch
    monkeypatch.setitem(sys.modules, "chumpy", package)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch)
    return Ch


def official_style_pickle(arrays, protocol: int) -> bytes:
    with pytest.MonkeyPatch.context() as mp:
        Ch = fake_chumpy(mp)
        model = dict(arrays)
        for key in ("v_template", "shapedirs", "posedirs", "weights"):
            model[key] = Ch(arrays[key])
        model["J_regressor"] = sp.csc_matrix(arrays["J_regressor"])
        model["J_regressor_prior"] = sp.csc_matrix(arrays["J_regressor"])
        model["pose_training_info"] = {"notes": ["metadata smplx does not need"]}
        data = pickle.dumps(model, protocol=protocol)
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules
    return data


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_official_style_pkl_loads_without_chumpy(tmp_path, protocol):
    arrays = synthetic_smpl()
    path = tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl"
    path.write_bytes(official_style_pickle(arrays, protocol))
    loaded = read_model_file(path)
    assert "chumpy" not in sys.modules
    for key in ("v_template", "shapedirs", "posedirs", "weights", "J_regressor",
                "kintree_table", "f"):
        np.testing.assert_array_equal(loaded[key], arrays[key], err_msg=key)
        assert loaded[key].dtype != object
    assert "pose_training_info" not in loaded
    assert str(loaded["bs_type"]) == "lrotmin"
    model = load_body_model(path)
    joints = arrays["J_regressor"] @ arrays["v_template"]
    np.testing.assert_allclose(model.skeleton().rest_positions(), joints, atol=1e-6)


def test_convert_model_file_writes_a_plain_npz(tmp_path):
    arrays = synthetic_smpl()
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    pkl.write_bytes(official_style_pickle(arrays, 2))
    npz = convert_model_file(pkl, tmp_path / "SMPL_NEUTRAL.npz")
    with np.load(npz, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["shapedirs"], arrays["shapedirs"])
        np.testing.assert_array_equal(z["J_regressor"], arrays["J_regressor"])
    assert load_body_model(tmp_path).source == npz  # a folder prefers the .npz


class RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class RunsEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload, name", [(RunsShell, "system"), (RunsEval, "eval")])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path, payload, name, protocol):
    marker = tmp_path / "ran"
    model = synthetic_smpl()
    model["v_template"] = payload(marker)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(model, protocol=protocol))
    with pytest.raises(BodyModelError, match=f"refusing to load .*{name}"):
        load_body_model(path)
    with pytest.raises(BodyModelError, match="nothing was run"):
        safe_unpickle(path.read_bytes())
    assert not marker.exists()


def test_other_globals_and_garbage_are_refused(tmp_path):
    import subprocess

    for obj in (subprocess.Popen, getattr, types.SimpleNamespace(a=1)):
        with pytest.raises(BodyModelError, match="refusing"):
            safe_unpickle(pickle.dumps({"x": obj}, protocol=2))
    with pytest.raises(BodyModelError, match="not a readable model pickle"):
        safe_unpickle(b"\x80\x02}q\x00(X")
    with pytest.raises(BodyModelError, match="codec"):
        safe_unpickle(b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x04\x00\x00\x00"
                      b"zlibq\x01\x86q\x02Rq\x03.")


def synthetic_hand_model(kind: str) -> dict[str, np.ndarray]:
    """SMPL-H (52 joints) or SMPL-X (55) in their file format, built on the SMPL one."""
    rng = np.random.default_rng(3)
    arrays = synthetic_smpl()
    parents = list(SMPL_PARENTS[:22]) + ([15, 15, 15] if kind == "smplx" else [])
    for wrist in (20, 21):  # five fingers of three joints each
        for _ in range(5):
            parents += [wrist, len(parents), len(parents) + 1]
    joints = len(parents)
    parents[0] = 2**32 - 1
    regressor, weights = rng.random((joints, V)), rng.random((V, joints))
    arrays.update(
        J_regressor=regressor / regressor.sum(axis=1, keepdims=True),
        weights=weights / weights.sum(axis=1, keepdims=True),
        kintree_table=np.stack([np.array(parents), np.arange(joints)]),
        posedirs=rng.normal(scale=0.01, size=(V, 3, (joints - 1) * 9)),
        shapedirs=rng.normal(scale=0.01, size=(V, 3, 20)),
        hands_componentsl=np.eye(45), hands_componentsr=np.eye(45),
        hands_meanl=np.zeros(45), hands_meanr=np.zeros(45))
    if kind == "smplx":
        arrays.update(lmk_faces_idx=np.arange(5), lmk_bary_coords=np.full((5, 3), 1 / 3))
    return arrays


@pytest.mark.parametrize("kind, middle1", [("smplh", (25, 40)), ("smplx", (28, 43))])
def test_smplh_and_smplx_map_hands_to_middle_finger_bases(tmp_path, kind, middle1):
    arrays = synthetic_hand_model(kind)
    path = tmp_path / f"{kind.upper()}_NEUTRAL.npz"
    np.savez(path, **arrays)
    model = load_body_model(tmp_path)
    assert model.model_type == kind
    joints = arrays["J_regressor"] @ arrays["v_template"]
    skel = model.skeleton()
    np.testing.assert_allclose(skel.rest_positions(), joints[list(range(22)) + list(middle1)],
                               atol=1e-6)
    root = np.array([[0.0, 1.0, 0.0]])
    verts = model.vertices(identity_motion(skel, root))
    np.testing.assert_allclose(verts[0], arrays["v_template"] - joints[0] + root, atol=1e-5)
    rng = np.random.default_rng(4)
    rot = R.axis_angle_to_quat(rng.normal(scale=0.4, size=(2, 24, 3)))
    rot[:, 22:] = [1.0, 0.0, 0.0, 0.0]  # SMPL hand rotations are not applied to fingers
    motion = Motion.from_frames(rot, rng.normal(size=(2, 3)), skel, fps=30)
    np.testing.assert_allclose(model.joints(motion), motion.joint_positions(), atol=1e-5)
