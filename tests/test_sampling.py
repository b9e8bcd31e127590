"""Plackett-Luce: the O(K) log-probability against the step-by-step definition, normalisation over
all orderings, gradients, Gumbel-top-b against the reference and against exp(log_prob)."""
import itertools
import math

import pytest
import torch

import rlmba
from conftest import ALL_BACKENDS, backend_or_skip
from rlmba.ops.sampling import plackett_luce_log_prob, plackett_luce_sample
from rlmba.reference import sampling as ref


def logits_of(K, gen, scale=2.0, dtype=torch.float64):
    return (torch.randn(K, generator=gen, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------- log-probability
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("K,b", [(1, 1), (2, 1), (7, 3), (50, 10), (13, 13), (500, 100)])
def test_log_prob_matches_the_sequential_definition(backend, K, b, gen):
    backend_or_skip("plackett_luce_log_prob", backend, dtype=torch.float64)
    z = logits_of(K, gen)
    idx = torch.randperm(K, generator=gen)[:b]
    want = ref.plackett_luce_log_prob_naive(z, idx)
    torch.testing.assert_close(plackett_luce_log_prob(z, idx, backend=backend), want, rtol=1e-12, atol=1e-12)
    got32 = plackett_luce_log_prob(z.float(), idx, backend=backend)
    assert got32.dtype == torch.float32
    torch.testing.assert_close(got32.double(), want, rtol=2e-5, atol=1e-4 * b)


@pytest.mark.parametrize("K,b", [(5, 3), (4, 4), (6, 1)])
def test_all_orderings_sum_to_one(K, b, gen):
    z = logits_of(K, gen)
    orders = list(itertools.permutations(range(K), b))
    assert len(orders) == math.perm(K, b)
    total = sum(plackett_luce_log_prob(z, torch.tensor(o)).exp() for o in orders)
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64), rtol=0, atol=1e-12)


def test_log_prob_is_stable_for_extreme_logits(gen):
    z = logits_of(40, gen, scale=1e4)
    z[::5] = float("-inf")  # masked candidates, never picked
    finite = torch.nonzero(torch.isfinite(z)).flatten()
    idx = finite[torch.randperm(finite.shape[0], generator=gen)[:12]]
    got = plackett_luce_log_prob(z, idx)
    assert torch.isfinite(got) and got <= 0
    torch.testing.assert_close(got, ref.plackett_luce_log_prob_naive(z, idx), rtol=1e-12, atol=1e-9)


def test_log_prob_gradients(gen):
    z = logits_of(9, gen).requires_grad_()
    idx = torch.tensor([4, 0, 7])
    assert torch.autograd.gradcheck(lambda t: plackett_luce_log_prob(t, idx), (z,))
    (g,) = torch.autograd.grad(plackett_luce_log_prob(z, idx), z)
    zn = z.detach().clone().requires_grad_()
    (gn,) = torch.autograd.grad(ref.plackett_luce_log_prob_naive(zn, idx), zn)
    torch.testing.assert_close(g, gn, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g.sum(), torch.tensor(0.0, dtype=torch.float64), rtol=0, atol=1e-12)


def test_log_prob_gradient_is_finite_with_masked_logits(gen):
    z = logits_of(8, gen)
    z[[1, 6]] = float("-inf")
    z.requires_grad_()
    (g,) = torch.autograd.grad(plackett_luce_log_prob(z, torch.tensor([3, 0])), z)
    assert torch.isfinite(g).all() and (g[[1, 6]] == 0).all()


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("K,b", [(1, 1), (10, 10), (37, 5), (5000, 1000)])
def test_sample_matches_the_reference_stream(backend, K, b, gen):
    backend_or_skip("plackett_luce_sample", backend, dtype=torch.float32)
    z = logits_of(K, gen, dtype=torch.float32).requires_grad_()
    with rlmba.trace() as calls:
        idx, logp = plackett_luce_sample(z, b, torch.Generator().manual_seed(K), backend=backend)
    assert calls[0] == ("plackett_luce_sample", backend) and calls[1][0] == "topb_select"
    u = torch.rand(K, dtype=torch.float64, generator=torch.Generator().manual_seed(K))
    torch.testing.assert_close(idx, ref.gumbel_top_b(z, u, b), rtol=0, atol=0)
    assert torch.unique(idx).shape[0] == b and idx.dtype == torch.int64
    torch.testing.assert_close(logp, ref.plackett_luce_log_prob(z, idx))
    logp.backward()
    assert torch.isfinite(z.grad).all()


