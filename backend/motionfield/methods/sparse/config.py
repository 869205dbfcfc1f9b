"""Sparse-tracking settings: dataclasses saved as JSON in the checkpoint's metadata, and the
bounds one request may ask for. No torch here, so `info` and the CLI's parser stay fast."""

from __future__ import annotations

from dataclasses import dataclass

from motionfield.settings import SHARE, Settings, above, at_least, pair, within

FPS = 30            # the rate the networks step at; inputs are resampled onto it
MAX_SECONDS = 3600.0  # the longest tracking one job may solve
SHIPPED = "hmdnemo.safetensors"   # in motionfield.assets/sparse/
SHIPPED_BASELINE = "avatarposer.safetensors"
DEVICES = ("head", "left_hand", "right_hand")
SMPL_DEVICE_JOINTS = (15, 20, 21)  # SMPL head, left_wrist, right_wrist
FEATURES = 18       # per device: position 3, rotation 6D 6, velocity 3, turn per second 6D 6
UNSEEN = ("mask", "hold")
TEMPORAL = ("recurrent", "window")


@dataclass(frozen=True)
class Headset(Settings):
    """Where a headset's cameras see hands, and how well.

    The volume is fixed to the head (SMPL head joint: forward +Z, up +Y): a wrist is seen
    while its direction from the head lies within `horizontal_deg` of straight ahead to
    either side, between `down_deg` below and `up_deg` above, and its distance is between
    `near_m` and `far_m`. The defaults are close to a Quest 3's hand-tracking volume
    (cameras angled down: wide to the sides and below, narrow above; arm's reach).
    `view_pitch_deg`: the cameras look this far below the SMPL head joint's +Z, because the
    retargeted head joint looks up where the face looks ahead (median 21-37 degrees up on
    these sources); tracked head poses are converted the same way (io.py).
    `noise_m`, `noise_deg`: Gaussian tracking noise on each seen hand (the head gets a
    fifth); `dropouts_per_s` short losses of a seen hand lasting `dropout_s` (from, to).
    """

    KIND = "headset settings"

    horizontal_deg: float = 60.0
    view_pitch_deg: float = 25.0
    up_deg: float = 35.0
    down_deg: float = 65.0
    near_m: float = 0.1
    far_m: float = 1.0
    noise_m: float = 0.004
    noise_deg: float = 1.5
    dropouts_per_s: float = 0.15
    dropout_s: tuple[float, float] = (0.1, 0.5)

    BOUNDS = {**dict.fromkeys(("horizontal_deg", "up_deg", "down_deg"),
                              within(0, 180, above_low=True)),
              "near_m": at_least(0),
              **dict.fromkeys(("noise_m", "noise_deg", "dropouts_per_s"), at_least(0)),
              "dropout_s": pair(above(0))}

    def other_problems(self) -> list[str]:
        if self.near_m >= self.far_m:
            return [f"near_m={self.near_m}, far_m={self.far_m} (near below far)"]
        return []

    @classmethod
    def from_dict(cls, data: dict) -> Headset:
        return super().from_dict({**data, "dropout_s": tuple(data.get("dropout_s",
                                                                       cls.dropout_s))})


HEADSET = Headset()
CONTROLLERS = Headset(horizontal_deg=180.0, view_pitch_deg=0.0, up_deg=180.0,
                      down_deg=180.0, near_m=0.0, far_m=1e3, noise_m=0.001, noise_deg=0.5,
                      dropouts_per_s=0.0)


@dataclass(frozen=True)
class ModelConfig(Settings):
    """The network's shape.

    temporal : "recurrent": a GRU carries each frame's code to the next, and each frame's
        inputs and answer are in that frame's own heading frame (HMD-NeMo); "window":
        causal attention over the last `window` frames, all in the latest frame's heading
        frame (AvatarPoser)
    window : "window": frames the causal encoder sees (the latest is the one answered);
        "recurrent": frames of each training sequence that the loss sees
    width, layers, heads : the temporal encoder (GRU layers, or attention layers and heads)
    spatial : True: each device is a token (`spatial_width` values) and one attention layer
        mixes the three per frame (HMD-NeMo's spatial encoder); False: the three devices'
        features are concatenated into one vector per frame (AvatarPoser)
    unseen : "mask": an unseen hand's features are replaced by a temporally adaptable mask
        token (a learnt token plus a function of the time since the hand was last seen and
        where it was, in the current head frame); "hold": the hand's last seen transform is
        repeated with zero velocity (AvatarPoser fed with hand tracking)
    """

    KIND = "model settings"

    window: int = 40
    width: int = 128
    layers: int = 2
    heads: int = 4
    spatial: bool = True
    spatial_width: int = 64
    unseen: str = "mask"
    temporal: str = "recurrent"

    BOUNDS = dict.fromkeys(("window", "width", "layers", "heads", "spatial_width"),
                           at_least(1))

    def other_problems(self) -> list[str]:
        bad = []
        if self.heads >= 1 and (self.width % self.heads or self.spatial_width % self.heads):
            bad.append(f"width={self.width} and spatial_width={self.spatial_width} must be "
                       f"multiples of heads={self.heads}")
        if self.unseen not in UNSEEN:
            bad.append(f"unseen={self.unseen!r} (one of {UNSEEN})")
        if self.temporal not in TEMPORAL:
            bad.append(f"temporal={self.temporal!r} (one of {TEMPORAL})")
        return bad

    @property
    def recurrent(self) -> bool:
        return self.temporal == "recurrent"

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return super().from_dict({"temporal": "window", **data})  # saved before recurrent


@dataclass(frozen=True)
class TrainConfig(Settings):
    """One training run: `steps` of `batch` windows; `headset_share` of the windows see the
    hands through the headset model (the rest as with controllers); `lead` frames before
    each window tell when and where a hand was last seen; `velocity_weight` weighs the
    joint velocity error against the position error."""

    KIND = "training settings"

    steps: int = 5000  # the shipped checkpoints' (assets/sparse/README.md)
    batch: int = 48
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    headset_share: float = 0.7
    lead: int = 60
    velocity_weight: float = 0.5
    checkpoint_every: int = 250

    BOUNDS = {**dict.fromkeys(("steps", "batch", "checkpoint_every"), at_least(1)),
              "lr": above(0),
              **dict.fromkeys(("weight_decay", "velocity_weight", "lead"), at_least(0)),
              "headset_share": SHARE}
