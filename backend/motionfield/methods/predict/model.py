"""The neural motion field: x_j(t) = anchor_j + h(t, z_j) W_j.

Reading of NeRMo (seed 002) kept here: motion is a function of continuous time t with
joint-specific latent codes z_j and Fourier time features; its parameters split into a
generic part (every network below, meta-learned over many sequences) and an
instance-specific part W_j fitted on the observed history of one sequence; observations may
miss frames or joints and need no regular timing; any set of times can be asked for.

Where we differ, and why: NeRMo fits the instance part with gradient steps. Here W_j is the
linear read-out of the field, so the inner problem is ridge regression towards a prior W0_j
and is solved exactly (one batched K x K solve, differentiable, as in meta-learning with
closed-form solvers, Bertinetto et al. 2019). The outer loop trains the generic part through
that solve. It fits a sequence in about a millisecond instead of hundreds of steps, which is
what makes the 30 ms budget possible, and never diverges.

On the CMU benchmark an optional cross-joint refiner (config.refiner) adds a correction to
the fitted field at each time, from every joint's fitted value there: the fit is per joint.

Shapes: B sequences, N observed times, Q query times, J joints, D values per joint.
Times are seconds relative to "now" (the end of the history): history t <= 0, future t > 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionfield.methods.predict.config import ModelConfig


def masked_ridge(features: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                 lam: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """argmin_W sum_n m_nj |f_nj W - y_nj|^2 + lam_j |W - prior_j|^2, per sequence and joint.

    Parameters
    ----------
    features : (B, N, J, K) or (B, N, K) (shared by every joint)
    targets : (B, N, J, D)
    mask : (B, N, J) 1 where observed
    lam : (J,) or scalar, > 0
    prior : (B, J, K, D) or None (zeros)

    Returns
    -------
    (B, J, K, D)
    """
    if features.dim() == 3:
        gram = torch.einsum("bnk,bnj,bnl->bjkl", features, mask, features)
        rhs = torch.einsum("bnk,bnj,bnjd->bjkd", features, mask, targets)
    else:
        gram = torch.einsum("bnjk,bnj,bnjl->bjkl", features, mask, features)
        rhs = torch.einsum("bnjk,bnj,bnjd->bjkd", features, mask, targets)
    k = gram.shape[-1]
    lam = torch.as_tensor(lam, dtype=gram.dtype).reshape(-1, 1, 1)
    system = gram + lam * torch.eye(k, dtype=gram.dtype)
    if prior is not None:
        rhs = rhs + lam * prior
    return torch.linalg.solve(system, rhs)


def _gather_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, N, J, C), index (B, J) -> x[b, index[b, j], j] as (B, J, C)."""
    picked = index[:, None, :, None].expand(-1, 1, -1, x.shape[-1])
    return torch.gather(x, 1, picked)[:, 0]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.GELU()]
    return nn.Sequential(*layers[:-1])