def test_sample_frequencies_match_exp_log_prob():
    """Gumbel-top-2 of 4 candidates, 12 orderings: 8000 draws, every frequency within 5 sigma of
    exp(log_prob), and a wrong law (logits reversed) is rejected by the same bound."""
    z = torch.tensor([1.2, 0.1, -0.7, 0.5], dtype=torch.float64)
    orders = list(itertools.permutations(range(4), 2))
    law = torch.stack([plackett_luce_log_prob(z, torch.tensor(o)).exp() for o in orders])
    gen, n = torch.Generator().manual_seed(1234), 8000
    counts = dict.fromkeys(orders, 0)
    for _ in range(n):
        idx, _ = plackett_luce_sample(z, 2, gen)
        counts[tuple(idx.tolist())] += 1
    freq = torch.tensor([counts[o] / n for o in orders], dtype=torch.float64)
    sigma = (law * (1 - law) / n).sqrt()
    assert ((freq - law).abs() <= 5 * sigma).all(), (freq, law)
    wrong = torch.stack([plackett_luce_log_prob(z.flip(0), torch.tensor(o)).exp() for o in orders])
    assert ((freq - wrong).abs() > 5 * sigma).any()


def test_masked_candidates_are_never_drawn(gen):
    z = logits_of(20, gen)
    z[::2] = float("-inf")
    for seed in range(20):
        idx, logp = plackett_luce_sample(z, 10, torch.Generator().manual_seed(seed))
        assert (idx % 2 == 1).all() and torch.isfinite(logp)
    with pytest.raises(ValueError, match=r"b: expected 1 <= b <= the number of finite logits = 10, got 11"):
        plackett_luce_sample(z, 11)


# ---------------------------------------------------------------- bad input
def test_bad_input_names_the_argument():
    z = torch.randn(6)
    for bad, match in [(z.index_fill(0, torch.tensor([1]), float("nan")), r"logits: NaN or \+inf at positions \[1\]"),
                       (z.index_fill(0, torch.tensor([2]), float("inf")), r"logits: NaN or \+inf at positions \[2\]"),
                       (z[None], "logits: expected a 1-D tensor"), (z[:0], "logits: no candidates")]:
        with pytest.raises(ValueError, match=match):
            plackett_luce_sample(bad, 1)
        with pytest.raises(ValueError, match=match):
            plackett_luce_log_prob(bad, [0])
    with pytest.raises(TypeError, match="logits: expected a torch.Tensor"):
        plackett_luce_sample(z.numpy(), 1)
    with pytest.raises(TypeError, match="logits: expected a floating dtype"):
        plackett_luce_log_prob(torch.arange(6), [0])
    with pytest.raises(ValueError, match="b: expected 1 <= b"):
        plackett_luce_sample(z, 7)
    for idx, err, match in [([1, 1], ValueError, "indices: contains repeated"),
                            ([6], ValueError, r"indices: expected values in \[0, K = 6\)"),
                            ([-1], ValueError, r"indices: expected values in \[0, K = 6\)"),
                            ([], ValueError, "indices: empty"),
                            ([[0, 1]], ValueError, "indices: expected a 1-D tensor"),
                            (torch.tensor([0.0]), TypeError, "indices: expected an integer dtype")]:
        with pytest.raises(err, match=match):
            plackett_luce_log_prob(z, idx)
    with pytest.raises(ValueError, match=r"indices: picks a masked \(-inf\) candidate"):
        plackett_luce_log_prob(z.index_fill(0, torch.tensor([3]), float("-inf")), [3])
    with pytest.raises(rlmba.BackendError, match="cpp has no implementation of plackett_luce_log_prob"):
        plackett_luce_log_prob(z, [0], backend="cpp")
