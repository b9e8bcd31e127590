"""RLMBA_CPU_ISA reaches every C++ kernel: under ``baseline`` each cpp op runs only baseline
variants, under the automatic choice none (on a CPU with AVX2 or better). The kernels record the
variant they ran (``rlmba._C.cpu_variants``), so this checks the code path itself, not a flag."""
import pytest
import torch

import rlmba
from conftest import backend_or_skip
from rlmba.testing import make_logits, make_probs

_C = pytest.importorskip("rlmba._C", reason="the compiled module is not built")
BEST = _C.cpu_isa("auto")


def _calls():
    """One call per cpp op (and per kernel path inside it: dtypes, metrics, labeled sets)."""
    g = torch.Generator().manual_seed(0)
    z = make_logits(2, 300, 10, generator=g)
    p = make_probs(3000, 10, generator=g)
    h = torch.randn(3000, 8, generator=g)
    x = torch.randn(3000, 16, generator=g)
    gen = torch.Generator().manual_seed(1)
    return {
        "efda_scores": lambda: rlmba.efda_scores(z, backend="cpp"),
        "fuse_evidence": lambda: rlmba.fuse_evidence(z, backend="cpp"),
        "dirichlet_uncertainty": lambda: rlmba.dirichlet_uncertainty(1 + z[0].exp(), backend="cpp"),
        "uncertainty_scores": lambda: rlmba.uncertainty_scores(z[0], from_logits=True, backend="cpp"),
        "bald": lambda: rlmba.bald(torch.softmax(z, -1), backend="cpp"),
        "topb_select": lambda: rlmba.topb_select(x[:, 0], 10, backend="cpp"),
        "k_center_greedy": lambda: rlmba.k_center_greedy(x, 5, backend="cpp"),
        "k_center_greedy cosine labeled": lambda: rlmba.k_center_greedy(x, 5, labeled=[0, 1], metric="cosine",
                                                                         backend="cpp"),
        "k_center_greedy float16": lambda: rlmba.k_center_greedy(x.half(), 5, backend="cpp"),
        "nearest_centroid": lambda: rlmba.nearest_centroid(x, x[:7], backend="cpp"),
        "kmeans_plusplus": lambda: rlmba.kmeans_plusplus(x, 7, gen, backend="cpp"),
        "kmeans": lambda: rlmba.kmeans(x, 7, iters=1, generator=gen, backend="cpp"),
        "badge_select float32": lambda: rlmba.badge_select(p, h, 5, gen, backend="cpp"),
        "bmmal_select float64": lambda: rlmba.bmmal_select(p.double(), [h.double(), h.double()], [0.5, 0.4], 5, gen,
                                                           backend="cpp"),
    }


CALLS = _calls()


def _variants(monkeypatch, isa: str, name: str) -> dict:
    monkeypatch.setenv("RLMBA_CPU_ISA", isa)
    _C.cpu_variants(reset=True)
    CALLS[name]()
    ran = _C.cpu_variants(reset=True)
    assert ran, f"{name}: no C++ kernel recorded a variant"
    return ran


@pytest.mark.parametrize("name", sorted(CALLS))
def test_baseline_runs_only_baseline_variants(monkeypatch, name):
    backend_or_skip("efda_scores", "cpp", dtype=torch.float32, kind="variance")
    ran = _variants(monkeypatch, "baseline", name)
    assert all(v == ["baseline"] for v in ran.values()), f"{name} under RLMBA_CPU_ISA=baseline ran {ran}"


@pytest.mark.skipif(BEST == "baseline", reason="this CPU has no vector ISA above the baseline")
@pytest.mark.parametrize("name", sorted(CALLS))
def test_automatic_choice_runs_no_baseline_variant(monkeypatch, name):
    backend_or_skip("efda_scores", "cpp", dtype=torch.float32, kind="variance")
    ran = _variants(monkeypatch, "auto", name)
    assert all("baseline" not in v for v in ran.values()), f"{name} under the automatic ISA ran {ran}"


def test_half_pools_take_the_16bit_path_only_above_the_baseline(monkeypatch):
    backend_or_skip("k_center_greedy", "cpp", dtype=torch.float16)
    assert "kcenter_range_16bit" not in _variants(monkeypatch, "baseline", "k_center_greedy float16")
    if BEST != "baseline":
        assert "kcenter_range_16bit" in _variants(monkeypatch, "auto", "k_center_greedy float16")
