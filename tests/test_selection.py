"""topb_select and k_center_greedy on every backend against the reference and independent oracles.

Selections are compared exactly (tie rule: equal values -> lower index first). Tie tests build
inputs with exact duplicates and count the ties they exercised, so they cannot pass vacuously.
"""
import numpy as np
import pytest
import torch

import rlmba
from rlmba.ops import selection as sel
from conftest import ALL_BACKENDS, NATIVE_CPU, backend_or_skip
from baselines import k_center_greedy_cdist
from rlmba.reference.selection import covering_radius

BIG = 100_003  # compiled CPU backends only (the Triton interpreter is too slow)
HALF = (torch.float16, torch.bfloat16)


def sizes_for(backend, sizes):
    return [n for n in sizes if n < BIG or backend in NATIVE_CPU]


# ================================================================ top-b
def oracle_topb(x: torch.Tensor, b: int, largest: bool) -> np.ndarray:
    """First b of numpy's stable argsort of the non-NaN scores (an implementation independent of torch)."""
    v = x.double().numpy()
    valid = np.nonzero(~np.isnan(v))[0]
    keys = -v[valid] if largest else v[valid]
    return valid[np.argsort(keys + 0.0, kind="stable")[:b]]


def count_ties(x: torch.Tensor, picks: np.ndarray) -> int:
    """Ties the tie rule decided: equal scores inside the picks, plus equal scores left out at the boundary."""
    v = x.double().numpy()
    chosen = v[picks]
    inside = int(np.sum(chosen[1:] == chosen[:-1]))
    left_out = np.ones(v.shape[0], bool)
    left_out[picks] = False
    return inside + int(np.sum(v[left_out] == chosen[-1]))


