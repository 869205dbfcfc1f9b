"""Settings that a checkpoint's metadata carries: frozen dataclasses to JSON and back. No
torch here: `info` and the CLI's parsers read them.

A class that inherits `Settings` gets `to_dict` and a `from_dict` that refuses names it does
not know, so settings written by another version of a method say so instead of being
dropped without a word. Subclasses name what they hold in `KIND` for that message.
"""

from __future__ import annotations

import dataclasses


class Settings:
    KIND = "settings"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.KIND}: {sorted(unknown)}")
        return cls(**data)
