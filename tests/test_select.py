"""``rlmba.select`` on the outputs of a model that is not rlmba's: a two-modality PyTorch model
with softmax heads, modality features of unequal widths, a fused head on their concatenation.
Every strategy: the contract (int64 [b], distinct, in range), determinism under the generator,
the strategy's own rule checked against the ops it is made of, and errors naming the input."""
import numpy as np
import pytest
import torch
from torch import nn

import rlmba
from rlmba.learn import RLMBAConfig, RLMBAStrategy
from rlmba.learn.amcb import amcb_weights, efda_round_scores
from rlmba.ops.scoring import bald, entropy, least_confidence, margin
from rlmba.ops.seeding import badge_select, bmmal_select
from rlmba.ops.selection import k_center_greedy, topb_select
from rlmba.selectors import available_selectors, make_selector
from rlmba.selectors.bmmal import fuse_contributions
from rlmba.selectors.deepfool import deepfool_linear

N, C = 120, 4


pytestmark = pytest.mark.usefixtures("one_thread")


class TwoTower(nn.Module):
    """An image-like and a text-like input, one encoder each (16 and 8 features), a softmax head
    per modality and a fused head on the concatenated features."""

    def __init__(self):
        super().__init__()
        self.image = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.3))
        self.text = nn.Sequential(nn.Linear(7, 8), nn.ReLU(), nn.Dropout(0.3))
        self.image_head, self.text_head, self.head = nn.Linear(16, C), nn.Linear(8, C), nn.Linear(24, C)

    def forward(self, image, text):
        fi, ft = self.image(image), self.text(text)
        return self.head(torch.cat([fi, ft], 1)), (self.image_head(fi), self.text_head(ft)), (fi, ft)


