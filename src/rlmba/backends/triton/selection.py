"""Triton implementations of k_center_greedy (every float dtype, both metrics) and topb_select
(float32 and float64 scores); kernels in :mod:`rlmba.kernels.selection`.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
from __future__ import annotations

from ..._checks import FLOAT_DTYPES, NATIVE_DTYPES
from ..._dispatch import implements
from ...kernels import selection as kernels
from ...reference.selection import METRICS

implements("k_center_greedy", "triton", dtypes=FLOAT_DTYPES, values={"metric": METRICS})(kernels.TritonKCenter)
implements("topb_select", "triton", dtypes=NATIVE_DTYPES)(kernels.topb_select)
