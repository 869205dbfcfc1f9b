"""Rig maps: which source joint drives which SMPL joint.

A `RigMap` maps SMPL joint names to source joint names; "<joint>/end" names the End Site
of a source joint (ReActIdle's wrists are the forearms' end sites). Maps come from, in
order: a mapping file given by the user, a shipped profile whose joint names the file
matches (assets/rigs/*.json: Bandai Namco, CMU cgspeed in both naming releases, Mixamo,
Rigify, ReActIdle), or a name-based guess for any other humanoid (sides from L/R/Left/Right
tokens, roles from common names, the spine chain from the hierarchy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from motionfield.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS
from motionfield.errors import RigError

# Without these the body cannot be placed: the rest is filled in by the hierarchy.
REQUIRED = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
            "right_ankle", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist")
# A profile is taken when this share of its joints exist in the file.
PROFILE_MATCH = 0.9
END = "/end"


@dataclass(frozen=True)
class RigMap:
    """SMPL joint name -> source joint name (or "<name>/end")."""

    name: str
    joints: dict[str, str]
    units: str | None = None
    description: str = ""
    calibration: dict[str, list[float]] = field(default_factory=dict)
    # Some exporters write the root's position channels as a displacement from its OFFSET
    # rather than in its place (ReActIdle: OFFSET at hip height, channels near zero).
    root_offset_added: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.joints) - set(SMPL_JOINT_NAMES))
        if unknown:
            raise RigError(f"rig map {self.name!r}: {unknown} are not SMPL joints; "
                           f"use names from {', '.join(SMPL_JOINT_NAMES)}")

    def missing_required(self) -> list[str]:
        return [j for j in REQUIRED if j not in self.joints]

    def check_against(self, source_names: Sequence[str]) -> None:
        """Raise RigError unless every mapped source joint exists and the core is mapped."""
        present = set(source_names)
        absent = sorted(src for src in self.joints.values() if _base(src) not in present)
        if absent:
            raise RigError(f"rig map {self.name!r} names joints the file lacks: {absent}")
        missing = self.missing_required()
        if missing:
            raise RigError(
                f"rig map {self.name!r} leaves required SMPL joints unmapped: {missing}. "
                "Write a mapping file (JSON: {\"joints\": {\"smpl_name\": \"your_joint\"}}) "
                "and pass it with --map")

    def to_json(self) -> str:
        doc = {"name": self.name, "description": self.description, "units": self.units,
               "joints": self.joints, "calibration": self.calibration}
        if self.root_offset_added:
            doc["root_offset_added"] = True
        return json.dumps(doc, indent=1)


def _base(source: str) -> str:
    return source[: -len(END)] if source.endswith(END) else source


def load_rig_map(path: str | Path) -> RigMap:
    """A user's mapping file: {"joints": {"smpl_joint": "source_joint", ...}, ...}."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RigError(f"cannot read rig map {path}: {e}") from None
    return rig_map_from_dict(doc, default_name=Path(path).stem)


