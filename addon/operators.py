"""Operators: backend start/stop/restart/log, Import mocap (a BVH through the backend's
`convert` job), Continue Motion and Fill Between Keys (the `predict` job), Run (any other
method, from its schema), cancel. Jobs never block the UI: submit returns at once and a
timer polls; in background mode (blender -b, bpy as a module) the same operators block
instead. Job state lives in `jobs.JOBS` (module state), out of undo's reach."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy.props import FloatProperty, StringProperty

from . import schema
from .apply import Output, apply_motion, body_params, output_fps, smpl_folders
from .backend import BACKEND, BackendError
from .jobs import JOBS

POLL_SECONDS = 0.1
MOTION_ARRAYS = ("rotations", "root_translation", "times", "offsets", "parents")


def _prefs(context):
    """The add-on's preferences, or None when its classes were registered by a script
    (bpy as a module) rather than enabled as an add-on."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def should_block() -> bool:
    """Headless Blender (and bpy as a module) runs jobs to the end; the UI never waits."""
    return bpy.app.background


def _settings_output(context, default_name: str) -> Output:
    s = context.scene.motionfield
    return Output(s.target, None if s.use_scene_fps else s.fps, s.start_frame,
                  s.action_name or default_name, s.push_to_nla, s.bone_map, s.rigify_ik)


def ensure_backend(context) -> None:
    folders = smpl_folders(context)
    if BACKEND.client is not None and BACKEND.heartbeat() != "dead":
        BACKEND.allow_smpl_folders(folders)
        return
    prefs = _prefs(context)
    if prefs is not None and prefs.backend_mode == "CONNECT":
        BACKEND.connect(bpy.path.abspath(prefs.connection_file))
    else:  # no Python set: this interpreter (right for bpy-as-module scripts)
        BACKEND.start_local(bpy.path.abspath(prefs.python) if prefs else "",
                            smpl_folders=folders)


class MOTIONFIELD_OT_backend_start(bpy.types.Operator):
    """Start (or connect to) the motionfield backend"""
    bl_idname = "motionfield.backend_start"
    bl_label = "Start Backend"

    def execute(self, context):
        try:
            ensure_backend(context)
        except (BackendError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"backend {BACKEND.state}: {', '.join(BACKEND.methods)}")
        return {"FINISHED"}


class MOTIONFIELD_OT_backend_stop(bpy.types.Operator):
    """Stop the backend this Blender started (or disconnect)"""
    bl_idname = "motionfield.backend_stop"
    bl_label = "Stop Backend"

    def execute(self, context):
        BACKEND.stop()
        return {"FINISHED"}


class MOTIONFIELD_OT_backend_restart(bpy.types.Operator):
    """Stop and start the backend again"""
    bl_idname = "motionfield.backend_restart"
    bl_label = "Restart Backend"

    def execute(self, context):
        BACKEND.stop()
        return bpy.ops.motionfield.backend_start()


class MOTIONFIELD_OT_backend_log(bpy.types.Operator):
    """Show the end of the backend's log in the Info editor"""
    bl_idname = "motionfield.backend_log"
    bl_label = "Backend Log"

    def execute(self, context):
        for line in BACKEND.log_tail().splitlines():
            self.report({"INFO"}, line)
        return {"FINISHED"}


