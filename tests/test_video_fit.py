"""The multi-video fit (methods/video/fit.py), `motionfield reconstruct`, the several-video
`video` job and the multi-instance evaluation's pieces, on made-up walks (seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sparse_synth import walking

from motionfield.body.skeleton import smpl_skeleton
from motionfield.methods.video import data as vdata
from motionfield.methods.video import fit as nemo
from motionfield.methods.video.config import CAMERAS, FitConfig
from motionfield.methods.video.infer import Lifted
from motionfield.motion import Motion


def _take(frames: int, seed: int) -> vdata.Take:
    return vdata.take_from_motion(f"synth/{seed}", "val", Motion.from_frames(
        *walking(frames, seed=seed), smpl_skeleton(), 30))


def _seen(take: vdata.Take, seed: int, noise: float = 0.0
          ) -> tuple[nemo.Video, Lifted, np.ndarray]:
    """Exact 2D through a random camera, the truth as the lifter's answer (each joint's
    rotation turned by `noise` radians at random, frame by frame: a lifter's errors), and
    the true root-relative joints in the camera's frame."""
    from motionfield.body.rotations import axis_angle_to_matrix, matrix_to_6d, sixd_to_matrix
    from motionfield.methods.video.train import Body

    rng = np.random.default_rng(seed)
    view = vdata.random_view(rng, CAMERAS, take.points[None], take.tokens[None])
    pixels = view.project(take.points[None])[0][0].astype(np.float32)
    target = vdata.camera_targets(take.tokens[None], view)[0, :, :24].astype(np.float64)
    rot = sixd_to_matrix(target)
    rot = rot @ axis_angle_to_matrix(rng.normal(0, noise / np.sqrt(3), rot.shape[:2] + (3,)))
    with torch.no_grad():
        body = Body()
        joints = body(torch.from_numpy(target).float()).numpy().astype(np.float64)
        lifted_joints = body(torch.from_numpy(matrix_to_6d(rot)).float()).numpy()
    lifted = Lifted(np.arange(len(take.tokens)) / 30, rot, lifted_joints.astype(np.float64))
    size = tuple(int(x) for x in view.size[0])
    return nemo.Video(pixels, np.ones(pixels.shape[:2], np.float32), size), lifted, joints


def test_the_time_warp_is_monotone_from_0_to_1_and_frames_match_by_phase():
    warp = nemo.Warp(2, 4)
    with torch.no_grad():
        warp.logits.copy_(torch.tensor([[0.0, 2.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]]))
    lengths = torch.tensor([40.0, 20.0])
    phase = warp(torch.arange(40.0).expand(2, -1), lengths).detach().numpy()
    assert phase[0, 0] == 0 and phase[0, 39] == pytest.approx(1.0)
    assert (np.diff(phase[0]) > 0).all()
    assert phase[1, 19] == pytest.approx(1.0)
    np.testing.assert_allclose(phase[1, :20], np.arange(20) / 19, atol=1e-6)  # even: a line
    # the frame of video 1 at each phase of video 0, and back
    match = nemo.matching_frames(phase[0], phase[1, :20])
    np.testing.assert_allclose(match, phase[0] * 19, atol=1e-4)


