"""The baselines text-to-motion is scored against, each with the shared
`generate(prompts, seconds, fps, seed) -> list[Motion]` shape.

real       the held-out take itself (its first `seconds`): the ceiling
retrieval  the training take whose caption (any phrasing) is nearest the prompt (cosine of
           MiniLM embeddings); takes of the nearest label tie, the seed picks one
cvae       a conditional VAE without diffusion (ACTOR / TEMOS recipe), trained by our code on
           the same training clips as ours: an encoder over the clip's tokens and its caption
           gives (mu, logvar); the decoder (z, caption code, duration; t seconds) -> tokens is
           the same continuous-time network as NeRM's stage 1 (model.Decoder) with the
           caption and duration appended to z; SmplLoss + kl_weight * KL; z ~ N(0, I) when
           sampling.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motionfield import training
from motionfield.body.rotations import matrix_to_quat
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.timing import frame_times, parse_fps, resample
from motionfield.body.tokens import TOKENS, VALUES, SmplLoss, tokens_to_motion
from motionfield.checkpoints import CheckpointError, read_checkpoint, save_checkpoint, shipped
from motionfield.methods.text2motion import data, text
from motionfield.methods.text2motion.config import ModelConfig
from motionfield.methods.text2motion.evaluator import caption_bank
from motionfield.methods.text2motion.model import Decoder, kl_divergence
from motionfield.methods.text2motion.train import (
    ClipSet,
    draw_queries,
    load_clips,
    token_statistics,
)
from motionfield.motion import Motion

METHOD = "text2motion"
ROLE = "cvae"
WEIGHTS = training.WEIGHTS
MIN_SECONDS = 1.0


def _durations(prompts: list[str], seconds: float | list[float]) -> list[float]:
    if isinstance(prompts, str) or not prompts:
        raise ValueError("prompts must be a non-empty list of sentences")
    values = [seconds] * len(prompts) if np.isscalar(seconds) else list(seconds)
    if len(values) != len(prompts):
        raise ValueError(f"{len(values)} durations for {len(prompts)} prompts")
    if not all(MIN_SECONDS <= float(v) <= data.MAX_SECONDS for v in values):
        raise ValueError(f"durations must lie in [{MIN_SECONDS:g}, {data.MAX_SECONDS:g}] s")
    return [float(v) for v in values]


def encode(prompts: list[str]) -> torch.Tensor:
    """MiniLM embeddings of prompts, each distinct sentence encoded once (the evaluation
    repeats a few captions hundreds of times)."""
    unique = list(dict.fromkeys(prompts))
    rows = torch.from_numpy(text.encode(unique))
    where = {p: i for i, p in enumerate(unique)}
    return rows[[where[p] for p in prompts]]


def crop(take: data.Take, seconds: float, fps) -> Motion:
    """A take's first `seconds` at `fps` from t = 0; a shorter take holds its last pose."""
    fps = parse_fps(fps)
    times = frame_times(fps, 0.0, seconds)
    native = np.arange(len(take.rotations)) / take.fps
    rot, trans = resample(native, take.rotations, take.root_translation,
                          np.minimum(times, native[-1]))
    return Motion(rot, trans, times, smpl_skeleton(), fps)


class Real:
    """The held-out takes themselves, in the order of the prompts made from them."""

    def __init__(self, takes: list[data.Take]):
        self.takes = takes

    def generate(self, prompts: list[str], seconds, fps, seed: int = 0) -> list[Motion]:
        if len(prompts) != len(self.takes):
            raise ValueError(f"real: {len(prompts)} prompts for {len(self.takes)} takes")
        return [crop(t, s, fps) for t, s in zip(self.takes, _durations(prompts, seconds))]


