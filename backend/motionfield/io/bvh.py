"""BVH files: a reader for any rig, a writer for `Motion`s.

Semantics, as the files in the wild use them:
- Rotation channels are intrinsic, applied in the order listed (body.rotations.euler_to_quat).
- Position channels, on the root or any other joint, replace that joint's OFFSET on their
  axes (Bandai Namco and ReActIdle write the offset itself into them for fixed joints).
- End Sites are kept per joint (a rig map may name "<joint>/end" as an SMPL joint).
- Units are the file's; `guess_unit_scale` picks metres per unit from the rest body's size.
- `motion_from_clip` folds a root placeholder with one moving child into that child
  (Bandai Namco's joint_Root -> Hips) and refuses other moving non-root positions.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np

from motionfield.body.rotations import (
    euler_to_quat,
    matrix_to_quat,
    quat_to_euler,
    quat_to_matrix,
)
from motionfield.body.skeleton import Skeleton
from motionfield.body.timing import parse_fps
from motionfield.errors import BVHError
from motionfield.io.atomic import write_text_atomic
from motionfield.motion import Motion

CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CANONICAL = {c.lower(): c for c in CHANNEL_NAMES}
MAX_VALUES = 10_000_000  # 80 MB of floats (hours of mocap): refuse rather than exhaust memory
MAX_FILE_BYTES = 512 * 1024 * 1024  # MAX_VALUES written with generous precision
# Real rigs nest fewer than 100 joints deep (a Rigify finger tip is about 20) and hold a few
# hundred joints; these limits only stop files built to exhaust the reader.
MAX_DEPTH = 256
MAX_JOINTS = 10_000
# Plausible values: |OFFSET, End Site or channel value| up to a million file units (1 km in
# millimetres, 2,800 turns in degrees); frame times from 10 kHz to 0.1 Hz.
MAX_ABS_VALUE = 1e6
FRAME_TIME_RANGE = (1e-4, 10.0)
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
        candidates = [Fraction(round(rate)), Fraction(round(rate * 1.001) * 1000, 1001)]
        exact = min((c for c in candidates if c > 0), key=lambda c: abs(float(c) - rate),
                    default=None)
        if exact is not None and abs(float(exact) - rate) <= 1e-3 * rate:
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
        if abs(value) > MAX_ABS_VALUE:
            self.pos -= 1
            raise self.error(f"{what} is {tok}, beyond the plausible limit of "
                             f"{MAX_ABS_VALUE:g} file units")
        return value


class _Hierarchy:
    def __init__(self):
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.parents: list[int] = []
        self.offsets: list[list[float]] = []
        self.channels: list[tuple[str, ...]] = []
        self.end_sites: dict[int, np.ndarray] = {}


def _parse_joint(tok: _Tokens, h: _Hierarchy, parent: int, depth: int = 0) -> None:
    name = tok.next("a joint name")
    if name in h.index:
        tok.pos -= 1  # point at the name's line
        raise tok.error(f"joint name {name!r} appears twice")
    if depth >= MAX_DEPTH:
        raise tok.error(f"joints nested more than {MAX_DEPTH} deep; no body is built like "
                        "that (unbalanced braces?)")
    if len(h.names) >= MAX_JOINTS:
        raise tok.error(f"more than {MAX_JOINTS} joints; refusing a hierarchy this large")
    index = len(h.names)
    h.index[name] = index
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
            _parse_joint(tok, h, index, depth + 1)
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


def _split_sections(text: str, source: str) -> tuple[list[str], list[str]]:
    """HIERARCHY lines and the lines after the MOTION line (CRLF, tabs and blanks allowed)."""
    if not text.strip():
        raise BVHError(f"{source}: empty file")
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.strip().upper() == "MOTION":
            return lines[:number], lines[number + 1:]
    raise BVHError(f"{source}: no MOTION section (truncated, or not a BVH file)")


def _header_value(line: str, key: str, source: str, number: int) -> float:
    head, colon, value = line.partition(":")
    if not colon or " ".join(head.split()).lower() != key:
        raise BVHError(f"{source}: line {number}: expected '{key.title()}:', "
                       f"found {line.strip()[:40]!r}")
    try:
        return float(value)
    except ValueError:
        raise BVHError(f"{source}: line {number}: bad {key.title()} value "
                       f"{value.strip()[:40]!r}") from None


def _parse_header(lines: list[str], source: str, first_line: int) -> tuple[int, float, int]:
    """Frames and Frame Time; returns (frames, frame_time, index of the first value line)."""
    i = 0
    values = {}
    for key in ("frames", "frame time"):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise BVHError(f"{source}: MOTION has no '{key.title()}:' line (truncated?)")
        values[key] = _header_value(lines[i], key, source, first_line + i)
        i += 1
    frames, frame_time = values["frames"], values["frame time"]
    if not np.isfinite(frames) or frames != int(frames) or frames < 1:
        raise BVHError(f"{source}: Frames must be a positive whole number, got {frames:g}")
    low, high = FRAME_TIME_RANGE
    if not (np.isfinite(frame_time) and low <= frame_time <= high):
        raise BVHError(f"{source}: Frame Time must be a positive number of seconds from "
                       f"{low:g} to {high:g} ({1 / high:g} to {1 / low:g} frames per second), "
                       f"got {frame_time:g}")
    return int(frames), frame_time, i


def _parse_values(lines: list[str], frames: int, width: int, source: str,
                  first_line: int) -> np.ndarray:
    """(frames, width) values; one numpy conversion, line-by-line checks only on failure."""
    if frames * width > MAX_VALUES:
        raise BVHError(f"{source}: Frames ({frames}) x {width} channels is over "
                       f"{MAX_VALUES:,} values; refusing to read a file this large")
    try:
        values = np.array(" ".join(lines).split(), dtype=np.float64)
    except ValueError:
        values = None
    if values is None or values.size != frames * width:
        raise _bad_values_error(lines, frames, width, source, first_line)
    values = values.reshape(frames, width)
    bad = ~(np.abs(values) <= MAX_ABS_VALUE)  # NaN and infinities included
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        numbers = [first_line + n for n, line in enumerate(lines) if line.strip()]
        where = f"line {numbers[row]}, " if len(numbers) == frames else ""
        raise BVHError(f"{source}: {where}frame {row + 1}, value {col + 1}: "
                       f"{values[row, col]} (NaN, infinite or beyond the plausible limit "
                       f"of {MAX_ABS_VALUE:g})")
    return values


def _bad_values_error(lines: list[str], frames: int, width: int, source: str,
                      first_line: int) -> BVHError:
    """The error saying which frame line is wrong (the values did not parse as a block)."""
    rows = [(first_line + n, line.split()) for n, line in enumerate(lines) if line.strip()]
    for number, parts in rows:
        for p in parts:
            try:
                float(p)
            except ValueError:
                return BVHError(f"{source}: line {number}: {p[:20]!r} is not a number")
    for k, (number, parts) in enumerate(rows[:frames]):
        if len(parts) != width:
            if k == len(rows) - 1 and len(parts) < width:
                return BVHError(f"{source}: truncated: the last frame line ({number}) has "
                                f"{len(parts)} of {width} values")
            return BVHError(f"{source}: line {number}: {len(parts)} values, expected {width} "
                            "(one per channel)")
    if len(rows) < frames:
        return BVHError(f"{source}: truncated: Frames says {frames} but only {len(rows)} "
                        "frame lines follow")
    return BVHError(f"{source}: line {rows[frames][0]}: more frame lines than Frames "
                    f"({frames}) says")


def parse_bvh(text: str, source: str = "<string>") -> BvhClip:
    """Parse BVH text; BVHError (with the line number where there is one) if malformed."""
    hierarchy, motion = _split_sections(text.removeprefix("\ufeff"), source)
    tok = _Tokens("\n".join(hierarchy), source)
    tok.expect("HIERARCHY")
    tok.expect("ROOT")
    h = _Hierarchy()
    _parse_joint(tok, h, -1)
    if tok.pos < len(tok.items):
        raise tok.error(f"unexpected {tok.items[tok.pos][0]!r} after the root joint "
                        "(unbalanced braces or a second root)")
    first_line = len(hierarchy) + 2  # 1-based number of the line after MOTION
    frames, frame_time, skip = _parse_header(motion, source, first_line)
    width = sum(len(c) for c in h.channels)
    values = _parse_values(motion[skip:], frames, width, source, first_line + skip)
    return BvhClip(tuple(h.names), tuple(h.parents), np.array(h.offsets, dtype=np.float64),
                   tuple(h.channels), h.end_sites, frame_time, values, source)


def read_bvh(path: str | Path) -> BvhClip:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BVHError(f"{path.name}: over {MAX_FILE_BYTES >> 20} MB; refusing to read "
                           "a BVH this large")
        data = path.read_bytes()
    except OSError as e:
        raise BVHError(f"cannot read {path}: {e.strerror or e}") from None
    return parse_bvh(decode_bvh(data, path.name), path.name)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def decode_bvh(data: bytes, source: str = "<bytes>") -> str:
    """BVH bytes as text: UTF-8 (with or without a BOM), UTF-16 or UTF-32 with a BOM,
    UTF-16 without one (ASCII text with every other byte zero), else Latin-1 so
    that joint names in a legacy code page still read. BVHError for binary data."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    head = data[:256 - len(data[:256]) % 2]
    if encoding is None and len(head) >= 4 and head.count(0) * 2 == len(head):
        # BOM-less UTF-16 of ASCII text: every other byte is zero
        if not any(head[1::2]):
            encoding = "utf-16-le"
        elif not any(head[0::2]):
            encoding = "utf-16-be"
    try:
        text = data.decode(encoding or "utf-8")
    except UnicodeDecodeError:
        if encoding is not None:
            raise BVHError(f"{source}: not valid {encoding.upper()} text") from None
        text = data.decode("latin-1")
    if "\0" in text:
        raise BVHError(f"{source}: holds binary data (zero bytes); not a BVH text file")
    return text


