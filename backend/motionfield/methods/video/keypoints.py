"""2D body keypoints of one person through a video, and the files they come in.

One layout inside: COCO-17 (`COCO17`, the joints every detector reports), in pixels of the
video's frames (x to the right, y down, origin at the top-left corner of the image), with a
confidence per joint and frame in [0, 1]; 0 means not detected (its x, y are then 0 and
carry nothing). Detectors with more joints are mapped in: MediaPipe Pose's 33 landmarks
(`MEDIAPIPE33_TO_COCO`), OpenPose BODY_25 and its COCO-18 model (`BODY25_TO_COCO`,
`OPENPOSE18_TO_COCO`).

Files read (`read_keypoints`, by extension or folder):
  folder of OpenPose JSON   one `*_keypoints.json` per frame (OpenPose's `--write_json`),
                            frames in file-name order; `people[i].pose_keypoints_2d` as
                            x, y, c triples (25 joints BODY_25 or 18 COCO-18). No image size
                            or framerate inside: give them.
  .json COCO keypoints      the results format (a list of {"image_id", "keypoints": [x, y,
                            score] * 17, "score"}), or a dataset file ({"images": [...],
                            "annotations": [...]}, whose v flags 0/1/2 read as confidence
                            0/1/1 and whose images give the size). Integer image ids are
                            frame numbers (a missing id: a frame without a detection);
                            other ids are frames in sorted order.
  .csv MediaPipe landmarks  `MEDIAPIPE_CSV_COLUMNS`: a header row, then one row per frame:
                            `frame`, then for each of the 33 landmarks in MediaPipe's order
                            (`MEDIAPIPE33`) `<name>_x, <name>_y, <name>_z,
                            <name>_visibility`, x and y normalised to the image's width and
                            height as MediaPipe reports them, z as MediaPipe's (unused);
                            a frame without a detection has empty cells. `write_mediapipe_csv`
                            writes it (what `motionfield keypoints` gives).
  .npz                      this module's own: `save_keypoints` / `load_keypoints`.

Several people in a frame (OpenPose, COCO): one is followed, the most confident at the
first frame that has anyone, then in each frame the one nearest where it was.

Anything malformed (unreadable JSON, wrong array lengths, NaN, confidences outside [0, 1],
no frames) raises `KeypointsError` naming the file and what is wrong. No torch here.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionfield.errors import MotionfieldError

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
          "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
          "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
MEDIAPIPE33 = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
               "right_eye", "right_eye_outer", "left_ear", "right_ear", "mouth_left",
               "mouth_right", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
               "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index",
               "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
               "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
               "right_heel", "left_foot_index", "right_foot_index")
MEDIAPIPE33_TO_COCO = tuple(MEDIAPIPE33.index(name) for name in COCO17)
# OpenPose BODY_25: 0 nose, 1 neck, 2-4 right arm, 5-7 left arm, 8 mid hip, 9-11 right leg,
# 12-14 left leg, 15/16 right/left eye, 17/18 right/left ear, 19-24 feet
BODY25_TO_COCO = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
# OpenPose COCO-18: as BODY_25 without the mid hip: 8-10 right leg, 11-13 left leg, 14-17 face
OPENPOSE18_TO_COCO = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
MEDIAPIPE_CSV_COLUMNS = ("frame",) + tuple(f"{name}_{axis}" for name in MEDIAPIPE33
                                           for axis in ("x", "y", "z", "visibility"))
MAX_FRAMES = 1_000_000  # about 9 hours at 30 fps
MAX_SIDE = 16384        # pixels


class KeypointsError(MotionfieldError):
    """Keypoints (a file or arrays) that cannot be read as one person's 2D joints."""


