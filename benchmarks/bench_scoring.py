"""Throughput of the scoring ops on a million-sample pool: every CPU backend against the
pure-PyTorch reference, eager and torch.compile'd. ``make results`` writes RESULTS.md. A call
after the correctness check measures the peak extra resident memory (see bench_selection.py)."""
import pytest
import torch

import rlmba
from bench_selection import peak_extra_bytes
from common import check_once, compiled, providers, record, size
from rlmba.reference import scoring as ref
from rlmba.testing import make_logits

N = size(1_000_000, 100_000)


def _nbytes(args) -> int:
    """Bytes of the tensors among ``args`` (lists of tensors included)."""
    flat = [x for a in args for x in (a if isinstance(a, (list, tuple)) else [a])]
    return sum(x.nbytes for x in flat if isinstance(x, torch.Tensor))


def _run(benchmark, op, provider, ref_fn, args, public_call, case, bytes_moved, **sizes):
    expected = ref_fn(*args)
    if provider == "torch-eager":
        fn = lambda: ref_fn(*args)  # noqa: E731
    elif provider == "torch-compile":
        fn = lambda: compiled(ref_fn)(*args)  # noqa: E731
    else:
        fn = lambda: public_call(provider)  # noqa: E731
    check_once(fn(), expected, f"{op}[{provider}]")
    _, extra = peak_extra_bytes(fn)  # after the first call: JIT compilation is not the op's memory
    record(benchmark, op=op, provider=provider, case=case, bytes_moved=bytes_moved, peak_extra_bytes=extra,
           input_bytes=_nbytes(args), **sizes)
    benchmark.pedantic(fn, rounds=7, warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("C", [10, 101])
@pytest.mark.parametrize("provider", providers("efda_scores", dtype=torch.float32, kind="variance"))
def test_efda_scores(benchmark, provider, C):
    M = 2
    z = make_logits(M, N, C, generator=torch.Generator().manual_seed(0))
    zs, w, t = list(z), (0.6, 0.4), (1.0, 1.5)
    _run(benchmark, "efda_scores", provider, ref.efda_scores, (zs, w, t, "variance"),
         lambda b: rlmba.efda_scores(zs, w, t, backend=b, chunk_size=None),
         f"M={M} N={N} C={C} float32", z.nbytes + (M + 1) * N * 4, M=M, N=N, C=C)


@pytest.mark.parametrize("provider", providers("uncertainty_scores", dtype=torch.float32))
def test_uncertainty_scores(benchmark, provider):
    C = 10
    x = make_logits(1, N, C, generator=torch.Generator().manual_seed(1))[0]
    _run(benchmark, "uncertainty_scores", provider, ref.uncertainty_scores, (x, True),
         lambda b: rlmba.uncertainty_scores(x, from_logits=True, backend=b, chunk_size=None),
         f"from logits N={N} C={C} float32", x.nbytes + 3 * N * 4, N=N, C=C)


@pytest.mark.parametrize("provider", providers("bald", dtype=torch.float32))
def test_bald(benchmark, provider):
    S, C, n = 10, 10, N // 10
    p = torch.softmax(make_logits(S, n, C, generator=torch.Generator().manual_seed(2)), -1)
    _run(benchmark, "bald", provider, ref.bald, (p,), lambda b: rlmba.bald(p, backend=b, chunk_size=None),
         f"S={S} N={n} C={C} float32", p.nbytes + n * 4, S=S, N=n, C=C)
