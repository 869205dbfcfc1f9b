"""2D keypoints: the COCO-17 layout and its maps, the file formats (round trips and malformed
files), following one person, and real extraction with MediaPipe from a video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motionfield.errors import Cancelled, MotionfieldError
from motionfield.methods.video import keypoints as kp
from motionfield.methods.video.keypoints import Keypoints2D, KeypointsError

SIZE = (640, 480)


def _random_keypoints(seed: int = 0, frames: int = 12) -> Keypoints2D:
    rng = np.random.default_rng(seed)
    xy = rng.uniform([0, 0], SIZE, (frames, 17, 2))
    conf = rng.uniform(0.05, 1.0, (frames, 17))
    conf[rng.random((frames, 17)) < 0.1] = 0.0
    conf[3] = 0.0  # a frame without anyone
    return Keypoints2D(xy, conf, SIZE, 29.97)


def _landmarks(seed: int = 0, frames: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.concatenate([rng.uniform(0, 1, (frames, 33, 3)), rng.uniform(0, 1, (frames, 33, 1))],
                         axis=-1)
    out[2] = np.nan  # nobody found
    return out


def test_the_layout_maps_name_the_same_joints():
    assert [kp.MEDIAPIPE33[i] for i in kp.MEDIAPIPE33_TO_COCO] == list(kp.COCO17)
    # OpenPose BODY_25 and COCO-18 by their documented names
    body25 = {0: "nose", 2: "right_shoulder", 3: "right_elbow", 4: "right_wrist",
              5: "left_shoulder", 6: "left_elbow", 7: "left_wrist", 9: "right_hip",
              10: "right_knee", 11: "right_ankle", 12: "left_hip", 13: "left_knee",
              14: "left_ankle", 15: "right_eye", 16: "left_eye", 17: "right_ear", 18: "left_ear"}
    assert [body25[i] for i in kp.BODY25_TO_COCO] == list(kp.COCO17)
    coco18 = {0: "nose", 2: "right_shoulder", 3: "right_elbow", 4: "right_wrist",
              5: "left_shoulder", 6: "left_elbow", 7: "left_wrist", 8: "right_hip",
              9: "right_knee", 10: "right_ankle", 11: "left_hip", 12: "left_knee",
              13: "left_ankle", 14: "right_eye", 15: "left_eye", 16: "right_ear", 17: "left_ear"}
    assert [coco18[i] for i in kp.OPENPOSE18_TO_COCO] == list(kp.COCO17)


def test_npz_round_trip_is_exact(tmp_path):
    k = _random_keypoints()
    back = kp.read_keypoints(kp.save_keypoints(tmp_path / "k.npz", k))
    assert np.array_equal(back.xy, k.xy) and np.array_equal(back.confidence, k.confidence)
    assert back.image_size == SIZE and back.fps == pytest.approx(29.97)
    assert not k.detected[3] and k.detected[0]


def test_openpose_folder_round_trip(tmp_path):
    k = _random_keypoints(1)
    kp.write_openpose_folder(tmp_path / "op", k)
    assert len(list((tmp_path / "op").glob("*.json"))) == k.frames
    back = kp.read_keypoints(tmp_path / "op", fps=29.97, image_size=SIZE)
    np.testing.assert_allclose(back.xy, k.xy, atol=1e-3)
    np.testing.assert_allclose(back.confidence, k.confidence, atol=1e-3)


def test_coco_results_round_trip_keeps_missing_frames(tmp_path):
    k = _random_keypoints(2)
    path = kp.write_coco_json(tmp_path / "coco.json", k)
    assert len(json.loads(path.read_text())) == k.frames - 1
    back = kp.read_keypoints(path, fps=29.97, image_size=SIZE)
    assert back.frames == k.frames and not back.detected[3]
    np.testing.assert_allclose(back.xy, k.xy, atol=1e-3)


def test_coco_dataset_file_reads_flags_and_image_size(tmp_path):
    points = np.zeros((17, 3))
    points[:, :2] = np.arange(34).reshape(17, 2)
    points[:, 2] = 2
    points[4, 2] = 0
    doc = {"images": [{"id": 7, "width": 320, "height": 240}, {"id": 8, "width": 320,
                                                              "height": 240}],
           "annotations": [{"image_id": 7, "keypoints": points.reshape(-1).tolist()},
                           {"image_id": 8, "keypoints": points.reshape(-1).tolist()}]}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    back = kp.read_keypoints(tmp_path / "d.json", fps=25)
    assert back.image_size == (320, 240) and back.frames == 2
    assert back.confidence[0].tolist() == [1.0] * 4 + [0.0] + [1.0] * 12


def test_mediapipe_csv_round_trip(tmp_path):
    marks = _landmarks()
    kp.write_mediapipe_csv(tmp_path / "m.csv", marks)
    back = kp.read_keypoints(tmp_path / "m.csv", fps=30, image_size=SIZE)
    want = kp.from_mediapipe(marks, SIZE, 30)
    np.testing.assert_allclose(back.xy, want.xy, atol=1e-3)
    np.testing.assert_allclose(back.confidence, want.confidence, atol=1e-5)
    assert not back.detected[2]
    left_shoulder = kp.COCO17.index("left_shoulder")
    assert back.xy[0, left_shoulder, 0] == pytest.approx(marks[0, 11, 0] * SIZE[0], abs=1e-3)


def test_one_person_is_followed_when_others_come_and_go():
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.uniform(100, 150, (17, 2)), np.ones((17, 1))], axis=1)
    b = a.copy()
    b[:, 0] += 300
    b[:, 2] = 0.5  # less confident
    frames = [np.stack([a, b]), np.stack([b + [2, 0, 0], a + [2, 0, 0]]), np.zeros((0, 17, 3)),
              np.stack([b + [4, 0, 0], a + [4, 0, 0]])]
    out = kp.follow(frames)
    assert out[:, 0, 0].tolist()[:2] == pytest.approx([a[0, 0], a[0, 0] + 2])
    assert out[2, :, 2].max() == 0 and out[3, 0, 0] == pytest.approx(a[0, 0] + 4)


@pytest.mark.parametrize("kwargs, message", [
    ({"xy": np.zeros((5, 18, 2))}, "xy must be"),
    ({"confidence": np.zeros((5, 16))}, "confidence must be"),
    ({"xy": np.full((5, 17, 2), np.nan)}, "NaN"),
    ({"confidence": np.full((5, 17), 1.5)}, "[0, 1]"),
    ({"image_size": (640,)}, "image_size"),
    ({"image_size": (640.5, 480)}, "image_size"),
    ({"image_size": "640x480"}, "image_size"),
    ({"fps": 0}, "fps"),
    ({"fps": "30"}, "fps"),
    ({"xy": np.zeros((0, 17, 2)), "confidence": np.zeros((0, 17))}, "frames"),
])
def test_bad_arrays_are_refused_clearly(kwargs, message):
    args = {"xy": np.zeros((5, 17, 2)), "confidence": np.ones((5, 17)), "image_size": SIZE,
            "fps": 30.0, **kwargs}
    with pytest.raises(KeypointsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Keypoints2D(**args)


def _csv(tmp_path: Path, edit) -> Path:
    kp.write_mediapipe_csv(tmp_path / "good.csv", _landmarks(frames=3))
    lines = (tmp_path / "good.csv").read_text().splitlines()
    (tmp_path / "bad.csv").write_text("\n".join(edit(lines)) + "\n")
    return tmp_path / "bad.csv"


@pytest.mark.parametrize("edit, message", [
    (lambda lines: [lines[0], lines[1].replace(lines[1].split(",")[5], "nan", 1)], "line 2"),
    (lambda lines: [lines[0], lines[1] + ",1"], "cells"),
    (lambda lines: [lines[0], "x" + lines[1][1:]], "whole number"),
    (lambda lines: [lines[0].replace("nose_x", "nose_u"), lines[1]], "missing"),
    (lambda lines: [lines[0], lines[1], lines[1]], "consecutive"),
    (lambda lines: [lines[0], lines[1].replace(lines[1].split(",")[7], "", 1)], "empty or not"),
    (lambda lines: [lines[0]], "no frames"),
    (lambda lines: [], "empty file"),
])
def test_malformed_mediapipe_csv(tmp_path, edit, message):
    with pytest.raises(KeypointsError, match=message):
        kp.read_keypoints(_csv(tmp_path, edit), fps=30, image_size=SIZE)


def _openpose(tmp_path: Path, people) -> Path:
    folder = tmp_path / "op"
    folder.mkdir(exist_ok=True)
    (folder / "f_000_keypoints.json").write_text(
        people if isinstance(people, str) else json.dumps({"people": people}))
    return folder


@pytest.mark.parametrize("people, message", [
    ("{not json", "not readable JSON"),
    ("[1, 2]", "no 'people' list"),
    ([{"pose_keypoints_2d": [1.0] * 60}], "20 keypoints"),
    ([{"pose_keypoints_2d": [1.0] * 74}], "triples"),
    ([{"pose_keypoints_2d": ["a"] * 75}], "numbers"),
    ([{"pose_keypoints_2d": [float("nan")] * 75}], "NaN"),
    ([], "no person in any frame"),
])
def test_malformed_openpose(tmp_path, people, message):
    with pytest.raises(KeypointsError, match=message):
        kp.read_keypoints(_openpose(tmp_path, people), fps=30, image_size=SIZE)


def test_formats_without_size_or_rate_ask_for_them(tmp_path):
    folder = _openpose(tmp_path, [{"pose_keypoints_2d": [1.0] * 75}])
    with pytest.raises(KeypointsError, match="--image-size"):
        kp.read_keypoints(folder, fps=30)
    with pytest.raises(KeypointsError, match="--fps"):
        kp.read_keypoints(folder, image_size=SIZE)
    assert kp.read_keypoints(folder, fps=30, image_size=SIZE).frames == 1


@pytest.mark.parametrize("doc, message", [
    ({"images": []}, "neither"),
    ([{"keypoints": [1] * 51}], "no image_id"),
    ([{"image_id": 1, "keypoints": [1] * 48}], "16 keypoints"),
    ([{"image_id": 1, "keypoints": [1, 1, 3] * 17}], "above 1"),
    ([{"image_id": 1.5, "keypoints": [1] * 51}], "image_id"),
    ([], "no keypoints"),
])
def test_malformed_coco(tmp_path, doc, message):
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(KeypointsError, match=message):
        kp.read_keypoints(tmp_path / "c.json", fps=30, image_size=SIZE)


def test_other_files_are_refused(tmp_path):
    with pytest.raises(KeypointsError, match="no such file"):
        kp.read_keypoints(tmp_path / "missing.csv")
    (tmp_path / "k.txt").write_text("1 2 3")
    with pytest.raises(KeypointsError, match="unknown keypoint file type"):
        kp.read_keypoints(tmp_path / "k.txt")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(KeypointsError, match="not a keypoints .npz"):
        kp.read_keypoints(tmp_path / "other.npz")
    assert issubclass(KeypointsError, MotionfieldError)


# ------------------------------------------------------------------ real extraction

STREET = "openpose_street_50fps.avi"  # ../shared/data/video (SOURCES.md)


def _street_video() -> Path | None:
    from motionfield.data.sources import data_dir, find_archives

    for folder in (find_archives(), data_dir()):
        if folder is not None and (Path(folder) / "video" / STREET).is_file():
            return Path(folder) / "video" / STREET
    return None


def _hopper_clip(path: Path, frames: int = 10, step: int = 5) -> Path:
    """A clip of a real person: matplotlib's sample photograph of Grace Hopper (public
    domain, US Navy; shipped in matplotlib's mpl-data) sliding right `step` pixels a frame."""
    import cv2
    import matplotlib

    image = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" /
                           "grace_hopper.jpg"))
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 640))
    for t in range(frames):
        canvas = np.full((640, 640, 3), 127, np.uint8)
        canvas[20:20 + h, 20 + step * t:20 + step * t + w] = image
        writer.write(canvas)
    writer.release()
    return path


