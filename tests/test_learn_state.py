"""The policy state s_t, its running standardisation, the reward modes and baseline curves."""
import json
import math

import pytest
import torch

from rlmba.learn import (BaselineCurves, Reward, RunningNorm, TrainConfig, discounted_returns, modality_loss,
                         policy_state)
from rlmba.learn.state import state_dim
from rlmba.learn.train import TrainLog


def test_state_layout():
    m = {"top1": 0.8, "nll": 0.5 * math.log(10), "ece": 0.07, "delta": [-0.1, 0.0, -0.3]}
    s = policy_state(m, 10, u_mean=0.02, d_mean=1.5, rho=[0.9, -0.01, 2.0])
    assert s.dtype == torch.float64 and s.shape == (state_dim(3),) == (11,)
    torch.testing.assert_close(s, torch.tensor([0.8, 0.5, 0.07, -0.1, 0.0, -0.3, 0.02, 1.5, 0.9, -0.01, 2.0],
                                               dtype=torch.float64))
    m["nll"] = 50.0  # NLL normalised by ln C and capped at 1
    assert policy_state(m, 10, 0, 0, [0, 0, 0])[1] == 1.0


def test_running_norm_matches_batch_statistics(gen):
    xs = torch.randn(30, 5, generator=gen, dtype=torch.float64) * 3 + 1
    norm = RunningNorm(5)
    for x in xs:
        norm.update(x)
    torch.testing.assert_close(norm.mean, xs.mean(0))
    torch.testing.assert_close(norm.var, xs.var(0, unbiased=False))
    z = norm.normalize(xs[3])
    torch.testing.assert_close(z, (xs[3] - xs.mean(0)) / torch.sqrt(xs.var(0, unbiased=False) + 1e-8))
    restored = RunningNorm(5)
    restored.load_state_dict(norm.state_dict())
    torch.testing.assert_close(restored.normalize(xs[0]), norm.normalize(xs[0]))
    first = RunningNorm(2)
    first.update(torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(first.normalize(torch.tensor([3.0, 4.0])), torch.zeros(2, dtype=torch.float64))


def test_training_diagnostics():
    log = TrainLog(loss=[5.0, 4.0, 3.0, 2.0, 1.0, 0.5], grad_norm=[1.0] * 6)
    ema_loss, slope, ema_grad = log.diagnostics(smoothing=0.5, window=3)
    assert slope == pytest.approx(-0.75)  # least squares over [2, 1, 0.5]
    assert ema_grad == pytest.approx(1.0)
    ref = 5.0
    for v in [4.0, 3.0, 2.0, 1.0, 0.5]:
        ref = 0.5 * ref + 0.5 * v
    assert ema_loss == pytest.approx(ref)
    assert TrainLog(loss=[2.0], grad_norm=[1.0]).diagnostics()[1] == 0.0


def test_discounted_returns():
    torch.testing.assert_close(discounted_returns([1.0, 0.0, 2.0], 0.9),
                               torch.tensor([1 + 0.81 * 2, 0.9 * 2, 2.0], dtype=torch.float64))


def test_reward_modes(tmp_path):
    curves = BaselineCurves([10, 20, 30], {"badge": [0.5, 0.6, 0.7], "gcnal": [[0.4, 0.6, 0.8], [0.6, 0.8, 0.8]]})
    assert curves.mean_at(20) == pytest.approx((0.6 + 0.7) / 2)
    rel = Reward("relative", curves)
    assert rel(0.75, 0.6, 20) == pytest.approx(0.75 - 0.65)
    assert Reward("absolute")(0.75, 0.6, 20) == 0.75
    assert Reward("incremental")(0.75, 0.6, 20) == pytest.approx(0.15)
    fallback = Reward("relative", None, fallback="absolute")
    assert fallback.mode == "absolute"
    smooth = Reward("absolute", smoothing=0.5)
    assert [smooth(x, 0, 10) for x in (1.0, 0.0, 0.0)] == [1.0, 0.5, 0.25]
    smooth.reset()
    assert smooth(0.2, 0, 10) == 0.2
    with pytest.raises(ValueError, match="no evaluation at 25 labels"):
        rel(0.5, 0.4, 25)


def test_baseline_curves_file(tmp_path):
    p = tmp_path / "curves.json"
    BaselineCurves([5, 10], {"a": [0.1, 0.2], "b": [0.3, 0.4]}).save(str(p))
    c = BaselineCurves.load(str(p), use=["b"])
    assert c.mean_at(10) == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"no curves for \['zz'\]"):
        BaselineCurves.load(str(p), use=["zz"])
    p.write_text(json.dumps({"labels": [5, 10], "curves": {"a": [0.1]}}))
    with pytest.raises(ValueError, match=r"curves\['a'\]: expected 2 values"):
        BaselineCurves.load(str(p))
    p.write_text(json.dumps({"curves": {}}))
    with pytest.raises(ValueError, match="not a baseline curves file"):
        BaselineCurves.load(str(p))


def test_modality_loss_is_the_gap_variance():
    assert modality_loss([0.0, -0.2, -0.4]) == pytest.approx(((0.2) ** 2 + 0 + 0.2 ** 2) / 3)
    assert modality_loss([-0.1, -0.1]) == 0.0


def test_config_defaults_are_the_papers():
    from rlmba.learn import RLMBAConfig
    c = RLMBAConfig()
    assert (c.gamma, c.baseline_smoothing, c.weight_decay, c.lambda1, c.lambda2, c.kappa, c.kmeans_iters) == \
        (0.9, 0.1, 1e-4, 0.5, 0.5, 5, 5)
    assert TrainConfig().alpha == 0.1
    with pytest.raises(ValueError, match="reward_mode"):
        RLMBAConfig(reward_mode="best")
