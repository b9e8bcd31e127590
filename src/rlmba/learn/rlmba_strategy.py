"""The RL-MBA strategy: AMCB weights -> EFDA score q -> candidate set -> policy picks b.

Training runs (``begin_run(seed, training=True)``) draw batches by Plackett-Luce, collect one
:class:`~rlmba.learn.policy.Step` per round and a reward per evaluation, and update the policy
by REINFORCE at ``end_run``; evaluation runs take the top-b logits of the frozen policy (its
state standardiser frozen too). Reward of action a_t, seen at evaluation t + 1:
r_t = Reward(Top1_{t+1}) - lambda1 L_modality(Delta_{t+1}).
"""
from __future__ import annotations

import dataclasses

import torch

from ..ops.sampling import plackett_luce_sample
from ..ops.selection import topb_select
from ..selectors import make_selector
from .config import RLMBAConfig
from .policy import PolicyNet, Reinforce, Step
from .reward import BaselineCurves, Reward, modality_loss
from .state import RunningNorm, policy_state, state_dim
from .strategies import RoundState, Strategy, register_strategy

POLICY_FORMAT = "rlmba-policy-1"


def cand_dim(num_modalities: int) -> int:
    return 2 * num_modalities + 3


@register_strategy("rlmba")
class RLMBAStrategy(Strategy):
    def __init__(self, config: RLMBAConfig | None = None, policy: str | None = None,
                 baselines: str | BaselineCurves | None = None, **_):
        self.cfg = config or RLMBAConfig()
        curves = BaselineCurves.load(baselines) if isinstance(baselines, str) else baselines
        self.reward = Reward(self.cfg.reward_mode, curves, self.cfg.no_baseline_mode, self.cfg.reward_smoothing)
        self.net: PolicyNet | None = None
        self.norm: RunningNorm | None = None
        self.trainer: Reinforce | None = None
        self.training, self.episodes, self.log = False, 0, []
        self._reset_episode()
        if policy is not None:
            self.load_policy(policy)

    # ------------------------------------------------------------------ policy lifecycle
    def _build(self, M: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.hidden * 1000 + M)  # fixed init: the run seed varies the data
            self.net = PolicyNet(state_dim(M), cand_dim(M), self.cfg.hidden).double()
        self.norm = RunningNorm(state_dim(M))
        c = self.cfg
        self.trainer = Reinforce(self.net, c.gamma, c.baseline_smoothing, c.lr, c.weight_decay, c.grad_clip, c.lambda2)

    def _reset_episode(self) -> None:
        self.steps: list[Step] = []
        self.rewards: list[float] = []
        self.prev_top1: float | None = None
        self.reward.reset()

    def save_policy(self, path: str) -> None:
        torch.save({"format": POLICY_FORMAT, "num_modalities": self.net.state_dim - 8,
                    "config": dataclasses.asdict(self.cfg), "net": self.net.state_dict(),
                    "norm": self.norm.state_dict(), "episodes": self.episodes}, path)

    def load_policy(self, path: str) -> None:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if data.get("format") != POLICY_FORMAT:
            raise ValueError(f"policy: {path} is not an rlmba policy file")
        if data["config"]["hidden"] != self.cfg.hidden:
            raise ValueError(f"policy: {path} has hidden = {data['config']['hidden']}, config says {self.cfg.hidden}")
        self._build(int(data["num_modalities"]))
        self.net.load_state_dict(data["net"])
        self.norm.load_state_dict(data["norm"])
        self.episodes = int(data["episodes"])

    # ------------------------------------------------------------------ strategy hooks
    def begin_run(self, seed: int, training: bool = False) -> None:
        self.training = training
        self._reset_episode()

    def observe(self, metrics: dict, history: list) -> None:
        top1 = metrics["val"]["top1"]
        if self.training and len(self.steps) == len(self.rewards) + 1:
            r = self.reward(top1, self.prev_top1, metrics["labels"])
            self.rewards.append(r - self.cfg.lambda1 * modality_loss(metrics["val"]["delta"]))
        self.prev_top1 = top1

    def select(self, state: RoundState) -> torch.Tensor:
        out = state.outputs

        def policy(scores, b, g):
            return self.policy_pick(scores, state.weights, state.metrics["val"], state.dataset.num_classes,
                                    state.train_log.diagnostics(), b, g)
        chosen = make_selector("rlmba", config=self.cfg).run(
            state.budget, generator=state.generator, modality_logits=out.modality_logits,
            modality_embeddings=out.features, weights=state.weights, temperatures=state.temperatures, policy=policy)
        self.last_scores = chosen.scores
        return chosen.indices

    def policy_pick(self, scores, weights, val_metrics: dict, num_classes: int, rho, b: int,
                    generator: torch.Generator | None) -> torch.Tensor:
        """The policy's b picks among the candidates of ``scores`` (positions in
        ``scores.candidates``); ``val_metrics``, ``rho``: the round's validation metrics and
        training diagnostics, which the policy state reads."""
        c = self.cfg
        M = scores.u_modal.shape[0]
        if self.net is None:
            self._build(M)
        elif self.net.state_dim != state_dim(M):
            raise ValueError(f"policy: built for {self.net.state_dim - 8} modalities, the data has {M}")
        s = policy_state(val_metrics, num_classes, scores.u_fused.mean().item(), scores.d.mean().item(), rho)
        if self.training:
            self.norm.update(s)
        s = self.norm.normalize(s)
        cands = scores.candidate_features(weights).to("cpu", torch.float64)  # the policy lives on CPU
        with torch.no_grad():
            logits = self.net(s, cands)
        if self.training:
            picks, _ = plackett_luce_sample(logits, b, generator=generator)
            # tau_u: nearest-rank quantile (kthvalue: no size limit, unlike torch.quantile)
            u = scores.u_fused
            k = min(len(u), max(1, round(c.difficulty_quantile * (len(u) - 1)) + 1))
            tau_u = u.kthvalue(k).values.double()
            hinge = (tau_u - scores.u_fused[scores.candidates].double()).clamp_min(0).cpu()
            self.steps.append(Step(s, cands, picks, hinge))
        else:
            picks = topb_select(logits, b)
        return picks

    def end_run(self) -> None:
        if not self.training:
            return
        if self.steps:
            stats = self.trainer.update(self.steps, self.rewards, self.cfg.policy_updates)
            self.log.append({"episode": self.episodes, **stats})
        self.episodes += 1
        self._reset_episode()

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict:
        if self.net is None:
            return {"built": False, "episodes": self.episodes, "log": list(self.log)}
        return {"built": True, "M": self.net.state_dim - 8, "net": self.net.state_dict(),
                "norm": self.norm.state_dict(), "trainer": self.trainer.state_dict(),
                "episodes": self.episodes, "log": list(self.log), "training": self.training,
                "steps": [st.to_dict() for st in self.steps], "rewards": list(self.rewards),
                "prev_top1": self.prev_top1, "reward_ema": self.reward.ema}

    def load_state_dict(self, d: dict) -> None:
        self.episodes, self.log = int(d["episodes"]), list(d["log"])
        if not d["built"]:
            return
        self._build(int(d["M"]))
        self.net.load_state_dict(d["net"])
        self.norm.load_state_dict(d["norm"])
        self.trainer.load_state_dict(d["trainer"])
        self.training = bool(d["training"])
        self.steps = [Step(**st) for st in d["steps"]]
        self.rewards, self.prev_top1 = list(d["rewards"]), d["prev_top1"]
        self.reward.ema = d["reward_ema"]
