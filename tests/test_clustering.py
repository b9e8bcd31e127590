"""nearest_centroid, kmeans_plusplus and kmeans on every backend against the float64 reference.

Seeding is compared exactly: the random numbers are drawn once in Python, so every backend picks
the same rows for the same generator state (float64 data, or integer data where all distances
are exact). Tie tests count the ties they exercised, so they cannot pass vacuously.
"""
import numpy as np
import pytest
import torch

import rlmba
from conftest import ALL_BACKENDS, NATIVE_CPU, backend_or_skip
from rlmba.ops import clustering as clu
from rlmba.reference import kmeanspp as kpp
from tolerances import assert_matches_reference

HALF = (torch.float16, torch.bfloat16)
BIG = 100_003


def sizes_for(backend, sizes):
    return [n for n in sizes if n < BIG or backend in NATIVE_CPU]


def traced(backend, fn, *args, **kw):
    with rlmba.trace() as calls:
        out = fn(*args, backend=backend, **kw)
    assert calls and all(name == backend for _, name in calls), calls
    return out


def blobs(n, d, k, generator, dtype=torch.float64):
    """n points around k random centers (spread 0.3), the shape real feature pools have."""
    centers = torch.randn(k, d, generator=generator, dtype=torch.float64) * 3
    which = torch.randint(0, k, (n,), generator=generator)
    return (centers[which] + 0.3 * torch.randn(n, d, generator=generator, dtype=torch.float64)).to(dtype)


def assert_idx_equal_up_to_near_ties(x, c, idx, idx_ref, rtol=1e-6):
    """Equal nearest-centroid indices, except where the two candidates are equidistant within
    rounding (then either may win)."""
    diff = idx != idx_ref
    if diff.any():
        xd, cd = x[diff].double(), c.double()
        d_a = ((xd - cd[idx[diff]]) ** 2).sum(1)
        d_b = ((xd - cd[idx_ref[diff]]) ** 2).sum(1)
        torch.testing.assert_close(d_a, d_b, rtol=rtol, atol=1e-6)
        assert diff.float().mean() < 0.01, "too many differing assignments to be rounding"


# ================================================================ nearest centroid
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, *HALF])
def test_nearest_centroid_matches_reference(backend, dtype, gen):
    backend_or_skip("nearest_centroid", backend, dtype=dtype)
    for n, d, k in [(1, 1, 1), (7, 3, 2), (1009, 16, 37), (BIG, 64, 100)][: 3 if backend not in NATIVE_CPU else 4]:
        x = torch.randn(n, d, generator=gen, dtype=torch.float64).to(dtype)
        c = torch.randn(k, d, generator=gen, dtype=torch.float64).to(dtype)
        dist, idx = traced(backend, clu.nearest_centroid, x, c)
        dist_same, idx_same = clu.nearest_centroid(x, c, backend="torch")
        dist64, idx64 = clu.nearest_centroid(x.double(), c.double(), backend="torch")
        assert idx.dtype == torch.int64 and dist.dtype == dist_same.dtype
        assert_idx_equal_up_to_near_ties(x, c, idx, idx_same)
        if dtype == torch.float64:
            torch.testing.assert_close(idx, idx64, rtol=0, atol=0)
        assert_matches_reference(dist, dist64, dist_same, what=f"nearest_centroid[{backend}]")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_nearest_centroid_ties_and_duplicates(backend, gen):
    """Integer data, duplicated centroids and points on centroids: exact distances, counted ties."""
    backend_or_skip("nearest_centroid", backend, dtype=torch.float32)
    base = torch.randint(-2, 3, (6, 3), generator=gen).float()
    c = base[torch.tensor([0, 1, 1, 2, 3, 3, 4, 5, 0])]  # duplicate centroids: 1=2, 4=5, 0=8
    x = torch.randint(-2, 3, (5000, 3), generator=gen).float()
    x[:50] = c[torch.randint(0, 9, (50,), generator=gen)]  # rows equal to a centroid
    dist, idx = traced(backend, clu.nearest_centroid, x, c)
    d2 = ((x[:, None, :].double() - c[None].double()) ** 2).sum(2)
    best = d2.min(1, keepdim=True).values
    ties = int(((d2 == best).sum(1) > 1).sum())
    assert ties > 0, "the tie test exercised no ties"
    torch.testing.assert_close(idx, torch.argmax((d2 == best).int(), 1), rtol=0, atol=0)  # first minimum
    torch.testing.assert_close(dist, best[:, 0].sqrt().float(), rtol=0, atol=0)  # exact d^2, one rounding
    assert bool((dist[:50] == 0).all())


