"""The project's exceptions: each message says what was wrong and what to do about it."""


class MotionfieldError(Exception):
    """Base of every error a user can act on (bad files, bad parameters, unknown rigs)."""


class BVHError(MotionfieldError):
    """A BVH file that cannot be read or written as asked."""


class RigError(MotionfieldError):
    """A rig whose joints cannot be mapped onto SMPL."""


class DataError(MotionfieldError):
    """A data source that is missing or malformed."""


class Cancelled(MotionfieldError):
    """Work stopped between steps because its caller asked (a `should_stop` callback)."""
