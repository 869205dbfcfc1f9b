"""Body from Videos in a real Blender 4.3 window, as an animator uses it: F3, the file
browser opening in the folder the videos were last picked from, A to pick both clips and
Enter; the job's row while the backend reads them; an armature and a camera with the video
as its background for each; looking through the first camera; and Ctrl+Z taking it all
back, leaving a panel that works."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

cv2 = pytest.importorskip("cv2")

STREET = "openpose_street_50fps.avi"
VIEW = ("[a.spaces.active.region_3d.view_perspective for a in "
        "bpy.context.window_manager.windows[0].screen.areas if a.type == 'VIEW_3D'][0]")
MADE = ("sorted((o.type, o.name) for o in bpy.data.objects "
        "if o.type in ('ARMATURE', 'CAMERA') and o.name.startswith('video'))")


def _clips(data_root: Path, folder: Path, frames: int = 30) -> list[Path]:
    """Two clips of the street video (frames 0-29 and 40-69, its 50 fps) as MJPG avis."""
    folder.mkdir(exist_ok=True)
    out = []
    for i, first in enumerate((0, 40)):
        capture = cv2.VideoCapture(str(data_root / "video" / STREET))
        capture.set(cv2.CAP_PROP_POS_FRAMES, first)
        path, writer = folder / f"street_{i + 1}.avi", None
        for _ in range(frames):
            ok, frame = capture.read()
            assert ok
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(frame)
        writer.release()
        capture.release()
        out.append(path)
    return out


def _file_browser(blender) -> dict:
    """The file browser's file list on screen (its WINDOW region)."""
    for window in blender.eval("layout()")["windows"]:
        for area in window["areas"]:
            if area["type"] == "FILE_BROWSER":
                return next(r for r in area["regions"] if r["type"] == "WINDOW")
    raise AssertionError("no file browser opened")


def test_body_from_videos_in_a_window(animator, workdir, data_root):
    if not (data_root / "video" / STREET).is_file():
        pytest.skip("the street video (shared/data/video) is not here")
    blender = animator.blender
    clips = _clips(data_root, workdir / "videos")
    animator.start_backend()
    blender.exec("bpy.context.window_manager.motionfield_video.p_steps = 60\n"
                 "p = bpy.context.window_manager.operator_properties_last('motionfield.video')\n"
                 f"p.directory = {str(clips[0].parent) + '/'!r}")
    blender.run_operator("Body from Videos")
    time.sleep(1.5)
    files = _file_browser(blender)
    blender.move(files["x"] + files["width"] // 2, files["y"] + files["height"] // 2)
    time.sleep(0.3)
    blender.key("a")  # select all: both clips
    time.sleep(0.3)
    animator.shot("video_files_picked")
    blender.key("Return")
    problems = []
    try:
        blender.wait_until(f"panel()['job'] is None and len({MADE}) == 4", timeout=240)
    except Exception:
        animator.shot("video_not_done")
        raise AssertionError(f"no armatures and cameras: {blender.eval(MADE)}, panel "
                             f"{blender.eval('panel()')}\n{blender.log_tail()}") from None
    made = blender.eval(MADE)
    kinds = [kind for kind, _ in made]
    if kinds.count("ARMATURE") != 2 or kinds.count("CAMERA") != 2:
        problems.append(f"made {made}")
    backgrounds = blender.eval(
        "sorted(bpy.path.basename(o.data.background_images[0].clip.filepath) "
        "for o in bpy.data.objects if o.type == 'CAMERA' and o.data.background_images)")
    if backgrounds != [c.name for c in clips]:
        problems.append(f"camera backgrounds {backgrounds}")
    blender.hover_viewport()
    blender.key("KP_Insert")  # Numpad 0 (NumLock off): look through the first video's camera
    blender.wait_until(f"{VIEW} == 'CAMERA'", timeout=10)
    time.sleep(3.0)  # the background clip's first frame is decoded and drawn
    animator.shot("video_through_camera")
    if blender.eval(VIEW) != "CAMERA":
        problems.append(f"Numpad 0 left the viewport in {blender.eval(VIEW)}")
    if blender.eval("bpy.context.scene.camera is None or "
                    "not bpy.context.scene.camera.name.startswith('video 1')"):
        problems.append("the scene's camera is not the first video's")
    blender.undo()
    time.sleep(1.0)
    if blender.eval(MADE):
        problems.append(f"Ctrl+Z left {blender.eval(MADE)}")
    if blender.eval("panel()['state']") not in ("ready", "busy"):
        problems.append(f"panel after undo: {blender.eval('panel()')}")
    assert not problems, problems