def rest_size(clip: BvhClip) -> float:
    """The rest body's largest extent along any axis, joints and End Sites, file units.

    Measured below the first joint with several children (the hips), so that a root
    placeholder and the OFFSET placing the hips under it do not count (some Bandai Namco
    files put 4.5 m in that OFFSET). For an upright rest pose this is the height (or arm
    span, about the same for a person); it stays a body size for rigs whose rest pose lies
    along another axis, as Bandai Namco's does, every bone along X until rotated.
    """
    body = 0
    while len(kids := clip.children(body)) == 1:
        body = kids[0]
    inside = np.zeros(len(clip.names), dtype=bool)
    inside[body] = True
    for j in range(body + 1, len(clip.names)):
        inside[j] = inside[clip.parents[j]]
    pos = clip.rest_positions()
    ends = [pos[j] + off for j, off in clip.end_sites.items() if inside[j]]
    points = np.concatenate([pos[inside], np.array(ends).reshape(-1, 3)])
    return float(np.ptp(points, axis=0).max())


def guess_unit_scale(clip: BvhClip) -> tuple[float, str]:
    """(metres per file unit, unit name): the unit making the rest skeleton ~1.7 m tall.

    Chooses among `UNITS` the one whose `rest_size` is closest to HUMAN_HEIGHT_M in log
    ratio (the candidates are at least a factor 2.2 apart, so a body 1.2 to 2.5 m in size
    is recognised). Raises BVHError for a skeleton with no extent.
    """
    size = rest_size(clip)
    if not size > 0:
        raise BVHError(f"{clip.source}: the rest skeleton has no size, so its length unit "
                       "cannot be guessed; give the units explicitly (--units)")
    name = min(UNITS, key=lambda u: abs(np.log(size * UNITS[u] / HUMAN_HEIGHT_M)))
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
    bad = [n for n in skel.names if not n or n != "".join(n.split()) or n in "{}"]
    if bad:
        raise BVHError(f"joint names {bad} cannot be written to BVH (empty, braces or "
                       "whitespace); rename those joints first")
    children = {j: skel.children(j) for j in range(len(skel))}
    out = ["HIERARCHY", *_hierarchy_lines(skel, children, order)]
    order_idx = _depth_first(children)
    euler = quat_to_euler(motion.rotations[:, order_idx], order)  # (T, J, 3)
    values = np.concatenate([motion.root_translation, euler.reshape(motion.num_frames, -1)],
                            axis=1)
    out += ["MOTION", f"Frames: {motion.num_frames}",
            f"Frame Time: {float(1 / motion.fps):.10f}"]
    out += [" ".join(f"{v:.6f}" for v in row) for row in values]
    return "\n".join(out) + "\n"


