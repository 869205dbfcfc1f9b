"""Takes rendered to video by Blender, for `motionfield eval video --multi --rendered`.

A *shot* is one take seen by one still camera: the proxy body (body/proxy.py) skinned to
the take's true motion, frame by frame, and the camera of `eval video` (data.random_view,
seeded by the take's id). Blender draws it with the Workbench engine (flat studio light,
shadows, anti-aliasing): a clothed-looking body (skin, shirt, trousers, shoes, hair, a
face) over a floor, written as an H.264 MP4 at the take's framerate. MediaPipe then reads that video
like any other, so the whole pipeline runs from pixels.

Rendering needs `bpy` (the `test` extra pins bpy 4.5), which is imported only in a child
process (`python -m motionfield.methods.video.render SHOT.npz VIDEO.mp4 ...`): Blender's
bundled libraries never share a process with torch or MediaPipe. Shots travel as plain
.npz files (no pickle).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.errors import MotionfieldError

LONG_SIDE = 960  # pixels: the camera's image is scaled down to at most this (1920 -> 960)
ANTI_ALIASING = "FXAA"  # 3x faster than 8 samples on the CPU's software OpenGL
FLOOR_SIZE_M = 30.0
# Workbench material colours (linear RGB): what a person in the street might wear
COLOURS = {"skin": (0.61, 0.39, 0.27), "shirt": (0.08, 0.20, 0.48),
           "trousers": (0.10, 0.10, 0.13), "shoes": (0.03, 0.03, 0.03),
           "hair": (0.045, 0.025, 0.015), "eyes": (0.01, 0.01, 0.01),
           "lips": (0.30, 0.09, 0.08),
           "floor": (0.35, 0.33, 0.30), "background": (0.62, 0.68, 0.74)}
# which garment covers each SMPL joint's part of the body (the joint that moves it)
GARMENT = {"pelvis": "trousers", "left_hip": "trousers", "right_hip": "trousers",
           "left_knee": "trousers", "right_knee": "trousers",
           "left_ankle": "shoes", "right_ankle": "shoes", "left_foot": "shoes",
           "right_foot": "shoes", "neck": "skin", "head": "skin",
           "left_elbow": "skin", "right_elbow": "skin", "left_wrist": "skin",
           "right_wrist": "skin", "left_hand": "skin", "right_hand": "skin"}
PARTS = ("skin", "shirt", "trousers", "shoes", "hair", "eyes", "lips")
# a face, so that a detector can tell the front of the head from the back as on a person:
# (garment, centre x and y from the head ellipsoid's centre, semi-axes), metres
FACE_FEATURES = (("eyes", 0.032, 0.008, (0.013, 0.009, 0.008)),
                 ("eyes", -0.032, 0.008, (0.013, 0.009, 0.008)),
                 ("skin", 0.0, -0.025, (0.012, 0.022, 0.02)),          # nose
                 ("lips", 0.0, -0.062, (0.024, 0.008, 0.008)))
HAIR_ABOVE_M, HAIR_BEHIND_M = 0.045, -0.02  # head faces above / behind these (from centre)


@dataclass
class Shot:
    """What Blender needs to draw one take: posed vertices (T, V, 3) world metres (SMPL
    frame, Y up), faces (F, 3), a garment index per face (F,) into PARTS, the camera
    (world -> camera rotation (3, 3), position (3,), focal length px, image width and
    height px, principal point at the centre) and the framerate."""

    vertices: np.ndarray
    faces: np.ndarray
    face_parts: np.ndarray
    rotation: np.ndarray
    position: np.ndarray
    focal: float
    size: tuple[int, int]
    fps: float

    def save(self, path: Path) -> None:
        np.savez(path, vertices=self.vertices.astype(np.float32), faces=self.faces,
                 face_parts=self.face_parts, rotation=self.rotation, position=self.position,
                 focal=self.focal, size=np.asarray(self.size), fps=self.fps)

    @classmethod
    def load(cls, path: Path) -> Shot:
        with np.load(path, allow_pickle=False) as f:
            return cls(f["vertices"], f["faces"], f["face_parts"], f["rotation"],
                       f["position"], float(f["focal"]), tuple(int(x) for x in f["size"]),
                       float(f["fps"]))


def render_size(size: tuple[int, int]) -> tuple[tuple[int, int], float]:
    """The rendered image size (even numbers, as H.264 wants) and its scale from `size`."""
    scale = min(1.0, LONG_SIDE / max(size))
    return (int(round(size[0] * scale / 2)) * 2, int(round(size[1] * scale / 2)) * 2), scale


def face_parts(mesh) -> np.ndarray:
    """Each face's garment (index into PARTS): that of the joint weighing most on its
    first vertex; on the head, hair above and behind."""
    faces = np.asarray(mesh.faces)
    owner = np.asarray(mesh.weights).argmax(axis=1)[faces[:, 0]]
    garments = [GARMENT.get(name, "shirt") for name in mesh.joint_names]
    parts = np.array([PARTS.index(garments[j]) for j in owner], dtype=np.int64)
    head = mesh.joint_names.index("head")
    rel = mesh.vertices[faces].mean(axis=1) - _head_centre(mesh)
    hair = (owner == head) & ((rel[:, 1] > HAIR_ABOVE_M) | (rel[:, 2] < HAIR_BEHIND_M))
    parts[hair] = PARTS.index("hair")
    return parts


def _head_centre(mesh) -> np.ndarray:
    from motionfield.body.proxy import HEAD_CENTRE

    return mesh.bind_positions[mesh.joint_names.index("head")] + np.asarray(HEAD_CENTRE)


def dressed_body():
    """The proxy body with eyes, a nose and lips on its head, and each face's garment:
    (SkinnedMesh, (F,) indices into PARTS)."""
    import trimesh

    from motionfield.body.proxy import HEAD_SEMI_AXES, SkinnedMesh, proxy_body

    body = proxy_body()
    head = body.joint_names.index("head")
    centre = _head_centre(body)
    a, b, c = HEAD_SEMI_AXES
    vertices, faces, parts = [body.vertices], [body.faces], [face_parts(body)]
    count = len(body.vertices)
    for garment, x, y, semi in FACE_FEATURES:
        ball = trimesh.creation.uv_sphere(radius=1.0, count=[8, 8])
        z = c * np.sqrt(max(0.0, 1 - (x / a) ** 2 - (y / b) ** 2))  # on the head's front
        vertices.append(ball.vertices * semi + centre + [x, y, z - semi[2] * 0.4])
        faces.append(np.asarray(ball.faces) + count)
        parts.append(np.full(len(ball.faces), PARTS.index(garment)))
        count += len(ball.vertices)
    weights = np.zeros((count, len(body.joint_names)))
    weights[:len(body.vertices)] = body.weights
    weights[len(body.vertices):, head] = 1.0
    mesh = SkinnedMesh(np.concatenate(vertices), np.concatenate(faces), weights,
                       body.joint_names, body.bind_positions)
    return mesh, np.concatenate(parts)


def make_shot(global_rot: np.ndarray, joints: np.ndarray, view, fps: float) -> Shot:
    """A shot of SMPL global rotations (T, 24, 3, 3) and joints (T, 24, 3) through the
    first camera of `view` (data.View)."""
    from motionfield.body.proxy import skin

    mesh, parts = dressed_body()
    return Shot(skin(mesh, global_rot, joints).astype(np.float32), np.asarray(mesh.faces),
                parts, np.asarray(view.rotation[0], dtype=np.float64),
                np.asarray(view.position[0], dtype=np.float64), float(view.focal[0]),
                (int(view.size[0, 0]), int(view.size[0, 1])), fps)


def render(shot_path: Path, video_path: Path, timeout_s: float = 3600) -> None:
    """Render a saved shot to an MP4 in a child Python process with bpy."""
    if importlib.util.find_spec("bpy") is None:    # the child runs this same Python
        raise MotionfieldError("rendering needs Blender's bpy module in this Python: "
                               "pip install -e '.[test]' (bpy 4.5)")
    done = subprocess.run([sys.executable, "-m", "motionfield.methods.video.render",
                           str(shot_path), str(video_path)], capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0 or not Path(video_path).is_file():
        tail = (done.stderr or done.stdout)[-2000:]
        raise MotionfieldError(f"rendering {shot_path} failed (exit {done.returncode}): "
                               f"{tail}")


def settings_key() -> str:
    """A digest of every setting that changes the pixels: rendered videos are cached
    under it, so changing a colour renders again."""
    drawing = 2  # raise when the drawing code changes what these constants do not say
    text = json.dumps([LONG_SIDE, ANTI_ALIASING, FLOOR_SIZE_M, COLOURS, GARMENT, FACE_FEATURES,
                       HAIR_ABOVE_M, HAIR_BEHIND_M, drawing], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def render_many(shots: dict[Path, Callable[[], Shot]], workers: int = 2,
                progress: Callable[[int, int], None] | None = None) -> None:
    """Render each video path's shot (made on demand, so only a few are in memory), with
    `workers` Blender processes at once."""
    def one(item: tuple[Path, Callable[[], Shot]]) -> None:
        video, make = item
        with tempfile.TemporaryDirectory() as tmp:
            shot_path = Path(tmp) / "shot.npz"
            make().save(shot_path)
            partial = video.with_name(video.stem + ".partial.mp4")
            render(shot_path, partial)
            partial.replace(video)    # a killed run leaves no half-written video behind

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(one, shots.items()):
            done += 1
            if progress is not None:
                progress(done, len(shots))


# ------------------------------------------------------------------ inside Blender


def _material(bpy, name: str):
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*COLOURS[name], 1.0)
    return material


def _body(bpy, shot: Shot):
    mesh = bpy.data.meshes.new("body")
    mesh.from_pydata(shot.vertices[0].tolist(), [], shot.faces.tolist())
    for name in PARTS:
        mesh.materials.append(_material(bpy, name))
    mesh.polygons.foreach_set("material_index", shot.face_parts.astype(np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(shot.faces), dtype=bool))
    body = bpy.data.objects.new("body", mesh)
    bpy.context.scene.collection.objects.link(body)
    return mesh


def _floor(bpy, shot: Shot) -> None:
    """A floor under the body's lowest point, in the SMPL frame's XZ plane."""
    y = float(shot.vertices[..., 1].min())
    centre = shot.vertices.reshape(-1, 3).mean(axis=0)
    h = FLOOR_SIZE_M / 2
    corners = [(centre[0] + dx, y, centre[2] + dz) for dx, dz in ((-h, -h), (h, -h),
                                                                  (h, h), (-h, h))]
    mesh = bpy.data.meshes.new("floor")
    mesh.from_pydata(corners, [], [(0, 3, 2, 1)])
    mesh.materials.append(_material(bpy, "floor"))
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("floor", mesh))


def _camera(bpy, shot: Shot) -> None:
    """Blender's camera axes are the shot's (x right, y up, looking along -z)."""
    import mathutils

    data = bpy.data.cameras.new("camera")
    data.sensor_fit = "HORIZONTAL"
    data.lens = shot.focal / shot.size[0] * data.sensor_width
    data.clip_end = 1000.0
    camera = bpy.data.objects.new("camera", data)
    world = np.eye(4)
    world[:3, :3] = shot.rotation.T
    world[:3, 3] = shot.position
    camera.matrix_world = mathutils.Matrix(world.tolist())
    bpy.context.scene.collection.objects.link(camera)
    bpy.context.scene.camera = camera


def _scene(bpy, shot: Shot, video_path: Path) -> None:
    scene = bpy.context.scene
    (width, height), _ = render_size(shot.size)
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_shadows = True
    scene.display.render_aa = ANTI_ALIASING
    scene.world = bpy.data.worlds.new("world")
    scene.world.color = COLOURS["background"]
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.fps = max(1, round(shot.fps))
    scene.render.fps_base = scene.render.fps / shot.fps    # 29.97: 30 / 1.001
    scene.frame_start, scene.frame_end = 1, len(shot.vertices)
    scene.render.image_settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format = "MPEG4"
    scene.render.ffmpeg.codec = "H264"
    scene.render.ffmpeg.constant_rate_factor = "HIGH"
    scene.render.filepath = str(video_path)
    scene.render.use_file_extension = False


def render_in_blender(shot: Shot, video_path: Path) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = _body(bpy, shot)
    _floor(bpy, shot)
    _camera(bpy, shot)
    _scene(bpy, shot, video_path)
    flat = shot.vertices.reshape(len(shot.vertices), -1)

    def pose(scene, *_):
        mesh.vertices.foreach_set("co", flat[scene.frame_current - 1])
        mesh.update()

    bpy.app.handlers.frame_change_pre.append(pose)
    bpy.ops.render.render(animation=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m motionfield.methods.video.render SHOT.npz VIDEO.mp4",
              file=sys.stderr)
        return 2
    render_in_blender(Shot.load(Path(args[0])), Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
