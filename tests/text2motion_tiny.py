"""The text2motion model the job and add-on tests run: the shipped checkpoint, or, until it
is built, a tiny one trained on Bandai Namco 1 in a few seconds (the tests check the job and
the add-on, not the model's quality)."""

from __future__ import annotations

from pathlib import Path


def model_path(folder: Path, data_root: Path) -> tuple[Path, bool]:
    """(the checkpoint to test with, whether it is the shipped one). Finding the shipped one
    needs no torch: Blender's Python 3.13 tests serve it from a backend in another Python."""
    from importlib import resources

    from motionfield.methods.text2motion.config import SHIPPED

    shipped = Path(str(resources.files("motionfield.assets") / "text2motion" / SHIPPED))
    if shipped.exists():
        return shipped, True
    return tiny_model(folder, data_root), False  # not built yet


def tiny_model(folder: Path, data_root: Path) -> Path:
    """A text2motion checkpoint of 20 + 20 training steps of small networks."""
    import torch

    from motionfield.methods.text2motion import data, train
    from motionfield.methods.text2motion.config import ModelConfig, TrainConfig

    torch.set_num_threads(1)
    takes = data.load_takes(data_root, sources=("bandai-namco-1",), progress=False)
    clips = train.clip_set(data.clips(data.split(takes, "train")), "bandai-namco-1: tests")
    model = ModelConfig(latent=8, width=32, layers=1, codebook=11, time_width=8,
                        frequencies=2, denoiser_width=32, denoiser_layers=1,
                        diffusion_steps=50)
    config = TrainConfig(steps_inr=20, steps_diffusion=20, batch=8, diffusion_batch=16,
                         checkpoint_every=20)
    return train.train(config, model, folder, progress=False, clips=clips)