@dataclass(frozen=True, eq=False)
class Keypoints2D:
    """One person's COCO-17 joints through a video.

    xy : (T, 17, 2) float32 pixels, x right, y down, origin at the image's top-left corner
    confidence : (T, 17) float32 in [0, 1]; 0: not detected (xy then 0)
    image_size : (width, height) pixels
    fps : frames per second of the video (frame k is at k / fps seconds)
    source : where they came from (a file, a detector), for messages
    """

    xy: np.ndarray
    confidence: np.ndarray
    image_size: tuple[int, int]
    fps: float
    source: str = field(default="", compare=False)

    def __post_init__(self):
        where = f"{self.source}: " if self.source else ""
        xy = np.asarray(self.xy, dtype=np.float32)
        conf = np.asarray(self.confidence, dtype=np.float32)
        if xy.ndim != 3 or xy.shape[1:] != (len(COCO17), 2):
            raise KeypointsError(f"{where}xy must be (frames, 17, 2), got {xy.shape}")
        if conf.shape != xy.shape[:2]:
            raise KeypointsError(f"{where}confidence must be {xy.shape[:2]}, got {conf.shape}")
        if not 1 <= len(xy) <= MAX_FRAMES:
            raise KeypointsError(f"{where}{len(xy)} frames (1 to {MAX_FRAMES})")
        if not (np.isfinite(xy).all() and np.isfinite(conf).all()):
            raise KeypointsError(f"{where}keypoints hold NaN or infinite values")
        if conf.min() < 0 or conf.max() > 1:
            raise KeypointsError(f"{where}confidences must lie in [0, 1], found "
                                 f"{conf.min():g} to {conf.max():g}")
        try:
            size = tuple(float(s) for s in self.image_size)
        except (TypeError, ValueError):
            size = ()
        if len(size) != 2 or not all(s.is_integer() and 1 <= s <= MAX_SIDE for s in size):
            raise KeypointsError(f"{where}image_size must be (width, height) in whole pixels "
                                 f"from 1 to {MAX_SIDE}, got {self.image_size!r}")
        fps = float(self.fps) if isinstance(self.fps, (int, float, np.number)) and \
            not isinstance(self.fps, bool) else math.nan
        if not 0 < fps <= 1000:
            raise KeypointsError(f"{where}fps must be above 0 and at most 1000, got "
                                 f"{self.fps!r}")
        xy = np.where(conf[..., None] > 0, xy, 0).astype(np.float32)
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        object.__setattr__(self, "fps", fps)

    @property
    def frames(self) -> int:
        return len(self.xy)

    @property
    def detected(self) -> np.ndarray:
        """(T,) whether anyone was found in each frame."""
        return (self.confidence > 0).any(axis=1)


# ------------------------------------------------------------------ from other layouts


def from_layout(points: np.ndarray, to_coco: tuple[int, ...], image_size, fps,
                source: str = "") -> Keypoints2D:
    """(T, J, 3) x, y, confidence in pixels of another layout -> Keypoints2D, picking
    COCO-17 through `to_coco` (a COCO joint's index in that layout)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[1] <= max(to_coco):
        raise KeypointsError(f"{source}: expected (frames, {max(to_coco) + 1}+, 3) x, y, "
                             f"confidence, got {points.shape}")
    picked = points[:, list(to_coco)]
    return Keypoints2D(picked[..., :2], picked[..., 2], image_size, fps, source)


def from_mediapipe(landmarks: np.ndarray, image_size, fps, source: str = "") -> Keypoints2D:
    """MediaPipe Pose landmarks (T, 33, 4) x, y (normalised to the image), z, visibility;
    a frame without a detection is NaN -> Keypoints2D (confidence = visibility)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (33, 4):
        raise KeypointsError(f"{source}: MediaPipe landmarks must be (frames, 33, 4), got "
                             f"{landmarks.shape}")
    missing = np.isnan(landmarks).any(axis=(1, 2))
    if np.isnan(landmarks[~missing]).any() or np.isinf(landmarks).any():
        raise KeypointsError(f"{source}: a detected frame holds NaN or infinite values")
    width, height = _size(image_size, source)
    points = np.zeros((len(landmarks), 33, 3))
    found = landmarks[~missing]
    points[~missing] = np.stack([found[..., 0] * width, found[..., 1] * height,
                                 np.clip(found[..., 3], 0.0, 1.0)], axis=-1)
    return from_layout(points, MEDIAPIPE33_TO_COCO, image_size, fps, source)


def _size(image_size, source: str) -> tuple[int, int]:
    if image_size is None or np.ndim(image_size) != 1 or len(image_size) != 2:
        raise KeypointsError(f"{source}: the image size (width, height) is needed "
                             "(--image-size W H)")
    return int(image_size[0]), int(image_size[1])


