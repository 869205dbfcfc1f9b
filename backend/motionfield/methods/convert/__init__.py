"""The `convert` method: mocap of any rig (BVH) or SMPL arrays onto SMPL at any framerate.

`pipeline.convert` is the one pipeline (read -> retarget -> cut -> resample); the job
(`job.py`) and the `motionfield convert` command (`cli.py`) both call it.
"""
