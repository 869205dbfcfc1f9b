"""The one registry of methods: name -> the module that defines its job, imported lazily.

The server (`info`, `submit`), the CLI (`train`, `eval`, `methods`, `client run`) and, through
`info`, the add-on discover methods here; adding a method is its own package plus one line in
`_MODULES` (or a `register` call from a test or a plugin). A method's module defines
`JOB = JobType(...)` (server/jobs.py) and may define the CLI hooks `add_train(subparsers)`,
`add_eval(subparsers)` and `add_commands(subparsers)` (top-level commands).
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from motionfield.server.jobs import JobError, JobType

_MODULES: dict[str, str] = {
    "convert": "motionfield.methods.convert.job",
    "predict": "motionfield.methods.predict.job",
    "text2motion": "motionfield.methods.text2motion.job",
    "sparse": "motionfield.methods.sparse.job",
    "video": "motionfield.methods.video.job",
}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
HOOKS = ("add_train", "add_eval", "add_commands")


def register(name: str, module_path: str) -> None:
    """Offer the method `name`, defined by the module `module_path` (imported when first
    needed). Re-registering a name with another module is refused: remove it first."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"method name {name!r}: lower-case letters, digits and '_', "
                         "starting with a letter, at most 32 characters")
    if _MODULES.get(name, module_path) != module_path:
        raise ValueError(f"method {name!r} is already registered to {_MODULES[name]}")
    _MODULES[name] = module_path


def unregister(name: str) -> None:
    """Forget `name` (tests and plugins that registered it)."""
    _MODULES.pop(name, None)


def names() -> list[str]:
    """Registered method names, in registration order."""
    return list(_MODULES)


def module(name: object) -> ModuleType:
    """The method's module, imported now if it was not yet."""
    if not isinstance(name, str) or name not in _MODULES:
        raise JobError(f"unknown method {name!r}; this backend offers {names()}")
    return importlib.import_module(_MODULES[name])


def job_type(name: object) -> JobType:
    """The method's `JOB`."""
    found = getattr(module(name), "JOB", None)
    if not isinstance(found, JobType) or found.name != name:
        raise TypeError(f"{_MODULES[name]} must define JOB = JobType(name={name!r}, ...)")
    return found


def job_types() -> dict[str, JobType]:
    """Every registered method's job type, in registration order (imports them all)."""
    return {name: job_type(name) for name in names()}


def hooks(hook: str) -> list:
    """The CLI hook `hook` (one of HOOKS) of every method that defines it, in order."""
    if hook not in HOOKS:
        raise ValueError(f"unknown hook {hook!r}; methods may define {HOOKS}")
    return [f for name in names() if (f := getattr(module(name), hook, None)) is not None]