def test_the_pose_models_ship_inside_the_wheel():
    """What MODEL_COMPLEXITY runs is bundled (nothing to download); the others are not."""
    mediapipe = pytest.importorskip("mediapipe")
    from motionfield.methods.video.extract import MODEL_COMPLEXITY

    modules = Path(mediapipe.__file__).parent / "modules"
    assert MODEL_COMPLEXITY == 1
    assert (modules / "pose_detection" / "pose_detection.tflite").stat().st_size > 1e6
    assert (modules / "pose_landmark" / "pose_landmark_full.tflite").stat().st_size > 1e6
    assert not (modules / "pose_landmark" / "pose_landmark_heavy.tflite").exists()


def test_extraction_follows_a_real_face_and_shoulders(tmp_path):
    pytest.importorskip("mediapipe")
    from motionfield.methods.video.extract import extract_video

    calls = []
    done = extract_video(_hopper_clip(tmp_path / "hopper.avi"),
                         progress=lambda i, n: calls.append((i, n)))
    k = done.keypoints
    assert k.frames == 10 and k.fps == 25 and k.image_size == (640, 640)
    assert calls[-1] == (10, 10) and len(calls) == 10
    assert k.detected.all()
    nose, leye, reye = (kp.COCO17.index(n) for n in ("nose", "left_eye", "right_eye"))
    lsh, rsh = kp.COCO17.index("left_shoulder"), kp.COCO17.index("right_shoulder")
    assert (k.confidence[:, [nose, leye, reye, lsh, rsh]] > 0.9).all()
    # facing the camera: her left eye and shoulder are on the image's right
    assert (k.xy[:, reye, 0] < k.xy[:, nose, 0]).all()
    assert (k.xy[:, nose, 0] < k.xy[:, leye, 0]).all()
    assert (k.xy[:, rsh, 0] < k.xy[:, lsh, 0]).all()
    assert (k.xy[:, [lsh, rsh], 1] > k.xy[:, [nose], 1] + 100).all()
    # the photograph moves 45 px right over the clip; the landmarks follow (smoothed)
    assert 20 < k.xy[-1, nose, 0] - k.xy[0, nose, 0] < 60
    assert done.landmarks.shape == (10, 33, 4) and done.frames_per_second > 0


