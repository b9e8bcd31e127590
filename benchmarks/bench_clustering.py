"""nearest_centroid and kmeans (k-means++ seeding + 5 Lloyd iterations) at the issue's size,
N = 10^6, D = 128, k = 1000, float32: every usable CPU backend against the pure-PyTorch reference
(``torch-eager``), and against sgemm of the same FLOPs.

The sgemm yardstick: ``sgemm_ms`` is torch.mm of [N, D] x [D, k] in the tiles the backends use
(2 N k D FLOPs: the distance products of one assignment). One k-means run does ``iters``
assignments plus the seeding, whose k passes compute the same N k distances, so its FLOP-equal
sgemm time is (iters + 1) x sgemm_ms, recorded as ``sgemm_equal_ms``. Data: isotropic Gaussian
(the worst case for the seeding's triangle-inequality skip) and Gaussian blobs (100 clusters,
the shape of real feature pools).

Outputs are checked against the reference once before timing (k-means: the objective within 1%
and dist consistent with the centroids, since float32 rounding may send a D^2 draw the other
way; the fraction of assignments equal to the reference's is recorded). That run also measures
the peak extra resident memory (see bench_selection.py). ``RLMBA_BENCH_QUICK=1`` shrinks the sizes.
torch.compile is not a provider: the seeding is a data-dependent Python loop.
"""
import functools

import pytest
import torch

from bench_selection import median_ms, peak_extra_bytes
from common import backends, record, size
from rlmba.ops.clustering import kmeans, nearest_centroid
from rlmba.reference import clustering as ref

N, D, K, ITERS = size(1_000_000, 50_000), 128, size(1000, 100), 5
SGEMM_TILE = 1 << 23  # products per GEMM call: the cpp backend's tile (rlmba.backends.cpp.selection.TILE)


@functools.lru_cache(maxsize=None)
def points(kind: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(11)
    if kind == "gaussian":
        return torch.randn(N, D, generator=gen)
    centers = torch.randn(100, D, generator=gen) * 2
    return centers[torch.randint(0, 100, (N,), generator=gen)] + 0.5 * torch.randn(N, D, generator=gen)


@functools.lru_cache(maxsize=None)
def sgemm_ms() -> float:
    x, c = points("gaussian"), points("gaussian")[:K].contiguous()
    step = max(1, SGEMM_TILE // K)
    out = torch.empty(step, K)

    def run():
        for i in range(0, N, step):
            torch.mm(x[i:i + step], c.T, out=out[: min(step, N - i)])

    return median_ms(run, 3)


@functools.lru_cache(maxsize=None)
def reference_kmeans(kind: str):
    return kmeans(points(kind), K, ITERS, generator=torch.Generator().manual_seed(0), backend="torch")


def _compare(x, out, expected, what) -> float:
    """float32 distances round differently per backend, so a D^2 draw near a boundary may go the
    other way: check that dist describes the returned centroids and that the k-means objective
    matches the reference's within 1%. Returns the fraction of assignments equal to the reference's."""
    c, idx, dist = out
    _, idx_ref, dist_ref = expected
    direct = torch.cat([(x[i:i + 65536] - c[idx[i:i + 65536]]).norm(dim=1) for i in range(0, x.shape[0], 65536)])
    torch.testing.assert_close(dist, direct, rtol=1e-4, atol=1e-4, msg=lambda m: f"{what} dist: {m}")
    inertia, inertia_ref = float((dist.double() ** 2).sum()), float((dist_ref.double() ** 2).sum())
    assert abs(inertia - inertia_ref) <= 1e-2 * inertia_ref, f"{what}: objective {inertia:.6g} vs {inertia_ref:.6g}"
    return float((idx == idx_ref).double().mean())


@pytest.mark.parametrize("provider", backends("nearest_centroid", dtype=torch.float32) + ["torch-eager"])
def test_nearest_centroid(benchmark, provider):
    x = points("gaussian")
    c = x[torch.randperm(N, generator=torch.Generator().manual_seed(1))[:K]].contiguous()
    if provider == "torch-eager":
        fn = lambda: ref.nearest_centroid(x, c)  # noqa: E731
    else:
        fn = lambda: nearest_centroid(x, c, chunk_size=None, backend=provider)  # noqa: E731
    (dist, idx), extra = peak_extra_bytes(fn)
    dist_ref, idx_ref = ref.nearest_centroid(x, c)
    assert float((idx == idx_ref).float().mean()) > 0.999
    torch.testing.assert_close(dist, dist_ref, rtol=1e-4, atol=1e-4)
    record(benchmark, op="nearest_centroid", provider=provider, case=f"N={N} D={D} k={K} float32",
           bytes_moved=x.nbytes, N=N, D=D, k=K, sgemm_ms=sgemm_ms(), peak_extra_bytes=extra, input_bytes=x.nbytes)
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("kind", ["gaussian", "blobs"])
@pytest.mark.parametrize("provider", backends("kmeanspp", dtype=torch.float32) + ["torch-eager"])
def test_kmeans(benchmark, provider, kind):
    x = points(kind)
    backend = "torch" if provider == "torch-eager" else provider
    fn = lambda: kmeans(x, K, ITERS, generator=torch.Generator().manual_seed(0), chunk_size=None,  # noqa: E731
                        backend=backend)
    out, extra = peak_extra_bytes(fn)
    agree = _compare(x, out, reference_kmeans(kind), f"kmeans[{provider}]")
    seeding_ms = median_ms(lambda: kmeans(x, K, 0, generator=torch.Generator().manual_seed(0), chunk_size=None,
                                          backend=backend), 1)
    record(benchmark, op="kmeans", provider=provider, case=f"{kind} N={N} D={D} k={K} iters={ITERS} float32",
           bytes_moved=(ITERS + 1) * x.nbytes, N=N, D=D, k=K, iters=ITERS, sgemm_ms=sgemm_ms(),
           sgemm_equal_ms=(ITERS + 1) * sgemm_ms(), seeding_ms=seeding_ms, assignments_equal=agree,
           peak_extra_bytes=extra,
           input_bytes=x.nbytes)
    benchmark.pedantic(fn, rounds=1 if provider == "torch-eager" else 3, warmup_rounds=0, iterations=1)
