"""Model and training settings: dataclasses saved as JSON beside the weights."""

from __future__ import annotations

from dataclasses import dataclass

from motionfield.settings import PARTIAL_SHARE, SHARE, Settings, above, at_least


@dataclass(frozen=True)
class ModelConfig(Settings):
    """The motion field's shape.

    joints, dims : tokens and values per token (CMU benchmark: 25 joints x 3 positions;
        SMPL task: 24 joints x 6D rotation plus one root-translation token)
    hidden : width of the joint codes and the time network
    basis : temporal basis size the encoder projects each observed joint track onto
    features : K, per-joint features of the field; the fitted part is a K x dims matrix
    field_width : width of the modulated time features (the costly (B, T, J, .) tensor)
    frequencies, time_scale : Fourier features sin/cos(2^l pi t / time_scale), l < frequencies
    layers, heads : the attention across joints that mixes the per-joint codes
    refiner : width of a cross-joint correction applied to the fitted field at each time,
        seeing every joint's fitted value there (0: off). The fit is per joint; this lets
        the body's motion as a whole shape each joint's future (siMLPe mixes joints in
        every block).
    """

    KIND = "model settings"

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
    refiner: int = 0

    BOUNDS = {**dict.fromkeys(("joints", "dims", "hidden", "basis", "features", "field_width",
                               "frequencies", "layers", "heads"), at_least(1)),
              "refiner": at_least(0),  # 0 switches it off
              "time_scale": above(0)}  # seconds

    def other_problems(self) -> list[str]:
        if self.heads >= 1 and self.hidden % self.heads:
            return [f"hidden={self.hidden} is not a multiple of heads={self.heads}"]
        return []

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Saved settings; those of options since removed are dropped at their off value
        (the shipped checkpoints carry them so) and refused otherwise."""
        return super().from_dict(without_removed(data, REMOVED_MODEL_OPTIONS,
                                                 "model setting"))


@dataclass(frozen=True)
class Handover:
    """Where the field meets the classic curves at inference (infer.fill_field,
    infer.continue_field), chosen per shipped field on a validation split.

    fill_gaps_s, fill_weights : the field's share beside a Catmull-Rom spline through the
        keys, for a gap of that many seconds between a joint's keys (interpolated between
        the gaps, held beyond them). The fill is the spline plus that share of the field's
        own departure from a spline through the field's values at the keys: 1 is the field
        pinned to the keys, 0 the spline; every share passes through the keys.
    skipped_key_weight : the share instead where the joint's gap skips keys it is hidden
        in: there the other joints' keys tell the field what a joint's own curve cannot.
    velocity_blend_s : a continuation starts as each joint's constant-velocity extrapolation
        (from its last two observations) and hands over to the field linearly over this
        many seconds (0: the field from the first frame).
    """

    fill_gaps_s: tuple[float, ...] = (0.12, 0.2, 0.4)
    fill_weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    skipped_key_weight: float = 1.0
    velocity_blend_s: float = 0.0

    def __post_init__(self):
        gaps, weights = self.fill_gaps_s, self.fill_weights
        increasing = all(a < b for a, b in zip(gaps, gaps[1:]))
        if not gaps or len(gaps) != len(weights) or not increasing:
            raise ValueError("fill_gaps_s must increase and match fill_weights in length")
        shares = (*weights, self.skipped_key_weight)
        if any(not 0.0 <= w <= 1.0 for w in shares) or self.velocity_blend_s < 0:
            raise ValueError("fill weights are shares from 0 to 1; velocity_blend_s is >= 0")


# The handover of each task's shipped field, chosen on the validation clips of Bandai Namco
# 1 and 2, pooled (benchmarks/choose_predict_handover.py; docs/predict.md). The `cmu` field
# has none: it was trained on the benchmark's validation files, so nothing could be chosen
# for it without the test windows; it answers with the field alone.
FIELD_ALONE = Handover()
HANDOVERS = {"smpl": Handover(fill_gaps_s=(0.12, 0.2, 0.4), fill_weights=(0.3, 0.4, 0.2),
                              skipped_key_weight=0.5, velocity_blend_s=0.12)}


def handover_for(task: str) -> Handover:
    return HANDOVERS.get(task, FIELD_ALONE)


# Options tried and not kept (docs/predict_history.md tells how they did; git keeps their code),
# each with the value that meant "off": saved settings may still name them at that value.
REMOVED_MODEL_OPTIONS = {"dropout": 0.0, "mirror_code": False, "refiner_history": False}
REMOVED_TRAIN_OPTIONS = {"ease_out": 0.0, "ema": 0.0, "velocity_weight": 0.0, "extra": {}}


def without_removed(saved: dict, removed: dict, what: str) -> dict:
    """`saved` settings less the removed options at their off value; ValueError naming a
    removed option that was on (such weights were trained by code that is gone)."""
    on = [f"{name}={saved[name]!r}" for name, off in removed.items()
          if name in saved and saved[name] != off]
    if on:
        raise ValueError(f"trained with the removed {what} {', '.join(on)} (in git history "
                         "only): not loadable by this version")
    return {name: value for name, value in saved.items() if name not in removed}


def saved_training(saved: dict) -> dict:
    """A checkpoint's training settings as this version reads them (without_removed)."""
    return without_removed(saved, REMOVED_TRAIN_OPTIONS, "training option")


