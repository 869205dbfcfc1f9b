"""The text-to-motion evaluator: a motion encoder and a text encoder aligned in one 256-d
space, plus content and style classifiers, trained by our code on real training takes only.

It plays the role of Guo et al.'s (2022) T2M evaluator on our data. Motion features follow
T2M's recipe in spirit: joint positions by forward kinematics on the shipped SMPL skeleton,
resampled to 20 fps, root-relative (23 joints x 3), the root's height and its velocity
(m/s, 3): 73 values a frame, at most 10 s (200 frames) with a mask. The motion encoder is a
1D convolution with a masked mean pool; the text encoder an MLP on the MiniLM caption
embedding (text.encode). Both outputs are unit vectors: euclidean distances lie in [0, 2].
Training: InfoNCE in both directions (captions of the motion's label, any phrasing; other
motions of the same label in a batch are not counted as negatives) plus cross-entropy of
the content and style heads on the motion embedding. Longer takes give random 10 s windows.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motionfield import training
from motionfield.body.skeleton import smpl_skeleton
from motionfield.checkpoints import CheckpointError, read_checkpoint, save_checkpoint, shipped
from motionfield.methods.text2motion import data, text
from motionfield.motion import Motion

FPS = 20            # T2M's evaluation framerate
FRAMES = 200        # 10 s at FPS: data.MAX_SECONDS
JOINTS = 24
FEATURES = (JOINTS - 1) * 3 + 1 + 3  # root-relative joints, root height, root velocity
DIM = 256           # the shared embedding space
METHOD = "text2motion"
ROLE = "evaluator"
WEIGHTS = training.WEIGHTS


# --------------------------------------------------------------------------- features


def positions_at_eval_fps(rotations: np.ndarray, root_translation: np.ndarray, fps
                          ) -> np.ndarray:
    """(T, 24, 4) wxyz + (T, 3) at `fps` -> (T20, 24, 3) joint positions at 20 fps."""
    motion = Motion.from_frames(rotations, root_translation, smpl_skeleton(), fps)
    return motion.at_fps(FPS).joint_positions().astype(np.float32)


def motion_positions(motion: Motion) -> np.ndarray:
    """A generated or real Motion's joint positions at 20 fps (T20, 24, 3)."""
    if len(motion.skeleton) != JOINTS:
        raise ValueError(f"the evaluator reads SMPL motion (24 joints), got "
                         f"{len(motion.skeleton)}")
    return motion.at_fps(FPS).joint_positions().astype(np.float32)


def features(positions: np.ndarray) -> np.ndarray:
    """(T, 24, 3) positions at 20 fps -> (T, 73) features: joints relative to the root
    (the world's axes: the takes start facing +Z, so heading changes stay visible), the
    root's height and its velocity in m/s (the first frame repeats the second's)."""
    positions = np.asarray(positions, dtype=np.float32)
    if positions.ndim != 3 or positions.shape[1:] != (JOINTS, 3) or len(positions) < 2:
        raise ValueError(f"features need (T >= 2, 24, 3) positions, got {positions.shape}")
    root = positions[:, 0]
    relative = (positions[:, 1:] - root[:, None]).reshape(len(positions), -1)
    velocity = np.diff(root, axis=0) * FPS
    velocity = np.concatenate([velocity[:1], velocity])
    return np.concatenate([relative, root[:, 1:2], velocity], axis=1)


