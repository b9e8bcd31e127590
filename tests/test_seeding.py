"""BADGE / BMMAL seeding: factored == materialised, every backend == the reference pick for pick,
tie and duplicate rules, thread-count independence, the D^2 law, and bad input."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import baselines
import rlmba
from conftest import ALL_BACKENDS, NATIVE_CPU, backend_or_skip
from rlmba.ops.seeding import badge_select, bmmal_select
from rlmba.reference import seeding as ref
from rlmba.testing import make_probs

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def pool(N, C, widths, dtype=torch.float32, gen=None):
    """probs [N, C] (softmax of logits at scale 3) and one feature matrix [N, h] per width."""
    p = make_probs(N, C, dtype=torch.float64, generator=gen).to(dtype)
    return p, [torch.randn(N, h, generator=gen, dtype=torch.float64).to(dtype) for h in widths]


def stream(seed, b):
    """The uniforms the public ops draw from Generator().manual_seed(seed)."""
    return torch.rand(b - 1, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def expected(p, hs, scales, seed, b):
    """The factored float64 reference's picks for the public op's inputs (halves -> float32)."""
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in [p, *hs]) else torch.float32
    return ref.kmeanspp_factored(p.to(dtype), [h.to(dtype) for h in hs], scales, stream(seed, b), b)


def assert_valid(idx, N, b):
    assert idx.dtype == torch.int64 and idx.shape == (b,)
    assert torch.unique(idx).shape[0] == b, f"duplicate picks: {idx.tolist()}"
    assert 0 <= int(idx.min()) and int(idx.max()) < N


# ---------------------------------------------------------------- the reference itself
@pytest.mark.parametrize("seed", range(4))
def test_factored_equals_materialised_badge(seed):
    gen = torch.Generator().manual_seed(seed)
    p, (h,) = pool(307, 7, [13], torch.float64, gen)
    u = stream(seed, 60)
    fact = ref.kmeanspp_factored(p, [h], None, u, 60)
    torch.testing.assert_close(fact, baselines.badge_select_materialised(p, h, u, 60), rtol=0, atol=0)


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("M", [1, 2, 3])
def test_factored_equals_materialised_bmmal(M, per_sample, gen):
    p, hs = pool(211, 5, [9, 4, 17][:M], torch.float64, gen)
    c = torch.rand((211, M) if per_sample else (M,), generator=gen, dtype=torch.float64)
    s = ref.modality_scales(c)
    u = torch.rand(49, dtype=torch.float64, generator=gen)
    fact = ref.kmeanspp_factored(p, hs, s.reshape(-1, M), u, 50)
    torch.testing.assert_close(fact, baselines.bmmal_select_materialised(p, hs, s, u, 50), rtol=0, atol=0)


def test_modality_scales_rule():
    s = ref.modality_scales(torch.tensor([[0.7, 0.4], [0.1, 0.3], [2.0, 0.5]]))
    torch.testing.assert_close(s, torch.tensor([[1.0, 0.7], [0.8, 1.0], [1.0, 0.0]], dtype=torch.float64))


# ---------------------------------------------------------------- backends against the reference
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C,h,b", [(1, 3, 4, 1), (2, 1, 1, 2), (97, 10, 64, 97), (2049, 2, 7, 30),
                                     (5003, 10, 33, 100), (4099, 101, 16, 1)])
def test_badge_matches_reference(backend, dtype, N, C, h, b):
    backend_or_skip("badge_select", backend, dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    if N > 2049 and backend not in NATIVE_CPU:
        pytest.skip("large pool: compiled CPU backends only")
    gen = torch.Generator().manual_seed(N * 7 + C)
    p, (x,) = pool(N, C, [h], dtype, gen)
    with rlmba.trace() as calls:
        idx = badge_select(p, x, b, torch.Generator().manual_seed(N), backend=backend)
    assert calls == [("badge_select", backend)]
    assert_valid(idx, N, b)
    torch.testing.assert_close(idx, expected(p, [x], None, N, b), rtol=0, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("M,per_sample", [(1, False), (2, False), (2, True), (3, True)])
def test_bmmal_matches_reference(backend, dtype, M, per_sample, gen):
    backend_or_skip("bmmal_select", backend, dtype=dtype)
    N, b = 3001, 64
    p, hs = pool(N, 10, [32, 5, 19][:M], dtype, gen)
    c = torch.rand((N, M) if per_sample else (M,), generator=gen, dtype=torch.float64)
    idx = bmmal_select(p, hs, c, b, torch.Generator().manual_seed(3), backend=backend)
    assert_valid(idx, N, b)
    torch.testing.assert_close(idx, expected(p, hs, ref.modality_scales(c).reshape(-1, M), 3, b), rtol=0, atol=0)


def _cpu_isas():
    from rlmba import _C
    return ["baseline"] + (["avx2"] if _C.cpu_isa("auto") in ("avx2", "avx512") else [])


@pytest.mark.parametrize("isa", _cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("M,per_sample", [(1, False), (2, True)])
def test_cpp_isa_paths_match_reference(isa, dtype, M, per_sample, gen, monkeypatch):
    """Each C++ update loop the ISA picks (float32: AVX2 intrinsics or the baseline build; float64:
    an x86-64-v3 or the baseline build) picks what the float64 reference picks, on group tails
    (N % 4 = 3) and odd widths."""
    backend_or_skip("bmmal_select", "cpp", dtype=dtype)
    monkeypatch.setenv("RLMBA_CPU_ISA", isa)
    N, b = 2 * 2048 + 7, 48
    p, hs = pool(N, 7, [37, 6][:M], dtype, gen)
    c = torch.rand((N, M) if per_sample else (M,), generator=gen, dtype=torch.float64)
    idx = bmmal_select(p, hs, c, b, torch.Generator().manual_seed(5), backend="cpp")
    assert_valid(idx, N, b)
    torch.testing.assert_close(idx, expected(p, hs, ref.modality_scales(c).reshape(-1, M), 5, b), rtol=0, atol=0)


def test_cpp_bad_isa_names_the_variable(monkeypatch, gen):
    backend_or_skip("badge_select", "cpp", dtype=torch.float32)
    monkeypatch.setenv("RLMBA_CPU_ISA", "sse9")
    p, (x,) = pool(50, 3, [4], torch.float32, gen)
    with pytest.raises(ValueError, match="RLMBA_CPU_ISA"):
        badge_select(p, x, 5, torch.Generator().manual_seed(0), backend="cpp")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_backend_matches_materialised_float64(backend, gen):
    backend_or_skip("bmmal_select", backend, dtype=torch.float64)
    p, hs = pool(401, 6, [11, 3], torch.float64, gen)
    c = torch.rand(401, 2, generator=gen, dtype=torch.float64)
    idx = bmmal_select(p, hs, c, 80, torch.Generator().manual_seed(9), backend=backend)
    mat = baselines.bmmal_select_materialised(p, hs, ref.modality_scales(c), stream(9, 80), 80)
    torch.testing.assert_close(idx, mat, rtol=0, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_non_contiguous_and_numpy_inputs(backend, gen):
    backend_or_skip("badge_select", backend, dtype=torch.float32)
    p, (x,) = pool(700, 10, [24], torch.float32, gen)
    pt, xt = p.t().contiguous().t(), torch.stack([x, -x], 2).reshape(700, -1)[:, ::2]  # column-major, strided
    assert torch.equal(xt, x)
    assert not pt.is_contiguous() and not xt.is_contiguous()
    want = badge_select(p, x, 40, torch.Generator().manual_seed(1), backend=backend)
    got = badge_select(pt, xt, 40, torch.Generator().manual_seed(1), backend=backend)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    got = badge_select(p.numpy(), x.numpy(), 40, torch.Generator().manual_seed(1), backend=backend)
    assert isinstance(got, np.ndarray) and (got == want.numpy()).all()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@given(seed=st.integers(0, 2**31 - 1), N=st.integers(1, 40), C=st.integers(1, 6), h=st.integers(1, 9),
       dup=st.booleans(), data=st.data())
def test_small_pools_property(backend, seed, N, C, h, dup, data):
    """Any small pool (with or without duplicated rows), any b: unique picks equal to the reference."""
    backend_or_skip("badge_select", backend, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    p, (x,) = pool(N, C, [h], torch.float32, gen)
    if dup:
        rows = torch.randint(0, max(1, N // 3), (N,), generator=gen)
        p, x = p[rows], x[rows]
    b = data.draw(st.integers(1, N))
    idx = badge_select(p, x, b, torch.Generator().manual_seed(seed), backend=backend)
    assert_valid(idx, N, b)
    torch.testing.assert_close(idx, expected(p, [x], None, seed, b), rtol=0, atol=0)


# ---------------------------------------------------------------- determinism and the D^2 law
@pytest.mark.parametrize("backend", [b for b in NATIVE_CPU if b != "torch"])
def test_same_picks_for_any_thread_count(backend, gen):
    backend_or_skip("bmmal_select", backend, dtype=torch.float32)
    p, hs = pool(5 * 2048 + 3, 10, [40, 8], torch.float32, gen)
    c = torch.rand(p.shape[0], 2, generator=gen)
    threads = torch.get_num_threads()
    runs = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            runs.append(bmmal_select(p, hs, c, 150, torch.Generator().manual_seed(4), backend=backend))
    finally:
        torch.set_num_threads(threads)
    for r in runs[1:]:
        torch.testing.assert_close(r, runs[0], rtol=0, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_generator_controls_the_draws(backend, gen):
    backend_or_skip("badge_select", backend, dtype=torch.float32)
    p, (x,) = pool(500, 10, [16], torch.float32, gen)
    a = badge_select(p, x, 30, torch.Generator().manual_seed(5), backend=backend)
    torch.testing.assert_close(badge_select(p, x, 30, torch.Generator().manual_seed(5), backend=backend), a)
    others = [badge_select(p, x, 30, torch.Generator().manual_seed(s), backend=backend) for s in (6, 7, 8)]
    assert all(int(o[0]) == int(a[0]) for o in others)  # the first pick is deterministic
    assert any(not torch.equal(o, a) for o in others)


@pytest.mark.parametrize("backend", ["cpp", "torch"])
def test_second_pick_follows_the_d2_law(backend):
    """P(second pick = i) = D_i / sum D with D the squared distance to the first pick."""
    # C = 2, h = 1: g_i = t_i (-1, 1), a line, so D differs a lot between points
    p = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6], [0.6, 0.4]], dtype=torch.float64)
    x = torch.tensor([[1.0], [2.0], [-1.0], [3.0], [0.5], [-2.0]], dtype=torch.float64)
    backend_or_skip("badge_select", backend, dtype=torch.float64)
    g = baselines.gradient_embeddings(p, [x])
    first = int(baselines.badge_select_materialised(p, x, stream(0, 1), 1)[0])
    D = ((g - g[first]) ** 2).sum(1)
    probs = D / D.sum()
    n = 2000
    draws = torch.stack([badge_select(p, x, 2, torch.Generator().manual_seed(s), backend=backend) for s in range(n)])
    assert (draws[:, 0] == first).all()
    freq = torch.bincount(draws[:, 1], minlength=6).double() / n
    sigma = (probs * (1 - probs) / n).sqrt()
    assert freq[first] == 0
    assert ((freq - probs).abs() <= 5 * sigma + 1e-12).all(), (freq, probs)
    wrong = torch.full_like(probs, 1 / 5).index_fill(0, torch.tensor([first]), 0)  # uniform would fail
    assert ((freq - wrong).abs() > 5 * sigma).any()


# ---------------------------------------------------------------- ties and duplicates
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_first_pick_ties_go_to_the_lowest_index(backend, gen):
    backend_or_skip("badge_select", backend, dtype=torch.float32)
    p, (x,) = pool(300, 10, [8], torch.float32, gen)
    a = ref.gradient_factor(p, torch.float64).pow(2).sum(1) * x.double().pow(2).sum(1)
    top = int(a.argmax())
    copies = torch.tensor([17, 42, 250])
    p[copies], x[copies] = p[top].clone(), x[top].clone()  # exact copies of the largest |g|
    a = ref.gradient_factor(p, torch.float64).pow(2).sum(1) * x.double().pow(2).sum(1)
    ties = int((a == a.max()).sum())
    assert ties >= 3, "the tie test must contain ties"
    idx = badge_select(p, x, 5, torch.Generator().manual_seed(0), backend=backend)
    assert int(idx[0]) == min(top, 17)
    assert_valid(idx, 300, 5)
    assert not any(int(i) in {top, 17, 42, 250} for i in idx[1:])  # copies of a pick have D = 0


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_argmax_class_ties_take_the_lowest_class(backend, gen):
    backend_or_skip("badge_select", backend, dtype=torch.float64)
    p, (x,) = pool(200, 4, [6], torch.float64, gen)
    p[::3] = torch.tensor([0.375, 0.375, 0.125, 0.125], dtype=torch.float64)  # class 0 and 1 tie
    ties = int((p == p.amax(1, keepdim=True)).sum(1).gt(1).sum())
    assert ties >= 60
    q = ref.gradient_factor(p, torch.float64)
    assert (q[::3, 0] == -0.625).all() and (q[::3, 1] == 0.375).all()
    idx = badge_select(p, x, 50, torch.Generator().manual_seed(2), backend=backend)
    torch.testing.assert_close(idx, baselines.badge_select_materialised(p, x, stream(2, 50), 50), rtol=0, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_duplicates_then_lowest_unpicked(backend, gen):
    """Three distinct rows, each repeated: after three picks only duplicates remain (D = 0), so
    the rest of the picks are the unpicked indices in increasing order."""
    backend_or_skip("badge_select", backend, dtype=torch.float32)
    p0, (x0,) = pool(3, 5, [6], torch.float32, gen)
    rows = torch.randint(0, 3, (40,), generator=gen)
    rows[:3] = torch.tensor([0, 1, 2])
    p, x = p0[rows], x0[rows]
    idx = badge_select(p, x, 40, torch.Generator().manual_seed(1), backend=backend)
    assert_valid(idx, 40, 40)
    assert sorted(int(rows[i]) for i in idx[:3]) == [0, 1, 2]
    rest = sorted(set(range(40)) - {int(i) for i in idx[:3]})
    assert idx[3:].tolist() == rest


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_zero_gradients_fall_back_to_index_order(backend):
    backend_or_skip("badge_select", backend, dtype=torch.float32)
    p = torch.eye(4)[torch.tensor([1, 0, 3, 3, 2, 1, 0])]  # one-hot: q = 0, so |g| = 0 everywhere
    x = torch.randn(7, 5)
    idx = badge_select(p, x, 7, torch.Generator().manual_seed(0), backend=backend)
    assert idx.tolist() == list(range(7))


# ---------------------------------------------------------------- bad input
def test_bad_input_names_the_argument():
    p, (x,) = pool(10, 3, [4])
    with pytest.raises(ValueError, match=r"probs: row \d+ contains NaN"):
        badge_select(p.index_fill(0, torch.tensor([2]), float("nan")), x, 2)
    with pytest.raises(ValueError, match=r"embeddings: row \d+ contains NaN or inf"):
        badge_select(p, x.index_fill(0, torch.tensor([2]), float("inf")), 2)
    with pytest.raises(ValueError, match="embeddings: has 9 rows, but probs has N = 10"):
        badge_select(p, x[:9], 2)
    with pytest.raises(ValueError, match=r"probs: expected a 2-D tensor"):
        badge_select(p[0], x, 2)
    with pytest.raises(ValueError, match=r"embeddings: expected a 2-D tensor"):
        badge_select(p, x[None], 2)
    with pytest.raises(ValueError, match=r"b: expected 1 <= b <= N = 10, got 11"):
        badge_select(p, x, 11)
    with pytest.raises(ValueError, match=r"b: expected 1 <= b <= N = 10, got 0"):
        badge_select(p, x, 0)
    with pytest.raises(TypeError, match="b: expected an int"):
        badge_select(p, x, 2.0)
    with pytest.raises(TypeError, match="probs: expected a floating dtype"):
        badge_select(p.long(), x, 2)
    with pytest.raises(ValueError, match="probs: the pool is empty"):
        badge_select(p[:0], x[:0], 1)
    with pytest.raises(TypeError, match="generator: expected a torch.Generator"):
        badge_select(p, x, 2, generator=3)


def test_bad_bmmal_input_names_the_argument():
    p, hs = pool(10, 3, [4, 5])
    for c, match in [([0.5, 0.5, 0.1], r"contributions: expected shape \[M\] = \[2\]"),
                     (torch.rand(10, 3), r"contributions: expected shape .* got \(10, 3\)"),
                     (torch.rand(9, 2), r"contributions: expected shape .* got \(9, 2\)"),
                     (torch.rand(1, 10, 2), r"contributions: expected shape .* got \(1, 10, 2\)"),
                     ([float("nan"), 0.1], r"contributions: entry \d+ contains NaN")]:
        with pytest.raises(ValueError, match=match):
            bmmal_select(p, hs, c, 2)
    with pytest.raises(ValueError, match=r"embeddings_per_modality\[1\]: has 9 rows"):
        bmmal_select(p, [hs[0], hs[1][:9]], [0.5, 0.5], 2)
    with pytest.raises(ValueError, match=r"embeddings_per_modality\[0\]: row \d+ contains NaN"):
        bmmal_select(p, [hs[0] * float("nan"), hs[1]], [0.5, 0.5], 2)
    with pytest.raises(ValueError, match=r"embeddings_per_modality: no modalities"):
        bmmal_select(p, [], [], 2)
    with pytest.raises(TypeError, match=r"embeddings_per_modality: expected a sequence"):
        bmmal_select(p, 3, [0.5], 2)
    with pytest.raises(ValueError, match=r"b: expected 1 <= b <= N = 10, got 12"):
        bmmal_select(p, hs, [0.5, 0.5], 12)
    idx = bmmal_select(p, torch.stack([hs[0], hs[0]]), np.array([0.5, 0.2]), 10)  # [M, N, h] and numpy
    assert_valid(idx, 10, 10)


def test_explicit_backend_that_cannot_run_raises():
    p, (x,) = pool(10, 3, [4])
    with pytest.raises(rlmba.BackendError, match="badge_select: backend 'cuda' cannot run on cpu"):
        badge_select(p, x, 2, backend="cuda")
