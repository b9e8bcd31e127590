"""rlmba: fast multimodal active learning (RL-MBA, CVPR 2026) on compiled kernels.

Scoring (:mod:`rlmba.ops.scoring`): ``fuse_evidence``, ``dirichlet_uncertainty``, ``efda_scores``,
``uncertainty_scores``, ``entropy``, ``margin``, ``least_confidence``, ``bald``.
Selection (:mod:`rlmba.ops.selection`, ``clustering``, ``seeding``, ``sampling``): ``topb_select``,
``k_center_greedy``, ``nearest_centroid``, ``kmeans_plusplus``, ``kmeans``, ``badge_select``,
``bmmal_select``, ``plackett_luce_sample``, ``plackett_luce_log_prob``.
Every op takes ``backend=`` (see ``rlmba info``); ``rlmba.trace()`` records which backend ran.
Strategies on any model's pool outputs (:mod:`rlmba.selectors`): ``select(strategy, budget, ...)``;
a resumable labeling session on your own pool (:mod:`rlmba.session`): ``Session``.

The names are imported on first use, so ``import rlmba`` (and ``rlmba --help``) does not import torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    **dict.fromkeys(("BackendError", "explain", "trace"), "._dispatch"),
    **dict.fromkeys(("fuse_evidence", "dirichlet_uncertainty", "efda_scores", "uncertainty_scores", "entropy",
                     "margin", "least_confidence", "bald"), ".ops.scoring"),
    **dict.fromkeys(("topb_select", "k_center_greedy"), ".ops.selection"),
    **dict.fromkeys(("nearest_centroid", "kmeans_plusplus", "kmeans"), ".ops.clustering"),
    **dict.fromkeys(("badge_select", "bmmal_select"), ".ops.seeding"),
    **dict.fromkeys(("plackett_luce_sample", "plackett_luce_log_prob"), ".ops.sampling"),
    **dict.fromkeys(("select", "Selector"), ".selectors"),
    "Session": ".session",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlmba' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from ._dispatch import BackendError, explain, trace
    from .ops.clustering import kmeans, kmeans_plusplus, nearest_centroid
    from .ops.sampling import plackett_luce_log_prob, plackett_luce_sample
    from .ops.scoring import (bald, dirichlet_uncertainty, efda_scores, entropy, fuse_evidence, least_confidence,
                              margin, uncertainty_scores)
    from .ops.seeding import badge_select, bmmal_select
    from .ops.selection import k_center_greedy, topb_select
    from .selectors import Selector, select
    from .session import Session