def _hierarchy_lines(skel: Skeleton, children: dict[int, list[int]], order: str) -> list[str]:
    """The HIERARCHY section's joints, depth first; a stack, so no depth hits Python's
    recursion limit."""
    rot_channels = " ".join(f"{a}rotation" for a in order)
    out: list[str] = []
    stack: list[tuple[int, int, bool]] = [(0, 0, False)]  # joint, depth, closing?
    while stack:
        j, depth, closing = stack.pop()
        pad = "  " * depth
        if closing:
            out.append(f"{pad}}}")
            continue
        kind = "ROOT" if j == 0 else "JOINT"
        chans = f"6 Xposition Yposition Zposition {rot_channels}" if j == 0 else \
            f"3 {rot_channels}"
        out += [f"{pad}{kind} {skel.names[j]}", f"{pad}{{",
                f"{pad}  OFFSET {_fmt(skel.offsets[j])}", f"{pad}  CHANNELS {chans}"]
        if not children[j]:
            bone = skel.offsets[j]
            norm = np.linalg.norm(bone)
            end = bone / norm * 0.1 if j and norm > 1e-9 else np.array([0.0, 0.1, 0.0])
            out += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_fmt(end)}",
                    f"{pad}  }}"]
        stack.append((j, depth, True))
        stack.extend((c, depth + 1, False) for c in reversed(children[j]))
    return out