def _need_fps(fps, source: str) -> float:
    if fps is None:
        raise KeypointsError(f"{source}: the framerate is not in the file; give it (--fps)")
    return fps


# ------------------------------------------------------------------ following one person


def follow(people: list[np.ndarray]) -> np.ndarray:
    """One person through the frames: `people[t]` is (P_t, J, 3) x, y, confidence of the
    P_t people in frame t (P_t may be 0). Starts with the most confident person of the
    first frame with anyone, then takes the person nearest its last position (mean distance
    over joints both saw, in units of its size). (T, J, 3); a frame without anyone is 0."""
    joints = next((p.shape[1] for p in people if len(p)), None)
    if joints is None:
        raise KeypointsError("no person in any frame")
    out = np.zeros((len(people), joints, 3))
    last = None
    for t, persons in enumerate(people):
        if not len(persons):
            continue
        if last is None:
            pick = int(np.argmax(persons[..., 2].sum(axis=1)))
        else:
            both = (persons[..., 2] > 0) & (last[:, 2] > 0)
            dist = np.linalg.norm(persons[..., :2] - last[:, :2], axis=-1)
            seen = last[last[:, 2] > 0, :2]
            scale = max(float(np.ptp(seen, axis=0).max()) if len(seen) > 1 else 1.0, 1.0)
            cost = np.where(both.any(1), (dist * both).sum(1) / np.maximum(both.sum(1), 1),
                            np.inf) / scale
            pick = int(np.argmin(cost)) if np.isfinite(cost).any() else \
                int(np.argmax(persons[..., 2].sum(axis=1)))
        out[t] = persons[pick]
        last = persons[pick] if last is None else \
            np.where(persons[pick][:, 2:] > 0, persons[pick], last)
    return out


# ------------------------------------------------------------------ readers


def read_keypoints(path: str | Path, fps: float | None = None,
                   image_size: tuple[int, int] | None = None) -> Keypoints2D:
    """Keypoints from a file or folder of one of the formats above. `fps` and `image_size`
    fill in what a format does not store (and override nothing a file does store)."""
    path = Path(path)
    if path.is_dir():
        return read_openpose_folder(path, fps, image_size)
    if not path.is_file():
        raise KeypointsError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_coco_json(path, fps, image_size)
    if suffix == ".csv":
        return read_mediapipe_csv(path, fps, image_size)
    if suffix == ".npz":
        return load_keypoints(path)
    raise KeypointsError(f"{path}: unknown keypoint file type {suffix!r} (a folder of "
                         "OpenPose JSON, COCO .json, MediaPipe .csv or .npz)")


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KeypointsError(f"{path}: not readable JSON ({exc})") from None


def _triples(values, count: int | None, where: str) -> np.ndarray:
    """A flat list x, y, c, x, y, c... -> (J, 3), checked."""
    if not isinstance(values, list) or not values or len(values) % 3:
        raise KeypointsError(f"{where}: keypoints must be a list of x, y, confidence triples")
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    except (TypeError, ValueError):
        raise KeypointsError(f"{where}: keypoints must be numbers") from None
    if count is not None and len(arr) != count:
        raise KeypointsError(f"{where}: {len(arr)} keypoints, expected {count}")
    if not np.isfinite(arr).all():
        raise KeypointsError(f"{where}: keypoints hold NaN or infinite values")
    return arr


