"""docs/img/rigify_side_by_side.png: the CMU walk on a new SMPL armature (left) and retargeted
onto a freshly generated Rigify human rig (right, its FK controls keyed), the same frame,
rendered headless (Workbench, orthographic camera from the front-left). Armatures do not
render, so each deform bone gets a rod parented to it (it follows the bone as Blender
evaluates it, Rigify's constraints included).

    .venv/bin/python docs/examples/rigify_side_by_side.py [OUT.png] [FRAME]
"""

import os
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from addon.apply import Output, apply_motion  # noqa: E402
from addon.retarget import SMPL_NAMES  # noqa: E402
from motionfield.data import sources  # noqa: E402
from motionfield.io.bvh import read_bvh  # noqa: E402
from motionfield.io.retarget import retarget  # noqa: E402

out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/img/rigify_side_by_side.png"
frame = int(sys.argv[2]) if len(sys.argv) > 2 else 40

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1.0
bpy.ops.preferences.addon_enable(module="rigify")
bpy.ops.object.armature_human_metarig_add()
metarig = bpy.context.active_object
bpy.ops.pose.rigify_generate()
rig = bpy.context.active_object
bpy.data.objects.remove(metarig)


def rods(armature, bones, radius, colour):
    """A rod (8-sided prism) per bone from its head to its tail, parented to the bone."""
    mesh = bpy.data.meshes.new("rod")
    angle = np.arange(8) * np.pi / 4
    ring = np.stack([np.cos(angle), np.zeros(8), np.sin(angle)], 1)
    verts = np.concatenate([ring * radius, ring * radius * 0.6 + [0.0, 1.0, 0.0]])
    sides = [(i, (i + 1) % 8, 8 + (i + 1) % 8, 8 + i) for i in range(8)]
    mesh.from_pydata(verts.tolist(), [], sides + [tuple(range(8))[::-1], tuple(range(8, 16))])
    material = bpy.data.materials.new("rod")
    material.diffuse_color = colour
    mesh.materials.append(material)
    for name in bones:
        bone = armature.pose.bones[name]
        rod = bpy.data.objects.new(f"rod {name}", mesh)
        scene.collection.objects.link(rod)
        rod.parent, rod.parent_type, rod.parent_bone = armature, "BONE", name
        bpy.context.view_layer.update()
        rod.matrix_world = armature.matrix_world @ bone.matrix @ Matrix.Diagonal(
            (1.0, bone.length, 1.0, 1.0))


# rods at the rest pose, before any action: the parenting keeps them on their bones
BODY = ("spine", "thigh", "shin", "foot", "toe", "shoulder", "upper_arm", "forearm", "hand")
rods(rig, [b.name for b in rig.data.bones if b.name.startswith("DEF-")
           and b.name[4:].split(".")[0] in BODY], 0.035, (0.85, 0.45, 0.2, 1.0))
motion, _ = retarget(read_bvh(sources.unpack() / "cmu_bvh" / "02_01.bvh"))
step = round(float(motion.fps) / 30)
arrays = {"rotations": motion.rotations[::step], "root_translation":
          motion.root_translation[::step], "times": motion.times[::step],
          "offsets": motion.skeleton.offsets, "parents": np.array(motion.skeleton.parents)}
params = {"joint_names": list(SMPL_NAMES)}
smpl, _ = apply_motion(scene, params, arrays, Output(action_name="02_01 SMPL"))
bpy.context.view_layer.update()
rods(smpl, [b.name for b in smpl.data.bones if b.length > 0.02], 0.03, (0.25, 0.5, 0.85, 1.0))
apply_motion(scene, params, arrays, Output(target="SELECTED", action_name="02_01 Rigify"), rig)
rig.location.x = 1.0  # side by side: the same motion, the rig a metre to the right

camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
scene.collection.objects.link(camera)
camera.data.type, camera.data.ortho_scale = "ORTHO", 3.0
scene.camera = camera
scene.render.engine = "BLENDER_WORKBENCH"
scene.world = bpy.data.worlds.new("light")
scene.world.color = (0.8, 0.8, 0.8)
scene.display.shading.color_type = "MATERIAL"
scene.display.shading.light = "STUDIO"
scene.render.resolution_x, scene.render.resolution_y = 640, 480
scene.render.image_settings.color_mode = "RGB"
scene.frame_set(frame)
middle = (smpl.matrix_world @ smpl.pose.bones["pelvis"].head
          + rig.matrix_world @ rig.pose.bones["DEF-spine"].head) / 2
camera.rotation_euler = (np.radians(82), 0.0, np.radians(-20))
direction = np.array(camera.rotation_euler.to_matrix().col[2])  # the camera looks down -Z
camera.location = np.array([middle.x, middle.y, 0.95]) + 6.0 * direction
scene.render.filepath = str(out)
bpy.ops.render.render(write_still=True)
print(f"rendered {out} at frame {frame}")
sys.stdout.flush()
os._exit(0)  # bpy as a module can hang in its exit (tests/blender/conftest.py)
