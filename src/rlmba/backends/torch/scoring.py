"""The torch backend of the scoring ops: the reference implementations themselves."""
from ..._dispatch import implements
from ...reference import scoring as ref

for _op in ("fuse_evidence", "dirichlet_uncertainty", "efda_scores", "uncertainty_scores", "bald"):
    implements(_op, "torch")(getattr(ref, _op))
