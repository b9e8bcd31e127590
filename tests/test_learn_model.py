"""The classifier's pieces: EDL loss, KL term, temperature fit, metrics, Shapley contributions."""
import itertools
import math

import pytest
import torch
from torch.distributions import Dirichlet, kl_divergence

from rlmba.learn import (ModelOutput, MultimodalEvidentialNet, aulc, ece, edl_loss, expected_probs,
                         fit_temperature, imbalance, kl_to_uniform, mlp_encoder, shapley_contributions,
                         split_metrics)
from rlmba.learn.evidential import multimodal_edl_loss


def test_kl_to_uniform_matches_torch_distributions(gen):
    alpha = torch.rand(50, 7, generator=gen, dtype=torch.float64) * 5 + 0.1
    ref = kl_divergence(Dirichlet(alpha), Dirichlet(torch.ones_like(alpha)))
    torch.testing.assert_close(kl_to_uniform(alpha), ref)
    torch.testing.assert_close(kl_to_uniform(torch.ones(3, 4, dtype=torch.float64)), torch.zeros(3, dtype=torch.float64))


def test_edl_loss_is_the_digamma_risk_plus_weighted_kl(gen):
    z = torch.randn(40, 5, generator=gen, dtype=torch.float64) * 3
    y = torch.randint(0, 5, (40,), generator=gen)
    alpha = torch.nn.functional.softplus(z) + 1
    S = alpha.sum(1)
    risk = torch.stack([torch.digamma(S[i]) - torch.digamma(alpha[i, y[i]]) for i in range(40)])
    at = alpha.clone()
    at[torch.arange(40), y] = 1.0
    kl = kl_divergence(Dirichlet(at), Dirichlet(torch.ones_like(at)))
    torch.testing.assert_close(edl_loss(z, y, 0.0), risk.mean())
    torch.testing.assert_close(edl_loss(z, y, 0.37), (risk + 0.37 * kl).mean())


def test_edl_loss_gradient_raises_true_class_evidence(gen):
    z = torch.zeros(8, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (8,), generator=gen)
    edl_loss(z, y, 0.1).backward()
    g = z.grad
    assert (g[torch.arange(8), y] < 0).all()  # descent increases the true class's logit
    other = torch.ones_like(g, dtype=torch.bool)
    other[torch.arange(8), y] = False
    assert (g[other] > 0).all()


def test_multimodal_loss_is_the_sum_over_heads(gen):
    M, n, C = 3, 10, 4
    out = ModelOutput(torch.randn(M, n, C, generator=gen), torch.randn(n, C, generator=gen), None, None)
    y = torch.randint(0, C, (n,), generator=gen)
    ref = edl_loss(out.fused_logits, y, 0.2) + sum(edl_loss(z, y, 0.2) for z in out.modality_logits)
    torch.testing.assert_close(multimodal_edl_loss(out, y, 0.2), ref)


def test_fit_temperature_recovers_a_planted_temperature(gen):
    # labels drawn from the Dirichlet-mean probabilities at T = 2.5: the NLL is minimised near it
    z = torch.randn(4000, 6, generator=gen, dtype=torch.float64) * 6
    p = expected_probs(z, 2.5)
    y = torch.multinomial(p, 1, generator=gen).squeeze(1)
    t = fit_temperature(z, y)
    assert 2.0 < t < 3.1


def test_metrics_against_direct_formulas(gen):
    probs = torch.softmax(torch.randn(200, 4, generator=gen, dtype=torch.float64) * 2, 1)
    y = torch.randint(0, 4, (200,), generator=gen)
    conf, pred = probs.max(1)
    ref = 0.0
    for b in range(10):  # bins (b/10, (b+1)/10]
        inb = (conf > b / 10) & (conf <= (b + 1) / 10)
        if inb.any():
            ref += inb.double().mean() * ((pred[inb] == y[inb]).double().mean() - conf[inb].mean()).abs()
    assert ece(probs, y, bins=10) == pytest.approx(float(ref), abs=1e-12)
    assert imbalance(torch.tensor([0.1, -0.3])) == pytest.approx(0.4)
    assert imbalance(torch.tensor([0.0, -0.3, 0.3])) == pytest.approx(0.06)
    assert aulc([0, 10, 30], [0.5, 0.7, 0.9]) == pytest.approx((10 * 0.6 + 20 * 0.8) / 30)