# ================================================================ k-means++
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("data", ["gaussian", "blobs"])
def test_kmeanspp_same_seed_same_picks(backend, data, gen):
    backend_or_skip("kmeans_plusplus", backend, dtype=torch.float64)
    for n, d, k in [(1, 2, 1), (10, 3, 10), (1009, 8, 25), (20_011, 32, 64)]:
        x = blobs(n, d, 7, gen) if data == "blobs" else torch.randn(n, d, generator=gen, dtype=torch.float64)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        out = traced(backend, clu.kmeans_plusplus, x, k, torch.Generator().manual_seed(seed))
        expected = clu.kmeans_plusplus(x, k, torch.Generator().manual_seed(seed), backend="torch")
        assert len(set(out.tolist())) == k, "duplicate seeds"
        torch.testing.assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, *HALF])
def test_kmeanspp_exact_on_integer_data_with_duplicates(backend, dtype, gen):
    """Integer rows with many copies: squared distances are exact in every dtype, so the picks
    agree exactly; k = N forces the 'only duplicates of picks are left' rule."""
    backend_or_skip("kmeans_plusplus", backend, dtype=dtype)
    base = torch.randint(-4, 5, (30, 4), generator=gen)
    x = base[torch.randint(0, 30, (3000,), generator=gen)].to(dtype)
    for k in (1, 29, 200):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        out = traced(backend, clu.kmeans_plusplus, x, k, torch.Generator().manual_seed(seed))
        expected = clu.kmeans_plusplus(x.double(), k, torch.Generator().manual_seed(seed), backend="torch")
        torch.testing.assert_close(out, expected, rtol=0, atol=0)
        assert len(set(out.tolist())) == k
    small = base[torch.tensor([0, 1, 0, 1, 0])].to(dtype)  # 2 distinct rows: k = N picks copies last
    out = traced(backend, clu.kmeans_plusplus, small, 5, torch.Generator().manual_seed(0))
    assert sorted(out.tolist()) == [0, 1, 2, 3, 4]
    assert set(out[2:].tolist()) == set(range(5)) - set(out[:2].tolist())
    assert out[2:].tolist() == sorted(out[2:].tolist())  # lowest unpicked first


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_kmeanspp_thread_count_does_not_matter(backend, gen):
    backend_or_skip("kmeans_plusplus", backend, dtype=torch.float32)
    x = blobs(60_000, 16, 20, gen, torch.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = clu.kmeans_plusplus(x, 50, torch.Generator().manual_seed(3), backend=backend)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(clu.kmeans_plusplus(x, 50, torch.Generator().manual_seed(3), backend=backend),
                               one, rtol=0, atol=0)


@pytest.mark.parametrize("d", [16, 37, 128])
def test_cpp_kmeanspp_float16_bound_changes_nothing(d, gen):
    """The C++ seeding's float16 bound (a half copy rules out rows whose exact distance cannot
    fall below w) gives the same seeds, nearest seeds and distances, bit for bit, forced on (1)
    and automatic (-1) as off (0): Gaussian rows (most rows kept by Elkan's test, few improve,
    so an unsound bound would change w), rows beyond float16's range (never ruled out), float16
    subnormals, copies, and widths with a tail (37)."""
    backend_or_skip("kmeans_plusplus", "cpp", dtype=torch.float32)
    from rlmba.backends.cpp.clustering import kmeanspp
    x = torch.randn(6000, d, generator=gen)
    x[:50] *= 1e5
    x[50:100] *= 1e-6
    x[100:200] = x[200:300]
    u = torch.rand(120, generator=gen, dtype=torch.float64)
    off = kmeanspp(x, 120, u, 0)
    for mode in (1, -1):
        for got, want in zip(kmeanspp(x, 120, u, mode), off):
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_d2_pick_inverts_the_cumulative_sum():
    w = torch.tensor([0.0, 1.0, 100.0, 0.0])
    picked = torch.tensor([True, False, False, False])
    assert kpp.d2_pick(w, 0.0, picked) == 1
    assert kpp.d2_pick(w, 0.5 / 101, picked) == 1
    assert kpp.d2_pick(w, 1.0 / 101, picked) == 2  # prefix must exceed the target strictly
    assert kpp.d2_pick(w, 1 - 2**-53, picked) == 2
    assert kpp.d2_pick(torch.zeros(4), 0.7, picked) == 1  # total 0: lowest unpicked
    big = torch.rand(3 * kpp.BLOCK + 5, dtype=torch.float64)  # several blocks
    prefix = np.cumsum(big.numpy())
    for u in (0.0, 0.1234, 0.5, 0.9999):
        assert abs(kpp.d2_pick(big, u, torch.zeros_like(big, dtype=torch.bool))
                   - int(np.searchsorted(prefix, u * prefix[-1], side="right"))) <= 1


def test_d2_sampling_is_proportional_to_squared_distance():
    """Over many seeds, the second pick follows D^2 sampling: with points 0, 1, 3 on a line and
    the first pick at 0, P(1) = 1/10 and P(3) = 9/10."""
    x = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    seconds = []
    g = torch.Generator().manual_seed(0)
    for _ in range(3000):
        seeds = clu.kmeans_plusplus(x, 2, g, backend="torch")
        if seeds[0] == 0:
            seconds.append(int(seeds[1]))
    frac = np.mean(np.array(seconds) == 2)
    assert abs(frac - 0.9) < 0.03, frac


# ================================================================ k-means (Lloyd)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("init", ["k-means++", "random", "tensor"])
def test_kmeans_float64_matches_reference(backend, init, gen):
    backend_or_skip("kmeans_plusplus", backend, dtype=torch.float64)
    for n, d, k, iters in [(1, 1, 1, 3), (50, 2, 50, 2), (2003, 8, 17, 5), (20_011, 16, 64, 5)]:
        x = blobs(n, d, 5, gen)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        arg = x[torch.randperm(n, generator=gen)[:k]] if init == "tensor" else init
        c, idx, dist = traced(backend, clu.kmeans, x, k, iters, arg, torch.Generator().manual_seed(seed))
        c_ref, idx_ref, dist_ref = clu.kmeans(x, k, iters, arg, torch.Generator().manual_seed(seed), backend="torch")
        torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(idx, idx_ref, rtol=0, atol=0)
        torch.testing.assert_close(dist, dist_ref, rtol=1e-10, atol=1e-12)
        # idx/dist describe the returned centroids; dist is Euclidean (not squared)
        torch.testing.assert_close(dist, (x - c[idx]).norm(dim=1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, *HALF])
def test_kmeans_low_precision(backend, dtype, gen):
    """float32 distances are rounded differently on each backend, so a D^2 draw or an assignment
    near a tie may go the other way: compare the outcome, not the bits. dist must describe the
    returned centroids, and the k-means objective must match the reference's."""
    backend_or_skip("kmeans_plusplus", backend, dtype=dtype)
    x = blobs(5000, 16, 8, gen, dtype)
    c, idx, dist = traced(backend, clu.kmeans, x, 8, 5, "k-means++", torch.Generator().manual_seed(1))
    assert c.dtype == torch.float32 and dist.dtype == torch.float32 and idx.dtype == torch.int64
    xf = x.float()
    torch.testing.assert_close(dist, (xf - c[idx]).norm(dim=1), rtol=1e-5, atol=1e-5)
    assert_idx_equal_up_to_near_ties(xf, c, idx, clu.nearest_centroid(xf.double(), c.double(), backend="torch")[1])
    seeds = clu.kmeans_plusplus(x, 8, torch.Generator().manual_seed(1), backend=backend)
    seeds_ref = clu.kmeans_plusplus(x, 8, torch.Generator().manual_seed(1), backend="torch")
    if torch.equal(seeds, seeds_ref):  # the usual case: then Lloyd's result matches too
        c_ref, _, dist_ref = clu.kmeans(x, 8, 5, "k-means++", torch.Generator().manual_seed(1), backend="torch")
        torch.testing.assert_close((dist.double() ** 2).sum(), (dist_ref.double() ** 2).sum(), rtol=1e-4, atol=0)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_kmeans_iters0_empty_cluster_and_objective(backend, gen):
    backend_or_skip("kmeans_plusplus", backend, dtype=torch.float64)
    x = blobs(3000, 4, 6, gen)
    seeds = clu.kmeans_plusplus(x, 6, torch.Generator().manual_seed(5), backend=backend)
    c, idx, dist = clu.kmeans(x, 6, 0, "k-means++", torch.Generator().manual_seed(5), backend=backend)
    torch.testing.assert_close(c, x[seeds], rtol=0, atol=0)  # iters = 0: the seeds themselves
    far = torch.cat([x[:3], torch.full((1, 4), 1e6, dtype=torch.float64)])  # centroid 3 gets no rows
    c, idx, _ = clu.kmeans(x, 4, 3, far, backend=backend)
    torch.testing.assert_close(c[3], far[3], rtol=0, atol=0)  # an empty cluster keeps its centroid
    assert not bool((idx == 3).any())
    inertia = [float((clu.kmeans(x, 6, it, "k-means++", torch.Generator().manual_seed(5),
                                 backend=backend)[2] ** 2).sum()) for it in range(4)]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(inertia, inertia[1:])), inertia  # Lloyd never increases it


