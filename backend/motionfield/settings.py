"""Settings that a checkpoint's metadata carries: frozen dataclasses to JSON and back. No
torch here: `info` and the CLI's parsers read them.

A class that inherits `Settings` gets `to_dict` and a `from_dict` that refuses names it does
not know, so settings written by another version of a method say so instead of being
dropped without a word. Subclasses name what they hold in `KIND` for that message.

They state the range of each number in `BOUNDS` (setting -> `Bound`); what bounds cannot
say (one setting against another, a name from a list) they answer in `other_problems`.
Both are checked as the dataclass is made, and every problem is named in one ValueError:
"bad training settings: steps=0 (at least 1), lr=0.0 (above 0)".
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Bound:
    """The numbers a setting allows: from `low` to `high` (None: no limit on that side), the
    ends themselves unless `above_low` / `below_high` (strict). `pair`: the setting is a
    (from, to) pair, both within the range and from <= to."""

    low: float | None = None
    high: float | None = None
    above_low: bool = False
    below_high: bool = False
    pair: bool = False

    def allows(self, value) -> bool:
        if self.pair:
            return (len(value) == 2 and self._allows(value[0]) and self._allows(value[1])
                    and value[0] <= value[1])
        return self._allows(value)

    def _allows(self, v) -> bool:
        if self.low is not None and (v <= self.low if self.above_low else v < self.low):
            return False
        return self.high is None or (v < self.high if self.below_high else v <= self.high)

    def __str__(self) -> str:
        low = None if self.low is None else f"{self.low:g}"
        high = None if self.high is None else f"{self.high:g}"
        if high is None:
            words = f"above {low}" if self.above_low else f"at least {low}"
        elif low is None:
            words = f"below {high}" if self.below_high else f"at most {high}"
        elif self.above_low:
            words = f"above {low}, {'below' if self.below_high else 'at most'} {high}"
        else:
            words = f"from {low} {'up to' if self.below_high else 'to'} {high}"
        return f"each {words}; from <= to" if self.pair else words


def at_least(low: float) -> Bound:
    return Bound(low)


def above(low: float) -> Bound:
    return Bound(low, above_low=True)


def within(low: float, high: float, *, above_low: bool = False,
           below_high: bool = False) -> Bound:
    """From `low` to `high`, the ends included unless `above_low` / `below_high` say not."""
    return Bound(low, high, above_low, below_high)


def pair(bound: Bound) -> Bound:
    """A (from, to) pair, each end within `bound`, from <= to."""
    return dataclasses.replace(bound, pair=True)


SHARE = within(0.0, 1.0)                     # a fraction: 0 and 1 included
PARTIAL_SHARE = within(0.0, 1.0, below_high=True)  # a fraction that must leave something


class Settings:
    KIND = "settings"
    BOUNDS: dict[str, Bound] = {}

    def __post_init__(self):
        """ValueError naming each setting out of its bounds (and its value), and each of
        `other_problems`: all of them at once."""
        bad = []
        for name, bound in self.BOUNDS.items():
            value = getattr(self, name)
            if not bound.allows(value):
                bad.append(f"{name}={value} ({bound})")
        bad += self.other_problems()
        if bad:
            raise ValueError(f"bad {self.KIND}: {', '.join(bad)}")

    def other_problems(self) -> list[str]:
        """What `BOUNDS` cannot state (one setting against another, a name out of a list),
        each in words naming the settings and their values; none here."""
        return []

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.KIND}: {sorted(unknown)}")
        return cls(**data)
