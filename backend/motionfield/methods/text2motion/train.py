"""`motionfield train text2motion`: NeRM's two stages, each a resumable motionfield.training run.

Stage 1 (OUT/inr): the auto-decoder. Each step takes `batch` clips; each clip is read at a
random stride of its native frames (native_fps / s, s in 1..max_stride, random offset;
never interpolated) at `queries` of those timestamps, and is decoded from z = mu + sigma
eps of its own latent. Loss: SmplLoss + kl_weight * KL.
Stage 2 (OUT/diffusion): the denoiser over the clips' latents (z drawn from each clip's
posterior every step), conditioned on a random phrasing of its caption (MiniLM,
precomputed once into OUT/captions.npz) and its duration, the text dropped for
`condition_dropout` of the batch.
OUT/model.safetensors: the decoder and denoiser only (the latent table stays in OUT/inr).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionfield import training
from motionfield.body.tokens import SmplLoss, motion_to_tokens
from motionfield.checkpoints import read_meta, save_checkpoint
from motionfield.methods.text2motion import data, text
from motionfield.methods.text2motion.config import ModelConfig, TrainConfig
from motionfield.methods.text2motion.model import (
    AutoDecoder,
    Denoiser,
    cosine_schedule,
    kl_divergence,
)

METHOD = "text2motion"
WEIGHTS = training.WEIGHTS
CAPTIONS = "captions.npz"


@dataclass
class ClipSet:
    """Training clips as one token array: clip i's frames are tokens[start[i]:start[i] +
    frames[i]], at fps[i]; pair[i] indexes `pairs` (content, style)."""

    tokens: np.ndarray   # (F, 25, 6) float32
    start: np.ndarray    # (N,) int64
    frames: np.ndarray   # (N,) int64
    fps: np.ndarray      # (N,) float64
    pair: np.ndarray     # (N,) int64
    pairs: list[tuple[str, str]]
    description: str

    @property
    def seconds(self) -> np.ndarray:
        return (self.frames - 1) / self.fps


def clip_set(clips: list[data.Take], description: str) -> ClipSet:
    pairs = sorted({c.pair for c in clips})
    where = {p: i for i, p in enumerate(pairs)}
    frames = np.array([len(c.rotations) for c in clips], dtype=np.int64)
    tokens = np.concatenate([motion_to_tokens(c.rotations, c.root_translation) for c in clips])
    start = np.concatenate([[0], np.cumsum(frames)[:-1]]).astype(np.int64)
    return ClipSet(tokens, start, frames, np.array([c.fps for c in clips]),
                   np.array([where[c.pair] for c in clips], dtype=np.int64), pairs, description)


def load_clips(data_root: Path | None, seed: int, progress: bool = True) -> ClipSet:
    """The train split's clips (data.clips, cut with `seed`)."""
    takes = data.split(data.load_takes(data_root, progress=progress), "train")
    clips = data.clips(takes, seed=seed)
    hours = sum(c.seconds for c in clips) / 3600
    description = (f"{' + '.join(data.SOURCES)}: train split ({len(takes)} takes, "
                   f"{len(clips)} clips, {hours:.1f} h; {data.SPLIT_RULE})")
    return clip_set(clips, description)


