"""Triton implementations of nearest_centroid and cluster_sums (kernels in :mod:`rlmba.kernels.clustering`)
and kmeans_plusplus (:mod:`rlmba.kernels.kmeanspp`; its D^2 pick runs on the host, one copy of the N
distances per pick, see that module's docstring).

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written.
"""
from __future__ import annotations

from ..._checks import FLOAT_DTYPES
from ..._dispatch import implements
from ...kernels import clustering as kernels
from ...kernels import kmeanspp as kmeanspp_kernels

implements("nearest_centroid", "triton", dtypes=FLOAT_DTYPES)(kernels.nearest_centroid)
implements("cluster_sums", "triton", dtypes=FLOAT_DTYPES)(kernels.cluster_sums)
implements("kmeans_plusplus", "triton", dtypes=FLOAT_DTYPES)(kmeanspp_kernels.kmeanspp)
