"""The loop's strategies pick what they picked before they were routed through ``rlmba.select``.

``tests/data/picks_main.json`` holds the picks of every strategy recorded at commit 550e65f, the
last commit before the selection layer existed, by running this module as a script there::

    python tests/test_select_parity.py tests/data/picks_main.json

``round_picks`` selects from one fixed round state (a briefly trained default model, unequal
AMCB weights and temperatures, labeled rows for core-set and GCNAL); ``loop_picks`` runs short
active-learning experiments and keeps the labeled sets in labelling order. Both use only the
API that existed before the change, so the script runs unchanged on either side of it.
"""
import json
import sys
from pathlib import Path

import torch

from rlmba.data import make_synthetic
from rlmba.learn import RLMBAConfig, RoundState, RunConfig, TrainConfig, default_model_factory, make_strategy
from rlmba.learn import experiment as ex
from rlmba.learn.train import build_model, train_model

RECORDED = Path(__file__).parent / "data" / "picks_main.json"
FAST = {"gcnal": {"epochs": 30}, "coregcn": {"epochs": 30}, "uncertaingcn": {"epochs": 30},
        "bald": {"samples": 4}, "rlmba": {"config": RLMBAConfig(hidden=8)}}
STRATEGIES = ["random", "entropy", "margin", "least_confidence", "bald", "coreset", "badge", "bmmal", "deepfool",
              "gcnal", "coregcn", "uncertaingcn", "amcb_only", "efda_only", "rlmba"]
TINY = TrainConfig(epochs=3, min_steps=0, hidden=16, embed_dim=8, batch_size=16)


def _round_state(budget: int, seed: int) -> RoundState:
    ds = make_synthetic(n=300, num_classes=4, dims=(6, 5), separation=(2.0, 0.6), seed=7)
    pool = ds.indices("pool")
    labeled = pool[:12]
    model = build_model(default_model_factory(16, 8, 0.2), ds.dims, ds.num_classes, 11, "cpu")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    log = train_model(model, opt, ds, labeled, TrainConfig(epochs=5, min_steps=0, batch_size=8), seed=13)
    metrics = {"val": {"top1": 0.6, "nll": 1.1, "ece": 0.12, "delta": [0.05, -0.2]}}
    return RoundState(round=1, budget=budget, dataset=ds, labeled=labeled, unlabeled=pool[12:], model=model,
                      generator=torch.Generator().manual_seed(seed), temperatures=[1.3, 0.8], metrics=metrics,
                      weights=torch.tensor([0.7, 0.3], dtype=torch.float64), train_log=log)


def round_picks() -> dict:
    """{strategy: picks} from one round state, b = 7 (and RL-MBA's policy also while training)."""
    out = {}
    for name in STRATEGIES:
        out[name] = make_strategy(name, **FAST.get(name, {})).select(_round_state(7, seed=5)).tolist()
    rl = make_strategy("rlmba", **FAST["rlmba"])
    rl.begin_run(0, training=True)
    out["rlmba/training"] = rl.select(_round_state(7, seed=5)).tolist()
    return out


def loop_picks(tmp: str) -> dict:
    """{strategy: labeled dataset indices in labelling order} of one short run per strategy."""
    ds = make_synthetic(n=160, num_classes=3, dims=(5, 4), separation=(2.0, 0.5), seed=1)
    cfg = RunConfig(strategies=ex.all_strategies(), seeds=[0], initial=6, budget=5, rounds=2, out=tmp,
                    progress=False, train=TINY, rlmba=RLMBAConfig(hidden=8, train_episodes=1))
    res = ex.run_comparison(cfg, dataset=ds)
    return {name: seeds["0"] for name, seeds in res["labeled"].items()}


def _recorded(part: str) -> dict:
    data = json.loads(RECORDED.read_text())
    return {k[len(part) + 1:]: v for k, v in data.items() if k.startswith(part + "/")}


def test_round_picks_equal_the_recorded_ones():
    torch.set_num_threads(1)
    recorded = _recorded("round")
    assert round_picks() == recorded


def test_loop_picks_equal_the_recorded_ones(tmp_path):
    torch.set_num_threads(1)
    recorded = _recorded("loop")
    assert loop_picks(str(tmp_path)) == recorded


if __name__ == "__main__":
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = {"round": round_picks(), "loop": loop_picks(tmp)}
    Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
    lines = [f'  "{part}/{name}": {json.dumps(picks)}' for part, d in data.items() for name, picks in d.items()]
    Path(sys.argv[1]).write_text("{\n" + ",\n".join(lines) + "\n}\n")
