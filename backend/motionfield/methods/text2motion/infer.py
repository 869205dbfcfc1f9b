"""Sentences to SMPL motion at any framerate with a trained text2motion checkpoint.

The seed fixes the DDIM sampler's starting noise (torch.Generator) and the sampler is
deterministic, so a seed gives one latent per prompt whatever the framerate; the decoder
then answers at the framerate's timestamps (body/timing.frame_times), so two framerates
agree wherever their timestamps do.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from motionfield.body.rotations import matrix_to_quat
from motionfield.body.skeleton import smpl_skeleton
from motionfield.body.timing import frame_times, parse_fps
from motionfield.body.tokens import tokens_to_motion
from motionfield.checkpoints import CheckpointError, read_checkpoint, shipped
from motionfield.errors import Cancelled
from motionfield.methods.text2motion import text
from motionfield.methods.text2motion.config import (  # noqa: F401  (DEFAULT_* re-exported)
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    MAX_SECONDS,
    MAX_STEPS,
    MIN_SECONDS,
    SHIPPED,
    ModelConfig,
)
from motionfield.methods.text2motion.model import Decoder, Denoiser, cosine_schedule
from motionfield.motion import Motion

METHOD = "text2motion"
X0_CLIP = 6.0        # predicted clean latents kept within this many standard deviations


def load(path: Path | None = None) -> Text2Motion:
    """A trained model (None: the shipped assets/text2motion/nerm.safetensors)."""
    path = shipped(METHOD, SHIPPED) if path is None else Path(path)
    meta, tensors = read_checkpoint(path, METHOD)
    try:
        config = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model settings ({exc})") from exc
    decoder, denoiser = Decoder(config), Denoiser(config)
    try:
        for prefix, net in (("decoder.", decoder), ("denoiser.", denoiser)):
            net.load_state_dict({name[len(prefix):]: value.float()
                                 for name, value in tensors.items() if name.startswith(prefix)})
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored settings") from exc
    return Text2Motion(decoder.eval(), denoiser.eval(), meta)


def _durations(seconds: float | list[float], count: int) -> list[float]:
    values = [seconds] * count if np.isscalar(seconds) else list(seconds)
    if len(values) != count:
        raise ValueError(f"{len(values)} durations for {count} prompts: give one each, "
                         "or one for all")
    for value in values:
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not (number and MIN_SECONDS <= value <= MAX_SECONDS):
            raise ValueError(f"duration {value!r} s: text2motion makes {MIN_SECONDS:g} to "
                             f"{MAX_SECONDS:g} s of motion")
    return [float(v) for v in values]


def _prompts(prompts: list[str]) -> list[str]:
    if isinstance(prompts, str) or not prompts:
        raise ValueError("prompts must be a non-empty list of sentences")
    for prompt in prompts:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt {prompt!r}: say what the person does")
    return [p.strip() for p in prompts]


class Text2Motion:
    """A trained decoder (stage 1) and denoiser (stage 2) with the checkpoint's metadata."""

    def __init__(self, decoder: Decoder, denoiser: Denoiser, meta: dict):
        self.decoder, self.denoiser, self.meta = decoder, denoiser, meta
        self.alpha_bar = cosine_schedule(denoiser.config.diffusion_steps)

    def generate(self, prompts: list[str], seconds: float | list[float], fps,
                 seed: int = 0, guidance: float = DEFAULT_GUIDANCE, steps: int = DEFAULT_STEPS,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[Motion]:
        """One Motion per prompt, `seconds` long (each in [1, 10]), sampled at `fps` from
        t = 0. `progress(step, total)` after each sampler step; `should_stop()` true
        between steps raises errors.Cancelled."""
        durations = _durations(seconds, len(_prompts(prompts)))
        fps = parse_fps(fps)
        z = self.latents(prompts, durations, seed, guidance, steps, progress, should_stop)
        return [self.motion(z[i:i + 1], frame_times(fps, 0.0, d), fps)
                for i, d in enumerate(durations)]

    @torch.no_grad()
    def latents(self, prompts: list[str], seconds: float | list[float], seed: int = 0,
                guidance: float = DEFAULT_GUIDANCE, steps: int = DEFAULT_STEPS,
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
        """(N, latent) stage-1 latents for the prompts: DDIM (eta 0) from seeded noise with
        classifier-free guidance."""
        prompts = _prompts(prompts)
        durations = _durations(seconds, len(prompts))
        if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps {steps!r}: a whole number from 1 to {MAX_STEPS}")
        if not np.isfinite(guidance) or guidance < 0:
            raise ValueError(f"guidance {guidance!r}: a number from 0 (1 is no guidance)")
        words = torch.from_numpy(text.encode(prompts))
        duration = torch.tensor(durations, dtype=torch.float32) / MAX_SECONDS
        generator = torch.Generator().manual_seed(int(seed))
        z = torch.randn(len(prompts), self.denoiser.config.latent, generator=generator)
        levels = np.unique(np.linspace(0, len(self.alpha_bar) - 1, steps + 1).round()
                           .astype(np.int64))[::-1]
        total = len(levels) - 1
        for step, (k, before) in enumerate(zip(levels[:-1], levels[1:]), start=1):
            if should_stop is not None and should_stop():
                raise Cancelled("text2motion: generation cancelled")
            eps = self._guided(z, int(k), words, duration, guidance)
            a, a_prev = self.alpha_bar[k].float(), self.alpha_bar[before].float()
            x0 = ((z - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-X0_CLIP, X0_CLIP)
            eps = (z - a.sqrt() * x0) / (1 - a).sqrt()
            z = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps if before > 0 else x0
            if progress is not None:
                progress(step, total)
        return z * self.denoiser.latent_std + self.denoiser.latent_mean

    def _guided(self, z, k: int, words, duration, guidance: float) -> torch.Tensor:
        """r eps(text) + (1 - r) eps(null), both in one batch."""
        n = len(z)
        levels = torch.full((2 * n,), k, dtype=torch.long)
        dropped = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)])
        eps = self.denoiser(torch.cat([z, z]), levels, torch.cat([words, words]),
                            torch.cat([duration, duration]), dropped)
        cond, null = eps[:n], eps[n:]
        return null + guidance * (cond - null)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, times: np.ndarray) -> np.ndarray:
        """(N, latent) latents at (Q,) seconds -> (N, Q, 25, 6) tokens."""
        t = torch.as_tensor(np.asarray(times, dtype=np.float32))
        return self.decoder(t.expand(len(latents), -1), latents).numpy()

    def motion(self, latent: torch.Tensor, times: np.ndarray, fps: Fraction | None) -> Motion:
        """One latent (1, latent) as a Motion on the shipped SMPL skeleton at `times`."""
        return Motion(*self.poses(latent, times), times, smpl_skeleton(), fps)

    def poses(self, latent: torch.Tensor, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One latent (1, latent) at (Q,) seconds, in any order: (Q, 24, 4) wxyz local
        rotations and (Q, 3) root positions."""
        matrices, trans = tokens_to_motion(self.decode(latent, times)[0])
        return matrix_to_quat(matrices), trans
