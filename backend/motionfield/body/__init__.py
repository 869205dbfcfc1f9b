"""The SMPL body: joint table, skeletons, rotations, forward kinematics, resampling. No bpy."""