def run_topb(backend, x, b, largest=True, **kw):
    with rlmba.trace() as calls:
        out = sel.topb_select(x, b, largest, backend=backend, **kw)
    assert calls and all(name == backend for _, name in calls), calls
    return out


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, *HALF])
@pytest.mark.parametrize("largest", [True, False])
def test_topb_random(backend, dtype, largest, gen):
    backend_or_skip("topb_select", backend, dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    for n in sizes_for(backend, [1, 2, 7, 1009, BIG]):
        x = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype)
        for b in sorted({1, min(n, 5), min(n, 1000), n}):
            out = run_topb(backend, x, b, largest)
            assert out.dtype == torch.int64 and out.shape == (b,)
            np.testing.assert_array_equal(out.numpy(), oracle_topb(x, b, largest))


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("order", ["sorted", "reversed", "all_equal", "two_values", "few_values", "sample_trap"])
def test_topb_adversarial_orders_and_ties(backend, order, gen):
    backend_or_skip("topb_select", backend, dtype=torch.float32)
    for n in sizes_for(backend, [4099, (1 << 20) + 3]):
        x = torch.randn(n, generator=gen)
        x = {"sorted": x.sort().values, "reversed": x.sort(descending=True).values,
             "all_equal": torch.full((n,), 0.5), "two_values": (torch.arange(n) % 2).float(),
             "few_values": torch.randint(0, 7, (n,), generator=gen).float(),
             # low scores exactly where a strided sample looks (offsets 0-2 of every 128): a
             # threshold drawn from them lets far too many through; the radix select takes over
             "sample_trap": torch.where(torch.arange(n) % 128 < 3, -5.0, x + 10)}[order]
        ties = 0
        for b in (1, 1000, n // 3):
            for largest in (True, False):
                out = run_topb(backend, x, b, largest).numpy()
                expected = oracle_topb(x, b, largest)
                np.testing.assert_array_equal(out, expected)
                ties += count_ties(x, expected)
        if order not in ("sorted", "reversed", "sample_trap"):
            assert ties > 0, "the tie test exercised no ties"


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_topb_nan_inf_and_signed_zero(backend, gen):
    backend_or_skip("topb_select", backend, dtype=torch.float32)
    for n in sizes_for(backend, [50, BIG]):
        x = torch.randn(n, generator=gen)
        x[torch.randperm(n, generator=gen)[: n // 5]] = float("nan")
        x[3], x[7], x[11] = float("inf"), float("-inf"), float("nan")
        x[13], x[17] = -0.0, 0.0
        valid = int((~torch.isnan(x)).sum())
        for b in (1, valid // 2, valid):
            for largest in (True, False):
                out = run_topb(backend, x, b, largest).numpy()
                assert not np.isnan(x.numpy()[out]).any()
                np.testing.assert_array_equal(out, oracle_topb(x, b, largest))
        with pytest.raises(ValueError, match="fewer than b"):
            run_topb(backend, x, valid + 1)
    zeros = torch.tensor([0.0, -0.0, 0.0, -0.0, -1.0])
    np.testing.assert_array_equal(run_topb(backend, zeros, 4).numpy(), [0, 1, 2, 3])  # -0.0 ties +0.0


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_topb_chunks_memmap_and_iterators(backend, gen, tmp_path):
    backend_or_skip("topb_select", backend, dtype=torch.float32)
    n, b = 20_011, 300
    x = torch.randint(0, 50, (n,), generator=gen).float()  # many ties across chunk borders
    expected = oracle_topb(x, b, True)
    assert count_ties(x, expected) > 0
    np.testing.assert_array_equal(run_topb(backend, x, b, chunk_size=997).numpy(), expected)
    path = tmp_path / "scores.f32"
    x.numpy().tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r")
    got = run_topb(backend, mm, b, chunk_size=4096)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)
    pieces = [(i, x[i:i + 3001]) for i in range(0, n, 3001)]
    np.testing.assert_array_equal(run_topb(backend, iter(pieces[::-1]), b).numpy(), expected)
    np.testing.assert_array_equal(run_topb(backend, iter([(o, c.numpy()) for o, c in pieces]), b).numpy(), expected)
    with pytest.raises(ValueError, match="overlap"):
        run_topb(backend, iter([(0, x[:100]), (50, x[50:150])]), 10)


@pytest.mark.parametrize("wide_counters", [False, True])
def test_topb_numba_float64_radix_levels(gen, monkeypatch, wide_counters):
    """float64 bins crowded at the top 16, 32 and 48 key bits drive the numba radix select
    through its deeper levels (the float32 tests reach level 2 at most); wide_counters lowers
    the uint32 counter limit so the int64 counters run too."""
    backend_or_skip("topb_select", "numba", dtype=torch.float64)
    if wide_counters:
        from rlmba.backends.numba import selection as numba_sel
        monkeypatch.setattr(numba_sel, "KERNEL_MAX_N", 1 << 10)
    n = 50_021
    cases = {"all_equal": torch.full((n,), 0.5, dtype=torch.float64),
             "two_values": (torch.arange(n) % 2).double(),
             "narrow": 1 + 1e-9 * torch.rand(n, generator=gen, dtype=torch.float64),  # 3rd digit decides
             "narrow_ties": 1 + 1e-12 * torch.randint(0, 5, (n,), generator=gen).double()}
    for name, x in cases.items():
        for b in (1, 1000, n // 3):
            for largest in (True, False):
                out = run_topb("numba", x, b, largest).numpy()
                np.testing.assert_array_equal(out, oracle_topb(x, b, largest), err_msg=f"{name} b={b}")


def test_topb_bad_input():
    x = torch.randn(10)
    with pytest.raises(ValueError, match="b: expected 1 <= b"):
        sel.topb_select(x, 0)
    with pytest.raises(TypeError, match="b: expected an int"):
        sel.topb_select(x, 2.0)
    with pytest.raises(ValueError, match="fewer than b = 11"):
        sel.topb_select(x, 11)
    with pytest.raises(ValueError, match="scores: expected a 1-D"):
        sel.topb_select(x.view(2, 5), 2)
    with pytest.raises(TypeError, match="scores: expected a floating"):
        sel.topb_select(torch.arange(10), 2)
    with pytest.raises(TypeError, match="largest"):
        sel.topb_select(x, 2, largest=1)
    with pytest.raises(TypeError, match="scores: an iterable must yield"):
        sel.topb_select(iter([x]), 2)
    with pytest.raises(ValueError, match="fewer than b"):
        sel.topb_select(torch.empty(0), 1)


# ================================================================ k-center greedy
def oracle_kcenter(x: np.ndarray, b: int, centers: list):
    """Brute force in float64 numpy. Returns (picks, ties): ties counts the picks whose maximum
    was shared by several rows (decided by the lowest-index rule)."""
    d2 = lambda c: ((x - c) ** 2).sum(1)  # noqa: E731
    excluded = list(centers)
    if centers:
        mind = np.min([d2(x[c]) for c in centers], axis=0)
        score = mind
    else:
        mind, score = np.full(x.shape[0], np.inf), d2(x.mean(0))
    picks, ties = [], 0
    for _ in range(b):
        s = score.copy()
        s[excluded] = -np.inf
        best = np.nonzero(s == s.max())[0]
        ties += int(best.size > 1)
        picks.append(int(best[0]))
        excluded.append(int(best[0]))
        mind = score = np.minimum(mind, d2(x[best[0]]))
    return np.array(picks), ties


def run_kcenter(backend, pool, b, labeled=None, metric="euclidean"):
    with rlmba.trace() as calls:
        out = sel.k_center_greedy(pool, b, labeled=labeled, metric=metric, backend=backend)
    assert calls and all(name == backend for _, name in calls), calls
    return out


def check_picks(out, N, b, labeled_idx=()):
    out = np.asarray(out)
    assert out.shape == (b,) and out.dtype == np.int64
    assert len(set(out.tolist())) == b, "duplicate picks"
    assert out.min() >= 0 and out.max() < N
    assert not set(out.tolist()) & set(np.asarray(labeled_idx).tolist()), "picked a labeled row"


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("labeled_kind", ["none", "empty", "indices", "mask", "features"])
def test_kcenter_float64_matches_reference(backend, metric, labeled_kind, gen):
    backend_or_skip("k_center_greedy", backend, dtype=torch.float64, metric=metric)
    # Not N = 2 (both rows are equally far from their mean: a tie that rounding decides), nor
    # D = 1 under cosine (every row parallel to every other: ties only up to rounding).
    for N, D in [(1, 3), (3, 1 if metric == "euclidean" else 2), (97, 3), (1000, 16), (4099, 33)]:
        pool = torch.randn(N, D, generator=gen, dtype=torch.float64)
        idx = torch.randperm(N, generator=gen)[: N // 10]
        labeled = {"none": None, "empty": [], "indices": idx, "features": torch.randn(5, D, generator=gen,
                   dtype=torch.float64), "mask": torch.zeros(N, dtype=torch.bool).index_fill_(0, idx, True)}[labeled_kind]
        free = N - (idx.numel() if labeled_kind in ("indices", "mask") else 0)
        for b in sorted({1, min(free, 20), free if N <= 97 else 1}):
            out = run_kcenter(backend, pool, b, labeled, metric)
            ref = sel.k_center_greedy(pool, b, labeled=labeled, metric=metric, backend="torch")
            check_picks(out, N, b, idx if labeled_kind in ("indices", "mask") else ())
            torch.testing.assert_close(out, ref, rtol=0, atol=0)
        lab_idx = idx if labeled_kind in ("indices", "mask") else torch.empty(0, dtype=torch.int64)
        lab_rows = labeled if labeled_kind == "features" else None
        torch.testing.assert_close(covering_radius(pool, torch.cat([out, lab_idx]), lab_rows, metric),
                                   covering_radius(pool, torch.cat([ref, lab_idx]), lab_rows, metric), rtol=0, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("labeled", [False, True])
def test_kcenter_ties_against_brute_force(backend, labeled, gen):
    """Integer-valued rows with many duplicates and N a power of two (the pool mean is exact):
    every distance is exact in float32, so every backend and the brute-force oracle agree to the
    index, ties included."""
    backend_or_skip("k_center_greedy", backend, dtype=torch.float32, metric="euclidean")
    ties = 0
    for N, D in [(64, 2), (512, 3)]:
        base = torch.randint(-3, 4, (N // 3, D), generator=gen).float()
        pool = base[torch.randint(0, base.shape[0], (N,), generator=gen)]  # exact duplicate rows
        centers = torch.randperm(N, generator=gen)[:4].tolist() if labeled else []
        b = min(N - len(centers), 40)
        expected, t = oracle_kcenter(pool.double().numpy(), b, centers)
        ties += t
        out = run_kcenter(backend, pool, b, centers if labeled else None)
        check_picks(out, N, b, centers)
        np.testing.assert_array_equal(out.numpy(), expected)
    assert ties > 0, "the tie test exercised no ties"


def assert_greedy_valid(pool64: torch.Tensor, picks: torch.Tensor, labeled_idx, metric: str, rtol: float):
    """Replays the picks in float64: each must be a farthest row up to a relative rtol (a
    low-precision backend may break a near-tie the other way, never pick a clearly worse row)."""
    x = pool64 / pool64.norm(dim=1, keepdim=True) if metric == "cosine" else pool64
    dist = lambda c: ((x - c) ** 2).sum(1) / (2 if metric == "cosine" else 1)  # noqa: E731
    excluded = torch.zeros(x.shape[0], dtype=torch.bool)
    excluded[labeled_idx] = True
    mind = torch.full((x.shape[0],), float("inf"), dtype=torch.float64)
    for i in labeled_idx:
        mind = torch.minimum(mind, dist(x[i]))
    score = mind if len(labeled_idx) else ((x - x.mean(0)) ** 2).sum(1)
    for p in picks.tolist():
        best = score.masked_fill(excluded, float("-inf")).max()
        assert not excluded[p] and score[p] >= best * (1 - rtol), (p, float(score[p]), float(best))
        excluded[p] = True
        mind = score = torch.minimum(mind, dist(x[p]))


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, *HALF])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_kcenter_low_precision(backend, dtype, metric, gen):
    """float32/half pools: every pick is a farthest row (float64 replay, up to float32 rounding),
    and the covering radius matches the float64 reference's on the same stored values."""
    backend_or_skip("k_center_greedy", backend, dtype=dtype, metric=metric)
    for N, D in [(1009, 8), (20_000, 64)]:
        pool = torch.randn(N, D, generator=gen).to(dtype)
        labeled = torch.randperm(N, generator=gen)[:50]
        for lab in (None, labeled):
            out = run_kcenter(backend, pool, 30, lab, metric)
            lab_idx = torch.empty(0, dtype=torch.int64) if lab is None else lab
            check_picks(out, N, 30, lab_idx)
            assert_greedy_valid(pool.double(), out, lab_idx.tolist(), metric, rtol=1e-5)
            ref = sel.k_center_greedy(pool.double(), 30, labeled=lab, metric=metric, backend="torch")
            radius = covering_radius(pool.double(), torch.cat([out, lab_idx]), metric=metric)
            radius_ref = covering_radius(pool.double(), torch.cat([ref, lab_idx]), metric=metric)
            # equal picks give equal radii; a near-tie broken the other way may change the radius
            # a little, never by much (both are greedy 2-approximations of the same instance)
            if torch.equal(out, ref):
                torch.testing.assert_close(radius, radius_ref, rtol=1e-12, atol=0)
            else:
                torch.testing.assert_close(radius, radius_ref, rtol=5e-2, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_kcenter_whole_pool_and_edges(backend, gen):
    backend_or_skip("k_center_greedy", backend, dtype=torch.float32, metric="euclidean")
    pool = torch.randint(0, 2, (64, 2), generator=gen).float()  # 4 distinct rows, 16 copies each
    out = run_kcenter(backend, pool, 64)  # b = N: a permutation; copies (distance 0) by lowest index
    check_picks(out, 64, 64)
    np.testing.assert_array_equal(out.numpy(), oracle_kcenter(pool.double().numpy(), 64, [])[0])
    assert run_kcenter(backend, torch.randn(1, 5), 1).tolist() == [0]
    out = run_kcenter(backend, pool, 63, labeled=[7])  # b = N - L
    check_picks(out, 64, 63, [7])
    strided = torch.randn(8, 300, generator=gen).T[::2]  # non-contiguous [150, 8]
    torch.testing.assert_close(run_kcenter(backend, strided, 9),
                               sel.k_center_greedy(strided.contiguous(), 9, backend="torch"), rtol=0, atol=0)


def test_kcenter_thread_count_does_not_matter(gen):
    backend_or_skip("k_center_greedy", "cpp", dtype=torch.float32, metric="euclidean")
    pool = torch.randn(50_000, 32, generator=gen)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = sel.k_center_greedy(pool, 25, labeled=torch.arange(100), backend="cpp")
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(sel.k_center_greedy(pool, 25, labeled=torch.arange(100), backend="cpp"),
                               one, rtol=0, atol=0)


def test_kcenter_cdist_baseline_agrees(gen):
    pool = torch.randn(3000, 16, generator=gen, dtype=torch.float64)
    labeled = torch.arange(40)
    ref = sel.k_center_greedy(pool, 20, labeled=labeled, backend="torch")
    lab_rows = pool[labeled]
    torch.testing.assert_close(k_center_greedy_cdist(pool, 20, lab_rows, labeled), ref, rtol=0, atol=0)


def test_kcenter_bad_input(gen):
    pool = torch.randn(20, 4, generator=gen)
    bad = pool.clone()
    bad[5, 2] = float("nan")
    with pytest.raises(ValueError, match="pool: row 5 contains NaN or inf"):
        sel.k_center_greedy(bad, 3)
    bad[5, 2] = float("inf")
    with pytest.raises(ValueError, match="pool: row 5"):
        sel.k_center_greedy(bad, 3)
    with pytest.raises(ValueError, match="pool: expected a 2-D"):
        sel.k_center_greedy(pool[0], 3)
    with pytest.raises(ValueError, match="pool: the pool is empty"):
        sel.k_center_greedy(pool[:0], 1)
    with pytest.raises(ValueError, match="b: expected 1 <= b <= the unlabeled pool rows = 20"):
        sel.k_center_greedy(pool, 21)
    with pytest.raises(ValueError, match="b: expected 1 <= b <= the unlabeled pool rows = 17"):
        sel.k_center_greedy(pool, 18, labeled=[0, 1, 2, 2])
    with pytest.raises(ValueError, match="labeled: covers all N = 20"):
        sel.k_center_greedy(pool, 1, labeled=torch.arange(20))
    with pytest.raises(ValueError, match=r"labeled: indices must lie in \[0, N\)"):
        sel.k_center_greedy(pool, 1, labeled=[20])
    with pytest.raises(ValueError, match="labeled: expected pool indices"):
        sel.k_center_greedy(pool, 1, labeled=torch.randn(3, 5))
    with pytest.raises(ValueError, match="labeled: row 1 contains NaN"):
        sel.k_center_greedy(pool, 1, labeled=torch.tensor([[0.0] * 4, [float("nan")] * 4]))
    with pytest.raises(ValueError, match="metric: expected one of"):
        sel.k_center_greedy(pool, 1, metric="manhattan")
    zero = pool.clone()
    zero[3] = 0
    with pytest.raises(ValueError, match="pool: row 3 is all zeros"):
        sel.k_center_greedy(zero, 2, metric="cosine")
    with pytest.raises(TypeError, match="pool: expected a floating"):
        sel.k_center_greedy(torch.ones(5, 2, dtype=torch.int64), 1)
    assert isinstance(sel.k_center_greedy(pool.numpy(), 2), np.ndarray)


@pytest.mark.gpu
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_cuda_backend_on_gpu(metric, gen):
    """The CUDA kernels (compiled, never run where they were written) against the CPU reference."""
    backend_or_skip("k_center_greedy", "cuda", device="cuda", dtype=torch.float64, metric=metric)
    x = torch.randn(100_003, generator=gen)
    x[::7] = 1.0  # ties
    for b in (1, 1000):
        np.testing.assert_array_equal(sel.topb_select(x.cuda(), b, backend="cuda").cpu().numpy(), oracle_topb(x, b, True))
    pool = torch.randn(20_000, 33, generator=gen, dtype=torch.float64)
    for labeled in (None, torch.arange(100)):
        ref = sel.k_center_greedy(pool, 25, labeled=labeled, metric=metric, backend="torch")
        out = sel.k_center_greedy(pool.cuda(), 25, labeled=labeled, metric=metric, backend="cuda")
        torch.testing.assert_close(out.cpu(), ref, rtol=0, atol=0)
