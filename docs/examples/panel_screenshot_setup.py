"""Blender start-up script behind docs/img/panel.png: enable the extension, connect to a
running backend (/tmp/conn.json), open the motionfield tab, import a BVH, frame it.

    motionfield serve --connection-file /tmp/conn.json &
    xvfb-run -s "-screen 0 1600x900x24" blender empty.blend --python panel_screenshot_setup.py
    xwd -root -silent > shot.xwd; convert shot.xwd panel.png    # after ~15 s
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
scene.render.fps, scene.render.fps_base = 30, 1.001

def view3d():
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                return window, area
    return None, None

def later():
    window, area = view3d()
    area.spaces.active.show_region_ui = True
    for region in area.regions:
        if region.type == "UI":
            try:
                region.active_panel_category = "motionfield"
            except Exception as e:
                print("category", e)
    with bpy.context.temp_override(window=window, area=area):
        bpy.ops.motionfield.backend_start()
        bpy.ops.motionfield.import_mocap(filepath="/tmp/05_06.bvh")
    return None

def frame():
    window, area = view3d()
    scene.frame_set(120)
    for region in area.regions:
        if region.type == "UI":
            region.active_panel_category = "motionfield"
            print("category now", region.active_panel_category)
    area.tag_redraw()
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.view3d.view_all()
    return None

bpy.app.timers.register(later, first_interval=3)
bpy.app.timers.register(frame, first_interval=9)
bpy.context.preferences.view.show_splash = False