def test_the_torch_coco_points_are_the_numpy_ones_and_translation_is_solved():
    take = _take(30, 0)
    from motionfield.body.kinematics import forward_kinematics, forward_kinematics_t
    from motionfield.body.rotations import sixd_to_matrix

    skel = smpl_skeleton()
    rot = sixd_to_matrix(take.tokens[:, :24].astype(np.float64))
    glob, joints = forward_kinematics(rot, take.tokens[:, 24, :3].astype(np.float64),
                                      np.array(skel.offsets), skel.parents)
    glob_t, joints_t = forward_kinematics_t(torch.from_numpy(rot),
                                            torch.from_numpy(take.tokens[:, 24, :3]).double(),
                                            torch.from_numpy(np.array(skel.offsets)),
                                            skel.parents)
    np.testing.assert_allclose(nemo.coco_points_t(glob_t, joints_t).numpy(),
                               vdata.coco_points(glob, joints), atol=1e-5)
    # points at a known place in front of a camera: the closed form finds the place
    rel = vdata.coco_points(glob, joints) - joints[:, :1]
    where = np.array([0.3, -0.2, -4.0]) + np.linspace(0, 1, 30)[:, None] * [0.5, 0, -1]
    cam = rel + where[:, None]
    focal, size = 900.0, (1280, 720)
    pixels = np.stack([size[0] / 2 + focal * cam[..., 0] / -cam[..., 2],
                       size[1] / 2 - focal * cam[..., 1] / -cam[..., 2]], -1)
    conf = np.ones(pixels.shape[:2])
    conf[10] = 0.0  # a missed frame takes its neighbour's
    found = nemo.solve_translation(rel, pixels, conf, focal, size)
    np.testing.assert_allclose(np.delete(found, 10, 0), np.delete(where, 10, 0), atol=1e-6)
    assert np.abs(found[10] - where[10]).max() < 0.05


def test_two_videos_fit_together_reproject_and_come_closer_than_the_lifter():
    take = _take(60, 1)
    # the second video: the same walk played unevenly (slow, then fast)
    warp = np.clip(np.round(59 * np.linspace(0, 1, 50) ** 1.4).astype(int), 0, 59)
    other = vdata.Take("synth/1b", "val", take.tokens[warp], take.points[warp])
    seen = [_seen(take, 3, noise=0.15), _seen(other, 4, noise=0.15)]
    config = FitConfig(steps=300, warmup=75)
    calls = []
    fitted = nemo.fit([s[0] for s in seen], [s[1] for s in seen], config,
                      progress=lambda step, total, stage: calls.append((step, total, stage)))
    assert calls[-1][:2] == (300, 300) and calls[0][2] == "fitting the lifter"
    for f, (video, lifted, truth) in zip(fitted, seen):
        assert f.joints.shape == (video.frames, 24, 3) and f.phase[0] == 0
        assert f.phase[-1] == pytest.approx(1.0) and (np.diff(f.phase) >= 0).all()
        rel = f.camera_joints() - f.camera_joints()[:, :1]
        error = np.linalg.norm(rel - truth, axis=-1).mean()
        start = np.linalg.norm(lifted.joints - truth, axis=-1).mean()
        assert error < 0.95 * start, (error, start)
        # through its camera the body lands on the 2D points
        cam = f.camera_joints()
        hips = cam[:, [1, 2]]
        u = video.image_size[0] / 2 + f.camera.focal * hips[..., 0] / -hips[..., 2]
        assert np.abs(u - video.pixels[:, [11, 12], 0]).mean() < 0.05 * video.image_size[0]
    # the floor is at y = 0: the feet touch it and do not go far under
    lowest = np.concatenate([f.joints[:, list(nemo.FEET), 1].min(-1) for f in fitted])
    assert -0.05 < np.median(lowest) < 0.1


def test_a_cancel_stops_the_fit_between_steps():
    from motionfield.server.jobs import Cancelled

    seen = _seen(_take(30, 2), 5)
    calls = []

    def progress(step, total, stage):
        calls.append(step)
        if step == 5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        nemo.fit([seen[0]], [seen[1]], FitConfig(steps=200, warmup=10), progress=progress)
    assert calls == [1, 2, 3, 4, 5]


