"""Checkpoints every method shares: weights in one safetensors file whose metadata says how
to rebuild the model and what data (under which licence) it learnt from.

The metadata key `motionfield` holds JSON: the method, its settings (free-form, the
method's own), `data` and `licence`. Nothing is unpickled, so a checkpoint from anywhere is
safe to open.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from motionfield.errors import MotionfieldError

META_KEY = "motionfield"
CREDITS = ("data", "licence")  # every checkpoint says what it learnt from, and its terms


class CheckpointError(MotionfieldError):
    """A checkpoint that is missing, not ours, or does not fit its own settings."""


def save_checkpoint(path: Path, method: str, tensors: dict[str, torch.Tensor],
                    meta: dict) -> Path:
    """Write `tensors` and `meta` (plus the method's name) to `path`; refused without the
    data and licence the weights owe their training to."""
    missing = [key for key in CREDITS if not meta.get(key)]
    if missing:
        raise ValueError(f"a checkpoint credits its data: {', '.join(missing)} missing")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: value.detach().contiguous() for name, value in tensors.items()}
    save_file(tensors, path, metadata={META_KEY: json.dumps({**meta, "method": method})})
    return path


def read_meta(path: Path, method: str | None = None) -> dict:
    """A checkpoint's metadata; CheckpointError for a file that is missing or not ours, or
    (with `method`) another method's. Files saved before the method was recorded count
    as any method's."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})[META_KEY])
    except (KeyError, ValueError, OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: not a motionfield checkpoint ({exc})") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: not a motionfield checkpoint (metadata is not a dict)")
    if method and meta.get("method", method) != method:
        raise CheckpointError(f"{path} is a {meta['method']} checkpoint, not {method}")
    return meta


def read_checkpoint(path: Path, method: str | None = None) -> tuple[dict, dict]:
    """(metadata, tensors) of a checkpoint (read_meta's checks)."""
    meta = read_meta(path, method)
    try:
        return meta, load_file(path)
    except (ValueError, OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: unreadable weights ({exc})") from exc


def shipped(method: str, filename: str) -> Path:
    """A checkpoint shipped in motionfield.assets/<method>/."""
    path = Path(str(resources.files("motionfield.assets") / method / filename))
    if not path.exists():
        raise CheckpointError(f"{path} is missing: train it with `motionfield train {method}`")
    return path


def credited(description: str, licence: str, started_from: dict) -> tuple[str, str]:
    """The data description and licence of weights trained on from `started_from`'s (a
    checkpoint's metadata): theirs are credited too, each licence term once."""
    terms = (part for text in (licence, started_from["licence"]) for part in text.split("; "))
    return (f"{description}; started from weights trained on {started_from['data']}",
            "; ".join(dict.fromkeys(terms)))
