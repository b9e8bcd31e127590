"""The active-learning loop: protocol, reproducibility, the strategy interface and registry,
RL-MBA's training and frozen evaluation, policy files."""
import pytest
import torch

from rlmba.data import make_synthetic
from rlmba.learn import (ActiveLearner, RLMBAConfig, RLMBAStrategy, RoundState, Strategy, TrainConfig,
                         available_strategies, make_strategy, register_strategy)

TRAIN = TrainConfig(epochs=2, min_steps=0, hidden=16, embed_dim=8, batch_size=16)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: a second OpenMP thread only adds synchronisation (10x slower on a busy box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n=200, num_classes=3, dims=(5, 4), separation=(2.0, 0.5), seed=1)


def _learner(ds, strategy, seed=0, **kw):
    args = dict(initial=6, budget=5, rounds=2, seed=seed, train=TRAIN)
    args.update(kw)
    return ActiveLearner(ds, strategy, **args)


def _strip(history):
    return [{k: v for k, v in r.items() if not k.startswith("time_")} for r in history]


def test_protocol_and_reproducibility(ds):
    a, b = _learner(ds, make_strategy("entropy")), _learner(ds, make_strategy("entropy"))
    ha, hb = a.run(), b.run()
    assert [r["labels"] for r in ha] == [6, 11, 16] and [r["round"] for r in ha] == [0, 1, 2]
    assert torch.equal(a.labeled, b.labeled) and _strip(ha) == _strip(hb)
    assert a.labeled.unique().numel() == 16 and torch.isin(a.labeled, ds.indices("pool")).all()
    other = _learner(ds, make_strategy("entropy"), seed=1)
    other.run()
    assert not torch.equal(other.labeled, a.labeled)
    r = ha[-1]
    for key in ("top1", "nll", "ece", "top1_modality", "delta", "imbalance"):
        assert key in r["val"]
    assert len(r["weights"]) == len(r["temperatures"]) == len(r["shapley"]) == 2
    assert abs(sum(r["weights"]) - 1) < 1e-12 and 0 <= r["test"]["top1"] <= 1
    with pytest.raises(RuntimeError, match="finished"):
        a.step()


class _Probe(Strategy):
    """Records what it sees, picks the lowest pool positions."""

    def __init__(self):
        self.seen = []

    def select(self, state: RoundState):
        U, C, M = len(state.unlabeled), state.dataset.num_classes, state.dataset.num_modalities
        assert state.probs.shape == (U, C)
        torch.testing.assert_close(state.probs.sum(1), torch.ones(U))
        assert state.modality_probs.shape == (M, U, C) and state.modality_features.shape[:2] == (M, U)
        assert state.embeddings.shape[0] == U and len(state.inputs()) == M
        mc = state.mc_dropout_probs(3)
        assert mc.shape == (3, U, C) and not state.model.training
        assert state.forward(state.labeled).fused_logits.shape == (len(state.labeled), C)
        assert not torch.isin(state.unlabeled, state.labeled).any()
        self.seen.append((state.round, state.budget, mc))
        return torch.arange(state.budget)


def test_round_state_gives_strategies_what_they_need(ds):
    p1, p2 = _Probe(), _Probe()
    l1 = _learner(ds, p1)
    l1.run()
    _learner(ds, p2).run()
    assert [(r, b) for r, b, _ in p1.seen] == [(0, 5), (1, 5)]
    torch.testing.assert_close(p1.seen[1][2], p2.seen[1][2])  # MC dropout seeded per round
    assert torch.equal(l1.labeled[6:11], l1.pool[~torch.isin(l1.pool, l1.labeled[:6])][:5])


@pytest.mark.parametrize("bad, match", [
    (lambda n, b: torch.zeros(b, dtype=torch.int64), "distinct"),
    (lambda n, b: torch.arange(b + 1), "must return 5"),
    (lambda n, b: torch.arange(b).float(), "must return 5 int64"),
    (lambda n, b: torch.arange(n - 2, n + 3), "distinct and in"),
])
def test_bad_selections_are_rejected(ds, bad, match):
    class Bad(Strategy):
        def select(self, state):
            return bad(len(state.unlabeled), state.budget)
    with pytest.raises(RuntimeError, match=match):
        _learner(ds, Bad()).run()


def test_registry():
    assert {"random", "entropy", "rlmba"} <= set(available_strategies())
    name = "test-loop-lowest"
    if name not in available_strategies():
        @register_strategy(name)
        class Lowest(Strategy):
            def select(self, state):
                return torch.arange(state.budget)
    assert make_strategy(name).name == name
    with pytest.raises(ValueError, match="already registered"):
        register_strategy(name)(Strategy)
    with pytest.raises(ValueError, match="unknown 'nope'"):
        make_strategy("nope")


def test_rounds_that_would_exhaust_the_pool_are_refused():
    """No silent clamping (which labels less than b in the last rounds and repeats curve points)."""
    small = make_synthetic(n=40, num_classes=2, dims=(3,), separation=(1.0,), seed=0)
    n_pool = len(small.indices("pool"))
    with pytest.raises(ValueError, match=rf"budget: {n_pool - 4} initial labels \+ 3 rounds x 3 = {n_pool + 5} "
                                         rf"labels, but the pool has {n_pool} rows"):
        ActiveLearner(small, make_strategy("random"), initial=n_pool - 4, budget=3, rounds=3, train=TRAIN)
    learner = ActiveLearner(small, make_strategy("random"), initial=n_pool - 4, budget=2, rounds=2, train=TRAIN)
    assert [r["labels"] for r in learner.run()] == [n_pool - 4, n_pool - 2, n_pool]


def test_initial_indices_and_warm_start(ds):
    pool = ds.indices("pool")
    learner = _learner(ds, make_strategy("random"), initial=pool[:7], train=TrainConfig(epochs=2, min_steps=0, warm_start=True))
    learner.step()
    first = {k: v.clone() for k, v in learner.model.state_dict().items()}
    assert torch.equal(learner.labeled[:7], pool[:7])
    learner.step()
    assert learner.optimizer.state  # the optimiser carried over
    assert any(not torch.equal(first[k], v) for k, v in learner.model.state_dict().items())
    with pytest.raises(ValueError, match="initial"):
        _learner(ds, make_strategy("random"), initial=ds.indices("val")[:3])


def test_rlmba_trains_then_evaluates_frozen(ds, tmp_path):
    cfg = RLMBAConfig(kappa=2, hidden=8)
    rl = RLMBAStrategy(cfg)
    _learner(ds, rl, seed=100, training=True).run()
    assert rl.episodes == 1 and len(rl.log) == 1 and rl.norm.count == 2
    weights = {k: v.clone() for k, v in rl.net.state_dict().items()}
    ev = _learner(ds, rl, seed=0)
    ev.run()
    assert all(torch.equal(weights[k], v) for k, v in rl.net.state_dict().items())  # frozen
    assert rl.norm.count == 2 and rl.episodes == 1
    path = str(tmp_path / "policy.pt")
    rl.save_policy(path)
    loaded = RLMBAStrategy(cfg, policy=path)
    again = _learner(ds, loaded, seed=0)
    again.run()
    assert torch.equal(again.labeled, ev.labeled)
    with pytest.raises(ValueError, match="hidden"):
        RLMBAStrategy(RLMBAConfig(hidden=4), policy=path)
    torch.save({"format": "other"}, path)
    with pytest.raises(ValueError, match="not an rlmba policy"):
        RLMBAStrategy(cfg, policy=path)