def test_dtw_finds_a_known_time_warp_and_the_world_error_ignores_a_rigid_move():
    from motionfield.methods.video.multi_eval import dtw_matches, heading_poses, rigid_world_error

    take = _take(60, 3)
    from motionfield.body.kinematics import forward_kinematics
    from motionfield.body.rotations import sixd_to_matrix

    skel = smpl_skeleton()
    world = forward_kinematics(sixd_to_matrix(take.tokens[:, :24].astype(np.float64)),
                               take.tokens[:, 24, :3].astype(np.float64),
                               np.array(skel.offsets), skel.parents)[1]
    index = np.clip(np.round(59 * np.linspace(0, 1, 45) ** 1.3).astype(int), 0, 59)
    match = dtw_matches(heading_poses(world[index]), heading_poses(world))
    assert np.abs(match - index).mean() < 1.0
    a = np.radians(70)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    assert rigid_world_error(world @ turn.T + [1.0, 0.2, -3.0], world).max() < 1e-6
    assert rigid_world_error(world + np.linspace(0, 0.1, 60)[:, None, None], world).mean() > 10


def test_several_videos_through_the_job_and_the_reconstruct_command(tmp_path, capsys):
    from motionfield import methods
    from motionfield.cli import main
    from motionfield.methods.video import job
    from motionfield.methods.video.keypoints import Keypoints2D, save_keypoints
    from motionfield.server.jobs import JobError

    a, b = _seen(_take(45, 4), 6)[0], _seen(_take(36, 5), 7)[0]
    keypoints = np.zeros((2, 45, 17, 2), np.float32)
    conf = np.zeros((2, 45, 17), np.float32)
    keypoints[0], conf[0] = a.pixels, a.confidence
    keypoints[1, :36], conf[1, :36] = b.pixels, b.confidence
    arrays = {"keypoints": keypoints, "confidence": conf, "frames": np.array([45, 36]),
              "image_sizes": np.array([a.image_size, b.image_size])}
    params = {n: p.default for n, p in methods.job_type("video").params.items()}
    params.update({"video_fps": 30.0, "fps": 60.0, "steps": 40})
    stages = []
    content, out = job._run(params, arrays, lambda step, total, stage: stages.append(stage))
    assert out["rotations"].shape == (2, 89, 24, 4) and list(out["video_frames"]) == [89, 71]
    assert content["motions"] == 2 and "fitting" in stages
    cameras = [v["hfov_deg"] for v in content["videos"]]
    assert all(10 < c < 150 for c in cameras) and len(content["videos"][1]["phase"]) == 36
    with pytest.raises(JobError, match="image_width"):
        job._run(params, {"keypoints": keypoints, "confidence": conf}, lambda *x: None)
    with pytest.raises(JobError, match="frames"):
        job._run(params, {**arrays, "frames": np.array([45, 46])}, lambda *x: None)

    paths = []
    for name, video in (("one", a), ("two", b)):
        paths.append(str(save_keypoints(tmp_path / f"{name}.npz", Keypoints2D(
            video.pixels, video.confidence, video.image_size, 30.0))))
    assert main(["reconstruct", *paths, "-o", str(tmp_path / "out"), "--steps", "30",
                 "--format", "bvh", "--out-fps", "24"]) == 0
    assert "fitted together" in capsys.readouterr().out
    camera = json.loads((tmp_path / "out" / "two.camera.json").read_text())
    assert len(camera["phase"]) == 36 and camera["reference_time_s"][-1] == pytest.approx(
        44 / 30, abs=1e-3)
    assert (tmp_path / "out" / "one.bvh").read_text().count("\n") > 36
    assert main(["reconstruct", *paths, "-o", str(tmp_path / "out"), "--steps", "30",
                 "--format", "bvh"]) == 2  # exists: --force


def test_reconstruct_refuses_a_video_longer_than_one_action():
    from motionfield.methods.video.config import FIT_MAX_SECONDS
    from motionfield.methods.video.keypoints import Keypoints2D
    from motionfield.methods.video.reconstruct import FitError, reconstruct

    frames = int(FIT_MAX_SECONDS) + 2
    long = Keypoints2D(np.full((frames, 17, 2), 50.0, np.float32),
                       np.ones((frames, 17), np.float32), (100, 100), 1.0)
    with pytest.raises(FitError, match="videos \\[0\\] are longer"):
        reconstruct(None, [long])