def read_openpose_folder(folder: str | Path, fps: float | None = None,
                         image_size: tuple[int, int] | None = None) -> Keypoints2D:
    """A folder of OpenPose per-frame JSON files (`--write_json`), BODY_25 or COCO-18."""
    folder = Path(folder)
    files = sorted(folder.glob("*.json"), key=_natural)
    if not files:
        raise KeypointsError(f"{folder}: no OpenPose .json files")
    if len(files) > MAX_FRAMES:
        raise KeypointsError(f"{folder}: {len(files)} frames, at most {MAX_FRAMES}")
    people, joints = [], None
    for file in files:
        doc = _json(file)
        if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
            raise KeypointsError(f"{file}: not OpenPose output (no 'people' list)")
        frame = []
        for i, person in enumerate(doc["people"]):
            values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
            arr = _triples(values, joints, f"{file}: person {i}")
            if joints is None:
                if len(arr) not in (18, 25):
                    raise KeypointsError(f"{file}: person {i} has {len(arr)} keypoints; "
                                         "OpenPose BODY_25 has 25, COCO 18")
                joints = len(arr)
            frame.append(arr)
        people.append(np.stack(frame) if frame else np.zeros((0, joints or 25, 3)))
    people = [p if p.shape[1] == (joints or 25) else np.zeros((0, joints, 3)) for p in people]
    try:
        points = follow(people)
    except KeypointsError as exc:
        raise KeypointsError(f"{folder}: {exc}") from None
    to_coco = BODY25_TO_COCO if joints == 25 else OPENPOSE18_TO_COCO
    source = str(folder)
    return from_layout(points, to_coco, _size(image_size, source),
                       _need_fps(fps, source), source)


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def read_coco_json(path: str | Path, fps: float | None = None,
                   image_size: tuple[int, int] | None = None) -> Keypoints2D:
    """COCO keypoints: the results format or a dataset file (see the module's docstring)."""
    path = Path(path)
    doc = _json(path)
    flags = False
    if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        images = doc.get("images") or []
        sizes = {(i.get("width"), i.get("height")) for i in images if isinstance(i, dict)}
        if image_size is None and len(sizes) == 1 and None not in next(iter(sizes)):
            image_size = next(iter(sizes))
        entries, flags = doc["annotations"], True
    elif isinstance(doc, list):
        entries = doc
    else:
        raise KeypointsError(f"{path}: neither a COCO results list nor a dataset with "
                             "'annotations'")
    by_image: dict = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image_id" not in entry:
            raise KeypointsError(f"{path}: entry {i} has no image_id")
        image = entry["image_id"]
        if not isinstance(image, (int, str)) or isinstance(image, bool):
            raise KeypointsError(f"{path}: entry {i}: image_id must be a number or a string")
        arr = _triples(entry.get("keypoints"), 17, f"{path}: entry {i}")
        if flags:
            arr[:, 2] = (arr[:, 2] > 0).astype(np.float64)
        by_image.setdefault(image, []).append(arr)
    if not by_image:
        raise KeypointsError(f"{path}: no keypoints")
    ids = list(by_image)
    if all(isinstance(k, int) for k in ids):
        first, last = min(ids), max(ids)
        if last - first + 1 > MAX_FRAMES:
            raise KeypointsError(f"{path}: image ids span {last - first + 1} frames, at most "
                                 f"{MAX_FRAMES}")
        order = list(range(first, last + 1))
    else:
        order = sorted(ids, key=str)
    people = [np.stack(by_image[k]) if k in by_image else np.zeros((0, 17, 3)) for k in order]
    try:
        points = follow(people)
    except KeypointsError as exc:
        raise KeypointsError(f"{path}: {exc}") from None
    if points[..., 2].max() > 1:
        raise KeypointsError(f"{path}: keypoint scores above 1; expected confidences in [0, 1]")
    source = str(path)
    return from_layout(points, tuple(range(17)), _size(image_size, source),
                       _need_fps(fps, source), source)