class Retrieval:
    """The nearest training take by the cosine of MiniLM caption embeddings."""

    def __init__(self, train_takes: list[data.Take]):
        if not train_takes:
            raise ValueError("retrieval needs training takes")
        self.takes = train_takes
        self.pairs = sorted({t.pair for t in train_takes})
        self.bank, offsets = caption_bank(self.pairs)
        self.row_pair = np.repeat(np.arange(len(self.pairs)), np.diff(offsets))
        self.by_pair = {p: [i for i, t in enumerate(train_takes) if t.pair == p]
                        for p in self.pairs}

    def nearest_pairs(self, prompts: list[str]) -> list[tuple[str, str]]:
        """The label whose phrasing is nearest each prompt."""
        cosine = encode(prompts) @ self.bank.T  # unit vectors
        return [self.pairs[self.row_pair[i]] for i in cosine.argmax(1).numpy()]

    def generate(self, prompts: list[str], seconds, fps, seed: int = 0) -> list[Motion]:
        durations = _durations(prompts, seconds)
        out = []
        for i, (pair, s) in enumerate(zip(self.nearest_pairs(prompts), durations)):
            tied = self.by_pair[pair]  # every take of the label has the same captions
            pick = tied[int(np.random.default_rng([seed, i]).integers(len(tied)))]
            out.append(crop(self.takes[pick], s, fps))
        return out


# --------------------------------------------------------------------------- cvae


@dataclass
class CvaeConfig:
    """The CVAE's shape and training (saved in its checkpoint)."""

    steps: int = 6000
    batch: int = 32
    queries: int = 32
    max_stride: int = 6
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint_every: int = 500
    kl_weight: float = 1e-4
    latent: int = 64
    text_code: int = 64
    width: int = 256
    layers: int = 3
    hidden: int = 192

    def decoder_config(self) -> ModelConfig:
        # the decoder's "latent" is z, the caption code and the duration together
        return ModelConfig(latent=self.latent + self.text_code + 1, width=self.width,
                           layers=self.layers)


# the encoder reads every ENCODER_STRIDE-th native frame (12-15 fps: plenty to tell what a
# motion is, and half the cost); FRAMES of those cover the longest clip at 30 fps
ENCODER_STRIDE = 2
FRAMES = int(data.MAX_SECONDS * 30) // ENCODER_STRIDE + 1


