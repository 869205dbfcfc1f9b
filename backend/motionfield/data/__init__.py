"""Data sources and cached training sets (`motionfield data ...`). No bpy."""