def test_kmeans_numpy_and_bad_input(gen):
    x = torch.randn(50, 3, generator=gen)
    c, idx, dist = clu.kmeans(x.numpy(), 4, generator=torch.Generator().manual_seed(0))
    assert isinstance(c, np.ndarray) and isinstance(idx, np.ndarray) and isinstance(dist, np.ndarray)
    with pytest.raises(ValueError, match="k: expected 1 <= k <= N = 50"):
        clu.kmeans(x, 51)
    with pytest.raises(ValueError, match="k: expected 1 <= k"):
        clu.kmeans_plusplus(x, 0)
    with pytest.raises(ValueError, match="iters: expected 0 <= iters"):
        clu.kmeans(x, 3, iters=-1)
    with pytest.raises(ValueError, match="init: expected one of"):
        clu.kmeans(x, 3, init="kmeans")
    with pytest.raises(ValueError, match="init: has 2 centroids, but k = 3"):
        clu.kmeans(x, 3, init=x[:2])
    with pytest.raises(ValueError, match="init: D = 2"):
        clu.kmeans(x, 3, init=x[:3, :2])
    with pytest.raises(TypeError, match="generator: expected a torch.Generator"):
        clu.kmeans(x, 3, generator=0)
    bad = x.clone()
    bad[7, 1] = float("nan")
    with pytest.raises(ValueError, match="x: row 7 contains NaN or inf"):
        clu.kmeans(bad, 3)
    with pytest.raises(ValueError, match="x: row 7"):
        clu.nearest_centroid(bad, x[:3])
    with pytest.raises(ValueError, match="centroids: D = 2, but x has D = 3"):
        clu.nearest_centroid(x, x[:3, :2])
    with pytest.raises(ValueError, match="centroids: no centroids"):
        clu.nearest_centroid(x, x[:0])
    with pytest.raises(ValueError, match="x: expected a 2-D"):
        clu.nearest_centroid(x[0], x[:3])
    with pytest.raises(ValueError, match="x: the pool is empty"):
        clu.kmeans(x[:0], 1)


@pytest.mark.gpu
def test_cuda_backend_on_gpu(gen):
    """The CUDA kernels (compiled, never run where they were written) against the CPU reference."""
    backend_or_skip("kmeans_plusplus", "cuda", device="cuda", dtype=torch.float64)
    x = blobs(20_011, 16, 9, gen)
    out = clu.kmeans(x.cuda(), 32, 5, "k-means++", torch.Generator().manual_seed(2), backend="cuda")
    expected = clu.kmeans(x, 32, 5, "k-means++", torch.Generator().manual_seed(2), backend="torch")
    for o, e in zip(out, expected):
        torch.testing.assert_close(o.cpu(), e, rtol=1e-10, atol=1e-10)
