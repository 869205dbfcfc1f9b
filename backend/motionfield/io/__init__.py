"""Motion file formats, rig maps and retargeting. No bpy."""
