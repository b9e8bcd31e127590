"""Triton implementations of the scoring ops (kernels in :mod:`rlmba.kernels.scoring`): every float
dtype (float64 in float64); a row must fit one tile (C <= ``MAX_CLASSES``).

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
from __future__ import annotations

from ..._checks import FLOAT_DTYPES
from ..._dispatch import implements
from ...kernels import scoring as kernels

for _op in ("fuse_evidence", "dirichlet_uncertainty", "efda_scores", "uncertainty_scores", "bald"):
    implements(_op, "triton", dtypes=FLOAT_DTYPES, limits={"C": kernels.MAX_CLASSES})(getattr(kernels, _op))
