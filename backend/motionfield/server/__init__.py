"""The job server: socket loop, fair queue, worker threads, result store. No bpy."""
