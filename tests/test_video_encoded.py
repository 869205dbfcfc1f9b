"""Video files sent inside a `video` request (methods/video/encoded.py): cut apart exactly,
refused when malformed, and read by MediaPipe through a real server."""

from __future__ import annotations

import numpy as np
import pytest

from motionfield.client import BackendError, Client
from motionfield.methods.video.encoded import split_files
from motionfield.methods.video.keypoints import KeypointsError


def test_the_sizes_cut_the_bytes_into_the_files():
    files = [b"first file", b"2nd", b"and the third"]
    blob = np.frombuffer(b"".join(files), np.uint8)
    out = split_files(blob, np.array([len(f) for f in files]), 16)
    assert [bytes(f) for f in out] == files


@pytest.mark.parametrize("blob, sizes, message", [
    (np.zeros(10, np.float32), np.array([10]), "uint8"),
    (np.zeros((2, 5), np.uint8), np.array([10]), "uint8"),
    (np.zeros(10, np.uint8), np.array([4, 4]), "add up"),
    (np.zeros(10, np.uint8), np.array([10, 0]), "positive"),
    (np.zeros(10, np.uint8), np.array([5.0, 5.0]), "integers"),
    (np.zeros(10, np.uint8), np.ones(10, np.int64), "1 to 4 files"),
])
def test_malformed_file_arrays_are_refused(blob, sizes, message):
    with pytest.raises(KeypointsError, match=message):
        split_files(blob, sizes, 4)


def test_the_video_job_reads_sent_files(tmp_path, in_process_server):
    pytest.importorskip("mediapipe")
    from test_video_keypoints import _hopper_clip

    clips = [_hopper_clip(tmp_path / "a.avi", frames=8),
             _hopper_clip(tmp_path / "b.avi", frames=12, step=3)]
    data = [c.read_bytes() for c in clips]
    arrays = {"videos": np.frombuffer(b"".join(data), np.uint8),
              "video_sizes": np.array([len(d) for d in data], np.int64)}
    with Client(*in_process_server, heartbeat=60.0) as client:
        result = client.run("video", {"mode": "lift", "fps": 25.0}, arrays, timeout=300)
        shorter, longer = result.arrays["video_frames"]  # 8 and 12 frames of 25 fps
        assert result.arrays["rotations"].shape[:2] == (2, longer) and shorter < longer
        videos = result.content["videos"]
        assert [v["video_fps"] for v in videos] == [25.0, 25.0]
        assert all(v["detected"] > 0.5 for v in videos)  # a real face and shoulders
        broken = {"videos": np.frombuffer(b"not a video at all", np.uint8),
                  "video_sizes": np.array([18])}
        with pytest.raises(BackendError, match="not a video"):
            client.run("video", {"mode": "lift", "fps": 25.0}, broken, timeout=60)
