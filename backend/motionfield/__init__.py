"""motionfield backend: motion core, I/O, data, methods and the job server. No bpy module use."""

__version__ = "0.1.0"
