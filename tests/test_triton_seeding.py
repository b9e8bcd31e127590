"""Triton-only checks of the seeding kernels at interpreter-friendly sizes: one BADGE/BMMAL update
step against the float64 reference distances (duplicates exactly 0), the k-means++ state (seeds,
nearest seed, distance) against the float64 reference, full pick sequences with tiny program blocks
(many programs, padded lanes), and pools spanning several 2048-point prefix blocks."""
import pytest
import torch

import baselines
from conftest import backend_or_skip
from rlmba.ops import clustering as clu
from rlmba.ops.seeding import badge_select, bmmal_select
from rlmba.reference import clustering as ref_clu
from rlmba.reference import seeding as ref
from rlmba.testing import make_probs
from tolerances import assert_matches_reference


def pool(N, C, widths, dtype, gen):
    p = make_probs(N, C, dtype=torch.float64, generator=gen).to(dtype)
    return p, [torch.randn(N, h, generator=gen, dtype=torch.float64).to(dtype) for h in widths]


def with_duplicates(p, hs, rows, of):
    p, hs = p.clone(), [h.clone() for h in hs]
    p[rows] = p[of].clone()
    for h in hs:
        h[rows] = h[of].clone()
    return p, hs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("M,per_sample", [(1, False), (2, False), (3, True)])