def read_mediapipe_csv(path: str | Path, fps: float | None = None,
                       image_size: tuple[int, int] | None = None) -> Keypoints2D:
    """MediaPipe landmarks as `MEDIAPIPE_CSV_COLUMNS` (see the module's docstring)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise KeypointsError(f"{path}: not a readable CSV file ({exc})") from None
    if not any(rows):
        raise KeypointsError(f"{path}: empty file")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in MEDIAPIPE_CSV_COLUMNS if name not in header]
    if missing:
        raise KeypointsError(f"{path}: columns {missing[:4]}{'...' if len(missing) > 4 else ''}"
                             " missing from the header (docs/video.md: MediaPipe CSV)")
    if len(rows) - 1 > MAX_FRAMES:
        raise KeypointsError(f"{path}: {len(rows) - 1} frames, at most {MAX_FRAMES}")
    index = [header.index(name) for name in MEDIAPIPE_CSV_COLUMNS]
    landmarks = np.full((len(rows) - 1, 33, 4), np.nan)
    frames = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise KeypointsError(f"{path}, line {line}: {len(row)} cells, the header has "
                                 f"{len(header)}")
        cells = [row[i].strip() for i in index]
        try:
            frames.append(int(cells[0]))
        except ValueError:
            raise KeypointsError(f"{path}, line {line}: frame {cells[0]!r} is not a whole "
                                 "number") from None
        values = cells[1:]
        if all(v == "" for v in values):
            continue  # nobody found in this frame
        try:
            numbers = np.array([float(v) for v in values]).reshape(33, 4)
        except ValueError:
            raise KeypointsError(f"{path}, line {line}: a landmark cell is empty or not a "
                                 "number (a frame is either all empty or all numbers)") from None
        if not np.isfinite(numbers).all():
            raise KeypointsError(f"{path}, line {line}: NaN or infinite values")
        landmarks[line - 2] = numbers
    if not frames:
        raise KeypointsError(f"{path}: no frames")
    if frames != list(range(frames[0], frames[0] + len(frames))):
        raise KeypointsError(f"{path}: frames must be consecutive numbers, one row each")
    source = str(path)
    return from_mediapipe(landmarks, _size(image_size, source), _need_fps(fps, source), source)


# ------------------------------------------------------------------ writers


def write_mediapipe_csv(path: str | Path, landmarks: np.ndarray) -> Path:
    """MediaPipe landmarks (T, 33, 4) (NaN rows: no detection) as the CSV above."""
    from motionfield.io.atomic import write_text_atomic

    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (33, 4):
        raise KeypointsError(f"MediaPipe landmarks must be (frames, 33, 4), got "
                             f"{landmarks.shape}")
    lines = [",".join(MEDIAPIPE_CSV_COLUMNS)]
    for t, frame in enumerate(landmarks):
        cells = [""] * frame.size if np.isnan(frame).any() else \
            [f"{v:.6g}" for v in frame.reshape(-1)]
        lines.append(",".join([str(t), *cells]))
    return write_text_atomic(Path(path), "\n".join(lines) + "\n")


def write_openpose_folder(folder: str | Path, keypoints: Keypoints2D) -> Path:
    """One OpenPose-style JSON per frame (BODY_25 order; joints COCO lacks are 0)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(keypoints.frames):
        body = np.zeros((25, 3))
        body[list(BODY25_TO_COCO), :2] = keypoints.xy[t]
        body[list(BODY25_TO_COCO), 2] = keypoints.confidence[t]
        people = [{"person_id": [-1], "pose_keypoints_2d": [round(float(v), 3) for v in
                                                            body.reshape(-1)]}] \
            if keypoints.detected[t] else []
        (folder / f"frame_{t:012d}_keypoints.json").write_text(
            json.dumps({"version": 1.3, "people": people}))
    return folder


def write_coco_json(path: str | Path, keypoints: Keypoints2D) -> Path:
    """The COCO results format: one entry per frame with a detection, image_id = frame."""
    from motionfield.io.atomic import write_text_atomic

    entries = []
    for t in np.flatnonzero(keypoints.detected):
        flat = np.concatenate([keypoints.xy[t], keypoints.confidence[t, :, None]], axis=1)
        entries.append({"image_id": int(t), "category_id": 1,
                        "keypoints": [round(float(v), 3) for v in flat.reshape(-1)],
                        "score": round(float(keypoints.confidence[t].mean()), 4)})
    return write_text_atomic(Path(path), json.dumps(entries))


def save_keypoints(path: str | Path, keypoints: Keypoints2D) -> Path:
    """This module's .npz: plain arrays, read back without pickle."""
    from motionfield.io.atomic import atomic_writer

    with atomic_writer(Path(path)) as out:
        np.savez(out, xy=keypoints.xy, confidence=keypoints.confidence,
                 image_size=np.array(keypoints.image_size, dtype=np.int64),
                 fps=np.array(keypoints.fps), layout=np.array("coco17"))
    return Path(path)


def load_keypoints(path: str | Path) -> Keypoints2D:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["layout"]) != "coco17":
                raise KeypointsError(f"{path}: layout {str(z['layout'])!r}, expected coco17")
            return Keypoints2D(z["xy"], z["confidence"], tuple(z["image_size"].tolist()),
                               float(z["fps"]), str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise KeypointsError(f"{path}: not a keypoints .npz ({exc})") from None
