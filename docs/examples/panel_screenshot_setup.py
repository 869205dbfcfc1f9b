"""Blender start-up script behind docs/img/panel.png: enable the extension, connect to a
running backend (/tmp/conn.json), open the motionfield tab, import a CMU walk, keep its
first 2.4 s of keys, continue it by 1.6 s with Continue Motion, and show a frame of the
continuation with the keys in the timeline.

    motionfield serve --connection-file /tmp/conn.json &
    xvfb-run -s "-screen 0 1600x900x24" blender empty.blend --python panel_screenshot_setup.py
    xwd -root -silent > shot.xwd; convert shot.xwd panel.png    # after ~40 s
"""
import addon_utils
import bpy

addon_utils.enable("bl_ext.user_default.motionfield", default_set=True)
prefs = bpy.context.preferences.addons["bl_ext.user_default.motionfield"].preferences
prefs.backend_mode = "CONNECT"
prefs.connection_file = "/tmp/conn.json"
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1
LAST_KEY, SHOWN = 72, 104  # frames: the keys kept end at 2.4 s; a frame 1.07 s after


def view3d():
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                return window, area
    return None, None


def armature():
    return next((o for o in bpy.data.objects if o.type == "ARMATURE"
                 and o.animation_data and o.animation_data.action), None)


def start():
    window, area = view3d()
    area.spaces.active.show_region_ui = True
    for region in area.regions:
        if region.type == "UI":
            try:  # read-only before the sidebar is first drawn (Blender 4.3)
                region.active_panel_category = "motionfield"
            except AttributeError:
                pass
    with bpy.context.temp_override(window=window, area=area):
        bpy.ops.motionfield.backend_start()
        bpy.ops.motionfield.import_mocap(filepath="/tmp/02_01.bvh")
    bpy.app.timers.register(trim_and_continue, first_interval=2)
    return None


def trim_and_continue():
    """Once the walk is keyed: drop its keys after LAST_KEY and continue from there."""
    obj = armature()
    if obj is None:
        return 1.0  # the import is still running
    for curve in obj.animation_data.action.fcurves:
        for point in reversed(list(curve.keyframe_points)):
            if point.co.x > LAST_KEY + 1e-3:
                curve.keyframe_points.remove(point, fast=True)
        curve.update()
    for other in bpy.data.objects:
        other.select_set(other == obj)
    bpy.context.view_layer.objects.active = obj
    window, area = view3d()
    with bpy.context.temp_override(window=window, area=area, active_object=obj):
        bpy.ops.motionfield.predict(seconds=1.6, history=2.0)
    bpy.app.timers.register(show, first_interval=3)
    return None


def show():
    window, area = view3d()
    scene.frame_start, scene.frame_end = 1, 130
    scene.frame_set(SHOWN)
    for region in area.regions:
        if region.type == "UI":
            region.active_panel_category = "motionfield"
    area.tag_redraw()
    obj = armature()
    view = area.spaces.active.region_3d
    view.view_location = obj.matrix_world @ obj.pose.bones[0].head  # the pelvis, now
    view.view_distance = 4.5
    return None


bpy.app.timers.register(start, first_interval=3)
bpy.context.preferences.view.show_splash = False
