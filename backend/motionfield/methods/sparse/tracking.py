"""Tracking files: timestamped head and hand poses with visibility flags, in OpenXR terms.

Conventions (as an OpenXR application reads them from `xrLocateSpace` in a floor-level
reference space, STAGE or LOCAL_FLOOR): metres; a right-handed world with +Y up and the
floor at y = 0; the head pose is the view (VIEW space: -Z looks ahead, +X to the right);
hand poses are the wrist joints of XR_EXT_hand_tracking (-Z towards the fingertips, +Y out
of the back of the hand) or a controller's grip; quaternions are named x, y, z, w like
`XrQuaternionf`, and need not be unit length (they are normalised). Times are seconds,
strictly increasing, at any rate; a hand whose `tracked` flag is false (or whose pose is
missing) is treated as unseen and its pose, if any, is ignored.

JSON:
    {"format": "motionfield-tracking", "version": 1, "frames": [
      {"t": 0.0,
       "head":  {"position": [x, y, z], "orientation": {"x": 0, "y": 0, "z": 0, "w": 1}},
       "left":  {"tracked": true, "position": [...], "orientation": {...}},
       "right": {"tracked": false}}, ...]}

CSV: one row per sample with a header naming the columns
    t, head_px, head_py, head_pz, head_qx, head_qy, head_qz, head_qw,
    left_tracked, left_px, ..., left_qw, right_tracked, right_px, ..., right_qw
(tracked is 1/0 or true/false; an unseen hand's pose cells may be empty).

Inside, tracking is in the SMPL frame (Y up, the body facing +Z) as data.py's arrays:
rot (T, 3, 3, 3) and pos (T, 3, 3) of the SMPL head joint and wrists, seen (T, 2).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.body.rotations import matrix_to_quat, quat_to_matrix
from motionfield.body.timing import frame_times, resample
from motionfield.errors import MotionfieldError
from motionfield.methods.sparse.config import FPS, HEADSET
from motionfield.methods.sparse.data import pitch_down

FORMAT, VERSION = "motionfield-tracking", 1
MAX_SAMPLES = 2_000_000  # about 5 hours at 120 Hz
DEVICES = ("head", "left", "right")
AXES = ("px", "py", "pz", "qx", "qy", "qz", "qw")
WORLD = np.diag([-1.0, 1.0, -1.0])  # OpenXR world -> SMPL world: a half turn about +Y
# per device: SMPL joint axes -> the OpenXR pose's axes (columns are the joint's x, y, z)
LOCAL = (np.diag([-1.0, 1.0, -1.0]) @ pitch_down(HEADSET.view_pitch_deg).T,  # view: -Z ahead
         np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]),   # left wrist: fingers along +X
         np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]]))   # right wrist: fingers along -X


class TrackingError(MotionfieldError):
    """A tracking file or array that cannot be read as head and hand poses."""


@dataclass(frozen=True)
class Tracking:
    """Samples in the SMPL frame: times (T,), rot (T, 3, 3, 3), pos (T, 3, 3), seen (T, 2)."""

    times: np.ndarray
    rot: np.ndarray
    pos: np.ndarray
    seen: np.ndarray


def from_openxr(times, positions, orientations_xyzw, tracked) -> Tracking:
    """Arrays in OpenXR terms -> Tracking: times (T,), positions (T, 3, 3), orientations
    (T, 3, 4) x, y, z, w (head, left, right), tracked (T, 2). TrackingError if malformed."""
    times, positions, quats, seen = _checked(times, positions, orientations_xyzw, tracked)
    rot = WORLD @ quat_to_matrix(quats[..., [3, 0, 1, 2]]) @ np.stack(LOCAL)
    pos = np.einsum("ij,...j->...i", WORLD, positions)
    return Tracking(times, rot.astype(np.float32), pos.astype(np.float32), seen)


def from_smpl(times, positions, orientations_wxyz, tracked) -> Tracking:
    """Arrays already in the SMPL frame -> Tracking: the world transforms of the SMPL head
    joint and wrists, orientations (T, 3, 4) w, x, y, z (the project's order)."""
    times, positions, quats, seen = _checked(times, positions, orientations_wxyz, tracked)
    return Tracking(times, quat_to_matrix(quats).astype(np.float32),
                    positions.astype(np.float32), seen)


def _checked(times, positions, quats, tracked) -> tuple[np.ndarray, ...]:
    """The arrays validated; unseen hands' poses (unread) set to finite placeholders."""
    times = _array("times", times, (-1,))
    count = len(times)
    positions = _array("positions", positions, (count, 3, 3))
    quats = _array("orientations", quats, (count, 3, 4))
    seen = np.asarray(tracked)
    if seen.shape != (count, 2) or not ((seen == 0) | (seen == 1)).all():
        raise TrackingError(f"tracked must be (T={count}, 2) of 0/1, got shape {seen.shape}")
    seen = seen.astype(bool)
    if not 1 <= count <= MAX_SAMPLES:
        raise TrackingError(f"{count} samples: give 1 to {MAX_SAMPLES}")
    if not np.isfinite(times).all() or np.any(np.diff(times) <= 0):
        raise TrackingError("times must be finite and strictly increasing (seconds)")
    need = np.concatenate([np.ones((count, 1), bool), seen], axis=1)
    if not (np.isfinite(positions[need]).all() and np.isfinite(quats[need]).all()):
        raise TrackingError("head poses and tracked hand poses must be finite numbers")
    positions = np.where(need[..., None], positions, 0.0)
    quats = np.where(need[..., None], quats, 0.5)  # any unit quaternion: never read
    if np.any(np.linalg.norm(quats, axis=-1) < 1e-6):
        raise TrackingError("an orientation is the zero quaternion")
    return times, positions, quats, seen


def to_openxr(tracking: Tracking) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `from_openxr` for the poses: (positions (T, 3, 3), orientations
    (T, 3, 4) x, y, z, w)."""
    rot = WORLD @ tracking.rot.astype(np.float64) @ np.swapaxes(np.stack(LOCAL), -1, -2)
    return (np.einsum("ij,...j->...i", WORLD, tracking.pos), matrix_to_quat(rot)[..., [1, 2, 3, 0]])


def _array(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TrackingError(f"{name} must be numbers") from None
    ok = arr.ndim == len(shape) and all(s in (-1, n) for s, n in zip(shape, arr.shape))
    if not ok:
        raise TrackingError(f"{name} must be {shape} (T first), got {arr.shape}")
    return arr


def at_rate(tracking: Tracking, fps: float = FPS) -> Tracking:
    """Tracking resampled onto start + k / fps (slerp and linear); a resampled hand counts
    as seen where both samples around it are seen."""
    times = tracking.times
    query = frame_times(fps, times[0], times[-1]) if len(times) > 1 else times[:1]
    quats = matrix_to_quat(tracking.rot.astype(np.float64))
    rot, head = resample(times, quats, tracking.pos[:, 0], query)
    hands = [np.stack([np.interp(query, times, tracking.pos[:, d, k]) for k in range(3)], -1)
             for d in (1, 2)]
    after = np.clip(np.searchsorted(times, query, side="left"), 0, len(times) - 1)
    before = np.clip(np.searchsorted(times, query, side="right") - 1, 0, len(times) - 1)
    seen = tracking.seen[before] & tracking.seen[after]
    return Tracking(query, quat_to_matrix(rot).astype(np.float32),
                    np.stack([head, *hands], axis=1).astype(np.float32), seen)


# ---------------------------------------------------------------- files


def read_tracking(path: str | Path) -> Tracking:
    """A .json or .csv tracking file (module docstring) -> Tracking; TrackingError naming
    the problem and where it is."""
    path = Path(path)
    if not path.is_file():
        raise TrackingError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise TrackingError(f"{path}: tracking files are .json or .csv")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackingError(f"{path}: unreadable ({exc})") from None
    rows = _json_rows(text, path) if suffix == ".json" else _csv_rows(text, path)
    if not rows:
        raise TrackingError(f"{path}: no samples")
    return from_openxr(*(np.array(column) for column in zip(*rows)))


def _json_rows(text: str, path: Path) -> list[tuple]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise TrackingError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TrackingError(f"{path}: expected an object with \"format\": \"{FORMAT}\"")
    if doc.get("version") != VERSION:
        raise TrackingError(f"{path}: version {doc.get('version')!r}; this reads {VERSION}")
    frames = doc.get("frames")
    if not isinstance(frames, list):
        raise TrackingError(f"{path}: \"frames\" must be a list of samples")
    return [_json_row(frame, f"{path}: frames[{i}]") for i, frame in enumerate(frames)]


def _json_row(frame, where: str) -> tuple:
    if not isinstance(frame, dict) or "t" not in frame or "head" not in frame:
        raise TrackingError(f"{where}: each sample needs \"t\" and \"head\"")
    poses, quats, tracked = [], [], []
    for device in DEVICES:
        pose = frame.get(device) or {}
        if not isinstance(pose, dict):
            raise TrackingError(f"{where}.{device}: expected an object")
        seen = device == "head" or (bool(pose.get("tracked", True)) and "position" in pose)
        if device != "head":
            tracked.append(seen)
        try:
            q = pose["orientation"] if seen else {}
            poses.append([float(v) for v in pose["position"]] if seen else [np.nan] * 3)
            quats.append([float(q[k]) for k in "xyzw"] if seen else [np.nan] * 4)
        except (KeyError, TypeError, ValueError):
            raise TrackingError(f"{where}.{device}: needs \"position\" [x, y, z] and "
                                "\"orientation\" {x, y, z, w}") from None
        if len(poses[-1]) != 3:
            raise TrackingError(f"{where}.{device}: position has {len(poses[-1])} values, not 3")
    try:
        t = float(frame["t"])
    except (TypeError, ValueError):
        raise TrackingError(f"{where}.t: must be a number (seconds)") from None
    return t, poses, quats, tracked


def _csv_rows(text: str, path: Path) -> list[tuple]:
    reader = csv.DictReader(text.splitlines())
    columns = ["t"] + [f"{d}_{a}" for d in DEVICES for a in AXES] + [
        f"{d}_tracked" for d in DEVICES[1:]]
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise TrackingError(f"{path}: missing columns {missing}")
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            tracked = [_flag(row[f"{d}_tracked"]) for d in DEVICES[1:]]
            values = {c: _number(row[c], seen) for c in columns if not c.endswith("tracked")
                      for seen in [c.startswith("head") or c == "t" or tracked[
                          DEVICES.index(c.split("_")[0]) - 1]]}
        except ValueError as exc:
            raise TrackingError(f"{path}, line {line}: {exc}") from None
        poses = [[values[f"{d}_p{k}"] for k in "xyz"] for d in DEVICES]
        quats = [[values[f"{d}_q{k}"] for k in "xyzw"] for d in DEVICES]
        rows.append((values["t"], poses, quats, tracked))
    return rows


def _flag(text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise ValueError(f"tracked must be 1/0 or true/false, got {text!r}")


def _number(text: str | None, needed: bool) -> float:
    if not needed and not (text or "").strip():
        return float("nan")
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None


def write_tracking_json(path: str | Path, tracking: Tracking) -> Path:
    """Tracking as a JSON tracking file (examples, tests)."""
    positions, quats = to_openxr(tracking)
    frames = []
    for i, t in enumerate(tracking.times):
        frame = {"t": float(t)}
        for d, device in enumerate(DEVICES):
            pose = {"position": positions[i, d].round(5).tolist(),
                    "orientation": dict(zip("xyzw", quats[i, d].round(6).tolist()))}
            if d:
                pose = {"tracked": bool(tracking.seen[i, d - 1]), **pose}
            frame[device] = pose
        frames.append(frame)
    Path(path).write_text(json.dumps({"format": FORMAT, "version": VERSION, "frames": frames}))
    return Path(path)
