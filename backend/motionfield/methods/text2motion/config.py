"""Text-to-motion settings: dataclasses saved as JSON in the checkpoint's metadata."""

from __future__ import annotations

from dataclasses import dataclass

from motionfield.settings import PARTIAL_SHARE, Settings, above, at_least

# What one request may ask for: the sampler, the job's schema and the CLI read these here
# (this module imports no torch, so `info` and the CLI's parser stay fast)
MIN_SECONDS, MAX_SECONDS = 1.0, 10.0  # one sample; also the longest training clip
MAX_CHAINED_SECONDS = 60.0  # longer motion: samples chained (chain.py)
BRIDGE_SECONDS = 1.0  # between chained samples, answered by the prediction method's fill
DEFAULT_GUIDANCE = 4.0  # r in NeRM's eps = r eps(text) + (1 - r) eps(null); 1 is none
DEFAULT_STEPS = 20      # DDIM steps
MAX_STEPS = 1000        # the noise schedule's length
SHIPPED = "nerm.safetensors"  # in motionfield.assets/text2motion/


@dataclass(frozen=True)
class ModelConfig(Settings):
    """The two networks' shapes.

    latent : size of a clip's latent z (stage 1) and of what the diffusion model samples
    width, layers : the decoder's residual MLP (FiLM-modulated by z)
    codebook : entries of the learnable time codebook over [0, MAX_SECONDS] (NeRM)
    time_width : width of a codebook entry
    frequencies, time_scale : Fourier time features sin/cos(2^l pi t / time_scale)
    denoiser_width, denoiser_layers : the latent denoiser's residual MLP
    diffusion_steps : K, the noise schedule's training steps (cosine schedule)
    """

    KIND = "model settings"

    latent: int = 64
    width: int = 384
    layers: int = 4
    codebook: int = 101
    time_width: int = 64
    frequencies: int = 8
    time_scale: float = 10.0
    denoiser_width: int = 384
    denoiser_layers: int = 4
    diffusion_steps: int = 1000

    BOUNDS = {**dict.fromkeys(("latent", "width", "layers", "time_width", "frequencies",
                               "denoiser_width", "denoiser_layers"), at_least(1)),
              "codebook": at_least(2), "diffusion_steps": at_least(2),
              "time_scale": above(0)}  # seconds


@dataclass(frozen=True)
class TrainConfig(Settings):
    """Both stages of one run.

    steps_inr, steps_diffusion : optimiser steps of stage 1 (the auto-decoder) and stage 2
    batch : clips per stage-1 step; latents per stage-2 step is `diffusion_batch`
    queries : timestamps drawn per clip per stage-1 step (from its frames at a random
        stride of 1..max_stride, so the decoder sees every rate from native_fps/6 up)
    kl_weight : lambda_KL of KL(N(mu, sigma) || N(0, I)), summed over the latent's values
    latent_lr : the per-clip latents' learning rate as a multiple of `lr` (an auto-decoder's
        codes see their clip once an epoch, the decoder every step)
    condition_dropout : share of stage-2 samples trained with the null text embedding
        (classifier-free guidance)
    """

    KIND = "training settings"

    steps_inr: int = 10000
    steps_diffusion: int = 6000
    batch: int = 128
    diffusion_batch: int = 256
    lr: float = 1e-3
    diffusion_lr: float = 5e-4
    latent_lr: float = 30.0
    weight_decay: float = 0.0
    seed: int = 0
    queries: int = 8
    max_stride: int = 6
    kl_weight: float = 1e-4
    condition_dropout: float = 0.1
    checkpoint_every: int = 500

    BOUNDS = {**dict.fromkeys(("steps_inr", "steps_diffusion", "batch", "diffusion_batch",
                               "queries", "max_stride", "checkpoint_every"), at_least(1)),
              **dict.fromkeys(("lr", "diffusion_lr", "latent_lr"), above(0)),
              **dict.fromkeys(("weight_decay", "kl_weight"), at_least(0)),
              "condition_dropout": PARTIAL_SHARE}

    def stage(self, name: str) -> Stage:
        """The loop settings (training.run) of stage "inr" or "diffusion"."""
        if name == "inr":
            return Stage(self.steps_inr, self.lr, self.weight_decay, self.seed,
                         self.checkpoint_every)
        if name == "diffusion":
            return Stage(self.steps_diffusion, self.diffusion_lr, self.weight_decay,
                         self.seed + 1, self.checkpoint_every)
        raise ValueError(f"unknown stage {name!r}: inr or diffusion")


@dataclass(frozen=True)
class Stage:
    """What motionfield.training.run reads of a config."""

    steps: int
    lr: float
    weight_decay: float
    seed: int
    checkpoint_every: int
