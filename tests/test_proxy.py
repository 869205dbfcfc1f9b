"""The proxy body: weights, skinning against hand-made poses, size, parts near their bones."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.proxy import SkinnedMesh, export_proxy, proxy_body, skin
from motionfield.body.rotations import axis_angle_to_matrix
from motionfield.body.skeleton import SMPL_JOINT_NAMES, Skeleton, smpl_skeleton

SKEL = smpl_skeleton()
MESH = proxy_body()
LEFT_ARM_BELOW_ELBOW = {"left_elbow", "left_wrist", "left_hand"}
LEGS = {f"{s}_{n}" for s in ("left", "right") for n in ("hip", "knee", "ankle", "foot")}


def posed(local_axis_angles: dict[str, tuple[float, float, float]]):
    """Global rotations and positions of the default skeleton, root at its rest position."""
    aa = np.zeros((len(SKEL), 3))
    for name, v in local_axis_angles.items():
        aa[SKEL.index(name)] = v
    return forward_kinematics(axis_angle_to_matrix(aa), SKEL.rest_positions()[0],
                              SKEL.offsets, SKEL.parents)


def vertices_only_on(joints: set[str]) -> np.ndarray:
    cols = [SKEL.index(n) for n in joints]
    return np.isclose(MESH.weights[:, cols].sum(axis=1), 1.0, atol=1e-12)


def segment_distance(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    u = b - a
    t = np.clip((x - a) @ u / (u @ u), 0.0, 1.0)
    return np.linalg.norm(x - (a + t[:, None] * u), axis=1)


def test_mesh_shape_and_weights_are_normalised_and_sparse():
    assert MESH.joint_names == SMPL_JOINT_NAMES
    assert 1000 < len(MESH.vertices) <= 4000
    assert MESH.faces.min() >= 0 and MESH.faces.max() < len(MESH.vertices)
    assert MESH.weights.shape == (len(MESH.vertices), 24)
    assert np.all(MESH.weights >= 0)
    np.testing.assert_allclose(MESH.weights.sum(axis=1), 1.0, atol=1e-12)
    assert (MESH.weights > 0).sum(axis=1).max() <= 4
    # joints are blended: some vertices have two joints, every joint has vertices
    assert (MESH.weights > 0.1).sum(axis=1).max() >= 2
    assert np.all(MESH.weights.max(axis=0) > 0.5)


def test_mesh_is_a_closed_outward_surface_and_deterministic():
    tm = MESH.to_trimesh()
    assert tm.is_winding_consistent
    assert 0.04 < tm.volume < 0.12  # m^3: the union overlaps, a person is about 0.07
    again = proxy_body()
    np.testing.assert_array_equal(again.vertices, MESH.vertices)
    np.testing.assert_array_equal(again.weights, MESH.weights)


def test_identity_pose_reproduces_rest_vertices():
    rotations = np.broadcast_to(np.eye(3), (2, 24, 3, 3))
    positions = np.broadcast_to(SKEL.rest_positions(), (2, 24, 3))
    out = skin(MESH, rotations, positions)
    assert out.shape == (2, len(MESH.vertices), 3)
    np.testing.assert_allclose(out, np.broadcast_to(MESH.vertices, out.shape), atol=1e-12)


def test_translating_the_whole_body_translates_every_vertex():
    glob, pos = posed({})
    out = skin(MESH, glob, pos + np.array([0.5, 0.0, -2.0]))
    np.testing.assert_allclose(out, MESH.vertices + [0.5, 0.0, -2.0], atol=1e-12)


def test_left_elbow_quarter_turn_swings_forearm_forward_and_leaves_legs():
    # the left arm lies along +X; -90 degrees about Y takes +X to +Z (forward)
    glob, pos = posed({"left_elbow": (0.0, -np.pi / 2, 0.0)})
    out = skin(MESH, glob, pos)
    elbow = SKEL.rest_positions()[SKEL.index("left_elbow")]
    rot = axis_angle_to_matrix(np.array([0.0, -np.pi / 2, 0.0]))
    forearm = vertices_only_on(LEFT_ARM_BELOW_ELBOW)
    assert forearm.sum() > 200
    expected = (MESH.vertices[forearm] - elbow) @ rot.T + elbow
    np.testing.assert_allclose(out[forearm], expected, atol=1e-12)
    dx, dy, dz = SKEL.rest_positions()[SKEL.index("left_hand")] - elbow
    np.testing.assert_allclose(pos[SKEL.index("left_hand")] - elbow, [-dz, dy, dx], atol=1e-12)
    tips = out[forearm][:, 2].max()
    assert tips > elbow[2] + 0.4  # forearm and hand now point forward
    legs = vertices_only_on(LEGS | {"pelvis"})
    assert legs.sum() > 500
    np.testing.assert_array_equal(out[legs], MESH.vertices[legs])
    upper_arm = vertices_only_on({"left_shoulder"})
    np.testing.assert_allclose(out[upper_arm], MESH.vertices[upper_arm], atol=1e-12)


def test_blended_vertices_move_part_way():
    glob, pos = posed({"left_elbow": (0.0, -np.pi / 2, 0.0)})
    out = skin(MESH, glob, pos)
    j = SKEL.index("left_elbow")
    half = np.abs(MESH.weights[:, j] - 0.5) < 0.2
    moved = np.linalg.norm(out - MESH.vertices, axis=1)
    rigid = vertices_only_on(LEFT_ARM_BELOW_ELBOW)
    assert half.any() and 0 < moved[half].min() and moved[half].max() < moved[rigid].max()


def test_bounding_box_is_human_sized():
    low, high = MESH.vertices.min(axis=0), MESH.vertices.max(axis=0)
    height, span, depth = high[1] - low[1], high[0] - low[0], high[2] - low[2]
    assert 1.6 < height < 1.9
    assert 1.5 < span < 1.9  # T-pose arm span is about the height
    assert 0.2 < depth < 0.45
    assert abs(high[0] + low[0]) < 0.02  # left-right symmetric
    # feet at the bottom, head at the top
    j = MESH.weights.argmax(axis=1)
    feet = np.isin(j, [SKEL.index(n) for n in ("left_ankle", "left_foot")])
    assert MESH.vertices[feet, 1].min() == pytest.approx(low[1])
    assert MESH.vertices[j == SKEL.index("head"), 1].max() == pytest.approx(high[1])
    chest = MESH.vertices[j == SKEL.index("spine3")]
    assert 0.25 < np.ptp(chest[:, 0]) < 0.45  # shoulders-to-chest width


def test_each_bones_vertices_lie_near_its_bone():
    rest = SKEL.rest_positions()
    loose = {"pelvis": 0.17, "spine1": 0.17, "spine2": 0.17, "spine3": 0.17, "neck": 0.15,
             "head": 0.21, "left_ankle": 0.14, "right_ankle": 0.14, "left_foot": 0.12,
             "right_foot": 0.12, "left_hand": 0.12, "right_hand": 0.12}
    owner = MESH.weights.argmax(axis=1)
    for j, name in enumerate(SKEL.names):
        x = MESH.vertices[owner == j]
        assert len(x), name
        kids = SKEL.children(j)
        dist = (np.min([segment_distance(x, rest[j], rest[c]) for c in kids], axis=0)
                if kids else np.linalg.norm(x - rest[j], axis=1))
        assert dist.max() < loose.get(name, 0.1), name


def test_thick_thighs_thin_forearms():
    rest = SKEL.rest_positions()

    def radius(joint, child):
        x = MESH.vertices[vertices_only_on({joint})]
        return np.median(segment_distance(x, rest[SKEL.index(joint)], rest[SKEL.index(child)]))

    assert radius("left_hip", "left_knee") > 1.5 * radius("left_elbow", "left_wrist")


def test_scaled_skeleton_scales_the_body():
    big = SKEL.with_offsets(SKEL.offsets * 1.1)
    mesh = proxy_body(big)
    np.testing.assert_allclose(mesh.vertices, MESH.vertices * 1.1, atol=1e-12)
    np.testing.assert_allclose(mesh.bind_positions, SKEL.rest_positions() * 1.1, atol=1e-12)


def test_bad_inputs_are_refused():
    other = Skeleton(("root", "a"), (-1, 0), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="24 SMPL joint names"):
        proxy_body(other)
    with pytest.raises(ValueError, match="rotations"):
        skin(MESH, np.zeros((3, 23, 3, 3)), np.zeros((3, 23, 3)))
    with pytest.raises(ValueError, match="sum to 1"):
        SkinnedMesh(MESH.vertices, MESH.faces, MESH.weights * 2, MESH.joint_names,
                    MESH.bind_positions)


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".glb"])
def test_export_round_trips_the_rest_mesh(tmp_path, suffix):
    path = tmp_path / f"proxy{suffix}"
    export_proxy(path)
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.faces) == len(MESH.faces)
    np.testing.assert_allclose(loaded.bounds, MESH.to_trimesh().bounds, atol=1e-5)


def test_export_refuses_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=".ply"):
        export_proxy(tmp_path / "proxy.xyz2")
