"""`motionfield data build`: a source of motion into a cached SMPL training set.

A set is a folder with
  clips.npz      concatenated frames of every clip, SMPL rotations (N, 24, 4) wxyz and root
                 translation (N, 3, metres at SMPL size), float32; per clip its start,
                 length, fps, and the SMPL offsets fitted to its actor (C, 24, 3) for
                 models that want the actor's proportions instead of the shipped skeleton
  index.json     one entry per clip: id, file, labels, split, fps, frames, retarget error
  manifest.json  source, fingerprint of the inputs, split rule, licence, build time

Clips stay at their native framerate (time is continuous: models resample as they need).
The split is deterministic and documented in `split_of`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm import tqdm

from motionfield.data import sources
from motionfield.errors import DataError, MotionfieldError

SET_VERSION = 1
SPLIT_RULE = ("sha256 of the clip's group id -> u in [0, 1): train if u < 0.8, val if "
              "u < 0.9, else test; sources with an official split (the CMU benchmark) keep "
              "their test set and draw val from their train set the same way")
LICENCES = {
    "bandai-namco-1": "CC BY-NC 4.0 (Bandai Namco Research Motiondataset)",
    "bandai-namco-2": "CC BY-NC 4.0 (Bandai Namco Research Motiondataset)",
    "cmu-benchmark": "CMU Graphics Lab Motion Capture Database terms",
}
NAMED_SOURCES = {
    "bandai-namco-1": "Bandai-Namco-Research-Motiondataset-1/data",
    "bandai-namco-2": "Bandai-Namco-Research-Motiondataset-2/data",
    "cmu-benchmark": "cmu_mocap",
}


def split_of(group: str, official: str | None = None) -> str:
    """train / val / test for a clip group (all takes of one group share a split)."""
    if official == "test":
        return "test"
    u = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big") / 2**64
    if official == "train":
        return "val" if u >= 0.9 else "train"
    return "train" if u < 0.8 else ("val" if u < 0.9 else "test")


@dataclass(frozen=True)
class ClipJob:
    """One input clip: where it is and what we know of it before reading it."""

    clip_id: str
    path: str
    labels: dict
    group: str
    official_split: str | None = None


def bandai_labels(path: Path) -> dict:
    """content/style names from the file name, indices from the JSON beside it."""
    m = re.match(r"dataset-\d+_(?P<content>.+?)_(?P<style>[^_]+)_(?P<take>\d+)$", path.stem)
    labels = {"content": m["content"], "style": m["style"], "take": int(m["take"])} if m else {}
    side = path.with_suffix(".json")
    if side.exists():
        try:
            doc = json.loads(side.read_text())
            labels.update({f"{k}_index": int(v) for k, v in doc.items()
                           if k in ("content", "style")})
        except (ValueError, TypeError) as e:
            raise DataError(f"{side}: malformed labels ({e})") from None
    return labels


def list_jobs(source: str, root: Path) -> list[ClipJob]:
    if source.startswith("bandai-namco"):
        return [ClipJob(p.stem, str(p), bandai_labels(p), p.stem)
                for p in sorted(root.glob("*.bvh"))]
    if source == "cmu-benchmark":
        from motionfield.io.cmu_benchmark import list_sequences

        jobs = []
        for split in ("train", "test"):
            for action, files in sorted(list_sequences(root, split).items()):
                jobs += [ClipJob(f"{split}/{p.stem}", str(p), {"action": action},
                                 f"{split}/{p.stem}", split) for p in sorted(files)]
        return jobs
    files = sorted(root.rglob("*.bvh"))
    return [ClipJob(str(p.relative_to(root).with_suffix("")), str(p),
                    {"folder": str(p.parent.relative_to(root))},
                    str(p.relative_to(root).with_suffix(""))) for p in files]


def _load_clip(job: ClipJob, cmu_root: str | None):
    """Read one clip and retarget it onto SMPL: (rotations, translation, fps, error)."""
    from motionfield.io.bvh import parse_bvh, read_bvh
    from motionfield.io.retarget import retarget

    if cmu_root is None:
        clip = read_bvh(job.path)
    else:
        from motionfield.io.bvh import bvh_text
        from motionfield.io.cmu_benchmark import (
            load_cmu_skeleton,
            read_cmu_sequence,
            sequence_to_motion,
        )

        skel = load_cmu_skeleton(Path(cmu_root))
        motion = sequence_to_motion(read_cmu_sequence(job.path), skel)
        clip = parse_bvh(bvh_text(motion), source=job.path)
    motion, report = retarget(clip, units="metres" if cmu_root else None)
    return (motion.rotations.astype(np.float32), motion.root_translation.astype(np.float32),
            motion.fps, report.error_mean_m, motion.skeleton.offsets.astype(np.float32))


def _run(job_and_root):
    job, cmu_root = job_and_root
    try:
        return job, _load_clip(job, cmu_root), None
    except MotionfieldError as e:
        return job, None, str(e)


def fingerprint(jobs: list[ClipJob]) -> str:
    h = hashlib.sha256(str(SET_VERSION).encode())
    for job in jobs:
        st = os.stat(job.path)
        h.update(f"{job.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def build(source: str, out: Path | None = None, workers: int = 0,
          progress: bool = True, data_root: Path | None = None) -> Path:
    """Build (or find up to date) the set for `source`, a named source (found in the
    unpacked data folder `data_root`, by default the unpacked archives) or a folder of BVH
    files; returns its folder."""
    root, name = _resolve(source, data_root)
    jobs = list_jobs(name, root)
    if not jobs:
        raise DataError(f"no clips found in {root}")
    dest = (out or sources.cache_dir() / "sets") / name
    stamp = fingerprint(jobs)
    manifest_path = dest / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()).get("fingerprint") == stamp:
        return dest
    cmu_root = str(root) if name == "cmu-benchmark" else None
    workers = workers or os.cpu_count() or 1
    results = []
    with ProcessPoolExecutor(workers) as pool:
        tasks = pool.map(_run, [(j, cmu_root) for j in jobs], chunksize=4)
        for item in tqdm(tasks, total=len(jobs), desc=f"building {name}", unit="clip",
                         disable=not progress):
            results.append(item)
    _write(dest, name, root, stamp, results)
    return dest


def _resolve(source: str, data_root: Path | None = None) -> tuple[Path, str]:
    if source in NAMED_SOURCES and data_root is None:
        return sources.source_path(NAMED_SOURCES[source].split("/")[0]).parent / \
            NAMED_SOURCES[source], source
    if source in NAMED_SOURCES:
        root = Path(data_root) / NAMED_SOURCES[source]
        if not root.is_dir():
            raise DataError(f"{source}: no {NAMED_SOURCES[source]} in {data_root}")
        return root, source
    path = Path(source)
    if not path.is_dir():
        raise DataError(f"unknown source {source!r}: use one of {', '.join(NAMED_SOURCES)} "
                        "or a folder of BVH files")
    return path, re.sub(r"[^A-Za-z0-9_.-]", "_", path.resolve().name)


def _write(dest: Path, name: str, root: Path, stamp: str, results: list) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    entries, rots, trans, offsets, failed = [], [], [], [], []
    start = 0
    for job, data, error in results:
        if data is None:
            failed.append({"id": job.clip_id, "file": job.path, "error": error})
            continue
        rot, tr, fps, err, offs = data
        entries.append({"id": job.clip_id, "file": str(Path(job.path).relative_to(root)),
                        "labels": job.labels, "split": split_of(job.group, job.official_split),
                        "fps": str(fps), "start": start, "frames": len(rot),
                        "retarget_error_m": round(err, 5)})
        rots.append(rot)
        trans.append(tr)
        offsets.append(offs)
        start += len(rot)
    if not entries:
        raise DataError(f"every clip of {name} failed; first error: {failed[0]['error']}")
    tmp = dest / f"clips.{os.getpid()}.tmp.npz"  # builds running at once do not collide
    np.savez(tmp, rotations=np.concatenate(rots), root_translation=np.concatenate(trans),
             clip_start=np.array([e["start"] for e in entries], dtype=np.int64),
             clip_frames=np.array([e["frames"] for e in entries], dtype=np.int64),
             clip_fps=np.array([float(Fraction(e["fps"])) for e in entries]),
             clip_offsets=np.stack(offsets))
    tmp.replace(dest / "clips.npz")
    (dest / "index.json").write_text(json.dumps({"clips": entries, "failed": failed}, indent=1))
    manifest = {"source": name, "root": str(root), "fingerprint": stamp,
                "set_version": SET_VERSION, "skeleton": "smpl_neutral (assets/smpl_skeleton.json)",
                "split_rule": SPLIT_RULE, "licence": LICENCES.get(name, "see the source"),
                "clips": len(entries), "frames": start, "failed": len(failed),
                "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))


@dataclass
class TrainingSet:
    """A built set loaded for training: arrays plus the index."""

    rotations: np.ndarray
    root_translation: np.ndarray
    clips: list[dict]

    def clip(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        c = self.clips[i]
        s = slice(c["start"], c["start"] + c["frames"])
        return self.rotations[s], self.root_translation[s]

    def split(self, name: str) -> list[int]:
        return [i for i, c in enumerate(self.clips) if c["split"] == name]


def load_set(folder: Path) -> TrainingSet:
    with np.load(folder / "clips.npz", allow_pickle=False) as z:
        rot, tr = z["rotations"], z["root_translation"]
    return TrainingSet(rot, tr, json.loads((folder / "index.json").read_text())["clips"])


def build_cli(args) -> int:
    began = time.perf_counter()
    dest = build(args.source, Path(args.out) if args.out else None, args.workers)
    manifest = json.loads((dest / "manifest.json").read_text())
    print(f"{dest}: {manifest['clips']} clips, {manifest['frames']} frames, "
          f"{manifest['failed']} failed, in {time.perf_counter() - began:.1f} s "
          f"(licence: {manifest['licence']})")
    return 0
