"""rlmba: fast multimodal active learning (RL-MBA, CVPR 2026) on compiled kernels.

Scoring (:mod:`rlmba.ops.scoring`): ``fuse_evidence``, ``dirichlet_uncertainty``, ``efda_scores``,
``uncertainty_scores``, ``entropy``, ``margin``, ``least_confidence``, ``bald``.
Selection (:mod:`rlmba.ops.selection`, ``clustering``, ``seeding``, ``sampling``): ``topb_select``,
``k_center_greedy``, ``nearest_centroid``, ``kmeans_plusplus``, ``kmeans``, ``badge_select``,
``bmmal_select``, ``plackett_luce_sample``, ``plackett_luce_log_prob``.
Every op takes ``backend=`` (see ``rlmba info``); ``rlmba.trace()`` records which backend ran.
Strategies on any model's pool outputs (:mod:`rlmba.selectors`): ``select(strategy, budget, ...)``;
a resumable labeling session on your own pool (:mod:`rlmba.session`): ``Session``.
"""
from ._dispatch import BackendError, explain, trace
from .ops.clustering import kmeans, kmeans_plusplus, nearest_centroid
from .ops.sampling import plackett_luce_log_prob, plackett_luce_sample
from .ops.scoring import (
    bald,
    dirichlet_uncertainty,
    efda_scores,
    entropy,
    fuse_evidence,
    least_confidence,
    margin,
    uncertainty_scores,
)
from .ops.seeding import badge_select, bmmal_select
from .ops.selection import k_center_greedy, topb_select
from .selectors import Selector, select

__version__ = "0.1.0"

__all__ = [
    "BackendError", "explain", "trace",
    "fuse_evidence", "dirichlet_uncertainty", "efda_scores",
    "uncertainty_scores", "entropy", "margin", "least_confidence", "bald",
    "topb_select", "k_center_greedy", "nearest_centroid", "kmeans_plusplus", "kmeans",
    "badge_select", "bmmal_select", "plackett_luce_sample", "plackett_luce_log_prob",
    "select", "Selector", "Session",
]


def __getattr__(name: str):
    if name == "Session":  # the labeling session imports the active-learning package: on first use
        from .session import Session
        return Session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
