"""The sidebar panel (View3D > Sidebar > motionfield): backend state, a section per method
(disabled with the reason when the backend does not offer it), and the Output section."""

from __future__ import annotations

import bpy

from .backend import BACKEND

# method name -> (label, what it does); sections show in this order
METHODS = {
    "convert": ("Import Mocap", "a BVH of any rig onto SMPL"),
    "text2motion": ("Text to Motion", "a sentence in, new motion out"),
    "predict": ("Predict / Complete", "continue or fill your keys"),
    "sparse": ("Headset to Body", "head and hands to a full body"),
    "video": ("Video to Motion", "several videos to 3D motion"),
}


class MOTIONFIELD_PT_main(bpy.types.Panel):
    bl_label = "motionfield"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "motionfield"

    def draw(self, context):
        layout = self.layout
        s = context.scene.motionfield
        box = layout.box()
        row = box.row()
        row.label(text=f"Backend: {BACKEND.state}", icon=_state_icon(BACKEND.state))
        if BACKEND.state in ("stopped", "dead"):
            row.operator("motionfield.backend_start", text="Start", icon="PLAY")
        else:
            row.operator("motionfield.backend_stop", text="", icon="PAUSE")
        if BACKEND.state == "dead":
            box.label(text=BACKEND.message[:60], icon="ERROR")
            row = box.row()
            row.operator("motionfield.backend_restart", icon="FILE_REFRESH")
            row.operator("motionfield.backend_log", icon="TEXT")
        for name, (label, help_text) in METHODS.items():
            col = layout.column()
            offered = name in BACKEND.methods
            col.enabled = offered and not s.job_id
            col.label(text=label)
            if name == "convert":
                col.operator("motionfield.import_mocap", icon="IMPORT")
            elif name == "predict" and offered:
                col.operator("motionfield.predict", icon="NEXT_KEYFRAME")
                col.operator("motionfield.fill", icon="KEYFRAME")
            else:
                col.label(text=help_text if offered else "not offered by this backend yet",
                          icon="NONE" if offered else "INFO")
        if s.job_id:
            row = layout.row()
            row.prop(s, "progress", text=s.job_stage or "working", slider=True)
            row.operator("motionfield.cancel", text="", icon="CANCEL")
        if s.message:
            layout.label(text=s.message)


class MOTIONFIELD_PT_output(bpy.types.Panel):
    bl_label = "Output"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "motionfield"
    bl_parent_id = "MOTIONFIELD_PT_main"

    def draw(self, context):
        s = context.scene.motionfield
        col = self.layout.column()
        col.prop(s, "target")
        if s.target == "SELECTED":
            row = col.row(align=True)
            row.prop(s, "bone_map")
            row.operator("motionfield.save_bone_map", text="", icon="FILE_TICK")
        col.prop(s, "use_scene_fps")
        if not s.use_scene_fps:
            col.prop(s, "fps")
        col.prop(s, "start_frame")
        col.prop(s, "action_name")
        col.prop(s, "push_to_nla")


def _state_icon(state: str) -> str:
    return {"ready": "CHECKMARK", "busy": "SORTTIME", "dead": "ERROR",
            "starting": "SORTTIME"}.get(state, "RADIOBUT_OFF")


classes = (MOTIONFIELD_PT_main, MOTIONFIELD_PT_output)
