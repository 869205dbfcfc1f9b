"""Video to Body in Blender: the animator picks videos of one action; the backend's `video`
job finds the body in each (MediaPipe), lifts it to 3D and fits one motion field to them
all, and each video comes back as an SMPL armature with a camera that sees it as the video
did, the video as the camera's background, so the overlay can be checked by looking
through each camera (Numpad 0, or the camera's Set Active Object as Camera).

The files themselves are sent (encoded.py in the backend), so any video Blender can read
works whichever folders the backend may read. Each motion is on its own video's timeline,
frame 1 (the Output's start frame) at the video's first frame; the backgrounds play one
video frame a scene frame, so they line up with the keys when the scene's framerate is the
video's (the report says when it is not). No job state lives here (undo): the result lands
as any method's does.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy.props import CollectionProperty, StringProperty
from mathutils import Matrix

from .axes import Y_UP_TO_Z_UP

MAX_BYTES = 200 * 2**20  # the files sent in one request (the protocol's bound is 256 MiB)
SENSOR_WIDTH_MM = 36.0


def video_arrays(paths: list[Path]) -> dict[str, np.ndarray]:
    """The job's `videos` (the files' bytes one after another) and `video_sizes`."""
    sizes = [p.stat().st_size for p in paths]
    if sum(sizes) > MAX_BYTES:
        raise ValueError(f"the videos hold {sum(sizes) / 2**20:.0f} MiB; send at most "
                         f"{MAX_BYTES // 2**20} MiB at once (shorter or smaller videos)")
    blob = np.concatenate([np.fromfile(p, dtype=np.uint8) for p in paths])
    return {"videos": blob, "video_sizes": np.array(sizes, dtype=np.int64)}


def camera_matrix(camera: dict) -> np.ndarray:
    """A fitted camera (world_to_camera_rotation, translation_m; OpenGL axes, the SMPL world
    Y up) as a Blender object's world matrix (4, 4): Blender cameras look down their -Z
    with +Y up too, so only the world turns from Y up to Z up."""
    rotation = np.asarray(camera["world_to_camera_rotation"], dtype=np.float64)
    translation = np.asarray(camera["translation_m"], dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = Y_UP_TO_Z_UP @ rotation.T
    out[:3, 3] = Y_UP_TO_Z_UP @ (-rotation.T @ translation)
    return out


def add_camera(scene, name: str, camera: dict, video: Path, start_frame: float):
    """A camera object placed and zoomed as fitted, its video as the background."""
    width, height = camera["image_size"]
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = SENSOR_WIDTH_MM
    data.lens = float(camera["focal_px"]) * SENSOR_WIDTH_MM / float(width)
    data.clip_start, data.clip_end = 0.05, 200.0
    obj = bpy.data.objects.new(name, data)
    obj.matrix_world = Matrix(camera_matrix(camera).tolist())  # Matrix reads rows
    scene.collection.objects.link(obj)
    clip = bpy.data.movieclips.load(str(video), check_existing=True)
    clip.frame_start = int(round(start_frame))
    data.show_background_images = True
    background = data.background_images.new()
    background.source = "MOVIE_CLIP"
    background.clip = clip
    background.alpha = 1.0
    obj["motionfield_video"] = str(video)
    return obj


def conclude(scene, content: dict, arrays: dict, output, videos: list[str]) -> str:
    """Key each video's motion onto a new SMPL armature, add its camera and background;
    the scene's camera and resolution become the first video's. The panel's message."""
    from dataclasses import replace

    from .apply import apply_motion, scene_fps

    cameras = content.get("videos", [])
    count = len(cameras)
    own = np.asarray(arrays.get("video_frames", [arrays["rotations"].shape[-3]]))
    stacked = arrays["rotations"].ndim == 4
    made = []
    for v in range(count):
        name = f"video {v + 1}: {Path(videos[v]).stem}"[:60]
        frames = int(own[v])
        part = {**arrays, "times": arrays["times"][:frames],
                "rotations": (arrays["rotations"][v] if stacked else arrays["rotations"])[:frames],
                "root_translation": (arrays["root_translation"][v] if stacked
                                     else arrays["root_translation"])[:frames]}
        obj, action = apply_motion(scene, content, part, replace(output, action_name=name))
        obj.name = obj.data.name = name
        camera = add_camera(scene, f"{name} camera", cameras[v], Path(videos[v]),
                            output.start_frame)
        made.append((obj, camera))
    if made:
        scene.camera = made[0][1]
        scene.render.resolution_x, scene.render.resolution_y = cameras[0]["image_size"]
        scene.render.resolution_percentage = 100
    message = f"{count} video{'s' * (count != 1)} to {count} armature{'s' * (count != 1)} " \
              f"with cameras"
    rates = {round(float(c.get("video_fps", 0)), 3) for c in cameras if c.get("video_fps")}
    if rates and any(abs(r - scene_fps(scene)) > 1e-3 for r in rates):
        message += (f"; the backgrounds line up with the keys at the videos' "
                    f"{', '.join(f'{r:g}' for r in sorted(rates))} fps (the scene runs at "
                    f"{scene_fps(scene):g})")
    return message


class MOTIONFIELD_OT_video(bpy.types.Operator):
    """Pick videos of one action (one person in each): each becomes an SMPL armature with a
    camera that sees it as the video did"""
    bl_idname = "motionfield.video"
    bl_label = "Body from Videos"
    bl_options = {"REGISTER", "UNDO"}

    files: CollectionProperty(type=bpy.types.OperatorFileListElement,
                              options={"HIDDEN", "SKIP_SAVE"})
    # kept between runs, so the file browser opens where the videos were last picked from
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN"})
    filter_movie: bpy.props.BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    filter_folder: bpy.props.BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from .apply import output_fps
        from .backend import BACKEND, BackendError
        from .operators import (
            _settings_output,
            _watch,
            ensure_backend,
            panel_values,
            should_block,
        )

        paths = [Path(bpy.path.abspath(self.directory)) / f.name for f in self.files
                 if f.name]
        if not paths:
            self.report({"ERROR"}, "pick one or more videos of the same action")
            return {"CANCELLED"}
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            self.report({"ERROR"}, f"no such video: {', '.join(missing)}")
            return {"CANCELLED"}
        scene = context.scene
        output = _settings_output(context, "video")
        try:
            if output.target == "SELECTED":
                raise ValueError("Body from Videos makes new SMPL armatures: set the Output "
                                 "to a new armature")
            ensure_backend(context)
            params = {**panel_values(context, "video"), "fps": output_fps(scene, output)}
            arrays = video_arrays(paths)
            route = {"scene": scene.name, "output": output, "target": None,
                     "video": [str(p) for p in paths]}
            if should_block():
                result = BACKEND.client.run("video", params, arrays)
                self.report({"INFO"}, conclude(scene, result.content, result.arrays, output,
                                               route["video"]))
                return {"FINISHED"}
            job = BACKEND.client.submit("video", params, arrays)
        except (BackendError, OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _watch(job, "video", f"reading {len(paths)} video{'s' * (len(paths) != 1)}...", route)
        return {"FINISHED"}


def draw(col) -> None:
    """The panel section's button (its settings are drawn from the job's schema)."""
    col.operator("motionfield.video", icon="FILE_MOVIE")


classes = (MOTIONFIELD_OT_video,)