def _depth_first(children: dict[int, list[int]]) -> list[int]:
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    return order


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def write_bvh(path: str | Path, motion: Motion, rotation_order: str = "ZXY") -> Path:
    """Write the motion's BVH at exactly `path`, atomically (`io.atomic`); returns it."""
    return write_text_atomic(path, bvh_text(motion, rotation_order))


def motion_from_clip(clip: BvhClip, scale: float | None = None) -> Motion:
    """The clip as a Motion on its own skeleton, in metres.

    Parameters
    ----------
    clip : a parsed BVH
    scale : metres per file unit; None guesses it (`guess_unit_scale`)

    Returns
    -------
    Motion with the clip's joints (names, parents, offsets x scale; the root's offset is
    its rest position), `local_rotations`, the root's world position x scale as the root
    translation, and the clip's framerate.

    A Motion moves only its root, so position channels that move on any other joint are
    refused (BVHError), with one exception: a root with a single child that carries the
    motion (Bandai Namco's joint_Root -> Hips, where the placeholder root is static in most
    files but slides along Z in some) is folded into that child. The placeholder joint is
    dropped, the child becomes the root with its world rotation and position, and every
    remaining joint keeps its world transform exactly.
    """
    scale = guess_unit_scale(clip)[0] if scale is None else float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number of metres per unit, got {scale}")
    trans = clip.local_translations()
    moving = np.ptp(trans, axis=0).max(axis=1) > 1e-4  # (J,)
    root = 0
    kids = clip.children(0)
    if len(kids) == 1 and moving[kids[0]]:
        root = kids[0]  # fold the placeholder root into its only child
    for j in range(root + 1, len(clip.names)):
        if moving[j]:
            raise BVHError(
                f"{clip.source}: joint {clip.names[j]!r} has position channels that move; a "
                "Motion only translates its root. Retarget the clip onto SMPL instead "
                "(motionfield convert), which reads every joint's world position")
    keep = list(range(root, len(clip.names)))
    parents = tuple(-1 if j == root else clip.parents[j] - root for j in keep)
    offsets = trans[0, keep] * scale
    offsets[0] = clip.rest_positions(scale)[root]
    skeleton = Skeleton(tuple(clip.names[j] for j in keep), parents, offsets)
    glob, pos = clip.forward_kinematics(scale)
    rotations = clip.local_rotations()[:, keep]
    rotations[:, 0] = matrix_to_quat(glob[:, root])
    return Motion.from_frames(rotations, pos[:, root], skeleton, clip.fps)
