"""Selection strategies: the interface the loop calls, the name -> strategy registry, the adapter
from a round's model to the plain-outputs selectors of :mod:`rlmba.selectors`, and the simple
baselines (``random``, ``entropy``). The other baselines are in :mod:`rlmba.learn.baselines`,
RL-MBA in :mod:`rlmba.learn.rlmba_strategy`: every one of them hands the round's model outputs
to the selector of the same name, the one ``rlmba.select`` runs on a user's outputs.

Adding a strategy never touches the loop::

    @register_strategy("margin")
    class Margin(Strategy):
        def select(self, state):
            return rlmba.topb_select(-rlmba.margin(state.probs), state.budget)

``select`` returns ``state.budget`` distinct **pool positions** (rows of ``state.probs``,
``state.embeddings`` ...; ``state.unlabeled[positions]`` are the dataset indices) as a 1-D
LongTensor. Everything a strategy may need is on :class:`RoundState`, computed lazily and cached.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..selectors import make_selector
from .evidential import expected_probs
from .model import ModelOutput, predict


@dataclass
class RoundState:
    """What a strategy sees in round t (after training and evaluation, before labelling)."""

    round: int
    budget: int                      # b: how many pool positions to return
    dataset: Any                     # the MultimodalDataset (standardised features, on device)
    labeled: torch.Tensor            # dataset indices of L_t
    unlabeled: torch.Tensor          # dataset indices of U_t, sorted: pool position i = unlabeled[i]
    model: torch.nn.Module           # the round's trained classifier (eval mode)
    generator: torch.Generator       # seeded per (run seed, round): use it for all randomness
    weights: torch.Tensor            # AMCB weights w_t [M] (float64)
    temperatures: list[float]        # per-modality temperatures T_m fitted on validation
    metrics: dict                    # this round's validation (and test) metrics
    train_log: Any                   # TrainLog of this round (loss, gradient norm per epoch)
    history: list = field(default_factory=list)  # metrics of the earlier rounds
    eval_batch: int = 8192
    _cache: dict = field(default_factory=dict, repr=False)

    def forward(self, idx: torch.Tensor) -> ModelOutput:
        """Eval-mode model outputs of any dataset rows (labeled ones too, e.g. for core-set)."""
        return predict(self.model, self.dataset.inputs(idx), self.eval_batch)

    @property
    def outputs(self) -> ModelOutput:
        """Model outputs on the pool, computed once per round."""
        if "outputs" not in self._cache:
            self._cache["outputs"] = self.forward(self.unlabeled)
        return self._cache["outputs"]

    @property
    def probs(self) -> torch.Tensor:
        """Fused-head predictive probabilities alpha / S ``[U, C]``."""
        return expected_probs(self.outputs.fused_logits)

    @property
    def modality_probs(self) -> torch.Tensor:
        """Per-modality head probabilities ``[M, U, C]`` (temperature-scaled with T_m)."""
        out = self.outputs.modality_logits
        return torch.stack([expected_probs(z, t) for z, t in zip(out, self.temperatures)])

    @property
    def embeddings(self) -> torch.Tensor:
        """Fused features ``[U, h]`` (the fused head's input, i.e. its penultimate layer)."""
        return self.outputs.fused

    @property
    def modality_features(self) -> torch.Tensor:
        """Per-modality features f_m(x) ``[M, U, h]``."""
        return self.outputs.features

    @property
    def labeled_embeddings(self) -> torch.Tensor | None:
        """Fused features of the labeled rows ``[L, h]`` (None when nothing is labeled)."""
        if "labeled" not in self._cache:
            self._cache["labeled"] = self.forward(self.labeled).fused if len(self.labeled) else None
        return self._cache["labeled"]

    def inputs(self, idx: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Raw (standardised) input features of dataset rows ``idx`` (default: the pool)."""
        return self.dataset.inputs(self.unlabeled if idx is None else idx)

    @torch.no_grad()
    def mc_dropout_probs(self, samples: int = 10) -> torch.Tensor:
        """``[S, U, C]`` fused-head probabilities with dropout on (Gal et al. 2017), seeded from
        ``generator`` so the draw is reproducible; the model is returned to eval mode."""
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator).item())
        out = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model.train()
            try:
                for _ in range(samples):
                    xs = self.inputs()
                    logits = torch.cat([self.model([x[i:i + self.eval_batch] for x in xs]).fused_logits
                                        for i in range(0, xs[0].shape[0], self.eval_batch)])
                    out.append(expected_probs(logits))
            finally:
                self.model.eval()
        return torch.stack(out)


class Strategy:
    """Base class. Only :meth:`select` is required; the hooks default to no-ops. ``last_scores``:
    the last selection's per-pick scores (float64 ``[b]``, NaN where a strategy has none)."""

    name = "strategy"
    last_scores: torch.Tensor | None = None

    def select(self, state: RoundState) -> torch.Tensor:
        raise NotImplementedError

    def begin_run(self, seed: int, training: bool = False) -> None:
        """A new active-learning run starts (``training``: an RL episode whose rewards count)."""

    def observe(self, metrics: dict, history: list) -> None:
        """Called after every evaluation (round t's metrics; ``history`` holds all so far)."""

    def end_run(self) -> None:
        """The run's last evaluation is done (RL-MBA updates its policy here when training)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


STRATEGIES: dict[str, Callable[..., Strategy]] = {}


def register_strategy(name: str):
    """Class decorator: make a strategy available under ``name`` (CLI ``--strategy name``)."""
    def deco(cls):
        if name in STRATEGIES:
            raise ValueError(f"strategy {name!r} is already registered")
        cls.name = name
        STRATEGIES[name] = cls
        return cls
    return deco


def _load_builtin() -> None:
    """Register the strategies that live outside this module: RL-MBA and, when the package is
    present, :mod:`rlmba.learn.baselines` (imported lazily: it imports this module)."""
    import importlib

    importlib.import_module("rlmba.learn.rlmba_strategy")
    try:
        importlib.import_module("rlmba.learn.baselines")
    except ModuleNotFoundError as exc:
        if exc.name != "rlmba.learn.baselines":  # a broken baselines package must not pass silently
            raise


def available_strategies() -> list[str]:
    _load_builtin()
    return sorted(STRATEGIES)


def make_strategy(name: str, **kwargs) -> Strategy:
    """A fresh strategy by registry name; ``kwargs`` go to its constructor."""
    _load_builtin()
    if name not in STRATEGIES:
        raise ValueError(f"strategy: unknown {name!r}; available: {available_strategies()}")
    return STRATEGIES[name](**kwargs)


class SelectorStrategy(Strategy):
    """A strategy that is the selector of its name applied to the round's model outputs:
    subclasses say which outputs in :meth:`inputs` and which options they pass on."""

    def __init__(self, **options):
        self.selector = make_selector(self.name, **options)

    def inputs(self, state: RoundState) -> dict:
        raise NotImplementedError

    def select(self, state: RoundState) -> torch.Tensor:
        chosen = self.selector.run(state.budget, generator=state.generator, **self.inputs(state))
        self.last_scores = chosen.scores
        return chosen.indices


@register_strategy("random")
class RandomStrategy(SelectorStrategy):
    """Uniformly random pool positions (from the round's generator)."""

    def __init__(self, **_):
        super().__init__()

    def inputs(self, state: RoundState) -> dict:
        return {"pool_size": len(state.unlabeled)}


@register_strategy("entropy")
class EntropyStrategy(SelectorStrategy):
    """Highest predictive entropy of the fused head (Settles 2011), ties to the lower position."""

    def __init__(self, **_):
        super().__init__()

    def inputs(self, state: RoundState) -> dict:
        return {"probs": state.probs}