@pytest.fixture(scope="module")
def outputs():
    """Every pool output rlmba.select reads, from a briefly trained TwoTower."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, C, (N + 40,), generator=g)
    image = torch.randn(N + 40, 12, generator=g) + torch.nn.functional.one_hot(y, 12) * 2.0
    text = torch.randn(N + 40, 7, generator=g) + torch.nn.functional.one_hot(y, 7) * 0.7
    torch.manual_seed(0)
    model = TwoTower()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    lab = slice(N, N + 20)
    for _ in range(30):
        fused, (zi, zt), _ = model(image[lab], text[lab])
        loss = sum(nn.functional.cross_entropy(z, y[lab]) for z in (fused, zi, zt))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        fused, (zi, zt), (fi, ft) = model(image[:N], text[:N])
        vf, (vi, vt), _ = model(image[N + 20:], text[N + 20:])
        _, _, (li, lt) = model(image[lab], text[lab])
        model.train()
        mc = torch.stack([model(image[:N], text[:N])[0].softmax(1) for _ in range(5)])
        model.eval()
    yv = y[N + 20:]
    head = model.head

    def fuse(feats):
        with torch.no_grad():
            return head(torch.cat(feats, 1)).softmax(1)
    return {"logits": fused, "mc_probs": mc, "embeddings": torch.cat([fi, ft], 1),
            "labeled_embeddings": torch.cat([li, lt], 1), "modality_logits": torch.stack([zi, zt]),
            "modality_embeddings": [fi, ft], "head": head, "fuse": fuse,
            "modality_val_top1": [(z.argmax(1) == yv).double().mean().item() for z in (vi, vt)],
            "fused_val_top1": (vf.argmax(1) == yv).double().mean().item()}


FAST = {"gcnal": {"epochs": 20}, "coregcn": {"epochs": 20}, "uncertaingcn": {"epochs": 20}}


def test_every_strategy_is_selectable():
    assert set(available_selectors()) >= {"random", "entropy", "margin", "least_confidence", "bald", "coreset",
                                          "badge", "bmmal", "deepfool", "gcnal", "uncertaingcn", "rlmba",
                                          "amcb_only", "efda_only"}


@pytest.mark.parametrize("name", available_selectors())
def test_contract_and_determinism_on_a_foreign_model(outputs, name):
    sel = make_selector(name)
    needed = {k: outputs[k] for k in outputs if k in sel.needs + sel.optional or k == "logits"}
    for b in (1, 9, N):
        a = rlmba.select(name, b, generator=torch.Generator().manual_seed(3), **needed, **FAST.get(name, {}))
        again = rlmba.select(name, b, generator=3, **outputs, **FAST.get(name, {}))  # extra outputs are ignored
        assert a.dtype == torch.int64 and a.shape == (b,), (name, b)
        assert a.unique().numel() == b and int(a.min()) >= 0 and int(a.max()) < N, (name, b)
        assert torch.equal(a, again), f"{name}: not deterministic under the generator (b = {b})"


def test_each_rule_on_the_foreign_outputs(outputs):
    o, b = outputs, 9
    p = o["logits"].softmax(1)
    assert torch.equal(rlmba.select("entropy", b, logits=o["logits"]), topb_select(entropy(p), b))
    assert torch.equal(rlmba.select("margin", b, probs=p), topb_select(margin(p), b, largest=False))
    assert torch.equal(rlmba.select("least_confidence", b, probs=p), topb_select(least_confidence(p), b))
    assert torch.equal(rlmba.select("bald", b, mc_probs=o["mc_probs"]), topb_select(bald(o["mc_probs"]), b))
    emb, lab = o["embeddings"], o["labeled_embeddings"]
    assert torch.equal(rlmba.select("coreset", b, embeddings=emb, labeled_embeddings=lab),
                       k_center_greedy(emb, b, labeled=lab))
    assert torch.equal(rlmba.select("badge", b, probs=p, embeddings=o["embeddings"], generator=1),
                       badge_select(p, o["embeddings"], b, generator=torch.Generator().manual_seed(1)))
    phi = fuse_contributions(o["fuse"], o["modality_embeddings"])
    assert torch.equal(rlmba.select("bmmal", b, probs=p, modality_embeddings=o["modality_embeddings"], fuse=o["fuse"],
                                    generator=2),
                       bmmal_select(p, o["modality_embeddings"], phi, b, generator=torch.Generator().manual_seed(2)))
    torch.testing.assert_close(phi.sum(1), p.gather(1, p.argmax(1, keepdim=True)).squeeze(1).double()
                               - o["fuse"]([torch.zeros_like(f) for f in o["modality_embeddings"]])
                               .gather(1, p.argmax(1, keepdim=True)).squeeze(1).double())  # Shapley efficiency
    head = o["head"]
    norms = deepfool_linear(head.weight, head.bias, o["embeddings"])
    want = topb_select(norms, b, largest=False)
    assert torch.equal(rlmba.select("deepfool", b, embeddings=o["embeddings"], head=head), want)
    assert torch.equal(rlmba.select("deepfool", b, embeddings=o["embeddings"], head=(head.weight, head.bias)), want)
    iterative = rlmba.select("deepfool", b, embeddings=o["embeddings"], head=lambda x: head(x), overshoot=0.0)
    assert len(set(iterative.tolist()) & set(want.tolist())) >= b - 1  # same boundary, autograd instead of closed form


def test_rlmba_greedy_rule_and_amcb_weights_on_unequal_widths(outputs):
    o, b = outputs, 6
    w = amcb_weights(torch.tensor(o["modality_val_top1"]) - o["fused_val_top1"], RLMBAConfig().tau, RLMBAConfig().eps)
    kw = {k: o[k] for k in ("modality_logits", "modality_embeddings")}
    picks = rlmba.select("rlmba", b, generator=4, modality_val_top1=o["modality_val_top1"],
                         fused_val_top1=o["fused_val_top1"], temperatures=[1.5, 0.7], **kw)
    assert torch.equal(picks, rlmba.select("rlmba", b, generator=4, weights=w, temperatures=[1.5, 0.7], **kw))
    cfg = RLMBAConfig()
    scores = efda_round_scores(o["modality_logits"], o["modality_embeddings"], w, [1.5, 0.7], b, beta=cfg.beta,
                               kappa=cfg.kappa, kmeans_iters=cfg.kmeans_iters,
                               generator=torch.Generator().manual_seed(4))
    assert torch.equal(picks, topb_select(scores.q, b))  # no policy: the b largest q
    fused = torch.cat([w[0].float() * o["modality_embeddings"][0], w[1].float() * o["modality_embeddings"][1]], 1)
    _, _, d = rlmba.kmeans(fused, b, iters=cfg.kmeans_iters, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(scores.d, d)  # unequal widths: k-means on [w_1 f_1, w_2 f_2]
    sel = make_selector("rlmba", beta=0.0).run(b, generator=4, weights=w, **kw)
    assert torch.equal(sel.indices, make_selector("rlmba", config=RLMBAConfig(beta=0.0)).run(b, generator=4, weights=w,
                                                                                           **kw).indices)
    assert (sel.scores[:-1] >= sel.scores[1:]).all()  # the scores are q, best first
    efda = rlmba.select("efda_only", b, generator=4, **kw)
    assert torch.equal(efda, rlmba.select("efda_only", b, generator=4, weights=torch.tensor([0.9, 0.1]), **kw))
    assert not torch.equal(rlmba.select("amcb_only", b, generator=4, weights=torch.tensor([0.9, 0.1]), **kw),
                           rlmba.select("amcb_only", b, generator=4, weights=torch.tensor([0.1, 0.9]), **kw))


def test_rlmba_with_a_policy_file_picks_what_the_loop_strategy_picks(tmp_path):
    """The same saved policy, the same round: the loop's RLMBAStrategy and rlmba.select agree."""
    from test_select_parity import _round_state

    cfg = RLMBAConfig(hidden=8)
    trainer = RLMBAStrategy(cfg)
    trainer._build(2)
    with torch.no_grad():
        for prm in trainer.net.parameters():  # a policy whose logits are far from flat
            prm.normal_(0, 1, generator=torch.Generator().manual_seed(9))
    path = str(tmp_path / "policy.pt")
    trainer.save_policy(path)
    state = _round_state(7, seed=5)
    val = {"top1": 0.6, "nll": 1.1, "ece": 0.12, "top1_modality": [0.65, 0.4]}
    val["delta"] = [t - val["top1"] for t in val["top1_modality"]]
    state.metrics = {"val": val}
    state.weights = amcb_weights(val["delta"], cfg.tau, cfg.eps)
    loop = RLMBAStrategy(cfg, policy=path).select(state)
    out = state.outputs
    api = rlmba.select("rlmba", 7, generator=5, config=cfg, policy=path, modality_logits=out.modality_logits,
                       modality_embeddings=out.features, temperatures=state.temperatures,
                       modality_val_top1=val["top1_modality"], fused_val_top1=val["top1"], val_nll=val["nll"],
                       val_ece=val["ece"], train_losses=state.train_log.loss,
                       train_grad_norms=state.train_log.grad_norm)
    assert torch.equal(loop, api)
    greedy = rlmba.select("rlmba", 7, generator=5, config=cfg, weights=state.weights, temperatures=state.temperatures,
                          modality_logits=out.modality_logits, modality_embeddings=out.features)
    assert not torch.equal(api, greedy)  # the policy, not the greedy rule, chose
    with pytest.raises(ValueError, match=r"missing input\(s\) \['val_nll'"):
        rlmba.select("rlmba", 7, policy=path, modality_logits=out.modality_logits, modality_embeddings=out.features,
                     modality_val_top1=val["top1_modality"], fused_val_top1=val["top1"], config=cfg)


