"""Triton implementations of badge_select and bmmal_select (kernels in :mod:`rlmba.kernels.seeding`):
float32 and float64 inputs (the op widens halves), float64 distances.

Verified under TRITON_INTERPRET=1 on CPU; not run on a GPU when written. The D^2 pick runs on the
host (one device->host copy of the N float64 distances per pick); see the kernel module's docstring.
"""
from __future__ import annotations

from ..._checks import NATIVE_DTYPES
from ..seeding import register_gradient_seeding
from ...kernels import seeding as kernels

register_gradient_seeding("triton", kernels.kmeanspp_gradient, NATIVE_DTYPES)
