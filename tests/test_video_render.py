"""The rendered evaluation's pixels: Blender draws the proxy body where the camera model
says it is, and MediaPipe finds the body's joints there (methods/video/render.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.proxy import proxy_body
from motionfield.body.skeleton import SMPL_JOINT_NAMES, smpl_skeleton
from motionfield.methods.video import render
from motionfield.methods.video.data import View, look_at

needs_blender = pytest.mark.skipif(importlib.util.find_spec("bpy") is None,
                                   reason="rendering needs bpy (the test extra)")
FRAMES = 12
SIZE = (640, 480)


def _standing(frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """SMPL global rotations and joints of a body facing +Z, arms down at 60 degrees from
    the T pose, its feet on y = 0, stepping sideways 1 cm a frame."""
    skel = smpl_skeleton()
    local = np.tile(np.eye(3), (frames, 24, 1, 1))
    for side, sign in (("left_shoulder", -1), ("right_shoulder", 1)):
        a = np.radians(60) * sign
        local[:, SMPL_JOINT_NAMES.index(side)] = [[np.cos(a), -np.sin(a), 0],
                                                  [np.sin(a), np.cos(a), 0], [0, 0, 1]]
    root = np.zeros((frames, 3))
    root[:, 0] = np.arange(frames) * 0.01
    glob, joints = forward_kinematics(local, root, np.array(skel.offsets), skel.parents)
    lift = -joints[..., 1].min() + 0.05
    return glob, joints + [0, lift, 0]


def _front_view() -> View:
    position = np.array([[0.3, 1.1, 3.5]])
    focal = SIZE[0] / 2 / np.tan(np.radians(50) / 2)
    return View(look_at(position, np.array([[0.0, 0.9, 0.0]]), np.zeros(1)), position,
                np.array([focal]), np.array([SIZE], dtype=np.float64))


def test_render_size_keeps_the_aspect_and_even_numbers():
    assert render.render_size((1920, 1080)) == ((960, 540), 0.5)
    assert render.render_size((1080, 1920)) == ((540, 960), 0.5)
    assert render.render_size((640, 480)) == ((640, 480), 1.0)
    size, scale = render.render_size((1281, 721))
    assert all(s % 2 == 0 for s in size) and scale == pytest.approx(960 / 1281)


def test_garments_follow_the_joints_that_move_them():
    mesh = proxy_body()
    parts = render.face_parts(mesh)
    owner = mesh.weights.argmax(axis=1)[mesh.faces[:, 0]]
    names = np.array(mesh.joint_names)[owner]
    assert set(parts[names == "head"]) == {render.PARTS.index("skin"),
                                           render.PARTS.index("hair")}
    assert set(parts[names == "spine2"]) == {render.PARTS.index("shirt")}
    assert set(parts[names == "left_knee"]) == {render.PARTS.index("trousers")}
    assert set(parts[names == "right_foot"]) == {render.PARTS.index("shoes")}


def test_the_dressed_body_has_a_face_on_the_front_of_its_head():
    mesh, parts = render.dressed_body()
    assert len(parts) == len(mesh.faces)
    head = mesh.bind_positions[mesh.joint_names.index("head")]
    for garment in ("eyes", "lips"):
        centre = mesh.vertices[np.unique(mesh.faces[parts == render.PARTS.index(garment)])]
        assert (centre[:, 2] > head[2] + 0.08).all()     # in front, where the body faces
    hair = mesh.vertices[np.unique(mesh.faces[parts == render.PARTS.index("hair")])]
    assert hair[:, 2].min() < head[2] - 0.05 and hair[:, 1].max() > head[1] + 0.15


def test_a_shot_survives_its_file_without_pickle(tmp_path):
    glob, joints = _standing(3)
    shot = render.make_shot(glob, joints, _front_view(), 29.97)
    shot.save(tmp_path / "shot.npz")
    back = render.Shot.load(tmp_path / "shot.npz")
    np.testing.assert_allclose(back.vertices, shot.vertices)
    np.testing.assert_array_equal(back.face_parts, shot.face_parts)
    assert (back.size, back.fps, back.focal) == (shot.size, shot.fps, shot.focal)


def test_the_settings_key_changes_with_the_look(monkeypatch):
    key = render.settings_key()
    monkeypatch.setitem(render.COLOURS, "shirt", (0.5, 0.1, 0.1))
    assert render.settings_key() != key


def test_without_bpy_rendering_says_what_to_install(tmp_path, monkeypatch):
    from motionfield.errors import MotionfieldError

    real = render.importlib.util.find_spec
    monkeypatch.setattr(render.importlib.util, "find_spec",
                        lambda name, *a: None if name == "bpy" else real(name, *a))
    glob, joints = _standing(2)
    shot = render.make_shot(glob, joints, _front_view(), 30.0)
    with pytest.raises(MotionfieldError, match=r"needs Blender's bpy"):
        render.render_many({tmp_path / "v.mp4": lambda: shot}, workers=1)
    assert not list(tmp_path.iterdir())          # nothing half-written left behind


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, render.Shot, View]:
    glob, joints = _standing()
    view = _front_view()
    shot = render.make_shot(glob, joints, view, 30.0)
    folder = tmp_path_factory.mktemp("render")
    video = folder / "standing.mp4"
    render.render_many({video: lambda: shot}, workers=1)
    return video, shot, view


@needs_blender
def test_blender_draws_the_shirt_where_the_camera_model_projects_it(rendered):
    cv2 = pytest.importorskip("cv2")
    video, shot, view = rendered
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame.astype(np.int32))
    assert len(frames) == FRAMES and frames[0].shape == (SIZE[1], SIZE[0], 3)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    shirt = render.PARTS.index("shirt")
    shirt_vertices = np.unique(shot.faces[shot.face_parts == shirt])
    for index in (0, FRAMES - 1):
        blue, green, red = np.moveaxis(frames[index], -1, 0)
        mask = (blue > red + 40) & (blue > green + 20)        # the shirt, nothing else
        ys, xs = np.nonzero(mask)
        pixels, _ = view.project(shot.vertices[None, index:index + 1, shirt_vertices])
        want = pixels[0, 0].mean(axis=0)
        assert mask.sum() > 500
        assert abs(xs.mean() - want[0]) < 0.03 * SIZE[0]
        assert abs(ys.mean() - want[1]) < 0.03 * SIZE[1]


@needs_blender
def test_mediapipe_finds_the_rendered_body_where_it_is(rendered):
    pytest.importorskip("mediapipe")
    from motionfield.methods.video.extract import extract_video

    video, shot, view = rendered
    found = extract_video(video).keypoints
    glob, joints = _standing()
    # COCO shoulders 5, 6 and hips 11, 12 against SMPL's 16, 17 and 1, 2
    pixels, _ = view.project(joints[None][:, :, [16, 17, 1, 2]])
    height = np.ptp(view.project(shot.vertices[None, :1])[0][0, 0, :, 1])
    seen = found.confidence[:, [5, 6, 11, 12]] > 0.5
    assert seen.mean() > 0.9
    error = np.linalg.norm(found.xy[:, [5, 6, 11, 12]] - pixels[0], axis=-1)[seen]
    assert np.median(error) < 0.06 * height       # a detector's hip is not SMPL's hip


def test_a_video_of_nobody_is_counted_not_fatal(tmp_path):
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("mediapipe")
    from motionfield.methods.video.extract import extract_video
    from motionfield.methods.video.keypoints import KeypointsError

    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 240))
    for _ in range(6):
        writer.write(np.full((240, 320, 3), 128, dtype=np.uint8))
    writer.release()
    with pytest.raises(KeypointsError, match="found nobody"):
        extract_video(path)
    empty = extract_video(path, allow_nobody=True).keypoints
    assert empty.frames == 6 and not empty.confidence.any()


def test_failed_takes_leave_every_method_and_thin_actions_go():
    from motionfield.methods.video.data import Take
    from motionfield.methods.video.multi_eval import Rendered

    def take(name):
        return Take(name, "val", np.zeros((2, 25, 6)), np.zeros((2, 17, 3)))

    sets = [("a", [take("a1"), take("a2"), take("a3")]), ("b", [take("b1"), take("b2")])]
    seen = {k: None for k in ("a1", "a3", "b2")}
    kept = Rendered(seen, 30.0, ["a2", "b1"]).usable(sets)
    assert [(name, [t.id for t in takes]) for name, takes in kept] == [("a", ["a1", "a3"])]
