"""The networks: a causal spatio-temporal encoder from tracked head and hands to SMPL.

Per frame, each device's 18 features (features.py) become a token; a hand that is not seen
is replaced by a temporally adaptable mask token: a learnt token per hand plus a function of
where the hand was last seen (in the current window's frame) and how long ago, so the
stand-in changes as the loss goes on (HMD-NeMo's TAMT, conditioned on the last sighting
rather than on the previous prediction, so training stays parallel over the window).
One attention layer mixes the three tokens of a frame (spatial); a GRU carries each frame's
code into the next (temporal, HMD-NeMo's recurrent encoder: an online frame costs one step
whatever came before); each frame's code decodes to 24 SMPL rotations (6D, the root's in
that frame's heading frame) and the root's position relative to the head.

The AvatarPoser-style baseline feeds the three devices' features concatenated, unseen hands
held at their last seen pose, to causal attention over a window of the last frames, all in
the latest frame's heading frame (AvatarPoser's temporal transformer; ModelConfig).
"""

from __future__ import annotations

import torch
from torch import nn

from motionfield.fields import mlp
from motionfield.methods.sparse.config import FEATURES, ModelConfig
from motionfield.methods.sparse.features import IDENTITY_6D, MAX_SINCE

OUTPUTS = 24 * 6 + 3


def _encoder(width: int, heads: int, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0,
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class SparsePoser(nn.Module):
    """forward(features (B, W, 3, 18), seen (B, W, 2), since (B, W, 2)) -> tokens
    (B, W, 25, 6); frame w sees frames <= w only. Each frame's features and tokens are in
    its own heading frame (recurrent) or all in the window's last frame's (window)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.width
        self.register_buffer("feature_mean", torch.zeros(3, FEATURES))
        self.register_buffer("feature_std", torch.ones(3, FEATURES))
        if config.spatial:
            s = config.spatial_width
            self.embed = nn.Parameter(torch.randn(3, FEATURES, s) * FEATURES ** -0.5)
            self.embed_bias = nn.Parameter(torch.zeros(3, s))
            self.spatial = _encoder(s, config.heads, 1)
            self.merge = nn.Linear(3 * s, d)
        else:
            self.flat = nn.Linear(3 * FEATURES, d)
        if config.unseen == "mask":
            self.mask_token = nn.Parameter(torch.zeros(2, config.spatial_width))
            self.adapt = mlp([9 + 2, config.spatial_width, config.spatial_width])
        if config.recurrent:
            self.temporal = nn.GRU(d, d, config.layers, batch_first=True)
        else:
            self.position = nn.Parameter(torch.zeros(config.window, d))
            self.temporal = _encoder(d, config.heads, config.layers)
            causal = torch.triu(torch.full((config.window, config.window), float("-inf")), 1)
            self.register_buffer("causal", causal, persistent=False)
        self.decode = nn.Sequential(nn.LayerNorm(d), mlp([d, d, OUTPUTS]))

    def forward(self, features: torch.Tensor, seen: torch.Tensor, since: torch.Tensor,
                last_only: bool = False) -> torch.Tensor:
        """`last_only`: answer the window's last frame only, (B, 1, 25, 6): what an online
        step of a window model needs; its last layer then attends from that frame alone
        (same result). A recurrent model runs from a zero state (see `run`)."""
        if self.config.recurrent:
            tokens = self.run(features, seen, since)[0]
            return tokens[:, -1:] if last_only else tokens
        h = self._frames(features, seen, since) + self.position[:features.shape[1]]
        if last_only:
            h = self._last_frame(h)
            features = features[:, -1:]
        else:
            h = self.temporal(h, mask=self.causal[:h.shape[1], :h.shape[1]])
        return self._tokens(self.decode(h), features)

    def run(self, features: torch.Tensor, seen: torch.Tensor, since: torch.Tensor,
            state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A recurrent model over frames (B, T, ...) from `state` (layers, B, width; None:
        zeros) -> (tokens (B, T, 25, 6), the state after the last frame)."""
        h, state = self.temporal(self._frames(features, seen, since), state)
        return self._tokens(self.decode(h), features), state

    def _frames(self, features, seen, since) -> torch.Tensor:
        """Each frame's code (B, T, width) from its own devices."""
        x = (features - self.feature_mean) / self.feature_std
        if not self.config.spatial:
            return self.flat(x.flatten(-2))
        tokens = torch.einsum("bwdf,dfk->bwdk", x, self.embed) + self.embed_bias
        if self.config.unseen == "mask":
            tokens = self._masked(tokens, x, seen, since)
        mixed = self.spatial(tokens.flatten(0, 1)).view(*tokens.shape)
        return self.merge(mixed.flatten(-2))

    def _tokens(self, out: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        rot = out[..., :144].unflatten(-1, (24, 6)) + features.new_tensor(IDENTITY_6D)
        root = features[..., 0, :3] + out[..., 144:]  # relative to the head
        return torch.cat([rot, nn.functional.pad(root, (0, 3))[..., None, :]], dim=-2)

    def _last_frame(self, h: torch.Tensor) -> torch.Tensor:
        """The temporal encoder's code of the last frame: every layer but the last over all
        frames (causally), the last one for the last frame's query alone."""
        layers = self.temporal.layers
        mask = self.causal[:h.shape[1], :h.shape[1]]
        for layer in layers[:-1]:
            h = layer(h, src_mask=mask)
        last = layers[-1]
        keys = last.norm1(h)
        q = h[:, -1:]
        q = q + last.self_attn(keys[:, -1:], keys, keys, need_weights=False)[0]
        return q + last._ff_block(last.norm2(q))

    def _masked(self, tokens, x, seen, since):
        """Hand tokens of unseen frames replaced by their adapting mask tokens."""
        age = (since / MAX_SINCE).clamp(0, 1)[..., None]
        held = torch.cat([x[..., 1:, :9], age, age.sqrt()], dim=-1)  # (B, W, 2, 11)
        stand_in = self.mask_token + self.adapt(held)
        hands = torch.where(seen[..., None], tokens[..., 1:, :], stand_in)
        return torch.cat([tokens[..., :1, :], hands], dim=-2)
