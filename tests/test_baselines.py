"""The baseline strategies (rlmba.learn.baselines) and the comparison experiment: the selection
contract for every registered strategy, then each strategy's defining property on a constructed
case where a wrong strategy would pick something else."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from rlmba.data import MultimodalDataset, make_synthetic
from rlmba.learn import (ModelOutput, RLMBAConfig, RoundState, RunConfig, TrainConfig, available_strategies,
                         default_model_factory, make_strategy)
from rlmba.learn import experiment as ex
from rlmba.learn.amcb import efda_round_scores
from rlmba.learn.baselines import (deepfool_linear, deepfool_perturbation, graph_adjacency, perturbation_norms,
                                   sample_shapley)
from rlmba.learn.baselines import CoreGCNStrategy, UncertainGCNStrategy
from rlmba.learn.evidential import expected_probs
from rlmba.learn.reward import BaselineCurves
from rlmba.learn.train import TrainLog
from rlmba.ops.scoring import entropy
from rlmba.ops.seeding import bmmal_select
from rlmba.ops.selection import k_center_greedy, topb_select
from rlmba.reference.seeding import gradient_factor, modality_scales

FAST = {"gcnal": {"epochs": 30}, "coregcn": {"epochs": 30}, "uncertaingcn": {"epochs": 30},
        "bald": {"samples": 4}, "rlmba": {"config": RLMBAConfig(hidden=8)}}
METRICS = {"val": {"top1": 0.5, "nll": 1.0, "ece": 0.1, "delta": [0.0, -0.1]}}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: a second OpenMP thread only adds synchronisation on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Toy(nn.Module):
    """Identity encoders (f_m(x) = x_m), an affine fused head on sum_m w_m x_m, optional dropout
    on the fused features (active in train mode: MC dropout). Follows the model contract."""

    def __init__(self, M: int, h: int, C: int, weight=None, bias=None, dropout: float = 0.0):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(h, C) for _ in range(M))
        self.fused_head = nn.Linear(h, C)
        with torch.no_grad():
            if weight is not None:
                self.fused_head.weight.copy_(weight)
                self.fused_head.bias.copy_(torch.zeros(C) if bias is None else bias)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("fusion_weights", torch.full((M,), 1.0 / M))

    def fuse(self, features, mask=None):
        w = self.fusion_weights if mask is None else self.fusion_weights * mask
        fused = torch.einsum("m,mnh->nh", w.to(features), features)
        return fused, self.fused_head(self.drop(fused))

    def forward(self, xs, mask=None):
        feats = torch.stack(list(xs))
        fused, z = self.fuse(feats, mask)
        return ModelOutput(torch.stack([hd(f) for hd, f in zip(self.heads, feats)]), z, feats, fused)


def _state(ds, model, budget, labeled, seed=0, weights=None):
    pool = ds.indices("pool")
    lab = torch.as_tensor(labeled, dtype=torch.int64)
    M = ds.num_modalities
    w = torch.full((M,), 1.0 / M) if weights is None else torch.as_tensor(weights)
    return RoundState(round=0, budget=budget, dataset=ds, labeled=lab, unlabeled=pool[~torch.isin(pool, lab)],
                      model=model.eval(), generator=torch.Generator().manual_seed(seed), weights=w.double(),
                      temperatures=[1.0] * M, metrics=METRICS, train_log=TrainLog([1.0, 0.9], [1.0, 1.0]))


def toy_state(xs, model, budget, labeled=(), seed=0, weights=None):
    """Round state of a pool whose rows are ``xs`` (M tensors [N, h]); ``labeled``: row indices."""
    C = model.fused_head.out_features
    n, h = xs[0].shape
    feats = [torch.cat([x.float(), torch.zeros(2, h)]) for x in xs]  # + 2 validation rows
    split = torch.cat([torch.zeros(n), torch.ones(2)]).to(torch.int8)
    ds = MultimodalDataset(features=feats, labels=torch.arange(n + 2) % C, split=split, num_classes=C,
                           modality_names=[f"m{m}" for m in range(len(xs))], name="toy")
    return _state(ds, model, budget, list(labeled), seed, weights)


@pytest.fixture(scope="module")
def real():
    """A synthetic pool and a (seeded, untrained) default model with dropout."""
    ds = make_synthetic(n=400, num_classes=3, dims=(6, 4), separation=(2.0, 0.5), seed=3)
    torch.manual_seed(0)
    model = default_model_factory(hidden=16, embed_dim=8, dropout=0.2)(ds.dims, ds.num_classes)
    return ds, model, ds.indices("pool")[:10].tolist()


# ---------------------------------------------------------------- the contract, every strategy
@pytest.mark.parametrize("name", ex.all_strategies() + ["coregcn"])
def test_selection_contract_and_determinism(real, name):
    ds, model, labeled = real
    U = len(ds.indices("pool")) - len(labeled)
    for b in (1, 7, U):
        picks = [make_strategy(name, **FAST.get(name, {})).select(_state(ds, model, b, labeled, seed=5))
                 for _ in range(2)]
        p = picks[0]
        assert p.dtype == torch.int64 and p.shape == (b,), (name, b)
        assert p.unique().numel() == b and int(p.min()) >= 0 and int(p.max()) < U, (name, b)
        assert torch.equal(picks[0], picks[1]), f"{name}: not deterministic under a seed (b = {b})"


def test_registry_all_and_bad_arguments():
    names = ex.all_strategies()
    assert names[0] == "random" and names[-1] == "rlmba" and "coregcn" not in names
    assert set(names) <= set(available_strategies())
    assert ex.expand_strategies(["badge", "all", "badge"]) == ["badge"] + [n for n in names if n != "badge"]
    with pytest.raises(ValueError, match="unknown 'nope'"):
        ex.expand_strategies(["nope"])
    with pytest.raises(ValueError, match="samples"):
        make_strategy("bald", samples=1)
    with pytest.raises(ValueError, match="variant"):
        make_strategy("gcnal", variant="x")
    with pytest.raises(ValueError, match="subset"):
        make_strategy("coregcn", subset=0)
    with pytest.raises(ValueError, match="permutations"):
        sample_shapley(Toy(2, 3, 2), torch.rand(2, 5, 3), permutations=0)

    class Headless(Toy):
        def __init__(self):
            super().__init__(1, 2, 2)
            del self.fused_head

        def fuse(self, features, mask=None):
            return features[0], features[0]
    st = toy_state([torch.rand(5, 2)], Toy(1, 2, 2), 1)
    st.model = Headless()
    with pytest.raises(ValueError, match="fused_head"):
        make_strategy("deepfool").select(st)


# ---------------------------------------------------------------- uncertainty
def test_margin_and_least_confidence_pick_their_own_extremes():
    """Row 3: two tied top classes (margin 0, third class unlikely); row 5: nearly uniform
    (the least confident, the highest entropy, but a non-zero margin)."""
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0)) * 0.2 + torch.tensor([4.0, 0.0, -4.0])
    z[3] = torch.tensor([3.0, 3.0, -9.0])
    z[5] = torch.tensor([0.3, 0.1, 0.0])
    model = Toy(1, 3, 3, weight=torch.eye(3))
    st = toy_state([z], model, 1)
    assert make_strategy("margin").select(st).tolist() == [3]
    assert make_strategy("least_confidence").select(st).tolist() == [5]
    assert make_strategy("entropy").select(st).tolist() == [5]
    p = st.probs.double()
    top2 = p.topk(2, 1).values
    want = torch.sort(top2[:, 0] - top2[:, 1], stable=True).indices[:4]
    assert torch.equal(make_strategy("margin").select(toy_state([z], model, 4)), want)


# ---------------------------------------------------------------- BALD
def test_bald_picks_where_mc_passes_disagree():
    """Rows at the origin give the uniform distribution on every pass (maximal entropy, zero
    mutual information); row 5 is confidently class 0 in eval mode but flips when dropout
    drops its first feature."""
    x = torch.zeros(9, 2)
    x[5] = torch.tensor([3.0, 2.9])
    x[7] = torch.tensor([6.0, 0.0])  # dropout can only weaken it: (6, 0) -> (0, 0), never class 1
    model = Toy(1, 2, 2, weight=torch.eye(2), dropout=0.5)
    st = toy_state([x], model, 1, seed=1)
    assert make_strategy("bald", samples=32).select(st).tolist() == [5]
    assert int(topb_select(entropy(st.probs), 1)) != 5  # entropy would pick an origin row
    mc = toy_state([x], model, 1, seed=1).mc_dropout_probs(32)
    assert not torch.equal(mc[:, 5].argmax(1).unique(), torch.tensor([0]))  # the passes really disagree


# ---------------------------------------------------------------- Core-set
def test_coreset_picks_the_point_farthest_from_labeled_and_earlier_picks():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 2, generator=g) * 0.1
    x[0] = torch.tensor([10.0, 10.0])   # labeled
    x[4] = torch.tensor([9.5, 10.0])    # far from the pool mean, but next to the labeled point
    x[9] = torch.tensor([-4.0, 0.0])
    x[11] = torch.tensor([3.0, -3.0])
    model = Toy(1, 2, 2, weight=torch.eye(2))
    picks = make_strategy("coreset").select(toy_state([x], model, 2, labeled=[0]))
    unl = [i for i in range(12) if i != 0]
    assert [unl[i] for i in picks.tolist()] == [9, 11]
    assert [unl[i] for i in make_strategy("coreset").select(toy_state([x], model, 1)).tolist()] != [9]


# ---------------------------------------------------------------- BADGE
def test_badge_first_pick_is_the_largest_gradient_embedding(real):
    ds, model, labeled = real
    st = _state(ds, model, 5, labeled, seed=2)
    q = gradient_factor(st.probs.double(), torch.float64)
    norm2 = (q * q).sum(1) * (st.embeddings.double() ** 2).sum(1)
    picks = make_strategy("badge").select(st)
    assert int(picks[0]) == int(norm2.argmax())
    assert len(set(picks.tolist())) == 5


# ---------------------------------------------------------------- BMMAL
def _bmmal_case():
    """C = 10; the fused head reads feature 0 only. Modality 0 lives in feature 1 (the head's null
    space: contribution 0), modality 1 in features 0 and 2. Row 6: a huge modality-0 block on a
    confident row; row 2: a large modality-1 block on an unsure row."""
    g = torch.Generator().manual_seed(4)
    n, C = 10, 10
    x0, x1 = torch.zeros(n, 3), torch.zeros(n, 3)
    x0[:, 1] = torch.randn(n, generator=g) * 0.1
    x1[:, 0], x1[:, 2] = torch.rand(n, generator=g) * 0.05 + 0.01, torch.randn(n, generator=g) * 0.1
    x0[6, 1], x1[6, 0] = 50.0, 4.0
    x1[2, 0], x1[2, 2] = 0.5, 10.0
    W = torch.zeros(C, 3)
    W[0, 0] = 40.0
    bias = torch.full((C,), -20.0)
    bias[0] = 0.0
    return [x0, x1], Toy(2, 3, C, weight=W, bias=bias)


def test_bmmal_scaling_lowers_the_weaker_modality_block():
    xs, model = _bmmal_case()
    st = toy_state(xs, model, 3, seed=7)
    phi = sample_shapley(model, st.outputs.features)
    torch.testing.assert_close(phi[:, 0], torch.zeros(10, dtype=torch.float64))  # null-space modality
    assert (phi[:, 1] > 0).all()
    s = modality_scales(phi)
    assert (s[:, 1] == 1).all() and (s[:, 0] < 1).all()
    picks = make_strategy("bmmal").select(st)
    blocks = [0.5 * f for f in st.outputs.features]
    unscaled = bmmal_select(st.probs, blocks, torch.ones(2), 3, generator=torch.Generator().manual_seed(7))
    assert int(unscaled[0]) == 6 and int(picks[0]) == 2  # scaling demotes the weak modality's outlier
    again = bmmal_select(st.probs, blocks, phi, 3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(picks, again)


def _subset_shapley(v, M):
    """Exact Shapley values by the subset formula, v: dict coalition tuple -> [N]."""
    phi = []
    for m in range(M):
        others = [k for k in range(M) if k != m]
        tot = 0
        for r in range(M):
            for S in itertools.combinations(others, r):
                wgt = math.factorial(r) * math.factorial(M - r - 1) / math.factorial(M)
                tot = tot + wgt * (v[tuple(sorted(S + (m,)))] - v[S])
        phi.append(tot)
    return torch.stack(phi, 1)


@pytest.mark.parametrize("M", [2, 3])
def test_sample_shapley_is_exact_and_efficient(M):
    g = torch.Generator().manual_seed(M)
    model = Toy(M, 4, 5, weight=torch.randn(5, 4, generator=g) * 2, bias=torch.randn(5, generator=g))
    feats = torch.randn(M, 30, 4, generator=g)
    _, z = model.fuse(feats)
    y = z.argmax(1, keepdim=True)
    v = {}
    for r in range(M + 1):
        for S in itertools.combinations(range(M), r):
            mask = torch.zeros(M)
            mask[list(S)] = 1
            v[S] = expected_probs(model.fuse(feats, mask)[1]).gather(1, y).squeeze(1).double()
    exact = sample_shapley(model, feats, permutations=math.factorial(M))
    torch.testing.assert_close(exact, _subset_shapley(v, M))
    mc = sample_shapley(model, feats, permutations=2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(mc.sum(1), v[tuple(range(M))] - v[()])  # efficiency holds per order
    if M == 3:
        assert not torch.allclose(mc, exact)  # 2 of 6 orders: a Monte Carlo estimate, not the enumeration


# ---------------------------------------------------------------- DeepFool
def test_deepfool_linear_is_the_exact_boundary_distance(gen):
    W, bias = torch.randn(5, 6, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)
    x = torch.randn(200, 6, generator=gen, dtype=torch.float64)
    norms, r, target = deepfool_linear(W, bias, x, return_perturbation=True)
    cls = lambda v: (v @ W.T + bias).argmax(1)  # noqa: E731
    k0 = cls(x)
    assert (cls(x + 1.001 * r) != k0).all()     # crosses the boundary
    assert (cls(x + 0.999 * r) == k0).all()     # and not before: the perturbation is minimal
    torch.testing.assert_close(r.norm(dim=1), norms)
    z = x @ W.T + bias
    brute = torch.stack([min((z[i, k0[i]] - z[i, k]) / (W[k0[i]] - W[k]).norm() for k in range(5) if k != k0[i])
                         for i in range(200)])
    torch.testing.assert_close(norms, brute)


def test_deepfool_iterative_crosses_on_a_nonlinear_head_and_matches_the_linear_form(gen):
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
    head = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4))
    x = torch.randn(64, 6, generator=gen)
    r = deepfool_perturbation(head, x)
    with torch.no_grad():
        assert (head(x + r).argmax(1) != head(x).argmax(1)).all()
    lin = nn.Linear(6, 4)
    exact = perturbation_norms(lin, x)
    it = torch.linalg.vector_norm(deepfool_perturbation(lin, x, overshoot=0.0).double(), dim=1)
    torch.testing.assert_close(it, exact, rtol=1e-4, atol=2e-4)  # one DeepFool step (+1e-4 push) is exact


def test_deepfool_strategy_picks_the_sample_nearest_the_boundary():
    x = torch.tensor([[3.0, 0.0], [0.0, 3.0], [1.2, 1.0], [5.0, -1.0], [0.95, 1.1], [2.0, 0.0]])
    model = Toy(1, 2, 2, weight=torch.eye(2))
    assert make_strategy("deepfool").select(toy_state([x], model, 2)).tolist() == [4, 2]


# ---------------------------------------------------------------- GCNAL
def test_graph_adjacency_knn_path_equals_dense_with_all_neighbours(gen):
    x = torch.rand(40, 5, generator=gen)
    dense = graph_adjacency(x, dense_max=100)
    knn = graph_adjacency(x, dense_max=10, knn=39)
    assert knn.is_sparse and not dense.is_sparse
    torch.testing.assert_close(knn.to_dense(), dense)
    torch.testing.assert_close(dense.diagonal(), torch.ones(40))
    torch.testing.assert_close((dense - torch.eye(40)).sum(0), torch.ones(40))  # columns normalised
    small = graph_adjacency(x, dense_max=10, knn=3)
    assert small._nnz() <= 40 * 3 * 2 + 40


def test_gcn_tells_labeled_from_unlabeled_and_both_variants_follow_their_rule():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(60, 4, generator=g)
    x[:12] += torch.tensor([3.0, 0, 0, 0])  # the labeled nodes form their own region
    model = Toy(1, 4, 3, weight=torch.randn(3, 4, generator=g))
    kw = dict(epochs=150, hidden=16, lr=1e-2)
    st = toy_state([x], model, 4, labeled=range(12), seed=3)

    def fit(strategy):  # the GCN the strategy's selector trains, from the round's generator (seed 3)
        return strategy.selector.fit(st.embeddings, st.labeled_embeddings, 4, torch.Generator().manual_seed(3))
    unc = UncertainGCNStrategy(**kw)
    pos, scores, h = fit(unc)
    n_u = len(pos)
    assert scores[n_u:].min() > scores[:n_u].max()  # trained to tell them apart
    picks = unc.select(toy_state([x], model, 4, labeled=range(12), seed=3))
    assert torch.equal(picks, pos[topb_select((scores[:n_u] - 0.1).abs(), 4, largest=False)])
    core = CoreGCNStrategy(**kw)
    picks = core.select(toy_state([x], model, 4, labeled=range(12), seed=3))
    pos, _, h = fit(core)
    assert torch.equal(picks, pos[k_center_greedy(h, 4, labeled=torch.arange(n_u, h.shape[0]))])
    sub = CoreGCNStrategy(subset=20, epochs=5, dense_max=16).select(toy_state([x], model, 4, labeled=range(12), seed=3))
    assert sub.unique().numel() == 4 and int(sub.max()) < 48  # sparse kNN graph of 20 + 12 nodes


# ---------------------------------------------------------------- RL-MBA ablations
def test_ablations_are_the_top_q_of_their_scores(real):
    ds, model, labeled = real
    st = _state(ds, model, 6, labeled, seed=1, weights=[0.8, 0.2])
    out = st.outputs
    amcb = make_strategy("amcb_only").select(st)
    q = efda_round_scores(out.modality_logits, out.features, st.weights, st.temperatures, 6, kappa=1,
                          beta=RLMBAConfig().beta, kind="entropy", generator=torch.Generator().manual_seed(1)).q
    assert torch.equal(amcb, topb_select(q, 6))
    efda = [make_strategy("efda_only").select(_state(ds, model, 6, labeled, seed=1, weights=w))
            for w in ([0.8, 0.2], [0.1, 0.9], [0.5, 0.5])]
    assert torch.equal(efda[0], efda[1]) and torch.equal(efda[0], efda[2])  # no AMCB: w is ignored
    amcb_other = make_strategy("amcb_only").select(_state(ds, model, 6, labeled, seed=1, weights=[0.05, 0.95]))
    assert not torch.equal(amcb, amcb_other)


# ---------------------------------------------------------------- the experiment
TINY = TrainConfig(epochs=2, min_steps=0, hidden=16, embed_dim=8, batch_size=16)


@pytest.fixture(scope="module")
def small_ds():
    return make_synthetic(n=200, num_classes=3, dims=(5, 4), separation=(2.0, 0.5), seed=1)


def test_comparison_outputs_and_baselines_file(small_ds, tmp_path):
    cfg = RunConfig(strategies=["margin", "coreset", "badge"], seeds=[0, 1], initial=6, budget=5, rounds=2,
                    out=str(tmp_path / "cmp"), progress=False, train=TINY)
    res = ex.run_comparison(cfg, dataset=small_ds)
    ex.check_protocol(res)
    firsts = {n: [sorted(res["labeled"][n][s][:6]) for s in ("0", "1")] for n in cfg.strategies}
    assert firsts["margin"] == firsts["coreset"] == firsts["badge"] and firsts["margin"][0] != firsts["margin"][1]
    md = Path(res["paths"]["comparison"]).read_text()
    for n in cfg.strategies:
        assert f"| {n} | " in md
    assert "6 labels" in md and "16 labels" in md and "AULC" in md and "round 1" in md
    times = ex.selection_times(res)
    assert set(times) == set(cfg.strategies) and all(len(t) == 2 and min(t) > 0 for t in times.values())
    assert "paper_table" not in res["paths"]  # written only beside the embedded benchmark (mfeat)
    paper = ex.paper_table_markdown(res)
    assert "| coreset | " in paper and "0.8422 (8)" in paper and "0.8420 (9)" in paper  # the paper's Food101 ranks
    assert "| margin | " in paper and "—" in paper.split("| margin | ")[1].splitlines()[0]  # not in the paper
    rows = Path(res["paths"]["comparison_csv"]).read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("strategy,seeds,top1_6_mean")
    for key in ("learning_curve", "summary", "curves"):
        assert (tmp_path / "cmp" / res["paths"][key].split("/")[-1]).exists()
    bl = ex.baseline_curves(res, ["coreset", "badge"])
    path = str(tmp_path / "bl.json")
    bl.save(path)
    loaded = BaselineCurves.load(path)
    assert sorted(loaded.curves) == ["badge", "coreset"] and loaded.labels == [6, 11, 16]
    want = sum(sum(r[1]["val"]["top1"] for r in [(s, h[1]) for s, h in res["runs"][n].items()]) / 2
               for n in ("coreset", "badge")) / 2
    assert abs(loaded.mean_at(11) - want) < 1e-12
    with pytest.raises(ValueError, match="no runs of"):
        ex.baseline_curves(res, ["gcnal"])
    res["labeled"]["badge"]["0"] = res["labeled"]["badge"]["0"][::-1]
    with pytest.raises(ValueError, match="other labels"):
        ex.check_protocol(res)


def test_run_baselines_writes_the_reward_file(small_ds, tmp_path):
    cfg = RunConfig(seeds=[0], initial=6, budget=5, rounds=1, out=str(tmp_path), progress=False, train=TINY)
    path = ex.run_baselines(cfg, dataset=small_ds, use=["gcnal", "badge", "bmmal"])
    data = json.loads(Path(path).read_text())
    assert data["metric"] == "val_top1" and sorted(data["curves"]) == ["badge", "bmmal", "gcnal"]
    assert data["labels"] == [6, 11]
    BaselineCurves.load(path, use=list(ex.PAPER_BASELINES)).mean_at(11)