@dataclass(frozen=True)
class TrainConfig(Settings):
    """One training run. `history`/`future` are frame counts of the training windows;
    `incomplete` is the share of batches whose history has frames and joints hidden;
    `augment` applies the task's augmentation (CMU: mirroring; SMPL: mirroring and turns
    about the vertical) to every batch; `speed_change` replays each window up to that much
    slower or faster (0: off); `fill_weight` weighs the error over the history (gaps
    filled) against the future's (field only); `extra_data` names built sets (`motionfield
    data build`) whose training split joins the task's own data, drawn for `extra_share`
    of the windows (CMU task: on the benchmark's skeleton, see io/smpl_to_cmu.py);
    `action_balance` evens out how often each action of the task's own data is drawn (0:
    every window equally likely, so long files dominate; 1: every action equally often;
    data.windows.WindowSampler); `short_files` keeps files shorter than the speed change's
    source window (each replayed only as fast as its frames allow; False: left out, as
    training did before 2026-11-30, which is how both shipped SMPL checkpoints were
    trained); `time_reverse` plays that share of the windows backwards;
    `hold_out_validation` (CMU task) trains without the validation files, so that
    `motionfield eval predict --split validation` can compare recipes without looking at
    the test windows; `init_from` starts from a trained run's learned weights instead of
    fresh ones (a weights file, or a run folder: its `seed-N/` for this seed where it has
    one; training.initial_weights), with a
    fresh optimiser and schedule: pretraining on other data, then this run's.
    `validate_every` (CMU task, with `hold_out_validation`; 0: off) scores the model on the
    validation windows every that many steps, keeps the best in `best.safetensors` and
    ends the run when `patience` scores in a row have not improved on it: "until the
    validation error stops improving"."""

    KIND = "training settings"

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
    fill_weight: float = 0.5
    extra_data: tuple[str, ...] = ()
    extra_share: float = 0.5
    action_balance: float = 0.0
    short_files: bool = True
    hold_out_validation: bool = False
    checkpoint_every: int = 500
    init_from: str = ""
    validate_every: int = 0
    patience: int = 4

    BOUNDS = {
        **dict.fromkeys(("steps", "batch", "history", "future", "checkpoint_every",
                         "patience"), at_least(1)),
        **dict.fromkeys(("validate_every", "weight_decay", "fill_weight"), at_least(0)),
        "lr": above(0),
        # fractions of windows, frames or entries (a drop or a speed change leaves some)
        **dict.fromkeys(("incomplete", "time_reverse", "extra_share", "action_balance"),
                        SHARE),
        **dict.fromkeys(("max_frame_drop", "max_joint_drop", "speed_change"), PARTIAL_SHARE),
    }