class MotionField(nn.Module):
    """Generic part of the field; `forward` fits the instance part and answers queries."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        freq = (2.0 ** torch.arange(c.frequencies)) * math.pi / c.time_scale
        self.register_buffer("frequencies", freq)
        # Normalisation, set from the training data and saved with the weights.
        self.register_buffer("mean_pose", torch.zeros(c.joints, c.dims))
        self.register_buffer("scale", torch.ones(c.dims))
        self.register_buffer("value_mask", torch.ones(c.joints, c.dims))
        time_in = 2 * c.frequencies + 1
        # Encoder: each joint's observed track -> least-squares coefficients on a learned
        # temporal basis (robust to missing frames by construction) -> a token per joint.
        self.basis = _mlp([time_in, c.hidden, c.basis])
        self.log_basis_ridge = nn.Parameter(torch.tensor(math.log(1e-2)))
        self.joint_codes = nn.Parameter(torch.randn(c.joints, c.hidden) * 0.02)
        self.token_in = _mlp([c.basis * c.dims + 1, c.hidden, c.hidden])
        layer = nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, dropout=0.0,
                                           batch_first=True, norm_first=True,
                                           activation="gelu")
        self.mixer = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.mixer_norm = nn.LayerNorm(c.hidden)
        # Field: time features modulated per joint by z_j -> K features.
        self.time_net = _mlp([time_in, c.hidden, c.field_width])
        self.modulation = nn.Linear(c.hidden, 2 * c.field_width)
        self.features = nn.Linear(c.field_width, c.features)
        self.prior = nn.Linear(c.hidden, c.features * c.dims)
        self.log_ridge = nn.Parameter(torch.zeros(c.joints))
        # How much each observation counts in the fit, by its time: meta-learned, so the
        # fit can favour the recent past that decides the next frames. Starts at 1.
        self.observation_weight = nn.Linear(time_in, 1)
        nn.init.zeros_(self.observation_weight.weight)
        nn.init.zeros_(self.observation_weight.bias)
        if c.refiner:  # starts as the identity: the plain field
            inputs = c.joints * c.dims + time_in + c.hidden
            self.refiner = _mlp([inputs, c.refiner, c.refiner, c.joints * c.dims])
            nn.init.zeros_(self.refiner[-1].weight)
            nn.init.zeros_(self.refiner[-1].bias)

    def time_features(self, t: torch.Tensor) -> torch.Tensor:
        """(..., ) seconds -> (..., 2L + 1): t / scale, sin and cos of each frequency."""
        angle = t[..., None] * self.frequencies
        return torch.cat([t[..., None] / self.config.time_scale, angle.sin(), angle.cos()], -1)

    def anchors(self, values: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each joint's last observed value (the mean pose where a joint was never seen) and
        the index of that observation. values (B, N, J, D), mask (B, N, J) -> (B, J, D),
        (B, J)."""
        n = mask.shape[1]
        order = mask * torch.arange(1, n + 1, dtype=mask.dtype)[None, :, None]
        last = order.argmax(dim=1)  # (B, J)
        picked = _gather_frames(values, last)
        seen = mask.amax(dim=1)[..., None] > 0
        return torch.where(seen, picked, self.mean_pose.expand_as(picked)), last

    def history_coefficients(self, t_obs: torch.Tensor, residuals: torch.Tensor,
                             mask: torch.Tensor) -> torch.Tensor:
        """Each joint's observed residual track as least-squares coefficients on the learned
        temporal basis: (B, J, basis, D), whatever frames are missing."""
        basis = self.basis(self.time_features(t_obs))  # (B, N, F)
        return masked_ridge(basis, residuals, mask, self.log_basis_ridge.exp())

    def encode(self, coeffs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Joint codes z (B, J, H) from the history's coefficients."""
        seen = mask.mean(dim=1)[..., None]  # share of frames observed per joint
        tokens = self.token_in(torch.cat([coeffs.flatten(2), seen], -1)) + self.joint_codes
        return self.mixer_norm(self.mixer(tokens))

    def field_features(self, t: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """h(t, z_j): (B, T) times, (B, J, H) codes -> (B, T, J, K)."""
        u = self.time_net(self.time_features(t))  # (B, T, H)
        gain, shift = self.modulation(codes).chunk(2, dim=-1)  # (B, J, H) each
        v = nn.functional.gelu(torch.addcmul(shift[:, None], u[:, :, None], 1 + gain[:, None]))
        return self.features(v)

    def refine(self, out: torch.Tensor, times: torch.Tensor, codes: torch.Tensor,
               last: torch.Tensor) -> torch.Tensor:
        """Cross-joint correction of the fitted field `out` (B, T, J, D) (normalised
        residuals from the anchors) at `times` (B, T), the observed times first: at each
        time an MLP sees every joint's value there, the time and the pooled joint codes.
        It sees no absolute pose: given one, it got worse on the actions the training data
        has least of (docs/predict_history.md). Taken relative to its value at each joint's last
        observation (`last` (B, J), an index into `times`), so the prediction still starts
        at the anchor."""
        b, t, j, d = out.shape
        pooled = codes.mean(dim=1)[:, None].expand(-1, t, -1)
        inputs = torch.cat([out.flatten(2), self.time_features(times), pooled], -1)
        correction = self.refiner(inputs).reshape(b, t, j, d)
        return correction - _gather_frames(correction, last)[:, None]

    def forward(self, t_obs: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                t_query: torch.Tensor) -> torch.Tensor:
        """Fit the instance part on the observations and evaluate the field at t_query.

        Parameters
        ----------
        t_obs : (B, N) seconds, <= 0 for the history
        values : (B, N, J, D) observed values (anything where mask is 0)
        mask : (B, N, J) 1 where observed, 0 where missing
        t_query : (B, Q) seconds

        Returns
        -------
        (B, Q, J, D) values at the query times
        """
        mask = mask.to(values.dtype)
        values = torch.where(mask[..., None] > 0, values, torch.zeros_like(values))
        anchor, last = self.anchors(values, mask)
        residuals = (values - anchor[:, None]) / self.scale * mask[..., None]
        coeffs = self.history_coefficients(t_obs, residuals, mask)
        codes = self.encode(coeffs, mask)
        count = t_obs.shape[1]
        times = torch.cat([t_obs, t_query], 1)
        feats = self.field_features(times, codes)
        # Features relative to each joint's last observation: the field is 0 there, so the
        # prediction starts exactly at the anchor whatever the fit does elsewhere.
        feats = feats - _gather_frames(feats, last)[:, None]
        b, j, d, k = codes.shape[0], self.config.joints, self.config.dims, self.config.features
        prior = self.prior(codes).reshape(b, j, k, d)
        weight = 2 * torch.sigmoid(self.observation_weight(self.time_features(t_obs)))
        readout = masked_ridge(feats[:, :count], residuals, mask * weight, self.log_ridge.exp(),
                               prior)
        if self.config.refiner:  # refined at the observed times too, to anchor it there
            out = torch.einsum("btjk,bjkd->btjd", feats, readout)
            out = (out + self.refine(out, times, codes, last))[:, count:]
        else:
            out = torch.einsum("bqjk,bjkd->bqjd", feats[:, count:], readout)
        return anchor[:, None] + out * self.scale * self.value_mask
