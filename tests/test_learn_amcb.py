"""AMCB weights and EFDA's round score q (M = 2 and M = 6, the embedded dataset's count)."""
import pytest
import torch

import rlmba
from rlmba.learn import amcb_weights, efda_round_scores, minmax
from rlmba.ops.clustering import kmeans
from rlmba.ops.selection import topb_select


def test_amcb_is_a_floored_softmax_of_the_gaps():
    delta = torch.tensor([0.0, -0.05, -0.3, -0.02, -0.6, -0.1], dtype=torch.float64)
    w = amcb_weights(delta, tau=0.1, eps=0.0)
    torch.testing.assert_close(w, torch.softmax(delta / 0.1, 0))
    wf = amcb_weights(delta, tau=0.1, eps=0.02)
    raw = torch.softmax(delta / 0.1, 0).clamp_min(0.02)
    torch.testing.assert_close(wf, raw / raw.sum())
    assert wf.sum().item() == pytest.approx(1.0, abs=1e-15)
    assert (wf.argsort(descending=True) == w.argsort(descending=True)).all()  # the order is kept
    # a smaller gap (stronger modality head) gets more weight; a big tau flattens to uniform
    assert w[0] > w[3] > w[1] > w[5] > w[2] > w[4]
    torch.testing.assert_close(amcb_weights(delta, tau=1e6, eps=0.0), torch.full((6,), 1 / 6, dtype=torch.float64))


def test_amcb_saturates_without_overflow_and_validates():
    w = amcb_weights([0.0, -0.5], tau=1e-6, eps=0.01)
    assert torch.isfinite(w).all() and w[0] > 0.98 and w[1] >= 0.0099
    with pytest.raises(ValueError, match="tau"):
        amcb_weights([0.0, 0.1], tau=0.0)
    with pytest.raises(ValueError, match="eps"):
        amcb_weights([0.0, 0.1], eps=0.5)
    with pytest.raises(ValueError, match="delta"):
        amcb_weights([0.0, float("nan")])


def test_minmax():
    torch.testing.assert_close(minmax(torch.tensor([2.0, 4.0, 3.0])), torch.tensor([0.0, 1.0, 0.5]))
    torch.testing.assert_close(minmax(torch.full((4,), 7.0)), torch.zeros(4))


@pytest.mark.parametrize("M", [2, 6])
def test_efda_round_scores_follow_the_definition(gen, M):
    U, C, h, b = 300, 10, 8, 7
    logits = torch.randn(M, U, C, generator=gen) * 3
    feats = torch.randn(M, U, h, generator=gen).relu()
    w = amcb_weights(torch.rand(M, generator=gen) * -0.4)
    temps = (torch.rand(M, generator=gen) + 0.5).tolist()
    s = efda_round_scores(logits, feats, w, temps, b, beta=0.7, kappa=3, kmeans_iters=4,
                          generator=torch.Generator().manual_seed(11))
    u_f, u_m = rlmba.efda_scores(logits, weights=(w / w.sum()).tolist(), temperatures=temps)
    torch.testing.assert_close(s.u_fused, u_f)
    torch.testing.assert_close(s.u_modal, u_m)
    fused = torch.einsum("m,mnh->nh", w.float(), feats)
    _, _, d = kmeans(fused, b, iters=4, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(s.d, d)
    q = sum(w[m].float() * minmax(u_m[m]) for m in range(M)) + 0.7 * minmax(d)
    torch.testing.assert_close(s.q, q)
    assert s.q.min() >= 0 and s.q.max() <= 1 + 0.7 + 1e-6
    assert torch.equal(s.candidates, topb_select(s.q, 3 * b))
    feats_c = s.candidate_features(w)
    assert feats_c.shape == (3 * b, 2 * M + 3)
    torch.testing.assert_close(feats_c[:, 0], s.q[s.candidates])
    torch.testing.assert_close(feats_c[:, -M:], w.float().expand(3 * b, -1))


def test_candidate_set_is_capped_by_the_pool(gen):
    logits, feats = torch.randn(2, 12, 3, generator=gen), torch.randn(2, 12, 4, generator=gen)
    s = efda_round_scores(logits, feats, torch.tensor([0.5, 0.5]), None, 5, kappa=5,
                          generator=torch.Generator().manual_seed(0))
    assert sorted(s.candidates.tolist()) == list(range(12))
