"""Triton-only checks at interpreter-friendly sizes: cluster_sums (no shared test calls it
directly), k-means with Triton's nearest_centroid + cluster_sums, and top-b with small blocks
(so the threshold prefilter prunes), against the reference or numpy."""
import pytest
import torch

from conftest import backend_or_skip
from rlmba.ops import clustering as clu
from rlmba.reference import clustering as ref


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_cluster_sums_matches_reference(dtype, gen):
    backend_or_skip("cluster_sums", "triton", dtype=dtype)
    from rlmba.kernels import clustering as kernels
    for n, D, k in [(1, 1, 1), (50, 3, 7), (3001, 20, 70)]:  # k = 70, D = 20: several tiles, padding
        x = torch.randn(n, D, generator=gen, dtype=torch.float64).to(dtype)
        idx = torch.randint(0, k, (n,), generator=gen)
        idx[: min(n, 5)] = k - 1  # the last cluster (in a padded tile) is never empty
        sums, counts = kernels.cluster_sums(x, idx, k)
        sums_ref, counts_ref = ref.cluster_sums(x, idx, k)
        assert sums.dtype == torch.float64 and counts.dtype == torch.int64
        torch.testing.assert_close(counts, counts_ref, rtol=0, atol=0)
        torch.testing.assert_close(sums, sums_ref, rtol=1e-13, atol=1e-12)
        assert int(counts.sum()) == n


def test_kmeans_given_init_matches_torch(gen):
    """Lloyd iterations through Triton's nearest_centroid and cluster_sums agree with torch."""
    backend_or_skip("cluster_sums", "triton", dtype=torch.float64)
    x = torch.randn(2000, 8, generator=gen, dtype=torch.float64)
    init = x[torch.randperm(2000, generator=gen)[:12]]
    c, idx, dist = clu.kmeans(x, 12, iters=3, init=init, backend="triton")
    c_ref, idx_ref, dist_ref = clu.kmeans(x, 12, iters=3, init=init, backend="torch")
    torch.testing.assert_close(idx, idx_ref, rtol=0, atol=0)
    torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dist, dist_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("order", ["random", "ascending", "descending", "few_values"])
def test_topb_prefilter_with_small_blocks(largest, order, gen, monkeypatch):
    """Blocks of 16 make the block-key threshold prune (the shared tests' sizes mostly fit a few
    interpreter blocks); the answer must still equal numpy's stable argsort, ties and NaN included."""
    import numpy as np

    from rlmba.kernels import selection as kernels
    monkeypatch.setattr(kernels, "_TOPB_INTERPRET_BLOCK", 16)
    n, b = 1500, 37
    x = torch.randn(n, generator=gen, dtype=torch.float64)
    if order == "few_values":
        x = torch.randint(0, 4, (n,), generator=gen).double()
    x = {"ascending": x.sort().values, "descending": x.sort(descending=True).values}.get(order, x)
    x[torch.randint(0, n, (60,), generator=gen)] = float("nan")
    x[:3] = -0.0
    for dtype in (torch.float64, torch.float32):
        xt = x.to(dtype)
        v = xt.double().numpy()
        valid = np.nonzero(~np.isnan(v))[0]
        keys = -v[valid] if largest else v[valid]
        expected = valid[np.argsort(keys + 0.0, kind="stable")[:b]]
        out = kernels.topb_select(xt, b, largest)
        np.testing.assert_array_equal(out.numpy(), expected)
