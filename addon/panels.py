"""The sidebar panel (View3D > Sidebar > motionfield): the backend's state with Start/Stop,
one section per method the backend offers (in its registry's order, drawn from the schema
`info` sends), the running job's progress with Cancel, the last message, and the Output
section.

`panel_model(context)` is what the panel shows, as plain data; `draw` renders exactly that,
so tests (and the real-window checks) read the panel through it.
"""

from __future__ import annotations

import textwrap

import bpy

from . import schema
from .backend import BACKEND
from .jobs import JOBS

# methods with their own operators: the parameters those set themselves are not drawn
DEDICATED = {"convert": (), "predict": ("mode", "seconds"), "text2motion": (),
             "sparse": ("space",), "video": ()}
# what a stopped add-on lists before it has ever seen a backend's methods
FIRST_SECTIONS = {"convert": ("Import Mocap", "a BVH of any rig onto SMPL"),
                  "predict": ("Predict / Complete", "continue or fill your keys")}
REASONS = {"stopped": "stopped: start it", "starting": "starting...",
           "dead": "backend dead: restart it", "busy": "busy: a job is running"}
_last_seen: dict[str, tuple[str, str]] = {}  # the last backend's sections, shown once stopped


def remember_sections(methods: dict) -> None:
    """Backend listener: keep the offered methods' labels to list once it stops."""
    if methods:
        _last_seen.clear()
        _last_seen.update(_labels(methods))


def _labels(methods: dict) -> dict[str, tuple[str, str]]:
    return {name: (m.get("label") or name, m.get("help", "")) for name, m in methods.items()}


def panel_state() -> str:
    """The backend's state, "busy" while a job of this session runs."""
    state = BACKEND.state
    return "busy" if state == "ready" and JOBS.running else state


def panel_model(context) -> dict:
    """Everything the panel shows: "backend" (its label), "state" (stopped, starting,
    ready, busy, dead), "job" (None or id, stage, percent, message), "sections" (per
    method: method, label, help, enabled, reason), "message" and "variation" (None, or the
    active armature's Text to Motion variation: object, number, count)."""
    from .text2motion import current

    state = panel_state()
    job = JOBS.current()
    obj = context.active_object
    number, count = current(obj)
    return {
        "backend": f"Backend: {state}",
        "state": state,
        "job": None if job is None else {"id": job.id, "stage": job.stage,
                                         "percent": job.percent, "message": job.message},
        "sections": _sections(context, state),
        "message": job.message if job is not None else JOBS.message,
        "variation": {"object": obj.name, "number": number, "count": count} if count else None,
    }


def _sections(context, state: str) -> list[dict]:
    listed = _labels(BACKEND.methods) if state in ("ready", "busy") else {}
    out = []
    for name, (label, help_text) in (listed or _last_seen or FIRST_SECTIONS).items():
        reason = REASONS.get(state, "")
        if not reason and schema.settings(context, name) is None:
            reason = "its settings could not be built from the schema"
        out.append({"method": name, "label": label, "help": help_text,
                    "enabled": not reason, "reason": reason})
    return out


class MOTIONFIELD_PT_main(bpy.types.Panel):
    bl_label = "motionfield"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "motionfield"

    def draw(self, context):
        model = panel_model(context)
        layout = self.layout
        _draw_backend(layout.box(), model)
        for section in model["sections"]:
            _draw_section(layout.box(), context, section)
        job = model["job"]
        if job is not None:
            row = layout.row()
            row.progress(factor=job["percent"] / 100.0, type="BAR",
                         text=f"{job['stage']} {job['percent']:.0f}%")
            row.operator("motionfield.cancel", text="Cancel", icon="CANCEL")
        if model["message"]:
            layout.label(text=model["message"])