class MOTIONFIELD_OT_import_mocap(bpy.types.Operator):
    """Import a BVH of any rig onto SMPL (or your rig) through the backend"""
    bl_idname = "motionfield.import_mocap"
    bl_label = "Import Mocap onto SMPL"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.bvh", options={"HIDDEN"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        output = _settings_output(context, path.stem)
        target = context.active_object if output.target == "SELECTED" else None
        try:
            ensure_backend(context)
            params = {**panel_values(context, "convert"), "name": path.name,
                      "fps": output_fps(context.scene, output),
                      **body_params(context, output.target)}
            file = {"bvh_file": np.frombuffer(path.read_bytes(), dtype=np.uint8)}
            if should_block():
                result = BACKEND.client.run("convert", params, file)
                apply_motion(context.scene, result.content, result.arrays, output, target)
                return {"FINISHED"}
            job = BACKEND.client.submit("convert", params, file)
        except (BackendError, OSError, ValueError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        _watch(job, "convert", f"importing {path.name}...",
               {"scene": context.scene.name, "output": output,
                "target": target.name if target else None})
        return {"FINISHED"}


class MOTIONFIELD_OT_predict(bpy.types.Operator):
    """Continue the active SMPL armature's motion after its last key (the predict job)"""
    bl_idname = "motionfield.predict"
    bl_label = "Continue Motion"
    bl_options = {"REGISTER", "UNDO"}

    # the predict job's bounds on `seconds` (a test holds them equal to its schema)
    seconds: FloatProperty(name="Seconds", default=1.0, min=0.001, max=10.0, soft_min=0.05,
                           description="how long to continue (measured up to 1 s)")
    history: FloatProperty(name="History", default=2.0, min=0.1, max=10.0,
                           description="seconds of keyed motion before the last key to read")

    def execute(self, context):
        from .predict import continue_request

        return _run_predict(self, context, lambda scene, obj: continue_request(
            scene, obj, self.history, self.seconds))


class MOTIONFIELD_OT_fill(bpy.types.Operator):
    """Key every frame between the active SMPL armature's keys, and the bones a key left
    out, with the motion the model infers from all the keys (the predict job's fill)"""
    bl_idname = "motionfield.fill"
    bl_label = "Fill Between Keys"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from .predict import fill_request

        return _run_predict(self, context, fill_request)


def _run_predict(operator, context, request) -> set[str]:
    """Send what `request(scene, obj)` reads off the active object to the predict job and
    key the answer on it."""
    from .predict import apply_prediction

    scene, obj = context.scene, context.active_object
    try:
        params, arrays, first_frame = request(scene, obj)
        params["fps"] = output_fps(scene, _settings_output(context, "prediction"))
        ensure_backend(context)
        if should_block():
            result = BACKEND.client.run("predict", params, arrays)
            count = apply_prediction(scene, obj, first_frame, result.arrays, params["mode"])
            operator.report({"INFO"}, f"keyed {count} frames on {obj.name}")
            return {"FINISHED"}
        job = BACKEND.client.submit("predict", params, arrays)
    except (BackendError, OSError, ValueError) as e:
        operator.report({"ERROR"}, str(e))
        return {"CANCELLED"}
    verb = "continuing" if params["mode"] == "continue" else "filling"
    _watch(job, "predict", f"{verb} {obj.name}...",
           {"scene": scene.name, "output": None, "target": obj.name,
            "predict": (params["mode"], first_frame)})
    return {"FINISHED"}


class MOTIONFIELD_OT_run(bpy.types.Operator):
    """Run a method of the backend with the settings of its panel section; motion it
    returns lands as the Output section says"""
    bl_idname = "motionfield.run"
    bl_label = "Run"
    bl_options = {"REGISTER", "UNDO"}

    method: StringProperty(name="Method", description="the backend's name for the method")

    def execute(self, context):
        output = _settings_output(context, self.method)
        target = context.active_object if output.target == "SELECTED" else None
        try:
            ensure_backend(context)
            spec = BACKEND.methods.get(self.method)
            if spec is None:
                raise ValueError(f"this backend offers no method {self.method!r}; it offers "
                                 f"{', '.join(BACKEND.methods) or 'none'}")
            params = panel_values(context, self.method)
            if "fps" in spec["params"]:
                params["fps"] = output_fps(context.scene, output)
            if should_block():
                result = BACKEND.client.run(self.method, params)
                self.report({"INFO"}, land_result(context.scene, self.method, result.content,
                                                  result.arrays, output, target))
                return {"FINISHED"}
            job = BACKEND.client.submit(self.method, params)
        except (BackendError, OSError, ValueError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        _watch(job, self.method, f"running {spec.get('label', self.method)}...",
               {"scene": context.scene.name, "output": output,
                "target": target.name if target else None})
        return {"FINISHED"}


def panel_values(context, method: str) -> dict:
    """The job parameters set in the method's panel section (none when not connected)."""
    group = schema.settings(context, method)
    return {} if group is None else schema.params_from(group, BACKEND.methods[method])


def land_result(scene, method: str, content: dict, arrays: dict, output: Output,
                target) -> str:
    """Key a result that carries motion (as Import Mocap does) and say what happened; a
    result without motion is only reported."""
    if not all(name in arrays for name in MOTION_ARRAYS):
        return f"{method}: done ({', '.join(sorted(content)) or 'no content'})"
    if "joint_names" not in content:
        from .retarget import SMPL_NAMES

        content = {**content, "joint_names": list(SMPL_NAMES)}
    obj, action = apply_motion(scene, content, arrays, output, target)
    return f"keyed {action.name} on {obj.name}"


def _watch(job: str, method: str, message: str, route: dict) -> None:
    """Show a submitted job in the panel and make sure the poll timer runs."""
    JOBS.start(job, method, message, route)
    if not bpy.app.timers.is_registered(poll_jobs):
        bpy.app.timers.register(poll_jobs, first_interval=POLL_SECONDS)


class MOTIONFIELD_OT_cancel(bpy.types.Operator):
    """Cancel the running motionfield job (a second click forgets it at once)"""
    bl_idname = "motionfield.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        job = JOBS.current()
        if job is None:
            self.report({"INFO"}, "no job is running")
            return {"CANCELLED"}
        if job.cancelling or BACKEND.client is None or BACKEND.state == "dead":
            JOBS.finish(job.id, "cancelled")  # nothing will answer: free the panel now
        else:
            BACKEND.client.cancel(job.id)
            job.cancelling, job.stage = True, "cancelling"
        _redraw()
        return {"FINISHED"}


def user_bone_maps() -> Path:
    """The user's saved bone maps (editable JSON), beside Blender's config."""
    return Path(bpy.utils.user_resource("CONFIG", path="motionfield/bone_maps", create=True))


class MOTIONFIELD_OT_save_bone_map(bpy.types.Operator):
    """Save the bone map found for the active armature as a preset you can edit"""
    bl_idname = "motionfield.save_bone_map"
    bl_label = "Save Bone Map"

    name: StringProperty(name="Name", default="my_rig")

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
        from .retarget import RetargetError, auto_map, save_preset

        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            self.report({"ERROR"}, "select an armature first")
            return {"CANCELLED"}
        try:
            _, mapping = auto_map([b.name for b in obj.data.bones], [user_bone_maps()])
        except RetargetError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        path = save_preset(user_bone_maps(), self.name, mapping)
        self.report({"INFO"}, f"saved {len(mapping)} bones to {path}")
        return {"FINISHED"}


HEARTBEAT_SECONDS = 2.0


def heartbeat() -> float:
    """Timer: keep the panel's backend state true (a dead backend shows as dead, and the
    jobs it held end, so the panel is usable again)."""
    if BACKEND.client is not None:
        before = BACKEND.state
        if JOBS.running and BACKEND.process is not None:
            BACKEND.process_ended()  # not a ping: one can miss while a job holds its CPU
        else:
            BACKEND.heartbeat(timeout=0.3)
        if BACKEND.state == "dead" and JOBS.running:
            JOBS.finish_all(f"backend lost: {BACKEND.message}")
        if BACKEND.state != before:
            _redraw()
    return HEARTBEAT_SECONDS


def poll_jobs() -> float | None:
    """Timer: turn backend events into panel state and keyed results."""
    if BACKEND.client is None or not JOBS.running:
        return None
    try:
        events = BACKEND.client.poll(0)
    except BackendError as e:
        JOBS.finish_all(f"backend lost: {e}")
        return None
    for event in events:
        if event.job not in JOBS.running:
            continue  # a job cancelled here, or forgotten when another file was loaded
        if event.type == "progress":
            JOBS.progress(event.job, event.content)
        elif event.type in ("result", "error", "cancelled"):
            job = JOBS.running[event.job]
            JOBS.finish(event.job, _conclude(event, job))
    _redraw()
    return POLL_SECONDS if JOBS.running else None


def _conclude(event, job) -> str:
    """Key a finished job's result as its route says; the panel's message."""
    if event.type != "result":
        return "cancelled" if event.type == "cancelled" else event.content.get("message", "")
    route = job.route
    scene = bpy.data.scenes.get(route["scene"])
    if scene is None:
        return f"scene {route['scene']} is gone; result not keyed"
    target = bpy.data.objects.get(route["target"]) if route["target"] else None
    try:
        if "predict" in route:
            message = _key_prediction(scene, target, route, event.arrays)
        elif "text2motion" in route:
            from .text2motion import conclude

            message = conclude(scene, event.content, event.arrays, route["output"], target)
        elif "video" in route:
            from .video import conclude

            message = conclude(scene, event.content, event.arrays, route["output"],
                               route["video"])
        else:
            message = land_result(scene, job.method, event.content, event.arrays,
                                  route["output"], target)
    except (ValueError, RuntimeError) as e:
        message = str(e)
    else:
        if not bpy.app.background:  # no undo stack without a UI (4.2 crashed on exit)
            bpy.ops.ed.undo_push(message=f"motionfield: {message}")
    print(f"motionfield: {message}")
    return message


def _key_prediction(scene, target, route: dict, arrays: dict) -> str:
    from .predict import apply_prediction

    if target is None:
        raise ValueError(f"{route['target']} is gone; prediction not keyed")
    mode, first_frame = route["predict"]
    count = apply_prediction(scene, target, first_frame, arrays, mode)
    return f"keyed {count} {'predicted' if mode == 'continue' else 'filled'} frames on " \
           f"{target.name}"


def forget_jobs() -> None:
    """Cancel and forget every running job (another file is being loaded: the objects
    their results were for go with this one)."""
    if BACKEND.client is not None and BACKEND.state != "dead":
        for job in JOBS.running:
            BACKEND.client.cancel(job)
    if JOBS.running:
        JOBS.finish_all("jobs cancelled: another file was loaded")


def _redraw() -> None:
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


classes = (MOTIONFIELD_OT_backend_start, MOTIONFIELD_OT_backend_stop,
           MOTIONFIELD_OT_backend_restart, MOTIONFIELD_OT_backend_log,
           MOTIONFIELD_OT_import_mocap, MOTIONFIELD_OT_predict, MOTIONFIELD_OT_fill,
           MOTIONFIELD_OT_run, MOTIONFIELD_OT_cancel,
           MOTIONFIELD_OT_save_bone_map)
