"""The pure-PyTorch backend: the reference implementations themselves, on any device."""
from .._dispatch import implements
from ..reference import scoring as ref

for _op in ("fuse_evidence", "dirichlet_uncertainty", "efda_scores", "uncertainty_scores", "bald"):
    implements(_op, "torch")(getattr(ref, _op))
