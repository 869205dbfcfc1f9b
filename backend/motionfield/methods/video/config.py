"""Video settings: the lifter's shape and training, the random cameras and the detector
model the training keypoints are made with. Dataclasses saved as JSON in the checkpoint's
metadata. No torch here, so `info` and the CLI's parser stay fast."""

from __future__ import annotations

from dataclasses import dataclass

from motionfield.settings import PARTIAL_SHARE, SHARE, Settings, above, at_least, pair, within

FPS = 30              # the lifter's rate: keypoints are resampled onto it
SHIPPED = "lifter.safetensors"            # in motionfield.assets/video/
SHIPPED_BASELINE = "lifter_frame.safetensors"
MAX_SECONDS = 3600.0  # the longest keypoint sequence one job lifts
FIT_MAX_SECONDS = 60.0  # the longest video the multi-video fit takes (one action: seconds)


def _tuples(value):
    """JSON's lists back to the tuples the settings hold (image sizes: tuples of tuples)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class _Settings(Settings):
    @classmethod
    def from_dict(cls, data: dict):
        return super().from_dict({key: _tuples(value) for key, value in data.items()})


@dataclass(frozen=True)
class Cameras(_Settings):
    """The still cameras training and evaluation keypoints are seen through.

    Each window of motion gets one camera: anywhere around the body (`yaw_deg` either side
    of its front; 180: all round), `height_m` above the floor, a horizontal field of view
    in `hfov_deg`, an image of one of `image_sizes` (width, height), at the distance where
    the body is `body_share` of the image height (so a wide lens stands closer), aimed at
    the pelvis but off centre by up to `aim_share` of the half-width, rolled up to
    `roll_deg`.
    """

    KIND = "camera settings"

    yaw_deg: float = 180.0
    height_m: tuple[float, float] = (0.3, 2.4)
    hfov_deg: tuple[float, float] = (30.0, 80.0)
    image_sizes: tuple[tuple[int, int], ...] = ((1920, 1080), (1280, 720), (1080, 1920),
                                                (640, 480), (720, 720))
    body_share: tuple[float, float] = (0.3, 0.9)
    aim_share: float = 0.4
    roll_deg: float = 4.0

    BOUNDS = {"height_m": pair(above(0)),
              "hfov_deg": pair(within(0, 170, above_low=True, below_high=True)),
              "body_share": pair(above(0)), "aim_share": PARTIAL_SHARE}

    def other_problems(self) -> list[str]:
        return [] if self.image_sizes else [f"image_sizes={self.image_sizes} (at least one)"]


@dataclass(frozen=True)
class Detector(_Settings):
    """How a 2D detector (MediaPipe Pose) errs, as the training keypoints mimic it.

    Sizes are shares of the body's height in the image. Each window draws its noise level
    in `jitter` (per joint and frame, half of it white and half slowly drifting) and a fixed
    offset per joint (`bias`: where a detector puts a hip or shoulder differs from SMPL's
    joint). Limbs (a forearm, a shin, the face) are lost `occlusions_per_s` times a second
    for `occlusion_s` seconds: low confidence and a position that drifts off by up to
    `occlusion_drift`. Left and right are swapped `swaps_per_s` times a second for
    `swap_s` (a body seen from behind). Whole frames are missed `misses_per_s` times a
    second for `miss_s` seconds (nobody found: confidence 0). Joints outside the image keep
    their position with a confidence below 0.3. `clean_share` of the windows are exact.
    """

    KIND = "detector settings"

    jitter: tuple[float, float] = (0.003, 0.02)
    bias: float = 0.012
    occlusions_per_s: float = 0.4
    occlusion_s: tuple[float, float] = (0.2, 1.5)
    occlusion_drift: float = 0.15
    swaps_per_s: float = 0.03
    swap_s: tuple[float, float] = (0.1, 0.6)
    misses_per_s: float = 0.1
    miss_s: tuple[float, float] = (0.03, 0.7)
    clean_share: float = 0.1

    BOUNDS = {**dict.fromkeys(("bias", "occlusions_per_s", "occlusion_drift", "swaps_per_s",
                               "misses_per_s"), at_least(0)),
              "clean_share": SHARE, "jitter": pair(at_least(0))}


CAMERAS = Cameras()
DETECTOR = Detector()
CLEAN = Detector(jitter=(0.0, 0.0), bias=0.0, occlusions_per_s=0.0, swaps_per_s=0.0,
                 misses_per_s=0.0, clean_share=1.0)


@dataclass(frozen=True)
class ModelConfig(_Settings):
    """The lifter: a temporal convolution network over 2D keypoints (VideoPose3D's shape).

    `kernel` wide convolutions with dilations kernel**0, kernel**1, ... over `blocks` + 1
    layers, `width` channels; each frame sees `receptive_field` frames centred on it.
    kernel 1 is the per-frame baseline (an MLP on one frame's keypoints, Martinez et al.).
    """

    KIND = "model settings"

    width: int = 256
    blocks: int = 3
    kernel: int = 3
    dropout: float = 0.1

    BOUNDS = {**dict.fromkeys(("width", "blocks", "kernel"), at_least(1)),
              "dropout": PARTIAL_SHARE}

    def other_problems(self) -> list[str]:
        return [f"kernel={self.kernel} (odd)"] if self.kernel % 2 == 0 else []

    @property
    def receptive_field(self) -> int:
        return 1 + (self.kernel - 1) * sum(self.kernel ** i for i in range(self.blocks + 1))

    @property
    def pad(self) -> int:
        return (self.receptive_field - 1) // 2


@dataclass(frozen=True)
class TrainConfig(_Settings):
    """One training run: `steps` of `batch` windows whose `frames` centre frames are
    scored (each sees the model's receptive field); `velocity_weight` weighs the error of
    joint velocities, `sixd_weight` the 6D rotation error, against the joint error."""

    KIND = "training settings"

    steps: int = 2500  # the shipped checkpoints' (assets/video/README.md)
    batch: int = 64
    frames: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    velocity_weight: float = 0.1
    sixd_weight: float = 0.1
    checkpoint_every: int = 250

    BOUNDS = {**dict.fromkeys(("steps", "batch", "frames", "checkpoint_every"), at_least(1)),
              "lr": above(0),
              **dict.fromkeys(("weight_decay", "velocity_weight", "sixd_weight"), at_least(0))}


@dataclass(frozen=True)
class FitConfig(_Settings):
    """The multi-video fit (fit.py, after NeMo): one neural motion field per action, read at
    a phase in [0, 1] (`frequencies` Fourier octaves) and a per-video code of `embedding`
    numbers, an MLP of `layers` x `width`; a monotone time warp per video of `knots`
    piecewise-linear pieces; a camera and a root trajectory per video.

    `steps` Adam steps at `lr` (the field's; the per-video parameters take `lr_video`), the
    first `warmup` of them fitting the field to the lifter alone. Loss weights: `reproject`
    (confidence-weighted, robust at `robust_m` metres at the body), `lifter` (the lifter's
    root-relative joints, metres, and `lifter_rot` its rotations), `smooth` (acceleration of
    the joints in the world), `limits` (joint angles outside the mocap's range), `contact`
    (feet sliding or under the floor), `warp` (pieces of the time warp far from even),
    `code` (the per-video codes' size), `focal` (log focal length from its start). The
    focal length starts at `hfov_deg` across the image where nothing else says."""

    KIND = "fit settings"

    steps: int = 400
    warmup: int = 100
    lr: float = 3e-3
    lr_video: float = 1e-2
    frequencies: int = 6
    width: int = 128
    layers: int = 3
    embedding: int = 16
    knots: int = 8
    hfov_deg: float = 55.0
    reproject: float = 1.0
    robust_m: float = 0.1
    lifter: float = 0.3
    lifter_rot: float = 0.02
    smooth: float = 0.1
    limits: float = 1.0
    contact: float = 0.0  # built, off: on val it bent the legs of walks and runs (docs)
    warp: float = 0.01
    code: float = 0.001
    focal: float = 0.1
    seed: int = 0

    BOUNDS = {**dict.fromkeys(("steps", "frequencies", "width", "layers", "embedding",
                               "knots"), at_least(1)),
              "warmup": at_least(0),
              **dict.fromkeys(("reproject", "lifter", "lifter_rot", "smooth", "limits",
                               "contact", "warp", "code", "focal"), at_least(0)),
              **dict.fromkeys(("lr", "lr_video", "robust_m"), above(0)),
              "hfov_deg": within(1, 170, above_low=True, below_high=True)}

    @classmethod
    def of_steps(cls, steps: int) -> FitConfig:
        """The default fit in `steps` steps, its warm-up at most a quarter of them."""
        return cls(steps=steps, warmup=min(cls.warmup, steps // 4))

    def other_problems(self) -> list[str]:
        if self.warmup > self.steps:
            return [f"warmup={self.warmup} (at most steps={self.steps})"]
        return []
