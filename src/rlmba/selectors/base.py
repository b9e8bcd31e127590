"""The selector interface, the pool inputs it understands, and the name -> selector registry.

A selector turns plain pool outputs (tensors or numpy arrays a model produced on the unlabeled
pool) into ``budget`` distinct pool row indices. Each selector class declares the inputs it
needs; :class:`PoolOutputs` checks them (names, shapes, one row count) once for every selector.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

# The keyword names of pool outputs and of the extra inputs some selectors read.
INPUTS = {
    "probs": "[N, C] class probabilities (or logits=)",
    "logits": "[N, C] class logits (softmax gives probs)",
    "mc_probs": "[S, N, C] class probabilities of S MC-dropout passes",
    "embeddings": "[N, D] penultimate features",
    "labeled_embeddings": "[L, D] penultimate features of the labeled rows",
    "modality_logits": "[M, N, C] logits of each modality's head",
    "modality_embeddings": "a list of M [N, D_m] features, one per modality",
    "modality_contributions": "[N, M] (or [M]) contribution of each modality",
    "weights": "[M] modality weights (AMCB)",
    "modality_val_top1": "[M] validation Top-1 of each modality head",
    "fused_val_top1": "validation Top-1 of the fused head",
    "temperatures": "[M] temperature of each modality head",
    "val_nll": "validation NLL of the fused head (policy state)",
    "val_ece": "validation ECE of the fused head (policy state)",
    "train_losses": "per-epoch training losses of the last training (policy state)",
    "train_grad_norms": "per-epoch gradient norms of the last training (policy state)",
    "head": "the classifier on embeddings: an nn.Module/callable [n, D] -> [n, C], or (weight, bias)",
    "fuse": "callable: M [N, D_m] features (dropped modalities zeroed) -> fused class probabilities [N, C]",
    "policy": "a policy file, a callable (scores, budget, generator) -> candidate positions, or None",
    "pool_size": "N, the number of pool rows (when no pool output is given)",
}
ROW_AXIS = {"probs": 0, "logits": 0, "mc_probs": 1, "embeddings": 0, "modality_logits": 1}
AS_GIVEN = ("head", "fuse", "policy")  # model pieces and the policy: passed on untouched
SMALL = ("weights", "modality_val_top1", "fused_val_top1", "temperatures", "val_nll", "val_ece", "train_losses",
         "train_grad_norms")  # per-modality or scalar values, kept in float64
TENSOR_DIMS = {"probs": 2, "logits": 2, "mc_probs": 3, "embeddings": 2, "labeled_embeddings": 2,
               "modality_logits": 3}


@dataclass
class Selection:
    """What a selector picked: pool row ``indices`` int64 ``[b]`` in pick order, and each pick's
    ``scores`` float64 ``[b]`` (the strategy's score; NaN where the strategy picks a set without
    per-row scores, e.g. random, core-set, BADGE)."""

    indices: torch.Tensor
    scores: torch.Tensor


class PoolOutputs:
    """The validated inputs of one selection: tensors by name, the pool size ``n``."""

    def __init__(self, strategy: str, inputs: dict):
        self.strategy, self.numpy = strategy, False
        self.values: dict = {}
        for name, value in inputs.items():
            if value is not None:
                self.values[name] = self._convert(name, value)
        self.n = self._rows()

    def _convert(self, name: str, value):
        if name in AS_GIVEN:
            return value
        if name == "pool_size":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{self.strategy}: pool_size: expected an int >= 1, got {value!r}")
            return int(value)
        if name in SMALL:
            return torch.as_tensor(value, dtype=torch.float64)
        if name == "modality_embeddings":
            if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 3:
                return self._tensor(name, value, 3)  # [M, N, D]: kept whole, no copy
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"{self.strategy}: modality_embeddings: expected {INPUTS[name]}")
            return [self._tensor(name, f, 2, f"[{m}]") for m, f in enumerate(value)]
        return self._tensor(name, value, TENSOR_DIMS.get(name))

    def _tensor(self, name: str, value, dims: int | None, where: str = "") -> torch.Tensor:
        self.numpy |= isinstance(value, np.ndarray)
        t = torch.from_numpy(value) if isinstance(value, np.ndarray) else torch.as_tensor(value)
        if dims is not None and t.ndim != dims:
            raise ValueError(f"{self.strategy}: {name}{where}: expected {INPUTS[name]}, got shape {tuple(t.shape)}")
        return t

    def _rows(self) -> int:
        rows = {name: int(self.values[name].shape[axis]) for name, axis in ROW_AXIS.items() if name in self.values}
        for m, f in enumerate(self.values.get("modality_embeddings", [])):
            rows[f"modality_embeddings[{m}]"] = int(f.shape[0])  # a [M, N, D] tensor iterates over m too
        if "pool_size" in self.values:
            rows["pool_size"] = int(self.values["pool_size"])
        if len(set(rows.values())) > 1:
            raise ValueError(f"{self.strategy}: the pool outputs disagree on the number of pool rows N: {rows}")
        return next(iter(rows.values()), 0)

    def __contains__(self, name: str) -> bool:
        return name in self.values or (name == "probs" and "logits" in self.values)

    def __getitem__(self, name: str):
        if name == "probs" and "probs" not in self.values and "logits" in self.values:
            return torch.softmax(self.values["logits"], -1)
        if name == "modality_embeddings":
            return list(self.values[name])
        return self.values[name]

    def get(self, name: str, default=None):
        return self[name] if name in self else default

    @property
    def modality_embeddings(self):
        """The M modality features: one ``[M, N, D]`` tensor when all widths agree, else the list."""
        feats = self.values["modality_embeddings"]
        if isinstance(feats, torch.Tensor) or len({f.shape[1] for f in feats}) > 1:
            return feats
        return torch.stack(feats)


def as_generator(generator) -> torch.Generator | None:
    """A ``torch.Generator`` from a generator, an int seed, or None (torch's global generator)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(f"generator: expected a torch.Generator, an int seed or None, got {type(generator).__name__}")


class Selector:
    """Base class: subclasses set ``needs`` (required inputs; ``"probs"`` is also met by
    ``logits``), ``optional`` (inputs read when given), take their options in ``__init__`` and
    implement :meth:`pick`. Calling a selector returns the indices; :meth:`run` also the scores.
    """

    name = "selector"
    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    def __call__(self, budget: int, *, generator=None, **inputs):
        """The picked row indices: int64 ``[budget]``, numpy when the pool outputs were numpy."""
        chosen, pool = self._run(budget, generator, inputs)
        return chosen.indices.numpy() if pool.numpy else chosen.indices

    def run(self, budget: int, *, generator=None, **inputs) -> Selection:
        """Check the inputs and the budget, pick, and check the picks (distinct, in range)."""
        return self._run(budget, generator, inputs)[0]

    def _run(self, budget, generator, inputs: dict) -> tuple[Selection, PoolOutputs]:
        unknown = sorted(set(inputs) - set(INPUTS))
        if unknown:
            raise ValueError(f"{self.name}: unknown input(s) {unknown}; inputs are {sorted(INPUTS)}")
        pool = PoolOutputs(self.name, inputs)
        missing = [n for n in self.needs if n not in pool]
        if missing:
            need = ", ".join(f"{n} ({INPUTS[n]})" for n in missing)
            raise ValueError(f"{self.name}: missing input {need}; {self.name} needs {list(self.needs)}")
        if pool.n == 0 and not self.needs:
            raise ValueError(f"{self.name}: no pool output given to size the pool; pass pool_size= or e.g. probs=")
        b = check_budget(budget, pool.n, self.name)
        chosen = self.pick(pool, b, as_generator(generator))
        idx = torch.as_tensor(chosen.indices).cpu().to(torch.int64)
        if idx.shape != (b,) or idx.unique().numel() != b or int(idx.min()) < 0 or int(idx.max()) >= pool.n:
            raise RuntimeError(f"{self.name}: picked {idx.tolist()}, not {b} distinct rows of [0, {pool.n})")
        return Selection(idx, torch.as_tensor(chosen.scores, dtype=torch.float64).cpu()), pool

    def pick(self, pool: PoolOutputs, budget: int, generator: torch.Generator | None) -> Selection:
        raise NotImplementedError


def check_budget(budget, n: int, strategy: str) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise TypeError(f"budget: expected an int, got {type(budget).__name__}")
    if not 1 <= budget <= n:
        raise ValueError(f"budget: {strategy} needs 1 <= budget <= N = {n} pool rows, got {budget}")
    return int(budget)


def scored(indices: torch.Tensor, scores: torch.Tensor | None = None) -> Selection:
    """A :class:`Selection` of ``indices`` with ``scores[indices]`` (NaN when ``scores`` is None)."""
    idx = indices.cpu()
    if scores is None:
        return Selection(idx, torch.full((len(idx),), math.nan, dtype=torch.float64))
    return Selection(idx, scores.detach()[indices].double().cpu())


SELECTORS: dict[str, Callable[..., Selector]] = {}


def register_selector(name: str):
    """Class decorator: make a selector available under ``name`` (``rlmba.select(name, ...)``)."""
    def deco(cls):
        if name in SELECTORS:
            raise ValueError(f"selector {name!r} is already registered")
        cls.name = name
        SELECTORS[name] = cls
        return cls
    return deco


def _load_builtin() -> None:
    """Import the modules that register rlmba's selectors (lazily: the RL-MBA one imports
    :mod:`rlmba.learn`, which imports this package)."""
    from . import bmmal, classic, deepfool, gcn, multimodal  # noqa: F401


def available_selectors() -> list[str]:
    _load_builtin()
    return sorted(SELECTORS)


def selector_class(name: str):
    _load_builtin()
    if name not in SELECTORS:
        raise ValueError(f"strategy: unknown {name!r}; available: {available_selectors()}")
    return SELECTORS[name]


def options_of(cls) -> list[str]:
    """The keyword options a selector's constructor takes."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def make_selector(name: str, **options) -> Selector:
    """A selector by name with its options; an unknown option raises naming it."""
    cls = selector_class(name)
    known = options_of(cls)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; {name} takes {known or 'no options'}")
    return cls(**options)


def select(strategy: str, budget: int, *, generator=None, **pool_outputs):
    """Pick ``budget`` rows of an unlabeled pool with ``strategy``, from the pool outputs of any
    model: int64 pool row indices ``[budget]`` in pick order (numpy if the inputs were numpy).

    Keywords are pool outputs (``probs`` or ``logits``, ``mc_probs``, ``embeddings``,
    ``labeled_embeddings``, ``modality_logits``, ``modality_embeddings``, ...; see
    :data:`INPUTS`) or the strategy's options (``kappa``, ``beta``, ``metric``, ...). A missing
    input raises ValueError naming it and the strategy. Deterministic under ``generator`` (a
    ``torch.Generator`` or an int seed; None: torch's global generator).
    """
    cls = selector_class(strategy)
    known = options_of(cls)
    options = {k: pool_outputs.pop(k) for k in list(pool_outputs) if k in known and k not in INPUTS}
    unknown = sorted(set(pool_outputs) - set(INPUTS))
    if unknown:
        raise ValueError(f"{strategy}: unknown keyword(s) {unknown}; pool outputs: {sorted(INPUTS)}; "
                         f"options of {strategy}: {known or 'none'}")
    return cls(**options)(budget, generator=generator, **pool_outputs)