def draw_queries(rng: np.random.Generator, clips: ClipSet, index: np.ndarray, queries: int,
                 max_stride: int) -> tuple[np.ndarray, np.ndarray]:
    """For each clip of `index`: a stride s in 1..max_stride and an offset below s pick
    its native frames offset + s k; `queries` of them are drawn (without replacement while
    there are enough). Returns (B, Q) row indices into clips.tokens and (B, Q) seconds."""
    rows = np.empty((len(index), queries), dtype=np.int64)
    times = np.empty((len(index), queries), dtype=np.float32)
    for b, i in enumerate(index):
        stride = int(rng.integers(1, max_stride + 1))
        offset = int(rng.integers(0, stride))
        count = max(1, (int(clips.frames[i]) - 1 - offset) // stride + 1)
        k = rng.choice(count, queries, replace=count < queries)
        frame = np.minimum(offset + stride * k, clips.frames[i] - 1)
        rows[b] = clips.start[i] + frame
        times[b] = frame / clips.fps[i]
    return rows, times


def token_statistics(tokens: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-value mean and spread of the training tokens (the decoder's output units); the
    root token's three padding values get spread 1."""
    mean = torch.as_tensor(tokens.mean(0))
    std = torch.as_tensor(tokens.std(0)).clamp(min=1e-2)
    std[24, 3:] = 1.0
    return mean, std


def inr_loss(model: AutoDecoder, clips: ClipSet, config: TrainConfig):
    """rng -> one stage-1 batch's loss."""
    smpl = SmplLoss()

    def loss(rng: np.random.Generator) -> torch.Tensor:
        index = rng.integers(0, len(clips.frames), size=config.batch)
        rows, times = draw_queries(rng, clips, index, config.queries, config.max_stride)
        mu, logvar = model.latents(torch.from_numpy(index))
        eps = torch.from_numpy(rng.standard_normal(mu.shape).astype(np.float32))
        z = mu + (0.5 * logvar).exp() * eps
        pred = model.decoder(torch.from_numpy(times), z)
        target = torch.from_numpy(clips.tokens[rows])
        return smpl(pred, target) + config.kl_weight * kl_divergence(mu, logvar).mean()
    return loss


def caption_embeddings(pairs: list[tuple[str, str]], out: Path) -> np.ndarray:
    """(P, C, 384) MiniLM embeddings of every phrasing of each pair, cached in
    out/captions.npz (recomputed when the sentences differ)."""
    sentences = [s for p in pairs for s in data.captions(*p)]
    path = out / CAPTIONS
    if path.is_file():
        cached = np.load(path, allow_pickle=False)
        if cached["sentences"].tolist() == sentences:
            return cached["embeddings"].reshape(len(pairs), -1, text.DIM)
    embeddings = text.encode(sentences)
    np.savez(path, sentences=np.array(sentences), embeddings=embeddings)
    return embeddings.reshape(len(pairs), -1, text.DIM)


def diffusion_loss(model: Denoiser, mu: torch.Tensor, logvar: torch.Tensor, clips: ClipSet,
                   embeddings: np.ndarray, config: TrainConfig):
    """rng -> one stage-2 batch's noise-prediction error (the simple DDPM loss)."""
    alpha_bar = cosine_schedule(model.config.diffusion_steps).float()
    duration = torch.as_tensor(clips.seconds / data.MAX_SECONDS, dtype=torch.float32)
    sigma = (0.5 * logvar).exp()

    def loss(rng: np.random.Generator) -> torch.Tensor:
        b = config.diffusion_batch
        index = rng.integers(0, len(mu), size=b)
        z = mu[index] + sigma[index] * torch.from_numpy(
            rng.standard_normal((b, mu.shape[1])).astype(np.float32))
        z = (z - model.latent_mean) / model.latent_std
        k = torch.from_numpy(rng.integers(0, len(alpha_bar), size=b))
        noise = torch.from_numpy(rng.standard_normal(z.shape).astype(np.float32))
        a = alpha_bar[k][:, None]
        noisy = a.sqrt() * z + (1 - a).sqrt() * noise
        phrasing = rng.integers(0, embeddings.shape[1], size=b)
        words = torch.from_numpy(embeddings[clips.pair[index], phrasing])
        dropped = torch.from_numpy(rng.random(b) < config.condition_dropout)
        pred = model(noisy, k, words, duration[index], dropped)
        return (pred - noise).square().mean()
    return loss


def _meta(stage: str, step: int, config: TrainConfig, model_config: ModelConfig,
          clips: ClipSet) -> dict:
    return {"stage": stage, "step": step, "train": config.to_dict(),
            "model": model_config.to_dict(), "data": clips.description,
            "licence": data.LICENCE}


def check_resumable(out: Path, config: TrainConfig, model_config: ModelConfig) -> None:
    """Refuse to resume a run trained with other settings (each difference named)."""
    saved = read_meta(out / "inr" / WEIGHTS, METHOD)
    differs = training.differences(saved["train"], config.to_dict())
    differs += [f"--set {d}" for d in training.differences(saved["model"],
                                                           model_config.to_dict())]
    if differs:
        raise ValueError(f"{out} was trained with other settings: {'; '.join(differs)}. "
                         "Resume it with the command that started it, or train a new run")


def train(config: TrainConfig, model_config: ModelConfig, out: Path,
          data_root: Path | None = None, resume: bool = False, progress: bool = True,
          clips: ClipSet | None = None) -> Path:
    """Both stages into run folder `out`; writes and returns out/model.safetensors.
    `resume` goes on with whichever stage is unfinished. `clips` replaces the train split
    (tests)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if resume and (out / "inr" / WEIGHTS).is_file():
        check_resumable(out, config, model_config)
    if clips is None:
        clips = load_clips(data_root, config.seed, progress)
    torch.manual_seed(config.seed)
    auto = train_inr(config, model_config, out, clips, resume, progress)
    denoiser = train_diffusion(config, model_config, out, clips, auto, resume, progress)
    return export(out / WEIGHTS, auto, denoiser, config, model_config, clips)


def train_inr(config: TrainConfig, model_config: ModelConfig, out: Path, clips: ClipSet,
              resume: bool, progress: bool) -> AutoDecoder:
    folder = out / "inr"
    folder.mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(config.seed)
    auto = AutoDecoder(model_config, len(clips.frames), config.latent_lr, generator)
    mean, std = token_statistics(clips.tokens)
    auto.decoder.token_mean.copy_(mean)
    auto.decoder.token_std.copy_(std)

    def save(step: int) -> None:
        save_checkpoint(folder / WEIGHTS, METHOD, auto.state_dict(),
                        _meta("inr", step, config, model_config, clips))

    training.run(auto, inr_loss(auto, clips, config), save, folder, config.stage("inr"),
                 training.resuming(folder, resume), progress, "text2motion stage 1 (INR)")
    return auto.eval()


def train_diffusion(config: TrainConfig, model_config: ModelConfig, out: Path, clips: ClipSet,
                    auto: AutoDecoder, resume: bool, progress: bool) -> Denoiser:
    folder = out / "diffusion"
    folder.mkdir(exist_ok=True)
    mu, logvar = auto.latents.all()
    denoiser = Denoiser(model_config)
    denoiser.latent_mean.copy_(mu.mean(0))
    denoiser.latent_std.copy_(mu.std(0).clamp(min=1e-3))
    embeddings = caption_embeddings(clips.pairs, out)

    def save(step: int) -> None:
        save_checkpoint(folder / WEIGHTS, METHOD, denoiser.state_dict(),
                        _meta("diffusion", step, config, model_config, clips))

    training.run(denoiser, diffusion_loss(denoiser, mu, logvar, clips, embeddings, config),
                 save, folder, config.stage("diffusion"), training.resuming(folder, resume),
                 progress, "text2motion stage 2 (latent diffusion)")
    return denoiser.eval()


def export(path: Path, auto: AutoDecoder, denoiser: Denoiser, config: TrainConfig,
           model_config: ModelConfig, clips: ClipSet) -> Path:
    """The shipped checkpoint: decoder and denoiser, learned weights in half precision
    (the normalisation buffers in full), without the per-clip latents."""
    buffers = {f"decoder.{n}" for n, _ in auto.decoder.named_buffers()}
    buffers |= {f"denoiser.{n}" for n, _ in denoiser.named_buffers()}
    tensors = {f"decoder.{n}": v for n, v in auto.decoder.state_dict().items()}
    tensors |= {f"denoiser.{n}": v for n, v in denoiser.state_dict().items()}
    tensors = {n: v if n in buffers else v.half() for n, v in tensors.items()}
    meta = {"train": config.to_dict(), "model": model_config.to_dict(),
            "data": clips.description, "licence": data.LICENCE,
            "steps": {"inr": config.steps_inr, "diffusion": config.steps_diffusion}}
    return save_checkpoint(path, METHOD, tensors, meta)


@torch.no_grad()
def reconstruction_error(auto: AutoDecoder, clips: ClipSet, limit: int = 200) -> float:
    """Mean joint error (metres) decoding the first `limit` training clips from their mu
    at every native frame: how well stage 1 represents what it learnt."""
    smpl = SmplLoss()
    errors = []
    mu, _ = auto.latents.all()
    for i in range(min(limit, len(clips.frames))):
        frames = np.arange(clips.frames[i])
        times = torch.as_tensor(frames / clips.fps[i], dtype=torch.float32)[None]
        pred = auto.decoder(times, mu[i:i + 1])[0]
        target = torch.from_numpy(clips.tokens[clips.start[i] + frames])
        errors.append((smpl.positions(pred) - smpl.positions(target)).norm(dim=-1).mean())
    return float(torch.stack(errors).mean())