def test_update_step_matches_float64_reference(dtype, M, per_sample, gen, monkeypatch):
    """Two kernel launches (picks c1, c2) on 6 programs of 64 points: D = min of the thresholded
    float64 distances, exactly 0 at the picks and at their copies."""
    backend_or_skip("bmmal_select", "triton", dtype=dtype)
    from rlmba.kernels import seeding as kernels
    monkeypatch.setattr(kernels, "_INTERPRET_ROWS", 64)
    N = 331  # 6 programs, the last one padded
    p, hs = pool(N, 7, [13, 40, 3][:M], dtype, gen)
    c1, c2 = 17, 300
    p, hs = with_duplicates(p, hs, torch.tensor([5, 64, 330]), c1)
    contrib = torch.rand((N, M) if per_sample else (M,), generator=gen, dtype=torch.float64)
    if per_sample:
        contrib[[5, 64, 330]] = contrib[c1].clone()  # a copy needs the pick's scales too
    scales = ref.modality_scales(contrib)
    scales = scales.reshape(-1, M).contiguous()
    y, a = kernels._prepare(p, hs, scales)
    g = baselines.gradient_embeddings(p.double(), [h.double() for h in hs], scales)  # float64, materialised
    a64 = (g * g).sum(1)
    torch.testing.assert_close(y, p.argmax(1), rtol=0, atol=0)
    torch.testing.assert_close(a, a64, rtol=1e-13, atol=0)
    cfg = kernels._config(N, 7, hs, p.device)
    grid = ((N + cfg["BLOCK_N"] - 1) // cfg["BLOCK_N"],)
    assert grid[0] == 6
    D = torch.full((N,), float("inf"), dtype=torch.float64)
    want = D.clone()
    for c in (c1, c2):
        kernels._grad_d2_update_kernel[grid](p, y, a, tuple(hs), tuple(h.shape[1] for h in hs), scales, D, c, N, 7,
                                             M if per_sample else 0, ref.DUPLICATE_RTOL, M=M, **cfg)
        d = ((g - g[c]) ** 2).sum(1)
        want = torch.minimum(want, torch.where(d > ref.DUPLICATE_RTOL * (a64 + a64[c]), d, torch.zeros_like(d)))
        want[c] = 0
        # the factored form's error is ~1e-16 (a_i + a_c) absolute (cancellation), not relative to d
        torch.testing.assert_close(D, want, rtol=1e-12, atol=1e-13 * float(a64.max()))
    zeros = [c1, c2, 5, 64, 330]
    assert (D[zeros] == 0).all() and int((D == 0).sum()) == len(zeros)


@pytest.mark.parametrize("op", ["badge", "bmmal"])
def test_picks_with_tiny_program_blocks(op, gen, monkeypatch):
    """Blocks of 64 points (the shared tests' pools fit one interpreter program): same picks as the
    float64 reference, duplicates of picks included."""
    backend_or_skip("badge_select", "triton", dtype=torch.float32)
    from rlmba.kernels import seeding as kernels
    monkeypatch.setattr(kernels, "_INTERPRET_ROWS", 64)
    N, b = 300, 40
    p, hs = pool(N, 10, [24, 6], torch.float32, gen)
    p, hs = with_duplicates(p, hs, torch.arange(200, 240), 3)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    if op == "badge":
        got = badge_select(p, hs[0], b, torch.Generator().manual_seed(seed), backend="triton")
        want = badge_select(p, hs[0], b, torch.Generator().manual_seed(seed), backend="torch")
    else:
        c = torch.rand(N, 2, generator=gen)
        got = bmmal_select(p, hs, c, b, torch.Generator().manual_seed(seed), backend="triton")
        want = bmmal_select(p, hs, c, b, torch.Generator().manual_seed(seed), backend="torch")
    assert torch.unique(got).shape[0] == b
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_badge_over_three_prefix_blocks_equals_cpp(gen):
    """N = 4099: three 2048-point prefix blocks and two interpreter programs; the pick follows the
    fixed block order, as the C++ backend does (and equals the reference)."""
    backend_or_skip("badge_select", "triton", dtype=torch.float64)
    N, b = 4099, 12
    p, (h,) = pool(N, 5, [9], torch.float64, gen)
    got = badge_select(p, h, b, torch.Generator().manual_seed(11), backend="triton")
    torch.testing.assert_close(got, badge_select(p, h, b, torch.Generator().manual_seed(11), backend="torch"),
                               rtol=0, atol=0)
    backend_or_skip("badge_select", "cpp", dtype=torch.float64)
    torch.testing.assert_close(got, badge_select(p, h, b, torch.Generator().manual_seed(11), backend="cpp"),
                               rtol=0, atol=0)


# ---------------------------------------------------------------- kmeanspp
@pytest.mark.parametrize("rows", [4096, 256])
def test_kmeanspp_state_matches_float64_reference(rows, gen, monkeypatch):
    """float64: seeds, nearest seed and distance equal the reference's (distances to rounding);
    copies of a pick have distance exactly 0 and are never picked while other rows are left."""
    backend_or_skip("kmeans_plusplus", "triton", dtype=torch.float64)
    from rlmba.kernels import kmeanspp as kernels
    monkeypatch.setattr(kernels, "_INTERPRET_ROWS", rows)
    n, D, k = 1500, 7, 40
    x = 100 + torch.randn(n, D, generator=gen, dtype=torch.float64)  # offset: the GEMV form would cancel
    u = torch.rand(k, generator=gen, dtype=torch.float64)
    first = min(n - 1, int(float(u[0]) * n))
    copies = torch.tensor([0, 777, 1499]) if first not in (0, 777, 1499) else torch.tensor([1, 778, 1498])
    x[copies] = x[first].clone()
    seeds, idx, dist = kernels.kmeanspp(x, k, u)
    seeds_ref, idx_ref, dist_ref = ref_clu.kmeanspp(x, k, u)
    torch.testing.assert_close(seeds, seeds_ref, rtol=0, atol=0)
    torch.testing.assert_close(idx, idx_ref, rtol=0, atol=0)
    torch.testing.assert_close(dist, dist_ref, rtol=1e-10, atol=1e-12)
    assert (dist[copies] == 0).all() and (idx[copies] == 0).all()
    assert not set(copies.tolist()) & set(seeds.tolist())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_kmeanspp_low_precision_distances(dtype, gen, monkeypatch):
    """Half and float32 pools compute in float32: given the Triton seeds, dist matches the float64
    distance to the nearest seed (the suite's tolerance rule) and idx is that seed (ties: earliest)."""
    backend_or_skip("kmeans_plusplus", "triton", dtype=dtype)
    from rlmba.kernels import kmeanspp as kernels
    monkeypatch.setattr(kernels, "_INTERPRET_ROWS", 256)
    x = torch.randn(1200, 19, generator=gen, dtype=torch.float64).to(dtype)  # D = 19: padded feature tile
    u = torch.rand(25, generator=gen, dtype=torch.float64)
    seeds, idx, dist = kernels.kmeanspp(x, 25, u)
    assert dist.dtype == torch.float32 and torch.unique(seeds).shape[0] == 25
    dist64, idx64 = ref_clu.nearest_centroid(x.double(), x.double()[seeds])
    dist32, _ = ref_clu.nearest_centroid(x.float(), x.float()[seeds])
    assert_matches_reference(dist, dist64, dist32, what=f"kmeanspp dist [{dtype}]")
    torch.testing.assert_close(idx, idx64, rtol=0, atol=0)  # random data: no near ties
    torch.testing.assert_close(dist[seeds], torch.zeros(25), rtol=0, atol=0)


def test_kmeanspp_over_three_prefix_blocks_equals_cpp(gen):
    backend_or_skip("kmeans_plusplus", "triton", dtype=torch.float64)
    x = torch.randn(4500, 3, generator=gen, dtype=torch.float64)
    got = clu.kmeans_plusplus(x, 15, torch.Generator().manual_seed(2), backend="triton")
    torch.testing.assert_close(got, clu.kmeans_plusplus(x, 15, torch.Generator().manual_seed(2), backend="torch"),
                               rtol=0, atol=0)
    backend_or_skip("kmeans_plusplus", "cpp", dtype=torch.float64)
    torch.testing.assert_close(got, clu.kmeans_plusplus(x, 15, torch.Generator().manual_seed(2), backend="cpp"),
                               rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kmeanspp_nearest_seed_ties_take_the_earliest(dtype, gen):
    """Integer rows: distances are exact in every dtype, so seeds, idx and dist equal the float64
    reference bit for bit; rows equidistant from several seeds (counted) keep the earliest."""
    backend_or_skip("kmeans_plusplus", "triton", dtype=dtype)
    from rlmba.kernels import kmeanspp as kernels
    base = torch.randint(-1, 2, (40, 3), generator=gen)  # a 3 x 3 x 3 grid: equidistant seeds are common
    x = base[torch.randint(0, 40, (900,), generator=gen)].to(dtype)
    u = torch.rand(10, generator=gen, dtype=torch.float64)
    seeds, idx, dist = kernels.kmeanspp(x, 10, u)
    seeds_ref, idx_ref, dist_ref = ref_clu.kmeanspp(x.double(), 10, u)
    torch.testing.assert_close(seeds, seeds_ref, rtol=0, atol=0)
    torch.testing.assert_close(idx, idx_ref, rtol=0, atol=0)
    torch.testing.assert_close(dist, dist_ref.float(), rtol=0, atol=0)  # exact w; sqrt rounds once either way
    d2 = ((x.double()[:, None, :] - x.double()[seeds][None]) ** 2).sum(2)
    ties = int(((d2 == d2.min(1, keepdim=True).values).sum(1) > 1).sum())
    assert ties > 50, f"only {ties} tied rows: the test exercised too few ties"
