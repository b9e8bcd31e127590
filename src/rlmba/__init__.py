"""rlmba: fast multimodal active learning (RL-MBA, CVPR 2026) on compiled kernels."""
from ._dispatch import BackendError, explain, trace
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

__version__ = "0.1.0"

__all__ = [
    "BackendError", "explain", "trace",
    "fuse_evidence", "dirichlet_uncertainty", "efda_scores",
    "uncertainty_scores", "entropy", "margin", "least_confidence", "bald",
]
