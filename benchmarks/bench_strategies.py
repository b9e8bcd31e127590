"""Selection time per round of the badge, bmmal, coreset and rlmba strategies on a 10^5-sample
synthetic pool (``rlmba.data.make_synthetic``: M = 2 modalities of 32 and 16 features, C = 10,
the default model with 64-wide features, briefly trained on 1,000 random labels; b = 100, or
``RLMBA_BENCH_B``), each strategy against the pure-PyTorch reference implementation of the
same strategy:

- ``rlmba``: the strategy as shipped (rlmba's ops, best backend of this machine);
- ``torch-factored``: the same strategy with every op on rlmba's pure-PyTorch backend
  (``RLMBA_BACKEND=torch``: factored BADGE/BMMAL distances, GEMV k-center);
- ``torch-eager``: the plain PyTorch reference — badge and bmmal k-means++ on materialised
  gradient embeddings ``[N, C h]`` / ``[N, C (h_1 + h_2)]``, coreset with ``torch.cdist``, and for
  rlmba the same strategy on the torch backend (rlmba's references: efda, k-means, top-b).

Timed: ``select`` on a round state whose pool forward pass is already cached (it is the same for
every strategy and provider; its time is recorded as ``forward_s``). BMMAL's per-sample Shapley
values (modality-dropped passes of the fused head) are plain PyTorch in every provider.
Before timing, each provider's picks are compared with ``rlmba``'s: identical, or the overlap is
recorded (float32 materialised distances may round differently near a D^2-sampling boundary).
The GB/s column counts the pool bytes the selection reads at least (one pass per pick).
At full size the references take minutes per call; ``RLMBA_BENCH_QUICK=1`` runs a 5,000 pool.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import time

import pytest
import torch

import rlmba.learn.baselines  # noqa: F401  (registers the strategies)
from common import record, size
from rlmba.data import make_synthetic
from rlmba.learn import RLMBAConfig, RoundState, TrainConfig, default_model_factory, make_strategy
from rlmba.learn.baselines import sample_shapley
from rlmba.learn.train import build_model, make_optimizer, train_model
import baselines
from rlmba.reference import seeding as ref_seeding

POOL, LABELED, C = size(100_000, 5_000), 1_000, 10
B = int(os.environ.get("RLMBA_BENCH_B", "100"))
H = 64


@contextlib.contextmanager
def torch_backend():
    """Every rlmba op of the block runs on the pure-PyTorch backend."""
    old = os.environ.get("RLMBA_BACKEND")
    os.environ["RLMBA_BACKEND"] = "torch"
    try:
        yield
    finally:
        if old is None:
            del os.environ["RLMBA_BACKEND"]
        else:
            os.environ["RLMBA_BACKEND"] = old


@functools.lru_cache(maxsize=1)
def scenario():
    """(round-state factory, forward seconds): the pool's outputs computed once and shared."""
    ds = make_synthetic(n=math.ceil(POOL / 0.7) + 50, num_classes=C, dims=(32, 16), separation=(1.5, 0.5),
                        seed=0).standardized()
    pool = ds.indices("pool")[:POOL]
    g = torch.Generator().manual_seed(0)
    labeled = pool[torch.randperm(len(pool), generator=g)[:LABELED]].sort().values
    cfg = TrainConfig(epochs=5, min_steps=0, embed_dim=H)
    model = build_model(default_model_factory(cfg.hidden, cfg.embed_dim, cfg.dropout), ds.dims, C, 0, "cpu")
    log = train_model(model, make_optimizer(model, cfg), ds, labeled, cfg, seed=0)
    model.set_fusion_weights(torch.tensor([0.7, 0.3]))
    unlabeled = pool[~torch.isin(pool, labeled)]
    val = {"top1": 0.6, "nll": 1.2, "ece": 0.05, "delta": [0.02, -0.3]}

    def fresh(cache: dict | None = None) -> RoundState:
        return RoundState(round=0, budget=B, dataset=ds, labeled=labeled, unlabeled=unlabeled, model=model,
                          generator=torch.Generator().manual_seed(1), weights=torch.tensor([0.7, 0.3]).double(),
                          temperatures=[1.0, 1.0], metrics={"val": val}, train_log=log,
                          _cache={} if cache is None else dict(cache))

    st = fresh()
    t0 = time.perf_counter()
    st.outputs  # noqa: B018  (the cached forward pass)
    return functools.partial(fresh, st._cache), time.perf_counter() - t0


