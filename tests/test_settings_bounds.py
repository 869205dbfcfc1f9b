"""Settings' bounds (motionfield.settings.Bound): each method's config states the range of
its numbers, the checking is done once, and a bad value is refused by name."""

from __future__ import annotations

import dataclasses

import pytest

from motionfield.methods.predict import config as predict
from motionfield.methods.sparse import config as sparse
from motionfield.methods.text2motion import config as text2motion
from motionfield.methods.video import config as video
from motionfield.settings import (
    PARTIAL_SHARE,
    SHARE,
    Bound,
    Settings,
    above,
    at_least,
    pair,
    within,
)

PREDICT_MODEL = {"joints": 4, "dims": 3}  # the two settings predict's model has no default for

CONFIGS = [(video.Cameras, {}), (video.Detector, {}), (video.ModelConfig, {}),
           (video.TrainConfig, {}), (video.FitConfig, {}),
           (predict.ModelConfig, PREDICT_MODEL), (predict.TrainConfig, {}),
           (sparse.Headset, {}), (sparse.ModelConfig, {}), (sparse.TrainConfig, {}),
           (text2motion.ModelConfig, {}), (text2motion.TrainConfig, {})]


@pytest.mark.parametrize("cls, needed", CONFIGS, ids=lambda c: getattr(c, "__qualname__", ""))
def test_defaults_construct_and_every_bound_names_a_field(cls, needed):
    config = cls(**needed)
    assert cls.from_dict(config.to_dict()) == config
    names = {f.name for f in dataclasses.fields(cls)}
    assert cls.BOUNDS and set(cls.BOUNDS) <= names


def test_the_shipped_settings_construct():
    assert video.CLEAN.clean_share == 1.0 and video.CAMERAS and video.DETECTOR
    assert sparse.CONTROLLERS.near_m == 0.0 and sparse.HEADSET


@pytest.mark.parametrize("cls, settings, named", [
    (video.Cameras, {"height_m": (0.0, 2.0)}, "height_m=(0.0, 2.0)"),
    (video.Cameras, {"height_m": (2.0, 1.0)}, "height_m=(2.0, 1.0)"),
    (video.Cameras, {"hfov_deg": (30.0, 170.0)}, "hfov_deg=(30.0, 170.0)"),
    (video.Cameras, {"body_share": (-0.1, 0.9)}, "body_share=(-0.1, 0.9)"),
    (video.Cameras, {"aim_share": 1.0}, "aim_share=1.0 (from 0 up to 1)"),
    (video.Cameras, {"image_sizes": ()}, "image_sizes=()"),
    (video.Detector, {"bias": -0.1}, "bias=-0.1 (at least 0)"),
    (video.Detector, {"misses_per_s": -1.0}, "misses_per_s=-1.0 (at least 0)"),
    (video.Detector, {"clean_share": 1.5}, "clean_share=1.5 (from 0 to 1)"),
    (video.Detector, {"jitter": (0.02, 0.01)}, "jitter=(0.02, 0.01)"),
    (video.ModelConfig, {"blocks": 0}, "blocks=0 (at least 1)"),
    (video.ModelConfig, {"kernel": 4}, "kernel=4 (odd)"),
    (video.ModelConfig, {"dropout": 1.0}, "dropout=1.0 (from 0 up to 1)"),
    (video.TrainConfig, {"frames": 0}, "frames=0 (at least 1)"),
    (video.TrainConfig, {"lr": 0.0}, "lr=0.0 (above 0)"),
    (video.TrainConfig, {"sixd_weight": -0.1}, "sixd_weight=-0.1 (at least 0)"),
    (video.FitConfig, {"knots": 0}, "knots=0 (at least 1)"),
    (video.FitConfig, {"warmup": -1}, "warmup=-1 (at least 0)"),
    (video.FitConfig, {"warmup": 401}, "warmup=401 (at most steps=400)"),
    (video.FitConfig, {"focal": -1.0}, "focal=-1.0 (at least 0)"),
    (video.FitConfig, {"robust_m": 0.0}, "robust_m=0.0 (above 0)"),
    (video.FitConfig, {"hfov_deg": 1.0}, "hfov_deg=1.0 (above 1, below 170)"),
    (video.FitConfig, {"hfov_deg": 170.0}, "hfov_deg=170.0 (above 1, below 170)"),
    (predict.ModelConfig, {**PREDICT_MODEL, "basis": 0}, "basis=0 (at least 1)"),
    (predict.ModelConfig, {**PREDICT_MODEL, "refiner": -4}, "refiner=-4 (at least 0)"),
    (predict.ModelConfig, {**PREDICT_MODEL, "time_scale": 0.0}, "time_scale=0.0 (above 0)"),
    (predict.ModelConfig, {**PREDICT_MODEL, "hidden": 30}, "hidden=30 is not a multiple"),
    (predict.TrainConfig, {"patience": 0}, "patience=0 (at least 1)"),
    (predict.TrainConfig, {"validate_every": -1}, "validate_every=-1 (at least 0)"),
    (predict.TrainConfig, {"extra_share": 1.5}, "extra_share=1.5 (from 0 to 1)"),
    (predict.TrainConfig, {"max_joint_drop": 1.0}, "max_joint_drop=1.0 (from 0 up to 1)"),
    (sparse.Headset, {"horizontal_deg": 0.0}, "horizontal_deg=0.0 (above 0, at most 180)"),
    (sparse.Headset, {"down_deg": 181.0}, "down_deg=181.0 (above 0, at most 180)"),
    (sparse.Headset, {"near_m": -0.1}, "near_m=-0.1 (at least 0)"),
    (sparse.Headset, {"near_m": 1.0}, "near_m=1.0, far_m=1.0"),
    (sparse.Headset, {"noise_deg": -1.0}, "noise_deg=-1.0 (at least 0)"),
    (sparse.Headset, {"dropout_s": (0.0, 0.5)}, "dropout_s=(0.0, 0.5)"),
    (sparse.ModelConfig, {"spatial_width": 0}, "spatial_width=0 (at least 1)"),
    (sparse.ModelConfig, {"heads": 0}, "heads=0 (at least 1)"),
    (sparse.ModelConfig, {"width": 130}, "width=130 and spatial_width=64"),
    (sparse.ModelConfig, {"unseen": "guess"}, "unseen='guess'"),
    (sparse.TrainConfig, {"lead": -1}, "lead=-1 (at least 0)"),
    (sparse.TrainConfig, {"velocity_weight": -0.5}, "velocity_weight=-0.5 (at least 0)"),
    (sparse.TrainConfig, {"headset_share": 1.1}, "headset_share=1.1 (from 0 to 1)"),
    (text2motion.ModelConfig, {"codebook": 1}, "codebook=1 (at least 2)"),
    (text2motion.ModelConfig, {"diffusion_steps": 1}, "diffusion_steps=1 (at least 2)"),
    (text2motion.ModelConfig, {"denoiser_layers": 0}, "denoiser_layers=0 (at least 1)"),
    (text2motion.TrainConfig, {"latent_lr": 0.0}, "latent_lr=0.0 (above 0)"),
    (text2motion.TrainConfig, {"kl_weight": -1.0}, "kl_weight=-1.0 (at least 0)"),
    (text2motion.TrainConfig, {"condition_dropout": 1.0},
     "condition_dropout=1.0 (from 0 up to 1)"),
])
def test_a_bad_value_is_refused_naming_the_kind_the_setting_and_its_value(cls, settings,
                                                                          named):
    with pytest.raises(ValueError) as error:
        cls(**settings)
    message = str(error.value)
    assert message.startswith(f"bad {cls.KIND}: ")
    assert named in message


