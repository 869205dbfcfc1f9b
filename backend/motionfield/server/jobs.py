"""Job types: each validates its parameters against a schema and runs with progress.

A job type is a `JobType`: a name, a parameter schema (which `info` publishes and the
add-on renders as its panel section), the arrays it accepts, and a `run` function
`run(params, arrays, progress) -> (content, arrays)`. `progress(step, total, stage)`
raises `Cancelled` once the client has cancelled, so a job stops between steps.
Method packages add theirs to `REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from motionfield.errors import MotionfieldError


class JobError(MotionfieldError):
    """A job that cannot run as asked (bad parameters, bad input data)."""


class Cancelled(Exception):
    """Raised inside a job by `progress` once the job was cancelled."""


Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Param:
    """One parameter: its JSON type ("number", "integer", "string", "boolean", "object"),
    default (None: required unless `optional`), choices and help for the panel."""

    type: str
    help: str
    default: object = None
    optional: bool = False
    choices: tuple = ()
    minimum: float | None = None

    def to_dict(self) -> dict:
        d = {"type": self.type, "help": self.help, "default": self.default,
             "optional": self.optional}
        if self.choices:
            d["choices"] = list(self.choices)
        if self.minimum is not None:
            d["minimum"] = self.minimum
        return d


_TYPES = {"number": (int, float), "integer": (int,), "string": (str,), "boolean": (bool,),
          "object": (dict,)}


@dataclass(frozen=True)
class JobType:
    name: str
    help: str
    params: dict[str, Param]
    run: Callable[[dict, dict[str, np.ndarray], Progress], tuple[dict, dict[str, np.ndarray]]]
    arrays: dict[str, str] = field(default_factory=dict)  # name -> description
    version: str = "1"

    def describe(self) -> dict:
        return {"name": self.name, "help": self.help, "version": self.version,
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
            if not isinstance(value, _TYPES[spec.type]) or (
                    spec.type != "boolean" and isinstance(value, bool)):
                raise JobError(f"{self.name}: {name!r} must be a {spec.type}, got "
                               f"{type(value).__name__}")
            if spec.choices and value not in spec.choices:
                raise JobError(f"{self.name}: {name!r} must be one of {list(spec.choices)}")
            if spec.minimum is not None and value < spec.minimum:
                raise JobError(f"{self.name}: {name!r} must be at least {spec.minimum}")
            out[name] = value
        return out


REGISTRY: dict[str, JobType] = {}


def register(job: JobType) -> JobType:
    REGISTRY[job.name] = job
    return job


def get(name: object) -> JobType:
    if not isinstance(name, str) or name not in REGISTRY:
        raise JobError(f"unknown job type {name!r}; this backend offers {sorted(REGISTRY)}")
    return REGISTRY[name]
