"""Headless motionfield: import mocap onto SMPL through the backend, key it, render a frame.

    python docs/examples/headless_import_render.py IN.bvh OUT.png        # bpy as a module
    blender -b -P docs/examples/headless_import_render.py -- IN.bvh OUT.png

Uses the add-on's Python API (addon/api.py); with the extension installed, import it as
`bl_ext.user_default.motionfield.api` instead of from the source tree.
"""

import sys
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from addon import api  # noqa: E402

args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
bvh, png = Path(args[0]), Path(args[1])

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1.001          # 29.97 fps, NTSC-exact keys
api.start_backend()                                           # `motionfield serve` on loopback
obj, action = api.import_mocap(bvh, progress=lambda p: print("  ", p["stage"]))
api.stop_backend()
print(f"keyed {action.name} on {obj.name}: frames {action.frame_range[:]}")

# a camera looking at the armature from the front, and a Workbench render of frame 30
camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
scene.collection.objects.link(camera)
camera.location, camera.rotation_euler = (0.0, -5.0, 1.0), (1.5708, 0.0, 0.0)
scene.camera = camera
obj.show_in_front = True
obj.data.display_type = "STICK"
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x, scene.render.resolution_y = 480, 480
scene.frame_set(30)
pelvis = obj.matrix_world @ obj.pose.bones[0].head
camera.location.x, camera.location.y = pelvis.x, pelvis.y - 5.0  # frame the body
scene.render.filepath = str(png)
bpy.ops.render.render(write_still=True)
print(f"rendered {png}")