def test_extraction_stops_when_asked(tmp_path):
    pytest.importorskip("mediapipe")
    from motionfield.methods.video.extract import extract_video

    clip = _hopper_clip(tmp_path / "hopper.avi")
    seen = []
    with pytest.raises(Cancelled, match="after 3 frames"):
        extract_video(clip, progress=lambda i, n: seen.append(i),
                      should_stop=lambda: len(seen) >= 3)
    (tmp_path / "broken.avi").write_bytes(b"not a video")
    with pytest.raises(KeypointsError, match="decode"):
        extract_video(tmp_path / "broken.avi")


def test_extraction_from_real_street_footage():
    """The OpenPose repository's street video: a walker, all 17 joints found."""
    pytest.importorskip("mediapipe")
    from motionfield.methods.video.extract import extract_video

    video = _street_video()
    if video is None:
        pytest.skip(f"{STREET} not in ../shared/data/video")
    k = extract_video(video, max_frames=25).keypoints
    assert k.frames == 25 and k.fps == 50 and k.image_size == (1280, 720)
    assert k.detected.all()
    y = {n: k.xy[:, kp.COCO17.index(n), 1] for n in ("nose", "left_shoulder", "left_hip",
                                                     "left_knee", "left_ankle")}
    assert (y["nose"] < y["left_shoulder"]).all() and (y["left_shoulder"] < y["left_hip"]).all()
    assert (y["left_hip"] < y["left_knee"]).all() and (y["left_knee"] < y["left_ankle"]).all()
    assert np.median(k.confidence[:, [5, 6, 11, 12]]) > 0.9