def _draw_backend(box, model: dict) -> None:
    state = model["state"]
    box.label(text=model["backend"], icon=_state_icon(state))  # a row of its own: never cut
    row = box.row()
    if state in ("stopped", "dead"):
        row.operator("motionfield.backend_start", text="Start", icon="PLAY")
    else:
        row.operator("motionfield.backend_stop", text="Stop", icon="PAUSE")
    if state == "dead":
        box.label(text=BACKEND.message[:60], icon="ERROR")
        row = box.row()
        row.operator("motionfield.backend_restart", icon="FILE_REFRESH")
        row.operator("motionfield.backend_log", icon="TEXT")


def _draw_section(box, context, section: dict) -> None:
    name = section["method"]
    box.label(text=section["label"])
    col = box.column()
    col.enabled = section["enabled"]
    if section["reason"]:
        col.label(text=section["reason"], icon="INFO")
        return
    if section["help"]:
        _wrapped_label(col, context, section["help"])
    group = schema.settings(context, name)
    skip = DEDICATED.get(name, ())
    method = BACKEND.methods[name]
    props = col.column()
    props.use_property_split, props.use_property_decorate = True, False  # labels not cut
    for param in schema.panel_params(method):
        if param in skip:
            continue
        row = props.row(align=True)
        if schema.use_id(param) in group.bl_rna.properties:
            row.prop(group, schema.use_id(param), text="")
            row = row.row(align=True)
            row.active = getattr(group, schema.use_id(param))
        row.prop(group, schema.value_id(param))
    if name == "convert":
        col.operator("motionfield.import_mocap", icon="IMPORT")
    elif name == "predict":
        _draw_predict(col, group, method)
    elif name == "text2motion":
        from . import text2motion

        text2motion.draw(col, context, group)
    elif name == "sparse":
        from . import sparse

        sparse.draw(col)
    elif name == "video":
        from . import video

        video.draw(col)
    elif method.get("arrays"):  # it reads recorded input that no panel setting gives
        col.label(text="Reads recorded input: from the CLI or a script", icon="INFO")
    else:
        col.operator("motionfield.run", text=f"Run {section['label']}", icon="PLAY").method = name


def _wrapped_label(layout, context, text: str) -> None:
    """`text` over as many lines as the sidebar's width needs (a label cuts it short)."""
    region = getattr(context, "region", None)
    pixels = region.width if region is not None else 300
    scale = context.preferences.system.ui_scale or 1.0  # 0 in background Blender
    chars = max(20, int((pixels - 40 * scale) / (7.5 * scale)))  # margins; ~7.5 px a char
    col = layout.column(align=True)
    col.scale_y = 0.8
    for line in textwrap.wrap(text, chars):
        col.label(text=line)


def _draw_predict(col, group, method: dict) -> None:
    """Continue Motion fed from the section's Seconds, and Fill Between Keys."""
    continue_motion = col.operator("motionfield.predict", icon="NEXT_KEYFRAME")
    if "seconds" in schema.panel_params(method):
        col.prop(group, schema.value_id("seconds"))
        continue_motion.seconds = getattr(group, schema.value_id("seconds"))
    col.operator("motionfield.fill", icon="KEYFRAME")


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
            _draw_retarget(col, s, context.active_object)
        col.prop(s, "use_scene_fps")
        if not s.use_scene_fps:
            col.prop(s, "fps")
        col.prop(s, "start_frame")
        col.prop(s, "action_name")
        col.prop(s, "push_to_nla")


def _draw_retarget(col, settings, obj) -> None:
    """The IK option for a generated Rigify rig, and what the last retarget onto the active
    armature found (its action's `motionfield_retarget`, retarget_report)."""
    from .apply import retarget_report
    from .rigify_motion import is_rigify

    if is_rigify(obj):
        col.prop(settings, "rigify_ik")
    for line in retarget_report(obj):
        col.label(text=line)


def _state_icon(state: str) -> str:
    return {"ready": "CHECKMARK", "busy": "SORTTIME", "dead": "ERROR",
            "starting": "SORTTIME"}.get(state, "RADIOBUT_OFF")


classes = (MOTIONFIELD_PT_main, MOTIONFIELD_PT_output)