def test_numpy_in_numpy_out(outputs):
    p = outputs["logits"].softmax(1).numpy()
    idx = rlmba.select("margin", 5, probs=p)
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64
    assert idx.tolist() == rlmba.select("margin", 5, probs=torch.from_numpy(p)).tolist()
    assert rlmba.select("random", 4, pool_size=10, generator=0).tolist() == torch.randperm(
        10, generator=torch.Generator().manual_seed(0))[:4].tolist()


@pytest.mark.parametrize("name", available_selectors())
def test_a_missing_input_names_it_and_the_strategy(outputs, name):
    sel = make_selector(name)
    for missing in sel.needs:
        wanted = set(sel.needs + sel.optional) | ({"logits"} if "probs" in sel.needs else set())
        given = {k: v for k, v in outputs.items() if k in wanted - {missing, "logits" if missing == "probs" else ""}}
        with pytest.raises(ValueError, match=rf"{name}: missing input {missing}"):
            rlmba.select(name, 3, **given)


def test_bad_calls_name_what_is_wrong(outputs):
    p = outputs["logits"].softmax(1)
    with pytest.raises(ValueError, match=r"unknown strategy|unknown 'nope'"):
        rlmba.select("nope", 3, probs=p)
    with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['prob'\]"):
        rlmba.select("entropy", 3, prob=p)
    with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['kappa'\].*options of entropy: none"):
        rlmba.select("entropy", 3, probs=p, kappa=2)
    with pytest.raises(ValueError, match=r"budget: entropy needs 1 <= budget <= N = 120"):
        rlmba.select("entropy", 121, probs=p)
    with pytest.raises(TypeError, match="budget"):
        rlmba.select("entropy", 2.0, probs=p)
    with pytest.raises(ValueError, match="disagree on the number of pool rows"):
        rlmba.select("badge", 3, probs=p, embeddings=outputs["embeddings"][:-1])
    with pytest.raises(ValueError, match=r"probs: expected \[N, C\]"):
        rlmba.select("entropy", 3, probs=p[0])
    with pytest.raises(ValueError, match="no pool output given"):
        rlmba.select("random", 3)
    with pytest.raises(ValueError, match="missing input weights"):
        rlmba.select("rlmba", 3, modality_logits=outputs["modality_logits"],
                     modality_embeddings=outputs["modality_embeddings"])
    with pytest.raises(ValueError, match="3 modality weights for M = 2"):
        rlmba.select("amcb_only", 3, modality_logits=outputs["modality_logits"], weights=[0.2, 0.3, 0.5],
                     modality_embeddings=outputs["modality_embeddings"])
    with pytest.raises(ValueError, match="missing input modality_contributions"):
        rlmba.select("bmmal", 3, probs=p, modality_embeddings=outputs["modality_embeddings"])
    with pytest.raises(TypeError, match="generator"):
        rlmba.select("random", 3, probs=p, generator="seed")
    with pytest.raises(ValueError, match="head: weight must be"):
        rlmba.select("deepfool", 3, embeddings=outputs["embeddings"], head=(torch.ones(C, 5), None))