def window(feats: np.ndarray, rng: np.random.Generator | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(T, F) -> (FRAMES, F) zero-padded and the (FRAMES,) bool mask of real frames: the
    first 10 s, or a random 10 s window with `rng` (training on long takes)."""
    start = 0
    if rng is not None and len(feats) > FRAMES:
        start = int(rng.integers(0, len(feats) - FRAMES + 1))
    part = feats[start:start + FRAMES]
    out = np.zeros((FRAMES, feats.shape[1]), dtype=np.float32)
    out[:len(part)] = part
    mask = np.zeros(FRAMES, dtype=bool)
    mask[:len(part)] = True
    return out, mask


# --------------------------------------------------------------------------- model


@dataclass
class EvaluatorConfig:
    """Training settings (saved in the checkpoint)."""

    steps: int = 4000
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 250
    hidden: int = 192
    temperature: float = 0.1
    class_weight: float = 0.5


class Evaluator(nn.Module):
    """Motion features (B, 200, 73) + mask -> unit (B, 256); MiniLM (B, 384) -> unit (B, 256);
    content and style logits from the motion embedding."""

    def __init__(self, contents: int, styles: int, hidden: int = 192):
        super().__init__()
        self.register_buffer("mean", torch.zeros(FEATURES))
        self.register_buffer("std", torch.ones(FEATURES))
        # three convolutions, the second halving time: a 1.1 s receptive field at 20 fps
        self.convs = nn.ModuleList([
            nn.Conv1d(FEATURES, hidden, 5, padding=2),
            nn.Conv1d(hidden, hidden, 5, stride=2, padding=2),
            nn.Conv1d(hidden, hidden, 5, padding=2)])
        self.motion_out = nn.Linear(hidden, DIM)
        self.text_mlp = nn.Sequential(nn.Linear(text.DIM, DIM), nn.GELU(), nn.Linear(DIM, DIM))
        self.content_head = nn.Linear(DIM, contents)
        self.style_head = nn.Linear(DIM, styles)

    def embed_motion(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = ((feats - self.mean) / self.std * mask[..., None]).transpose(1, 2)
        m = mask[:, None].float()
        for conv in self.convs:
            x = F.gelu(conv(x))
            if conv.stride[0] == 2:
                m = m[..., ::2]
            x = x * m  # padding frames stay zero through every layer
        pooled = x.sum(-1) / m.sum(-1).clamp(min=1.0)
        return F.normalize(self.motion_out(pooled), dim=-1)

    def embed_text(self, sentences: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_mlp(sentences), dim=-1)

    def classify(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.content_head(embedding), self.style_head(embedding)


def info_nce(motion: torch.Tensor, sentence: torch.Tensor, groups: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i's positive is column i; other columns of the same group
    (label) are left out, as they describe the motion just as well."""
    logits = motion @ sentence.T / temperature
    same = (groups[:, None] == groups[None, :]) & ~torch.eye(len(groups), dtype=torch.bool)
    logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(groups))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


# --------------------------------------------------------------------------- training data


@dataclass
class LabelledFeatures:
    """Features of takes with their labels, ready for batches."""

    feats: list[np.ndarray]      # each (T, 73) at 20 fps
    content: np.ndarray          # (N,) class index
    style: np.ndarray            # (N,)
    pair: np.ndarray             # (N,) index into `pairs`
    pairs: list[tuple[str, str]]


def take_features(takes: list[data.Take]) -> list[np.ndarray]:
    return [features(positions_at_eval_fps(t.rotations, t.root_translation, t.fps))
            for t in takes]


def labelled(takes: list[data.Take], contents: list[str], styles: list[str]
             ) -> LabelledFeatures:
    pairs = sorted({t.pair for t in takes})
    index = {p: i for i, p in enumerate(pairs)}
    return LabelledFeatures(take_features(takes),
                            np.array([contents.index(t.content) for t in takes]),
                            np.array([styles.index(t.style) for t in takes]),
                            np.array([index[t.pair] for t in takes]), pairs)


def caption_bank(pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, np.ndarray]:
    """MiniLM embeddings of every phrasing of every pair: (S, 384) and the (P+1,) offsets of
    each pair's rows (pair p owns rows offsets[p]:offsets[p+1])."""
    sentences, offsets = [], [0]
    for content, style in pairs:
        sentences += data.captions(content, style)
        offsets.append(len(sentences))
    return torch.from_numpy(text.encode(sentences)), np.array(offsets)


def batch(source: LabelledFeatures, bank: tuple[torch.Tensor, np.ndarray],
          rng: np.random.Generator, size: int):
    """Random takes (random 10 s windows), one random phrasing of each one's label."""
    rows = rng.integers(0, len(source.feats), size)
    windows = [window(source.feats[i], rng) for i in rows]
    feats = torch.from_numpy(np.stack([w for w, _ in windows]))
    mask = torch.from_numpy(np.stack([m for _, m in windows]))
    sentences, offsets = bank
    pair = source.pair[rows]
    picks = rng.integers(offsets[pair], offsets[pair + 1])
    return (feats, mask, sentences[picks], torch.from_numpy(source.content[rows]),
            torch.from_numpy(source.style[rows]), torch.from_numpy(pair))