# ---------------------------------------------------------------- pure-PyTorch references
def badge_reference(state: RoundState) -> torch.Tensor:
    u = torch.rand(state.budget - 1, dtype=torch.float64, generator=state.generator)  # badge_select's draw
    return baselines.badge_select_materialised(state.probs, state.embeddings, u, state.budget)


def bmmal_reference(state: RoundState) -> torch.Tensor:
    out = state.outputs
    phi = sample_shapley(state.model, out.features, 16, state.generator)
    w = state.model.fusion_weights
    blocks = [w[m] * out.features[m] for m in range(out.features.shape[0])]
    u = torch.rand(state.budget - 1, dtype=torch.float64, generator=state.generator)
    return baselines.bmmal_select_materialised(state.probs, blocks, ref_seeding.modality_scales(phi), u,
                                               state.budget)


def coreset_reference(state: RoundState) -> torch.Tensor:
    centers = state.forward(state.labeled).fused
    return baselines.k_center_greedy_cdist(state.embeddings, state.budget, centers,
                                           torch.empty(0, dtype=torch.int64))


REFERENCES = {"badge": badge_reference, "bmmal": bmmal_reference, "coreset": coreset_reference}
MIN_BYTES = {"badge": (B - 1) * POOL * (C + H) * 4, "bmmal": (B - 1) * POOL * (C + 2 * H) * 4,
             "coreset": B * POOL * H * 4, "rlmba": POOL * 2 * (C + H) * 4}


def provider_fn(name: str, provider: str):
    if provider == "torch-eager" and name in REFERENCES:
        return REFERENCES[name]
    strategy = make_strategy(name, **({"config": RLMBAConfig()} if name == "rlmba" else {}))
    if provider == "rlmba":
        return strategy.select

    def on_torch(state):
        with torch_backend():
            return strategy.select(state)
    return on_torch


@functools.lru_cache(maxsize=None)
def shipped_picks(name: str) -> tuple[int, ...]:
    """The shipped strategy's picks on the scenario, once per strategy."""
    fresh, _ = scenario()
    return tuple(provider_fn(name, "rlmba")(fresh()).tolist())


CASES = [(n, p) for n in ("badge", "bmmal", "coreset") for p in ("rlmba", "torch-factored", "torch-eager")]
CASES += [("rlmba", "rlmba"), ("rlmba", "torch-eager")]


@pytest.mark.parametrize("name, provider", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_select(benchmark, name, provider):
    fresh, forward_s = scenario()
    fn = provider_fn(name, provider)
    picks = fn(fresh())
    assert picks.shape == (B,) and picks.unique().numel() == B
    overlap = len(set(picks.tolist()) & set(shipped_picks(name))) / B
    # the torch backend follows the same float64 contract (identical picks); a float32 reference
    # may round a distance differently near a sampling boundary
    assert overlap == 1.0 or (provider == "torch-eager" and overlap >= 0.95), f"{name}[{provider}]: overlap {overlap}"
    record(benchmark, op=f"select_{name}", provider=provider, case=f"N={POOL} M=2 C={C} h={H} b={B} L={LABELED}",
           bytes_moved=MIN_BYTES[name], N=POOL, C=C, h=H, b=B, forward_s=forward_s, overlap=overlap)
    slow = provider != "rlmba"
    benchmark.pedantic(lambda st: fn(st), setup=lambda: ((fresh(),), {}), rounds=2 if slow else 5,
                       warmup_rounds=0 if slow else 1, iterations=1)