@pytest.mark.parametrize("cls, settings", [
    (video.Cameras, {"height_m": (1.0, 1.0), "aim_share": 0.0, "hfov_deg": (169.0, 169.0)}),
    (video.Detector, {"jitter": (0.0, 0.0), "clean_share": 1.0, "bias": 0.0}),
    (video.ModelConfig, {"kernel": 1, "blocks": 1, "dropout": 0.0}),
    (video.FitConfig, {"warmup": 400, "contact": 0.0, "hfov_deg": 169.9}),
    (video.FitConfig, {"warmup": 0}),
    (predict.ModelConfig, {**PREDICT_MODEL, "refiner": 0, "hidden": 1, "heads": 1}),
    (predict.TrainConfig, {"incomplete": 1.0, "time_reverse": 1.0, "action_balance": 1.0,
                           "speed_change": 0.0, "validate_every": 0, "weight_decay": 0.0}),
    (sparse.Headset, {"horizontal_deg": 180.0, "near_m": 0.0, "far_m": 1e-3,
                      "dropout_s": (0.5, 0.5), "noise_m": 0.0}),
    (sparse.TrainConfig, {"headset_share": 1.0, "lead": 0, "weight_decay": 0.0}),
    (text2motion.ModelConfig, {"codebook": 2, "diffusion_steps": 2}),
    (text2motion.TrainConfig, {"condition_dropout": 0.0, "weight_decay": 0.0}),
])
def test_values_on_an_allowed_end_are_kept(cls, settings):
    config = cls(**settings)
    assert all(getattr(config, name) == value for name, value in settings.items())


def test_every_problem_is_named_at_once():
    with pytest.raises(ValueError) as error:
        video.FitConfig(steps=0, lr=-1.0, hfov_deg=200.0)
    for part in ("steps=0 (at least 1)", "lr=-1.0 (above 0)", "hfov_deg=200.0",
                 "warmup=100 (at most steps=0)"):
        assert part in str(error.value)


def test_a_bound_says_its_range_in_words():
    assert str(at_least(1)) == "at least 1"
    assert str(above(0.0)) == "above 0"
    assert str(SHARE) == "from 0 to 1"
    assert str(PARTIAL_SHARE) == "from 0 up to 1"
    assert str(within(0, 180, above_low=True)) == "above 0, at most 180"
    assert str(within(1, 170, above_low=True, below_high=True)) == "above 1, below 170"
    assert str(Bound(high=2)) == "at most 2" and str(Bound(high=2, below_high=True)) == "below 2"
    assert str(pair(above(0))) == "each above 0; from <= to"


def test_a_bound_keeps_its_ends_strict_or_not():
    assert at_least(1).allows(1) and not at_least(1).allows(0)
    assert above(0).allows(1e-9) and not above(0).allows(0.0)
    assert SHARE.allows(0.0) and SHARE.allows(1.0) and not SHARE.allows(1.0001)
    assert PARTIAL_SHARE.allows(0.0) and not PARTIAL_SHARE.allows(1.0)
    span = pair(within(0, 170, above_low=True, below_high=True))
    assert span.allows((30, 80)) and span.allows((30, 30))
    assert not span.allows((80, 30)) and not span.allows((0, 80))
    assert not span.allows((30, 170)) and not span.allows((30,))


def test_settings_without_bounds_check_nothing():
    @dataclasses.dataclass(frozen=True)
    class Free(Settings):
        KIND = "free settings"
        anything: float = -1.0

    assert Free().anything == -1.0