def normalisation(feats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    frames = np.concatenate(feats)
    return frames.mean(0), frames.std(0) + 1e-3


def train(out: Path, config: EvaluatorConfig, resume: bool = False, progress: bool = True,
          data_root: Path | None = None) -> Path:
    """Train the evaluator on the training split's takes; write OUT/model.safetensors and
    print its accuracy on val and val_novel."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    takes = data.load_takes(data_root, progress=progress)
    contents, styles = data.vocabulary(takes)
    source = labelled(data.split(takes, "train"), contents, styles)
    bank = caption_bank(source.pairs)
    torch.manual_seed(config.seed)
    model = Evaluator(len(contents), len(styles), config.hidden)
    mean, std = normalisation(source.feats)
    model.mean.copy_(torch.from_numpy(mean))
    model.std.copy_(torch.from_numpy(std))
    meta = {"role": ROLE, "settings": dataclasses.asdict(config), "contents": contents,
            "styles": styles, "data": "text2motion train split (data.load_takes): "
            f"{len(source.feats)} takes, {len(source.pairs)} content x style pairs",
            "licence": data.LICENCE}

    def loss(rng: np.random.Generator) -> torch.Tensor:
        feats, mask, sentences, content, style, pair = batch(source, bank, rng, config.batch)
        motion = model.embed_motion(feats, mask)
        contrastive = info_nce(motion, model.embed_text(sentences), pair, config.temperature)
        c_logits, s_logits = model.classify(motion)
        classes = F.cross_entropy(c_logits, content) + F.cross_entropy(s_logits, style)
        return contrastive + config.class_weight * classes

    def save(step: int) -> None:
        save_checkpoint(out / WEIGHTS, METHOD, model.state_dict(), {**meta, "step": step})

    training.run(model, loss, save, out, config, resume=training.resuming(out, resume),
                 progress=progress, desc="evaluator")
    model.eval()
    scores = {name: accuracy(model, labelled(data.split(takes, name), contents, styles))
              for name in ("val", "val_novel")}
    (out / "accuracy.json").write_text(json.dumps(scores, indent=1) + "\n")
    print(json.dumps(scores, indent=1))
    return out / WEIGHTS


# --------------------------------------------------------------------------- use


class LoadedEvaluator:
    """A trained evaluator: embeddings and classes of motions and captions."""

    def __init__(self, model: Evaluator, contents: list[str], styles: list[str]):
        self.model = model.eval()
        self.contents, self.styles = contents, styles

    @torch.no_grad()
    def embed_features(self, feats: list[np.ndarray], chunk: int = 128) -> np.ndarray:
        """(N, 256) embeddings of (T, 73) feature arrays (first 10 s of each)."""
        out = []
        for i in range(0, len(feats), chunk):
            windows = [window(f) for f in feats[i:i + chunk]]
            x = torch.from_numpy(np.stack([w for w, _ in windows]))
            m = torch.from_numpy(np.stack([m for _, m in windows]))
            out.append(self.model.embed_motion(x, m))
        return torch.cat(out).numpy()

    def embed_positions(self, positions: list[np.ndarray]) -> np.ndarray:
        return self.embed_features([features(p) for p in positions])

    @torch.no_grad()
    def embed_texts(self, sentences: list[str]) -> np.ndarray:
        return self.model.embed_text(torch.from_numpy(text.encode(sentences))).numpy()

    @torch.no_grad()
    def classify(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (content, style) class names of motion embeddings."""
        c, s = self.model.classify(torch.from_numpy(np.asarray(embeddings, np.float32)))
        return (np.array(self.contents)[c.argmax(-1).numpy()],
                np.array(self.styles)[s.argmax(-1).numpy()])


@torch.no_grad()
def accuracy(model: Evaluator, source: LabelledFeatures) -> dict[str, float]:
    """Content and style accuracy of the heads on the first 10 s of each take."""
    loaded = LoadedEvaluator(model, [], [])
    emb = torch.from_numpy(loaded.embed_features(source.feats))
    c, s = model.classify(emb)
    return {"content": float((c.argmax(-1).numpy() == source.content).mean()),
            "style": float((s.argmax(-1).numpy() == source.style).mean()),
            "takes": len(source.feats)}


def load(path: Path | None = None) -> LoadedEvaluator:
    """The evaluator at `path` (a file or a run folder; None: the shipped one)."""
    path = Path(path) if path else shipped(METHOD, "evaluator.safetensors")
    if path.is_dir():
        path = path / WEIGHTS
    meta, tensors = read_checkpoint(path, METHOD)
    if meta.get("role") != ROLE:
        raise CheckpointError(f"{path} is not a text2motion evaluator (role "
                              f"{meta.get('role')!r})")
    model = Evaluator(len(meta["contents"]), len(meta["styles"]),
                      meta["settings"]["hidden"])
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return LoadedEvaluator(model, meta["contents"], meta["styles"])
