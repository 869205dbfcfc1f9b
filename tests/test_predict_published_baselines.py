"""The published prediction baselines as their authors build and train them: siMLPe
(zero-initialised output, the last frame added back, 10 frames a pass rolled out) and LTD
(DCT of the padded history, graph network with a residual), their schedules, and training
that stops on the validation windows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motionfield.methods.predict.baselines import LTD, SiMLPe
from motionfield.methods.predict.config import TrainConfig


def test_untrained_simlpe_holds_the_last_pose_and_rolls_out_its_passes():
    torch.manual_seed(0)
    model = SiMLPe(50, 10, 4, 3, blocks=3).eval()
    history = torch.randn(2, 50, 4, 3)
    with torch.no_grad():
        first = model(history)
        # the output layer starts at zero: the prediction is the last frame held
        torch.testing.assert_close(first, history[:, -1:].expand(-1, 10, -1, -1), atol=1e-5,
                                   rtol=0)
        for layer in (model.fc_out, *[block.temporal for block in model.blocks]):
            torch.nn.init.normal_(layer.weight, std=0.05)
        passes = model.rollout(history, 25)
        assert passes.shape == (2, 25, 4, 3)
        torch.testing.assert_close(passes[:, :10], model(history))
        # the second pass reads the first pass's frames as its newest history
        fed = torch.cat([history, passes[:, :10]], dim=1)[:, -50:]
        torch.testing.assert_close(passes[:, 10:20], model(fed))


def test_ltd_without_its_network_reproduces_the_padded_history():
    """With every DCT coefficient kept and the output layer silenced, LTD is its residual:
    the last 10 frames as they were, then the last one held."""
    model = LTD(10, 25, 4, 3, coefficients=35, hidden=16, blocks=2).eval()
    torch.nn.init.zeros_(model.last.weight)
    torch.nn.init.zeros_(model.last.bias)
    history = torch.randn(3, 50, 4, 3)
    with torch.no_grad():
        out = model(history)
    assert out.shape == (3, 35, 4, 3)
    torch.testing.assert_close(out[:, :10], history[:, -10:], atol=1e-4, rtol=0)
    torch.testing.assert_close(model.predict(history), history[:, -1:].expand(-1, 25, -1, -1),
                               atol=1e-4, rtol=0)
    # fewer coefficients smooth the trajectory: no longer the history exactly
    smooth = LTD(10, 25, 4, 3, coefficients=5, hidden=16, blocks=1).eval()
    torch.nn.init.zeros_(smooth.last.weight)
    torch.nn.init.zeros_(smooth.last.bias)
    with torch.no_grad():
        assert not torch.allclose(smooth(history)[:, :10], history[:, -10:], atol=1e-3)
    with pytest.raises(ValueError, match="DCT coefficients"):
        LTD(10, 25, 4, 3, coefficients=36)


def test_baselines_train_with_their_authors_schedules():
    from motionfield.data.windows import WindowSampler
    from motionfield.methods.predict.train import recipe

    sampler = WindowSampler([np.zeros((100, 4, 3), np.float32)] * 2, 75)  # 2 x 26 windows
    config = TrainConfig(steps=8, batch=4, lr=3e-4)
    model = SiMLPe(50, 10, 4, 3, blocks=1)
    optimiser, schedule, clip = recipe("simlpe", sampler)(model, config)
    assert clip is None and isinstance(optimiser, torch.optim.Adam)
    rates = []
    for _ in range(8):
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        schedule.step()
    assert rates[:6] == [3e-4] * 6 and rates[6:] == pytest.approx([1e-5] * 2)
    ltd = LTD(10, 25, 4, 3, hidden=8, blocks=1)
    config = TrainConfig(steps=100, batch=4, lr=5e-4, weight_decay=0.0)
    optimiser, schedule, clip = recipe("ltd", sampler)(ltd, config)
    assert clip == 1.0
    for _ in range(2 * (52 // 4)):  # two epochs of the 52 windows
        optimiser.step()
        schedule.step()
    assert optimiser.param_groups[0]["lr"] == pytest.approx(5e-4 * 0.96)


def test_a_baseline_trains_until_its_validation_error_stops_improving(tmp_path, data_root):
    from motionfield.methods.predict.eval import run
    from motionfield.methods.predict.infer import load_checkpoint
    from motionfield.methods.predict.train import train

    with pytest.raises(ValueError, match="--hold-out-validation"):
        train("ltd", TrainConfig(steps=2, batch=4, validate_every=1), tmp_path / "x",
              data_root, progress=False)
    config = TrainConfig(steps=40, batch=4, lr=5e-2, weight_decay=0.0, augment=False,
                         speed_change=0.0, hold_out_validation=True, validate_every=1,
                         patience=1)
    best = train("ltd", config, tmp_path / "ltd", data_root, progress=False)
    scores = [json.loads(line) for line in
              (tmp_path / "ltd" / "validation.jsonl").read_text().splitlines()]
    errors = [s["mpjpe"] for s in scores]
    # stopped one score after its best, and best.safetensors holds that best
    assert len(scores) < 40 and errors[-1] >= min(errors) == errors[-2]
    assert load_checkpoint(best).meta["step"] == str(scores[-2]["step"])
    simlpe = train("simlpe", TrainConfig(steps=1, batch=4, hold_out_validation=True),
                   tmp_path / "simlpe", data_root, progress=False)
    field = train("field", TrainConfig(steps=1, batch=4, hold_out_validation=True),
                  tmp_path / "field", data_root, progress=False,
                  model_config={"hidden": 16, "basis": 4, "features": 4, "field_width": 8,
                                "layers": 1, "heads": 2})
    out = run(data_root / "cmu_mocap", model=field, simlpe=simlpe, ltd=best,
              split="validation")
    for name in ("simlpe", "ltd"):  # in the same table, with intervals at every horizon
        assert set(out[name]) == set(out["ours"])
        assert set(out["intervals"]["complete"][name]) == set(out["ours"])