class Cvae(nn.Module):
    """encode(tokens, mask, text, duration) -> (mu, logvar); decode(t, z, text, duration)."""

    def __init__(self, config: CvaeConfig):
        super().__init__()
        self.config = config
        self.text_proj = nn.Linear(text.DIM, config.text_code)
        self.convs = nn.ModuleList([
            nn.Conv1d(TOKENS * VALUES, config.hidden, 5, padding=2),
            nn.Conv1d(config.hidden, config.hidden, 5, stride=2, padding=2)])
        self.to_latent = nn.Linear(config.hidden + config.text_code + 1, 2 * config.latent)
        self.decoder = Decoder(config.decoder_config())

    def condition(self, sentences: torch.Tensor, duration: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.text_proj(sentences), duration[:, None] / data.MAX_SECONDS], -1)

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, F, 25, 6) (every ENCODER_STRIDE-th native frame), mask (B, F),
        cond (B, text_code + 1) -> mu, logvar (B, latent)."""
        x = (tokens - self.decoder.token_mean) / self.decoder.token_std
        x = (x.flatten(2) * mask[..., None]).transpose(1, 2)
        m = mask[:, None].float()
        for conv in self.convs:
            x = F.gelu(conv(x))
            m = m[..., ::conv.stride[0]]
            x = x * m
        pooled = x.sum(-1) / m.sum(-1).clamp(min=1.0)
        mu, logvar = self.to_latent(torch.cat([pooled, cond], -1)).chunk(2, -1)
        return mu, logvar.clamp(-10.0, 4.0)

    def decode(self, t: torch.Tensor, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """t (B, Q) seconds -> (B, Q, 25, 6) tokens."""
        return self.decoder(t, torch.cat([z, cond], -1))


def _clip_tokens(clips: ClipSet, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    out = np.zeros((len(index), FRAMES, TOKENS, VALUES), dtype=np.float32)
    mask = np.zeros((len(index), FRAMES), dtype=bool)
    for b, i in enumerate(index):
        frames = clips.tokens[clips.start[i]:clips.start[i] + clips.frames[i]:ENCODER_STRIDE]
        n = min(len(frames), FRAMES)
        out[b, :n] = frames[:n]
        mask[b, :n] = True
    return torch.from_numpy(out), torch.from_numpy(mask)


def cvae_loss(model: Cvae, clips: ClipSet, bank, config: CvaeConfig):
    """rng -> one batch's loss: clips encoded with a random phrasing of their caption,
    decoded at `queries` of their native frames (train.draw_queries, as NeRM's stage 1)."""
    smpl = SmplLoss()
    sentences, offsets = bank
    seconds = torch.from_numpy(clips.seconds.astype(np.float32))

    def loss(rng: np.random.Generator) -> torch.Tensor:
        index = rng.integers(0, len(clips.frames), size=config.batch)
        tokens, mask = _clip_tokens(clips, index)
        pair = clips.pair[index]
        words = sentences[rng.integers(offsets[pair], offsets[pair + 1])]
        cond = model.condition(words, seconds[index])
        mu, logvar = model.encode(tokens, mask, cond)
        eps = torch.from_numpy(rng.standard_normal(mu.shape).astype(np.float32))
        z = mu + (0.5 * logvar).exp() * eps
        rows, times = draw_queries(rng, clips, index, config.queries, config.max_stride)
        pred = model.decode(torch.from_numpy(times), z, cond)
        target = torch.from_numpy(clips.tokens[rows])
        return smpl(pred, target) + config.kl_weight * kl_divergence(mu, logvar).mean()
    return loss


def train_cvae(out: Path, config: CvaeConfig, resume: bool = False, progress: bool = True,
               data_root: Path | None = None) -> Path:
    """Train the CVAE on the train split's clips (train.load_clips, as NeRM); writes
    OUT/model.safetensors (learned weights in half precision: a small shipped file)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = load_clips(data_root, config.seed, progress)
    bank = caption_bank(clips.pairs)
    torch.manual_seed(config.seed)
    model = Cvae(config)
    mean, std = token_statistics(clips.tokens)
    model.decoder.token_mean.copy_(mean)
    model.decoder.token_std.copy_(std)
    meta = {"role": ROLE, "settings": dataclasses.asdict(config), "data": clips.description,
            "licence": data.LICENCE}
    buffers = {name for name, _ in model.named_buffers()}

    def save(step: int) -> None:
        tensors = {k: v if k in buffers else v.half() for k, v in model.state_dict().items()}
        save_checkpoint(out / "cvae.safetensors", METHOD, tensors, {**meta, "step": step})
        save_checkpoint(out / WEIGHTS, METHOD, model.state_dict(), {**meta, "step": step})

    training.run(model, cvae_loss(model, clips, bank, config), save, out, config,
                 resume=training.resuming(out, resume), progress=progress, desc="cvae")
    return out / "cvae.safetensors"


class CvaeGenerator:
    """A trained CVAE behind the shared generate shape."""

    def __init__(self, model: Cvae):
        self.model = model.eval()

    @torch.no_grad()
    def generate(self, prompts: list[str], seconds, fps, seed: int = 0) -> list[Motion]:
        durations = _durations(prompts, seconds)
        fps = parse_fps(fps)
        generator = torch.Generator().manual_seed(int(seed))  # drawn before fps matters
        z = torch.randn(len(prompts), self.model.config.latent, generator=generator)
        cond = self.model.condition(encode(prompts),
                                    torch.tensor(durations))
        out = []
        for i, d in enumerate(durations):
            times = frame_times(fps, 0.0, d)
            t = torch.from_numpy(times.astype(np.float32))[None]
            matrices, trans = tokens_to_motion(self.model.decode(t, z[i:i + 1],
                                                                 cond[i:i + 1])[0].numpy())
            out.append(Motion(matrix_to_quat(matrices), trans, times, smpl_skeleton(), fps))
        return out


def load_cvae(path: Path | None = None) -> CvaeGenerator:
    """The CVAE at `path` (a file or run folder; None: the shipped cvae.safetensors)."""
    path = Path(path) if path else shipped(METHOD, "cvae.safetensors")
    if path.is_dir():
        path = path / "cvae.safetensors"
    meta, tensors = read_checkpoint(path, METHOD)
    if meta.get("role") != ROLE:
        raise CheckpointError(f"{path} is not a text2motion CVAE (role {meta.get('role')!r})")
    model = Cvae(CvaeConfig(**meta["settings"]))
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return CvaeGenerator(model)