def rig_map_from_dict(doc: object, default_name: str) -> RigMap:
    """A rig map from its JSON object (a file's, or a `convert` job's `map` parameter)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("joints"), dict):
        raise RigError(f"rig map {default_name!r} needs a 'joints' object of SMPL -> source names")
    joints = doc["joints"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in joints.items()):
        raise RigError(f"rig map {default_name!r}: joint names must be strings")
    return RigMap(str(doc.get("name", default_name)), dict(joints), doc.get("units"),
                  str(doc.get("description", "")), dict(doc.get("calibration", {})),
                  bool(doc.get("root_offset_added", False)))


def builtin_rigs() -> dict[str, RigMap]:
    """The shipped profiles, by name."""
    folder = resources.files("motionfield.assets").joinpath("rigs")
    rigs = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            rig = rig_map_from_dict(json.loads(entry.read_text()), entry.name[:-5])
            rigs[rig.name] = rig
    return rigs


def _strip_namespace(name: str) -> str:
    """'mixamorig:LeftArm' -> 'LeftArm', 'DEF-thigh.L' -> 'thigh.L'."""
    name = name.rsplit(":", 1)[-1]
    return re.sub(r"^(DEF|ORG|MCH)[-_]", "", name)


def detect_rig(source_names: Sequence[str],
               parents: Sequence[int] | None = None) -> RigMap:
    """The shipped profile that best matches the names, else a name-based guess."""
    stripped = {_strip_namespace(n): n for n in source_names}
    best, best_share = None, 0.0
    for rig in builtin_rigs().values():
        found = [_base(s) in stripped for s in rig.joints.values()]
        share = sum(found) / len(found)
        if share > best_share:
            best, best_share = rig, share
    if best is not None and best_share >= PROFILE_MATCH:
        joints = {smpl: _with_end(stripped[_base(src)], src)
                  for smpl, src in best.joints.items() if _base(src) in stripped}
        return replace(best, joints=joints)
    return guess_rig(source_names, parents)


def _with_end(name: str, template: str) -> str:
    return name + END if template.endswith(END) else name


# ---------------------------------------------------------------- name-based guessing

_SIDE_PATTERNS = (
    (re.compile(r"^(left|right)[\s_.\-]*", re.I), 1),
    (re.compile(r"[\s_.\-]*(left|right)$", re.I), 1),
    (re.compile(r"^([lr])[\s_.\-]+", re.I), 1),
    (re.compile(r"^([LR])(?=[A-Z])"), 1),
    (re.compile(r"[\s_.\-]+([lr])$", re.I), 1),
)
# Role -> base names (lower case, separators removed), most specific first.
_ROLES = {
    "hip": ("upleg", "upperleg", "thigh", "hip", "femur"),
    "knee": ("leg", "lowleg", "lowerleg", "knee", "shin", "calf", "tibia"),
    "ankle": ("foot", "ankle"),
    "foot": ("toebase", "toe", "toes", "ball"),
    "collar": ("collar", "clavicle", "shoulder"),
    "shoulder": ("arm", "uparm", "upperarm", "humerus", "shoulder"),
    "elbow": ("forearm", "lowarm", "lowerarm", "elbow", "radius"),
    "wrist": ("hand", "wrist"),
    "hand": ("handmiddle1", "handindex1", "fingerbase", "middle1", "finger", "fingers"),
}


def split_side(name: str) -> tuple[str | None, str]:
    """('left' | 'right' | None, base name in lower case without separators)."""
    name = _strip_namespace(name)
    for pattern, group in _SIDE_PATTERNS:
        m = pattern.search(name)
        if m:
            side = "left" if m.group(group).lower().startswith("l") else "right"
            return side, re.sub(r"[\s_.\-]", "", pattern.sub("", name, count=1)).lower()
    return None, re.sub(r"[\s_.\-]", "", name).lower()


def guess_rig(source_names: Sequence[str],
              parents: Sequence[int] | None = None) -> RigMap:
    """Map a humanoid by common joint names; raises RigError when the core is missing."""
    by_side: dict[tuple[str | None, str], str] = {}
    for n in source_names:
        by_side.setdefault(split_side(n), n)
    joints: dict[str, str] = {}
    for side in ("left", "right"):
        taken: set[str] = set()
        for role, bases in _ROLES.items():
            for base in bases:
                name = by_side.get((side, base))
                if name and name not in taken:
                    joints[f"{side}_{role}"] = name
                    taken.add(name)
                    break
        # "Shoulder" is the clavicle only when an upper-arm joint exists besides it.
        if joints.get(f"{side}_shoulder") == joints.get(f"{side}_collar"):
            joints.pop(f"{side}_collar", None)
    for role, bases in (("pelvis", ("hips", "hip", "pelvis")), ("neck", ("neck", "neck1")),
                        ("head", ("head",))):
        for base in bases:
            if (None, base) in by_side:
                joints[role] = by_side[(None, base)]
                break
    if parents is not None:
        joints.update(_spine_from_hierarchy(source_names, parents, joints))
    rig = RigMap("guessed", joints, description="guessed from joint names")
    missing = rig.missing_required()
    if missing:
        raise RigError(
            f"unknown rig: could not recognise SMPL joints {missing} among "
            f"{list(source_names)[:40]}. Write a mapping file and pass it with --map")
    return rig


def _spine_from_hierarchy(names: Sequence[str], parents: Sequence[int],
                          joints: dict[str, str]) -> dict[str, str]:
    """spine1..3 from the chain between the pelvis and the joint the arms hang from."""
    if "pelvis" not in joints or "left_shoulder" not in joints:
        return {}
    index = {n: i for i, n in enumerate(names)}
    arm = index[joints.get("left_collar", joints["left_shoulder"])]
    chest = parents[arm]
    chain = []
    j = chest
    while j >= 0 and names[j] != joints["pelvis"]:
        chain.append(j)
        j = parents[j]
    chain.reverse()
    if not chain or j < 0:
        return {}
    out = {"spine3": names[chain[-1]]}
    if len(chain) >= 2:
        out["spine1"] = names[chain[0]]
    if len(chain) >= 3:
        out["spine2"] = names[chain[len(chain) // 2]]
    return out


SMPL_CHILDREN = {j: [c for c, p in enumerate(SMPL_PARENTS) if p == j]
                 for j in range(len(SMPL_PARENTS))}
