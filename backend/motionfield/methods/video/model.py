"""The lifter: 2D keypoint features (B, T, 17, 3) -> SMPL local rotations in 6D (B, T', 24, 6)
with the root's rotation in the camera frame (OpenGL: x right, y up, looking along -z).

VideoPose3D's temporal convolutions (Pavllo et al. 2019): an expanding convolution, then
residual blocks of a dilated `kernel`-wide convolution and a 1-wide one, dilations growing
by `kernel` per block; unpadded, so T' = T - receptive_field + 1 and each output frame saw
the receptive field centred on it. `lift_sequence` pads a whole sequence by repeating its
end frames, so every frame gets an answer. With kernel 1 every layer sees one frame: the
per-frame baseline (Martinez et al. 2017's residual MLP).
"""

from __future__ import annotations

import torch
from torch import nn

from motionfield.methods.video.config import ModelConfig

INPUTS = 17 * 3
OUTPUTS = 24 * 6


class Lifter(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        k, w = config.kernel, config.width
        self.expand = nn.Conv1d(INPUTS, w, k, bias=False)
        self.expand_norm = nn.BatchNorm1d(w)
        self.dilations = [k ** (i + 1) for i in range(config.blocks)]
        self.wide = nn.ModuleList(nn.Conv1d(w, w, k, dilation=d, bias=False)
                                  for d in self.dilations)
        self.wide_norm = nn.ModuleList(nn.BatchNorm1d(w) for _ in self.dilations)
        self.narrow = nn.ModuleList(nn.Conv1d(w, w, 1, bias=False) for _ in self.dilations)
        self.narrow_norm = nn.ModuleList(nn.BatchNorm1d(w) for _ in self.dilations)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Conv1d(w, OUTPUTS, 1)
        with torch.no_grad():  # start at the identity rotation everywhere
            self.head.weight.mul_(0.1)
            self.head.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(24))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, 17, 3) -> (B, T - receptive_field + 1, 24, 6)."""
        x = features.flatten(2).transpose(1, 2)               # (B, 51, T)
        x = self.drop(torch.relu(self.expand_norm(self.expand(x))))
        for d, wide, wn, narrow, nn_ in zip(self.dilations, self.wide, self.wide_norm,
                                            self.narrow, self.narrow_norm):
            cut = d * (self.config.kernel - 1) // 2
            skip = x[..., cut:x.shape[-1] - cut] if cut else x
            x = self.drop(torch.relu(wn(wide(x))))
            x = skip + self.drop(torch.relu(nn_(narrow(x))))
        out = self.head(x).transpose(1, 2)                    # (B, T', 144)
        return out.reshape(*out.shape[:2], 24, 6)


@torch.no_grad()
def lift_sequence(model: Lifter, features: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """A whole sequence (T, 17, 3) -> (T, 24, 6): its ends repeated for the receptive
    field, run in chunks of `chunk` output frames."""
    pad = model.config.pad
    padded = torch.cat([features[:1].expand(pad, -1, -1), features,
                        features[-1:].expand(pad, -1, -1)])
    model.eval()
    parts = [model(padded[None, s:s + chunk + 2 * pad])[0]
             for s in range(0, len(features), chunk)]
    return torch.cat(parts)