def test_the_keypoints_command_converts_and_extracts(tmp_path, capsys):
    from motionfield.cli import main

    kp.write_mediapipe_csv(tmp_path / "m.csv", _landmarks())
    assert main(["keypoints", str(tmp_path / "m.csv"), "-o", str(tmp_path / "k.npz"),
                 "--fps", "30", "--image-size", "640", "480"]) == 0
    assert kp.load_keypoints(tmp_path / "k.npz").image_size == (640, 480)
    assert main(["keypoints", str(tmp_path / "m.csv"), "-o", str(tmp_path / "k.npz"),
                 "--fps", "30", "--image-size", "640", "480"]) == 2       # exists
    assert main(["keypoints", str(tmp_path / "m.csv"), "-o", str(tmp_path / "k2.npz"),
                 "--fps", "30"]) == 2                                     # size unknown
    assert "--image-size" in capsys.readouterr().err
    assert main(["keypoints", str(tmp_path / "k.npz"), "-o", str(tmp_path / "op")]) == 0
    assert len(list((tmp_path / "op").glob("*.json"))) == 8
    pytest.importorskip("mediapipe")
    clip = _hopper_clip(tmp_path / "hopper.avi", frames=4)
    assert main(["keypoints", str(clip), "-o", str(tmp_path / "h.csv")]) == 0
    back = kp.read_keypoints(tmp_path / "h.csv", fps=25, image_size=(640, 640))
    assert back.frames == 4 and back.detected.all()
