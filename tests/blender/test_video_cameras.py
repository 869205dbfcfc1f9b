"""Body from Videos in real Blender: two clips of a real street video, through a real
in-process backend (MediaPipe, the shipped lifter, the multi-video fit), become two SMPL
armatures keyed at the scene's 29.97 fps, each with a camera that sees its body where the
video shows the person and the video as the camera's background."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view

from addon import schema
from addon.backend import BACKEND
from motionfield.protocol import write_connection_file

pytest.importorskip("mediapipe")
cv2 = pytest.importorskip("cv2")

STREET = "openpose_street_50fps.avi"  # ../shared/data/video (SOURCES.md)
CLIP_FRAMES = 30
COCO = {"left_shoulder": 5, "right_shoulder": 6, "left_hip": 11, "right_hip": 12}


def _street() -> Path:
    from motionfield.data.sources import data_dir, find_archives

    for folder in (find_archives(), data_dir()):
        if folder is not None and (Path(folder) / "video" / STREET).is_file():
            return Path(folder) / "video" / STREET
    pytest.skip("the street video (shared/data/video) is not here")


def _clip(source: Path, out: Path, first: int) -> Path:
    """CLIP_FRAMES frames of `source` from `first`, at its 50 fps, as an MJPG avi."""
    capture = cv2.VideoCapture(str(source))
    capture.set(cv2.CAP_PROP_POS_FRAMES, first)
    writer = None
    for _ in range(CLIP_FRAMES):
        ok, frame = capture.read()
        assert ok
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 50, (w, h))
        writer.write(frame)
    writer.release()
    capture.release()
    return out


@pytest.fixture
def served(registered, empty_scene, in_process_server, tmp_path):
    BACKEND.stop()
    BACKEND.connect(write_connection_file(tmp_path / "backend.json", *in_process_server))
    empty_scene.render.fps, empty_scene.render.fps_base = 30, 1.001  # 29.97
    yield empty_scene
    BACKEND.stop()


def test_videos_become_armatures_with_cameras_that_overlay_them(served, tmp_path):
    from motionfield.methods.video.extract import extract_video

    scene = served
    street = _street()
    clips = [_clip(street, tmp_path / f"street_{i}.avi", first) for i, first in
             enumerate((0, 40))]
    group = schema.settings(bpy.context, "video")
    setattr(group, schema.value_id("steps"), 100)
    assert bpy.ops.motionfield.video(directory=str(tmp_path), files=[
        {"name": c.name} for c in clips]) == {"FINISHED"}

    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    cameras = [o for o in scene.objects if o.type == "CAMERA"]
    assert len(armatures) == len(cameras) == 2
    assert scene.camera == cameras[0]
    assert (scene.render.resolution_x, scene.render.resolution_y) == (1280, 720)
    for arm, cam, clip in zip(armatures, cameras, clips):
        background = cam.data.background_images[0]
        assert background.source == "MOVIE_CLIP" and \
            Path(background.clip.filepath).name == clip.name
        # keys on the scene's frames (29.97 fps) over the clip's 0.58 s
        keys = _key_frames(arm)
        np.testing.assert_allclose(np.diff(keys), 1.0, atol=1e-6)
        assert abs(len(keys) - (CLIP_FRAMES - 1) / 50 * 30000 / 1001) <= 1.5
        # through its camera the body stands where MediaPipe saw the person, at its size:
        # the torso's centre (shoulders and hips) within half the torso's length on the
        # image, and the torso as long within a third
        seen = extract_video(clip, max_frames=1).keypoints.xy[0][list(COCO.values())]
        scene.frame_set(1)
        drawn = np.array([_pixel(scene, cam, arm, joint) for joint in COCO])
        torso = np.linalg.norm(seen[:2].mean(0) - seen[2:].mean(0))
        assert np.linalg.norm(drawn.mean(0) - seen.mean(0)) < torso / 2
        assert abs(np.linalg.norm(drawn[:2].mean(0) - drawn[2:].mean(0)) / torso - 1) < 1 / 3


def _pixel(scene, cam, arm, joint: str) -> np.ndarray:
    """Where a bone's head is in the camera's image, pixels from the top-left corner."""
    u, v, _ = world_to_camera_view(scene, cam, arm.matrix_world @ arm.pose.bones[joint].head)
    return np.array([u * scene.render.resolution_x, (1 - v) * scene.render.resolution_y])


def _key_frames(arm) -> np.ndarray:
    action = arm.animation_data.action
    if hasattr(action, "layers") and action.layers:
        curves = action.layers[0].strips[0].channelbags[0].fcurves
    else:
        curves = action.fcurves
    curve = curves.find('pose.bones["pelvis"].location', index=0)
    return np.array([p.co[0] for p in curve.keyframe_points])