def test_split_metrics_gaps(gen):
    y = torch.arange(6) % 3
    fused = torch.nn.functional.one_hot(y, 3).double() * 5        # all right
    m0 = fused.clone()
    m1 = torch.nn.functional.one_hot((y + 1) % 3, 3).double() * 5  # all wrong
    m = split_metrics(ModelOutput(torch.stack([m0, m1]), fused, None, None), y)
    assert m["top1"] == 1.0 and m["top1_modality"] == [1.0, 0.0]
    assert m["delta"] == [0.0, -1.0] and m["imbalance"] == 1.0


def _net(M, gen, h=6, C=3):
    torch.manual_seed(int(torch.randint(0, 1000, (1,), generator=gen)))
    return MultimodalEvidentialNet([mlp_encoder(4, 8, h, 0.0) for _ in range(M)], h, C).double()


def test_shapley_two_modalities_is_the_exact_formula(gen):
    net, y = _net(2, gen), torch.randint(0, 3, (20,), generator=gen)
    out = net([torch.randn(20, 4, generator=gen, dtype=torch.float64) for _ in range(2)])

    def v(mask):
        return expected_probs(net.fuse(out.features, torch.tensor(mask, dtype=torch.float64))[1]) \
            .gather(1, y[:, None]).mean().item()
    p, p_drop1, p_drop2, p_drop12 = v([1, 1]), v([0, 1]), v([1, 0]), v([0, 0])
    phi = shapley_contributions(net, out, y)
    assert phi[0] == pytest.approx((p - p_drop1 + p_drop2 - p_drop12) / 2, abs=1e-12)
    assert phi[1] == pytest.approx((p - p_drop2 + p_drop1 - p_drop12) / 2, abs=1e-12)


def test_shapley_monte_carlo_is_efficient_and_close_to_exact(gen):
    M = 4
    net, y = _net(M, gen), torch.randint(0, 3, (15,), generator=gen)
    with torch.no_grad():
        out = net([torch.randn(15, 4, generator=gen, dtype=torch.float64) for _ in range(M)])

    def v(S):
        mask = torch.zeros(M, dtype=torch.float64)
        mask[list(S)] = 1
        return expected_probs(net.fuse(out.features, mask)[1]).gather(1, y[:, None]).mean().item()
    exact = [0.0] * M
    for m in range(M):
        rest = [k for k in range(M) if k != m]
        for r in range(M):
            for S in itertools.combinations(rest, r):
                weight = math.factorial(r) * math.factorial(M - r - 1) / math.factorial(M)
                exact[m] += weight * (v(S + (m,)) - v(S))
    phi = shapley_contributions(net, out, y, permutations=400, generator=torch.Generator().manual_seed(1))
    # every permutation's marginals telescope: the estimate sums to v(all) - v(none) exactly
    assert sum(phi) == pytest.approx(v(range(M)) - v(()), abs=1e-12)
    spread = max(abs(e) for e in exact)
    torch.testing.assert_close(torch.tensor(phi), torch.tensor(exact), atol=0.15 * spread, rtol=0)


def test_fusion_weights_and_masks(gen):
    net = _net(3, gen)
    xs = [torch.randn(5, 4, generator=gen, dtype=torch.float64) for _ in range(3)]
    net.set_fusion_weights(torch.tensor([0.0, 1.0, 0.0]))
    out = net(xs)
    torch.testing.assert_close(out.fused, out.features[1])
    with pytest.raises(ValueError, match="expected 3 modality inputs"):
        net(xs[:2])
