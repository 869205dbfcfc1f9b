"""BVH files: a reader for any rig, a writer for `Motion`s.

Semantics, as the files in the wild use them:
- Rotation channels are intrinsic, applied in the order listed (body.rotations.euler_to_quat).
- Position channels, on the root or any other joint, replace that joint's OFFSET on their
  axes (Bandai Namco and ReActIdle write the offset itself into them for fixed joints).
- End Sites are kept per joint (a rig map may name "<joint>/end" as an SMPL joint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np

from motionfield.body.rotations import euler_to_quat, quat_to_euler, quat_to_matrix
from motionfield.body.timing import parse_fps
from motionfield.errors import BVHError
from motionfield.motion import Motion

CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CANONICAL = {c.lower(): c for c in CHANNEL_NAMES}
MAX_VALUES = 50_000_000  # ~400 MB of floats: refuse rather than exhaust memory
# Unit candidates for guess_unit_scale: metres per file unit.
UNITS = {"metres": 1.0, "centimetres": 0.01, "millimetres": 0.001, "inches": 0.0254,
         "cmu_asf": 0.056444}
HUMAN_HEIGHT_M = 1.7


@dataclass(frozen=True, eq=False)
class BvhClip:
    """A BVH file as read: hierarchy in file order (End Sites apart) and raw channel values.

    Attributes
    ----------
    names, parents : per joint, parents before children (-1 for the root)
    offsets : (J, 3) OFFSETs in file units
    channels : per joint, its channel names in file order (possibly none)
    end_sites : joint index -> (3,) End Site offset in file units
    frame_time : seconds per frame
    frames : (T, C) channel values, C = total channel count
    source : file name for messages
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    end_sites: dict[int, np.ndarray]
    frame_time: float
    frames: np.ndarray = field(repr=False)
    source: str = "<string>"

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @cached_property
    def fps(self) -> Fraction:
        """The framerate, snapped to an integer or NTSC rate within 0.1%."""
        rate = 1.0 / self.frame_time
        for exact in (Fraction(round(rate)), Fraction(round(rate * 1.001) * 1000, 1001)):
            if exact > 0 and abs(float(exact) - rate) <= 1e-3 * rate:
                return parse_fps(exact)
        return parse_fps(Fraction(rate).limit_denominator(1001))

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]

    @cached_property
    def _columns(self) -> list[dict[str, int]]:
        cols, start = [], 0
        for chans in self.channels:
            cols.append({c: start + i for i, c in enumerate(chans)})
            start += len(chans)
        return cols

    def local_rotations(self) -> np.ndarray:
        """(T, J, 4) wxyz from each joint's rotation channels (identity where none)."""
        out = np.zeros((self.num_frames, len(self.names), 4))
        out[..., 0] = 1.0
        by_order: dict[str, list[int]] = {}
        for j, chans in enumerate(self.channels):
            order = "".join(c[0] for c in chans if c.endswith("rotation"))
            if order:
                by_order.setdefault(order, []).append(j)
        for order, joints in by_order.items():  # one scipy call per Euler order
            cols = [[self._columns[j][f"{a}rotation"] for a in order] for j in joints]
            out[:, joints] = euler_to_quat(self.frames[:, cols], order)
        return out

    def local_translations(self) -> np.ndarray:
        """(T, J, 3) file units: position channels where present, else the OFFSET."""
        out = np.broadcast_to(self.offsets, (self.num_frames, *self.offsets.shape)).copy()
        for j, cols in enumerate(self._columns):
            for axis, name in enumerate(("Xposition", "Yposition", "Zposition")):
                if name in cols:
                    out[:, j, axis] = self.frames[:, cols[name]]
        return out

    def forward_kinematics(self, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (T, J, 3, 3) and positions (T, J, 3) times `scale`."""
        rot = quat_to_matrix(self.local_rotations())
        trans = self.local_translations() * scale
        glob = np.empty_like(rot)
        pos = np.empty_like(trans)
        for j, p in enumerate(self.parents):
            if p < 0:
                glob[:, j], pos[:, j] = rot[:, j], trans[:, j]
            else:
                glob[:, j] = glob[:, p] @ rot[:, j]
                pos[:, j] = pos[:, p] + (glob[:, p] @ trans[:, j, :, None])[..., 0]
        return glob, pos

    def rest_positions(self, scale: float = 1.0) -> np.ndarray:
        """(J, 3) joint positions with zero rotations and the OFFSETs."""
        pos = np.zeros((len(self.names), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos * scale


# --------------------------------------------------------------------------- reading

_TOKEN = re.compile(r"\S+")


class _Tokens:
    """Hierarchy tokens with their line numbers, for error messages."""

    def __init__(self, text: str, source: str):
        self.items = [(m.group(), n + 1) for n, line in enumerate(text.splitlines())
                      for m in _TOKEN.finditer(line)]
        self.pos = 0
        self.source = source

    def error(self, msg: str) -> BVHError:
        line = self.items[min(self.pos, len(self.items) - 1)][1] if self.items else 1
        return BVHError(f"{self.source}: line {line}: {msg}")

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise BVHError(f"{self.source}: file ends where {what} was expected (truncated?)")
        tok = self.items[self.pos][0]
        self.pos += 1
        return tok

    def expect(self, word: str) -> None:
        tok = self.next(repr(word))
        if tok.upper() != word.upper():
            self.pos -= 1
            raise self.error(f"expected {word!r}, found {tok!r}")

    def number(self, what: str) -> float:
        tok = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            self.pos -= 1
            raise self.error(f"expected a number for {what}, found {tok!r}") from None
        if not np.isfinite(value):
            self.pos -= 1
            raise self.error(f"{what} is {tok}")
        return value


class _Hierarchy:
    def __init__(self):
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[list[float]] = []
        self.channels: list[tuple[str, ...]] = []
        self.end_sites: dict[int, np.ndarray] = {}


def _parse_joint(tok: _Tokens, h: _Hierarchy, parent: int) -> None:
    name = tok.next("a joint name")
    if name in h.names:
        raise tok.error(f"joint name {name!r} appears twice")
    index = len(h.names)
    h.names.append(name)
    h.parents.append(parent)
    tok.expect("{")
    tok.expect("OFFSET")
    h.offsets.append([tok.number(f"{name} OFFSET") for _ in range(3)])
    chans: tuple[str, ...] = ()
    if tok.items[tok.pos:tok.pos + 1] and tok.items[tok.pos][0].upper() == "CHANNELS":
        tok.pos += 1
        count = tok.number(f"{name} channel count")
        if count != int(count) or not 0 <= count <= 6:
            raise tok.error(f"{name}: channel count must be 0 to 6, got {count:g}")
        chans = tuple(_channel(tok, name) for _ in range(int(count)))
        if len(set(chans)) != len(chans):
            raise tok.error(f"{name}: a channel is listed twice in {chans}")
    h.channels.append(chans)
    while True:
        word = tok.next(f"'}}' closing {name}")
        upper = word.upper()
        if upper == "JOINT":
            _parse_joint(tok, h, index)
        elif upper == "END":
            tok.expect("Site")
            tok.expect("{")
            tok.expect("OFFSET")
            h.end_sites[index] = np.array([tok.number(f"{name} End Site") for _ in range(3)])
            tok.expect("}")
        elif word == "}":
            return
        else:
            tok.pos -= 1
            raise tok.error(f"unexpected {word!r} inside joint {name} (channel count wrong?)")


def _channel(tok: _Tokens, joint: str) -> str:
    word = tok.next(f"a channel of {joint}")
    if word.lower() not in _CANONICAL:
        tok.pos -= 1
        raise tok.error(f"{joint}: {word!r} is not a channel name (channel count wrong?)")
    return _CANONICAL[word.lower()]


def _parse_header(lines: list[str], source: str, first_line: int) -> tuple[int, float, int]:
    """Frames and Frame Time; returns (frames, frame_time, index of the first value line)."""
    i = 0
    values = {}
    for key in ("frames", "frame time"):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise BVHError(f"{source}: MOTION has no '{key.title()}:' line (truncated?)")
        head, _, value = lines[i].partition(":")
        if head.strip().lower() != key:
            raise BVHError(f"{source}: line {first_line + i}: expected '{key.title()}:', "
                           f"found {lines[i].strip()[:40]!r}")
        try:
            values[key] = float(value)
        except ValueError:
            raise BVHError(f"{source}: line {first_line + i}: bad {key} value "
                           f"{value.strip()[:40]!r}") from None
        i += 1
    frames, frame_time = values["frames"], values["frame time"]
    if frames != int(frames) or frames < 1:
        raise BVHError(f"{source}: Frames must be a positive whole number, got {frames:g}")
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise BVHError(f"{source}: Frame Time must be positive, got {frame_time}")
    return int(frames), frame_time, i


def _parse_values(lines: list[str], frames: int, width: int, source: str,
                  first_line: int) -> np.ndarray:
    rows = [(first_line + n, line) for n, line in enumerate(lines) if line.strip()]
    if frames * width > MAX_VALUES:
        raise BVHError(f"{source}: {frames} frames x {width} channels is too large to read")
    if len(rows) < frames:
        raise BVHError(f"{source}: truncated: Frames says {frames} but only {len(rows)} frame "
                       "lines follow")
    if len(rows) > frames:
        raise BVHError(f"{source}: line {rows[frames][0]}: more frame lines than Frames "
                       f"({frames}) says")
    try:
        values = np.array(" ".join(line for _, line in rows).split(), dtype=np.float64)
    except ValueError:
        values = None
    if values is None or values.size != frames * width:
        _locate_bad_line(rows, width, source)
    values = values.reshape(frames, width)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        raise BVHError(f"{source}: line {rows[row][0]}: NaN or infinite channel value")
    return values


def _locate_bad_line(rows: list[tuple[int, str]], width: int, source: str) -> None:
    for number, line in rows:
        parts = line.split()
        if len(parts) != width:
            raise BVHError(f"{source}: line {number}: {len(parts)} values, expected {width} "
                           "(one per channel)")
        for p in parts:
            try:
                float(p)
            except ValueError:
                raise BVHError(f"{source}: line {number}: {p[:20]!r} is not a number") from None
    raise BVHError(f"{source}: malformed frame values")


def parse_bvh(text: str, source: str = "<string>") -> BvhClip:
    """Parse BVH text; BVHError (with the line) for anything malformed."""
    match = re.search(r"^\s*MOTION\s*$", text, flags=re.M | re.I)
    if not text.strip():
        raise BVHError(f"{source}: empty file")
    if match is None:
        raise BVHError(f"{source}: no MOTION section (truncated, or not a BVH file)")
    tok = _Tokens(text[:match.start()], source)
    tok.expect("HIERARCHY")
    tok.expect("ROOT")
    h = _Hierarchy()
    _parse_joint(tok, h, -1)
    if tok.pos < len(tok.items):
        raise tok.error(f"unexpected {tok.items[tok.pos][0]!r} after the root joint "
                        "(unbalanced braces or a second root)")
    first_line = text.count("\n", 0, match.end()) + 2
    lines = text[match.end():].splitlines()[1:] if text[match.end():].startswith(
        ("\n", "\r")) else text[match.end():].splitlines()
    frames, frame_time, skip = _parse_header(lines, source, first_line)
    width = sum(len(c) for c in h.channels)
    values = _parse_values(lines[skip:], frames, width, source, first_line + skip)
    return BvhClip(tuple(h.names), tuple(h.parents), np.array(h.offsets, dtype=np.float64),
                   tuple(h.channels), h.end_sites, frame_time, values, source)


def read_bvh(path: str | Path) -> BvhClip:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise BVHError(f"cannot read {path}: {e.strerror or e}") from None
    return parse_bvh(text, path.name)


def guess_unit_scale(clip: BvhClip) -> tuple[float, str]:
    """(metres per file unit, unit name): the unit making the rest skeleton ~1.7 m tall."""
    pos = clip.rest_positions()
    ends = [pos[j] + off for j, off in clip.end_sites.items()]
    y = np.concatenate([pos[:, 1], np.array(ends).reshape(-1, 3)[:, 1]])
    height = float(y.max() - y.min())
    if height <= 0:
        raise BVHError(f"{clip.source}: the rest skeleton has no height; give the units")
    name = min(UNITS, key=lambda u: abs(np.log(height * UNITS[u] / HUMAN_HEIGHT_M)))
    return UNITS[name], name


# --------------------------------------------------------------------------- writing


def bvh_text(motion: Motion, rotation_order: str = "ZXY") -> str:
    """A BVH of the motion in metres: the root with position and rotation channels, every
    other joint with rotation channels, an End Site 10 cm past each leaf."""
    if motion.fps is None:
        raise ValueError("BVH needs a regular framerate: resample first with motion.at_fps()")
    order = rotation_order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {rotation_order!r}")
    skel = motion.skeleton
    rot_channels = " ".join(f"{a}rotation" for a in order)
    children = {j: skel.children(j) for j in range(len(skel))}
    out = ["HIERARCHY"]

    def joint(j: int, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if j == 0 else "JOINT"
        out.append(f"{pad}{kind} {skel.names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}  OFFSET {_fmt(skel.offsets[j])}")
        chans = f"6 Xposition Yposition Zposition {rot_channels}" if j == 0 else \
            f"3 {rot_channels}"
        out.append(f"{pad}  CHANNELS {chans}")
        for c in children[j]:
            joint(c, depth + 1)
        if not children[j]:
            bone = skel.offsets[j]
            norm = np.linalg.norm(bone)
            end = bone / norm * 0.1 if j and norm > 1e-9 else np.array([0.0, 0.1, 0.0])
            out.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_fmt(end)}",
                        f"{pad}  }}"])
        out.append(f"{pad}}}")

    joint(0, 0)
    order_idx = _depth_first(children)
    euler = quat_to_euler(motion.rotations[:, order_idx], order)  # (T, J, 3)
    values = np.concatenate([motion.root_translation, euler.reshape(motion.num_frames, -1)],
                            axis=1)
    out += ["MOTION", f"Frames: {motion.num_frames}",
            f"Frame Time: {float(1 / motion.fps):.10f}"]
    out += [" ".join(f"{v:.6f}" for v in row) for row in values]
    return "\n".join(out) + "\n"


def _depth_first(children: dict[int, list[int]]) -> list[int]:
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    return order


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def write_bvh(path: str | Path, motion: Motion, rotation_order: str = "ZXY") -> None:
    Path(path).write_text(bvh_text(motion, rotation_order))


def motion_from_clip(clip: BvhClip, scale: float = 1.0) -> Motion:
    """The clip as a Motion on its own skeleton (offsets times `scale`, metres).

    A Motion carries only a root translation, so non-root position channels must stay
    at their offsets; the one exception handled is a static placeholder root whose single
    child carries the motion (Bandai Namco's joint_Root -> Hips): the placeholder is
    dropped and the child becomes the root.
    """
    from motionfield.body.skeleton import Skeleton

    trans = clip.local_translations()
    rot = clip.local_rotations()
    keep = list(range(len(clip.names)))
    if (len(clip.children(0)) == 1 and np.ptp(clip.frames[:, :len(clip.channels[0])], axis=0)
            .max(initial=0.0) < 1e-9 and np.allclose(rot[:, 0], [1, 0, 0, 0])
            and np.allclose(trans[:, 0], 0)):
        keep = keep[1:]
    root = keep[0]
    for j in keep[1:]:
        if np.ptp(trans[:, j], axis=0).max() > 1e-4:
            raise BVHError(f"{clip.source}: joint {clip.names[j]} has moving position channels; "
                           "retarget it onto SMPL instead (motionfield convert)")
    parents = tuple(-1 if j == root else keep.index(clip.parents[j]) for j in keep)
    offsets = clip.offsets[keep] * scale
    offsets[0] = trans[0, root] * scale
    skel = Skeleton(tuple(clip.names[j] for j in keep), parents, offsets)
    _, pos = clip.forward_kinematics(scale)
    # a dropped placeholder's rotation is the identity (checked above)
    return Motion.from_frames(rot[:, keep], pos[:, root], skel, clip.fps)

