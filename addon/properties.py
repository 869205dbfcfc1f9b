"""Add-on preferences and the scene's Output settings (what the panel's Output section
edits; the methods' own settings come from the backend's schema, see schema.py)."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .retarget import presets

_ITEMS = []  # Blender needs the enum items kept alive while shown


def _bone_maps(self, context):
    from .apply import _user_folders

    _ITEMS[:] = [("AUTO", "Automatic", "match the rig's bone names against every preset")] + [
        (name, name, f"the {name} bone map") for name in sorted(presets(_user_folders()))]
    return _ITEMS


class MOTIONFIELD_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    backend_mode: EnumProperty(
        name="Backend", default="LOCAL",
        items=[("LOCAL", "Start a local backend", "run motionfield serve with a Python"),
               ("CONNECT", "Connect to a running one", "use its connection file")])
    python: StringProperty(
        name="Python", subtype="FILE_PATH",
        description="the Python (e.g. .venv/bin/python) that has motionfield installed")
    connection_file: StringProperty(
        name="Connection file", subtype="FILE_PATH",
        description="written by `motionfield serve` (address and key, mode 0600)")
    smpl_folder: StringProperty(
        name="SMPL model folder", subtype="DIR_PATH",
        description="optional: your own SMPL/SMPL-H/SMPL-X files (e.g. smpl/SMPL_NEUTRAL.pkl "
                    "or .npz), for the real body mesh on new SMPL armatures")
    smpl_gender: EnumProperty(
        name="SMPL gender", default="neutral",
        items=[("neutral", "Neutral", "SMPL_NEUTRAL"), ("female", "Female", "SMPL_FEMALE"),
               ("male", "Male", "SMPL_MALE")])

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "backend_mode")
        col.prop(self, "python" if self.backend_mode == "LOCAL" else "connection_file")
        col.prop(self, "smpl_folder")
        row = col.row()
        row.enabled = bool(self.smpl_folder)
        row.prop(self, "smpl_gender")


class MotionfieldSettings(bpy.types.PropertyGroup):
    target: EnumProperty(
        name="Target", default="NEW",
        items=[("NEW", "New SMPL armature", "create an armature with the SMPL skeleton"),
               ("SELECTED", "Selected armature", "retarget onto the active armature")])
    use_scene_fps: BoolProperty(name="Scene framerate", default=True)
    fps: FloatProperty(name="Framerate", default=30.0, min=0.001, precision=3,
                       description="any positive rate; 23.976 and 29.97 are NTSC-exact")
    start_frame: IntProperty(name="Start frame", default=1)
    action_name: StringProperty(name="Action", default="",
                                description="name of the new Action (default: the file's)")
    push_to_nla: BoolProperty(name="Push to NLA", default=False)
    bone_map: EnumProperty(name="Bone map", items=_bone_maps)
    rigify_ik: BoolProperty(
        name="IK feet", default=False,
        description="onto a generated Rigify rig: after the FK keys, bake them onto the IK "
                    "controls with Rigify's own IK->FK bake, switches to IK (about a second a "
                    "frame)")
    # no job state here: undo restores scene data (jobs.py holds it)


classes = (MOTIONFIELD_AP_preferences, MotionfieldSettings)


def register_settings() -> None:
    bpy.types.Scene.motionfield = PointerProperty(type=MotionfieldSettings)


def unregister_settings() -> None:
    del bpy.types.Scene.motionfield
