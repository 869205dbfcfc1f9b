"""Job types: each validates its parameters against a schema and runs with progress.

A job type is a `JobType`: a name, a panel label, a parameter schema (which `info`
publishes and the add-on renders as its panel section), the arrays it accepts, a `run`
function `run(params, arrays, progress) -> (content, arrays)` and, for methods that serve
live streams, a `step` function that answers one `step` request inline.
`progress(step, total, stage)` raises `Cancelled` once the client has cancelled, so a job
stops between steps. Methods define theirs as `JOB` in the module named by the registry
(motionfield/methods/__init__.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from motionfield.errors import MotionfieldError


class JobError(MotionfieldError):
    """A job that cannot run as asked (bad parameters, bad input data)."""


class Cancelled(Exception):
    """Raised inside a job by `progress` once the job was cancelled."""


Progress = Callable[[int, int, str], None]
_TYPES = {"number": (int, float), "integer": (int,), "string": (str,), "boolean": (bool,),
          "object": (dict,)}


@dataclass(frozen=True)
class Param:
    """One parameter: its JSON type ("number", "integer", "string", "boolean", "object"),
    default (None: required unless `optional`), choices, bounds and help for the panel.

    A number or integer that sizes an array or work must have a `maximum`. `panel=False`
    marks a parameter the add-on fills itself (a file, the output framerate), so a panel
    drawn from the schema leaves it out. `allowed_in` marks a string naming a path on the
    server's machine: the server accepts it only inside the folders its own settings list
    under that name (`serve --smpl-folder DIR` for "smpl_folders").
    """

    type: str
    help: str
    default: object = None
    optional: bool = False
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    panel: bool = True
    allowed_in: str | None = None

    def __post_init__(self):
        if self.type not in _TYPES:
            raise ValueError(f"parameter type {self.type!r}: one of {sorted(_TYPES)}")
        if (self.minimum is not None or self.maximum is not None) and \
                self.type not in ("number", "integer"):
            raise ValueError(f"bounds are for numbers, not for a {self.type}")
        if self.allowed_in is not None and self.type != "string":
            raise ValueError("allowed_in is for paths, which are strings")
        if self.default is not None:
            problem = self.problem(self.default)
            if problem:
                raise ValueError(f"default {self.default!r}: {problem}")

    def to_dict(self) -> dict:
        d = {"type": self.type, "help": self.help, "default": self.default,
             "optional": self.optional, "panel": self.panel}
        if self.choices:
            d["choices"] = list(self.choices)
        for bound in ("minimum", "maximum"):
            if getattr(self, bound) is not None:
                d[bound] = getattr(self, bound)
        return d

    def problem(self, value: object) -> str | None:
        """Why `value` is not acceptable (None: it is)."""
        if not isinstance(value, _TYPES[self.type]) or (
                self.type != "boolean" and isinstance(value, bool)):
            article = "an" if self.type in ("integer", "object") else "a"
            return f"must be {article} {self.type}, got {type(value).__name__}"
        if self.type == "number" and not math.isfinite(value):
            return f"must be a finite number, got {value}"
        if self.choices and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}, got {value:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}, got {value:g}"
        return None


@dataclass(frozen=True)
class JobType:
    name: str
    label: str  # the panel section's short title, e.g. "Import Mocap"
    help: str
    params: dict[str, Param]
    run: Callable[[dict, dict[str, np.ndarray], Progress], tuple[dict, dict[str, np.ndarray]]]
    arrays: dict[str, str] = field(default_factory=dict)  # name -> description
    version: str = "1"
    # live streams: step(params, arrays, stream, restart) -> (content, arrays) answers a
    # `step` request at once, in the server's own thread (no queue): keep it to milliseconds
    step: Callable[[dict, dict[str, np.ndarray], str, bool],
                   tuple[dict, dict[str, np.ndarray]]] | None = None

    def describe(self) -> dict:
        """What `info` publishes for this job (docs/protocol.md, "Methods")."""
        return {"name": self.name, "label": self.label, "help": self.help,
                "version": self.version, "live": self.step is not None,
                "params": {k: p.to_dict() for k, p in self.params.items()},
                "arrays": self.arrays}

    def validate(self, params: dict, arrays: dict[str, np.ndarray]) -> dict:
        """Parameters with defaults filled in; JobError naming the first problem."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise JobError(f"{self.name}: unknown parameters {unknown}; it takes "
                           f"{sorted(self.params)}")
        extra = sorted(set(arrays) - set(self.arrays))
        if extra:
            raise JobError(f"{self.name}: unknown arrays {extra}; it takes {sorted(self.arrays)}")
        out = {}
        for name, spec in self.params.items():
            value = params.get(name, spec.default)
            if value is None:
                if not spec.optional:
                    raise JobError(f"{self.name}: parameter {name!r} is required ({spec.help})")
                out[name] = None
                continue
            problem = spec.problem(value)
            if problem:
                raise JobError(f"{self.name}: {name!r} {problem}")
            out[name] = value
        return out
