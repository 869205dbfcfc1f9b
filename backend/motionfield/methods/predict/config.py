"""Model and training settings: dataclasses saved as JSON beside the weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelConfig:
    """The motion field's shape.

    joints, dims : tokens and values per token (CMU benchmark: 25 joints x 3 positions;
        SMPL task: 24 joints x 6D rotation plus one root-translation token)
    hidden : width of the joint codes and the time network
    basis : temporal basis size the encoder projects each observed joint track onto
    features : K, per-joint features of the field; the fitted part is a K x dims matrix
    field_width : width of the modulated time features (the costly (B, T, J, .) tensor)
    frequencies, time_scale : Fourier features sin/cos(2^l pi t / time_scale), l < frequencies
    layers, heads : the attention across joints that mixes the per-joint codes
    dropout : in training, on the per-joint tokens and inside the attention (regularises the
        generic part, which otherwise overfits the benchmark's 32 training files)
    mirror_code : a learned code added to every joint token of a window that training
        mirrored, so the field learns from mirrored motion without forgetting which side is
        which (people are not symmetric: a right-handed dribble); real input gets none
    refiner : width of a cross-joint correction applied to the fitted field at each time,
        seeing every joint's fitted value there (0: off). The fit is per joint; this lets
        the body's motion as a whole shape each joint's future (siMLPe mixes joints in
        every block).
    refiner_history : the refiner also sees the whole body's history (every joint's
        coefficients on the encoder's temporal basis), not only the fitted pose at each time
    """

    joints: int
    dims: int
    hidden: int = 128
    basis: int = 16
    features: int = 32
    field_width: int = 64
    frequencies: int = 6
    time_scale: float = 4.0
    layers: int = 2
    heads: int = 4
    dropout: float = 0.0
    mirror_code: bool = False
    refiner: int = 0
    refiner_history: bool = False

    def __post_init__(self):
        sizes = ("joints", "dims", "hidden", "basis", "features", "field_width",
                 "frequencies", "layers", "heads")
        bad = [f"{name}={getattr(self, name)}" for name in sizes if getattr(self, name) < 1]
        if self.refiner < 0:
            bad.append(f"refiner={self.refiner} (0 switches it off)")
        if not 0.0 <= self.dropout < 1.0:
            bad.append(f"dropout={self.dropout} (from 0 up to 1)")
        if self.time_scale <= 0:
            bad.append(f"time_scale={self.time_scale} (seconds, above 0)")
        if self.heads >= 1 and self.hidden % self.heads:
            bad.append(f"hidden={self.hidden} is not a multiple of heads={self.heads}")
        if bad:
            raise ValueError(f"bad model settings: {', '.join(bad)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown model settings: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `history`/`future` are frame counts of the training windows;
    `incomplete` is the share of batches whose history has frames and joints hidden;
    `augment` applies the task's augmentation (CMU: mirroring; SMPL: turns about the
    vertical) to every batch; `speed_change` replays each window up to that much slower or
    faster (0: off); `fill_weight` weighs the error over the history (gaps filled) against
    the future's (field only); `velocity_weight` adds the error of the future's
    frame-to-frame steps (field only; siMLPe always has it); `extra_data` names built sets
    (`motionfield data build`) whose training split joins the task's own data, drawn for
    `extra_share` of the windows (CMU task: on the benchmark's skeleton, see
    io/smpl_to_cmu.py); `action_balance` evens out how often each action of the task's own
    data is drawn (0: every window equally likely, so long files dominate; 1: every action
    equally often; data.WindowSampler); `short_files` keeps files shorter than the speed
    change's source window (each replayed only as fast as its frames allow; False: left
    out, as training did before 2026-11-30, which is how smpl_field was trained);
    `time_reverse` plays that share of the windows backwards; `ease_out` brings that share
    to rest around the end of the history (data.ease_out); `ema` keeps an exponential
    moving average of the weights with that decay per step and saves it instead of the
    last step's weights (0: off); `hold_out_validation` (CMU
    task) trains without the validation files, so that `motionfield eval predict --split
    validation` can compare recipes without looking at the test windows; `init_from` starts
    from a trained run's learned weights instead of fresh ones (a weights file, or a run
    folder: its `seed-N/` for this seed where it has one; train.initial_weights), with a
    fresh optimiser and schedule: pretraining on other data, then this run's."""

    task: str = "cmu"
    steps: int = 6000
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    history: int = 50
    future: int = 25
    incomplete: float = 0.5
    max_frame_drop: float = 0.8
    max_joint_drop: float = 0.3
    augment: bool = True
    speed_change: float = 0.2
    time_reverse: float = 0.0
    ease_out: float = 0.0
    ema: float = 0.0
    fill_weight: float = 0.5
    velocity_weight: float = 0.0
    extra_data: tuple[str, ...] = ()
    extra_share: float = 0.5
    action_balance: float = 0.0
    short_files: bool = True
    hold_out_validation: bool = False
    checkpoint_every: int = 500
    init_from: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        bad = [f"{name}={getattr(self, name)} ({rule})"
               for name, (allowed, rule) in _TRAIN_RULES.items()
               if not allowed(getattr(self, name))]
        if bad:
            raise ValueError(f"bad training settings: {', '.join(bad)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _count(v) -> bool:
    return v >= 1


def _share(v) -> bool:  # a fraction of windows, frames or entries
    return 0.0 <= v <= 1.0


def _partial_share(v) -> bool:  # a fraction that must leave something
    return 0.0 <= v < 1.0


def _non_negative(v) -> bool:
    return v >= 0.0


# TrainConfig's checks: setting -> (whether a value is allowed, the rule in words)
_TRAIN_RULES = {
    "steps": (_count, "at least 1"), "batch": (_count, "at least 1"),
    "history": (_count, "at least 1"), "future": (_count, "at least 1"),
    "checkpoint_every": (_count, "at least 1"),
    "lr": (lambda v: v > 0.0, "above 0"), "weight_decay": (_non_negative, "at least 0"),
    "fill_weight": (_non_negative, "at least 0"), "velocity_weight": (_non_negative, "at least 0"),
    "incomplete": (_share, "from 0 to 1"), "time_reverse": (_share, "from 0 to 1"),
    "ease_out": (_share, "from 0 to 1"), "ema": (_partial_share, "from 0 up to 1"),
    "extra_share": (_share, "from 0 to 1"), "action_balance": (_share, "from 0 to 1"),
    "max_frame_drop": (_partial_share, "from 0 up to 1"),
    "max_joint_drop": (_partial_share, "from 0 up to 1"),
    "speed_change": (_partial_share, "from 0 up to 1"),
}
