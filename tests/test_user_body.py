"""The user's own SMPL body as the rest mesh on the 24 SMPL joints, and the `convert` job
returning it (with a matching skeleton) instead of the proxy. Synthetic model files only:
no licensed SMPL file is needed or shipped."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_smpl_model import V, synthetic_hand_model, synthetic_smpl

from motionfield.body.proxy import MAX_INFLUENCES
from motionfield.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, smpl_skeleton
from motionfield.body.smpl_model import BodyModelError, rest_body
from motionfield.client import BackendError, Client, JobFailed
from motionfield.methods.convert.job import JOB as CONVERT
from motionfield.protocol import new_key
from motionfield.server.app import Server

BETAS = np.linspace(-1.5, 1.5, 10)


def human_smpl(per_joint: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """An SMPL-format model whose rest joints are the shipped skeleton's (a T pose, so a BVH
    calibrates against it): a cluster of vertices around each joint, regressed by their
    mean; each vertex skinned to its joint, every third one blended 0.3 with the parent."""
    rng = np.random.default_rng(seed)
    count = 24 * per_joint
    jitter = rng.normal(scale=0.03, size=(24, per_joint, 3))
    jitter -= jitter.mean(axis=1, keepdims=True)
    owner = np.repeat(np.arange(24), per_joint)
    regressor = (owner[None] == np.arange(24)[:, None]) / per_joint
    weights = np.zeros((count, 24))
    weights[np.arange(count), owner] = 1.0
    blend = np.arange(count)[(np.arange(count) % 3 == 2) & (owner > 0)]
    weights[blend, owner[blend]] = 0.7
    weights[blend, np.array(SMPL_PARENTS)[owner[blend]]] = 0.3
    fan = [(0, i, i + 1) for i in range(1, per_joint - 1)]
    parents = np.array([2**32 - 1, *SMPL_PARENTS[1:]], dtype=np.int64)
    return {
        "v_template": (smpl_skeleton().rest_positions()[:, None] + jitter).reshape(-1, 3),
        "shapedirs": rng.normal(scale=0.005, size=(count, 3, 10)),
        "posedirs": rng.normal(scale=0.001, size=(count, 3, 207)),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.stack([parents, np.arange(24)]),
        "f": np.array([[c * per_joint + i for i in tri] for c in range(24) for tri in fan]),
    }


@pytest.fixture
def smpl_folder(tmp_path):
    """A folder laid out as smplx expects: smpl/SMPL_FEMALE.npz."""
    arrays = human_smpl()
    (tmp_path / "smpl").mkdir()
    np.savez(tmp_path / "smpl" / "SMPL_FEMALE.npz", **arrays)
    return tmp_path, arrays


def shaped(arrays, betas=BETAS) -> tuple[np.ndarray, np.ndarray]:
    verts = arrays["v_template"] + arrays["shapedirs"][..., : len(betas)] @ betas
    return verts, arrays["J_regressor"] @ verts


def test_rest_body_is_the_shaped_template_on_the_regressed_joints(smpl_folder):
    folder, arrays = smpl_folder
    mesh, skeleton = rest_body(folder, "female", BETAS)
    verts, joints = shaped(arrays)
    np.testing.assert_allclose(mesh.vertices, verts, atol=1e-6)
    np.testing.assert_allclose(mesh.bind_positions, joints, atol=1e-6)
    np.testing.assert_allclose(skeleton.rest_positions(), joints, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, arrays["f"])
    assert mesh.joint_names == SMPL_JOINT_NAMES == skeleton.names
    assert skeleton.parents == SMPL_PARENTS
    np.testing.assert_allclose(mesh.weights, arrays["weights"], atol=1e-6)  # sparse: as given
    np.testing.assert_allclose(mesh.weights.sum(axis=1), 1.0, atol=1e-12)
    # no betas: the template itself; the cache keeps each shape apart
    np.testing.assert_allclose(rest_body(folder, "female")[0].vertices, arrays["v_template"])


def test_dense_weights_keep_the_four_strongest_joints(tmp_path):
    arrays = synthetic_smpl()  # every vertex weighted on all 24 joints
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    mesh, _ = rest_body(tmp_path)
    kept = np.sort(arrays["weights"], axis=1)[:, -MAX_INFLUENCES:]
    assert np.all(np.count_nonzero(mesh.weights, axis=1) == MAX_INFLUENCES)
    np.testing.assert_allclose(np.sort(mesh.weights, axis=1)[:, -MAX_INFLUENCES:],
                               kept / kept.sum(axis=1, keepdims=True), atol=1e-12)
    strongest = arrays["weights"].argmax(axis=1)
    assert np.all(mesh.weights.argmax(axis=1) == strongest)


@pytest.mark.parametrize("kind, hand", [("smplh", 22), ("smplx", 25)])
def test_finger_and_face_weights_fold_onto_wrist_and_head(tmp_path, kind, hand):
    arrays = synthetic_hand_model(kind)
    weights = np.zeros_like(arrays["weights"])
    weights[:, 0] = 1.0
    weights[0] = 0.0
    weights[0, [hand + 1, hand + 3, 18]] = 0.3, 0.5, 0.2  # left index2, left middle1, elbow
    weights[1] = 0.0
    weights[1, [hand + 15 + 14, 21]] = 0.6, 0.4  # right thumb3, right wrist
    if kind == "smplx":
        weights[2] = 0.0
        weights[2, [22, 23, 24, 12]] = 0.4, 0.2, 0.2, 0.2  # jaw, eyes, neck
    arrays["weights"] = weights
    np.savez(tmp_path / f"{kind.upper()}_MALE.npz", **arrays)
    mesh, skeleton = rest_body(tmp_path, "male")
    expect = np.zeros((V, 24))
    expect[:, 0] = 1.0
    expect[0] = 0.0
    expect[0, [20, 18]] = 0.8, 0.2  # the whole hand follows the wrist
    expect[1] = 0.0
    expect[1, 21] = 1.0
    if kind == "smplx":
        expect[2] = 0.0
        expect[2, [15, 12]] = 0.8, 0.2
    np.testing.assert_allclose(mesh.weights, expect, atol=1e-12)
    np.testing.assert_allclose(skeleton.rest_positions(), mesh.bind_positions)


def test_missing_or_bad_model_files_are_clear_errors(tmp_path):
    with pytest.raises(BodyModelError, match="no such SMPL model folder"):
        rest_body(tmp_path / "nowhere")
    with pytest.raises(BodyModelError, match="SMPL_NEUTRAL"):
        rest_body(tmp_path)  # an empty folder
    arrays = human_smpl()
    arrays["weights"][3] = 0.0
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    with pytest.raises(BodyModelError, match="no skinning weight"):
        rest_body(tmp_path)
    with pytest.raises(BodyModelError, match="gender"):
        rest_body(tmp_path, "robot")


# --------------------------------------------------------------------------- the convert job


def run_convert(params: dict, arrays: dict) -> tuple[dict, dict]:
    return CONVERT.run(CONVERT.validate(params, arrays), arrays, lambda *a: None)


def smpl_arrays(frames: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    rot = rng.normal(size=(frames, 24, 4))
    return {"rotations": rot / np.linalg.norm(rot, axis=-1, keepdims=True),
            "root_translation": rng.normal(size=(frames, 3)),
            "times": np.arange(frames) / 30.0}


def leg(points: np.ndarray) -> float:
    return float(np.mean([np.linalg.norm(points[k] - points[h]) + np.linalg.norm(
        points[a] - points[k]) for h, k, a in ((1, 4, 7), (2, 5, 8))]))


def test_convert_with_smpl_folder_returns_the_users_mesh_on_its_skeleton(smpl_folder):
    folder, arrays = smpl_folder
    given = smpl_arrays()
    content, out = run_convert({"fps": 30, "body": True, "smpl_folder": str(folder),
                                "smpl_gender": "female"}, given)
    verts, joints = shaped(arrays, np.zeros(10))
    np.testing.assert_allclose(out["body_vertices"], verts, atol=1e-6)
    np.testing.assert_array_equal(out["body_faces"], arrays["f"])
    np.testing.assert_allclose(out["body_weights"], arrays["weights"], atol=1e-6)
    offsets = joints.copy()
    offsets[1:] -= joints[list(SMPL_PARENTS[1:])]
    np.testing.assert_allclose(out["offsets"], offsets, atol=1e-6)  # the mesh sits on the bones
    assert content["joint_names"] == list(SMPL_JOINT_NAMES)
    same = np.abs(np.sum(out["rotations"] * given["rotations"], axis=-1))  # q and -q alike
    np.testing.assert_allclose(same, 1.0, atol=1e-6)
    scale = leg(joints) / leg(smpl_skeleton().rest_positions())  # feet stay on the floor
    np.testing.assert_allclose(out["root_translation"], given["root_translation"] * scale,
                               atol=1e-5)


def test_convert_of_a_bvh_with_smpl_folder_is_on_the_models_skeleton(smpl_folder, data_root):
    folder, arrays = smpl_folder
    bvh = (data_root / "cmu_bvh" / "02_01.bvh").read_bytes()
    content, out = run_convert(
        {"fps": 30, "body": True, "smpl_folder": str(folder), "smpl_gender": "female",
         "end": 0.5}, {"bvh_file": np.frombuffer(bvh, dtype=np.uint8)})
    joints = shaped(arrays, np.zeros(10))[1]
    np.testing.assert_allclose(out["offsets"][1:], joints[1:] - joints[list(SMPL_PARENTS[1:])],
                               atol=1e-6)
    assert content["report"]["proportions"] == "smpl"
    assert out["body_vertices"].shape == (len(arrays["v_template"]), 3) and content["frames"] == 16
    # without a folder, the same request still gets the proxy on the actor's proportions
    _, proxy = run_convert({"fps": 30, "body": True, "end": 0.5},
                           {"bvh_file": np.frombuffer(bvh, dtype=np.uint8)})
    assert len(proxy["body_vertices"]) > 1000


def test_a_bad_smpl_folder_is_an_error_reply(tmp_path):
    key = new_key()
    server = Server("tcp://127.0.0.1:0", key, workers=1,
                    allowed_paths={"smpl_folders": [str(tmp_path)]})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Client(server.address, key, heartbeat=2.0) as client:
            with pytest.raises(JobFailed, match="no such SMPL model folder"):
                client.run("convert", {"fps": 30, "body": True,
                                       "smpl_folder": str(tmp_path / "missing")},
                           smpl_arrays(), timeout=30)
            with pytest.raises(JobFailed, match="SMPL_MALE"):
                client.run("convert", {"fps": 30, "body": True, "smpl_folder": str(tmp_path),
                                       "smpl_gender": "male"}, smpl_arrays(), timeout=30)
            with pytest.raises(BackendError, match="smpl_gender"):
                client.run("convert", {"fps": 30, "smpl_folder": str(tmp_path),
                                       "smpl_gender": "robot"}, smpl_arrays(), timeout=30)
            assert client.ping() < 1.0  # the server lives on
    finally:
        with Client(server.address, key) as client:
            client.shutdown()
        thread.join(timeout=10)
