"""Backends: one package per backend (``torch``, ``cpp``, ``numba``, ``triton``, ``cuda``), one
module per op family inside it (``scoring``, ``selection``, ...). Each module registers its
implementations with :func:`rlmba._dispatch.implements` when imported; the dispatcher imports a
backend's package and all its modules lazily, on first use. A package's ``__init__`` imports
what the backend needs, so an import failure there is the reason the backend cannot run.

Contract shared by every backend (inputs are already validated by :mod:`rlmba.ops`):

- ``zs``: list of M ``[n, C]`` logit tensors, rows contiguous (``stride == (C, 1)``), one dtype
  among float16, bfloat16, float32, float64, all on one device.
- ``weights``, ``temperatures``: tuples of M Python floats (weights >= 0 sum to 1, T > 0).
- Half inputs compute in float32; float64 computes in float64. Outputs are new tensors of that
  compute dtype on the input's device.

=========================  ====================================================  ===============
op                         arguments                                             returns
=========================  ====================================================  ===============
fuse_evidence              zs, weights | None, temperatures, rule                alpha [n, C]
dirichlet_uncertainty      alpha [n, C] (rows contiguous), kind                  [n]
efda_scores                zs, weights, temperatures, kind                       ([n], [M, n])
uncertainty_scores         x [n, C] (rows contiguous), from_logits               [3, n]
bald                       probs [S, n, C] (rows contiguous, any stride(0))      [n]
=========================  ====================================================  ===============
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backend:
    """A backend's declaration. ``devices``: where it runs; ``explicit``: devices where it runs
    only when asked for by name, each with the ``VAR=value`` environment it needs there (Triton's
    interpreter on CPU tensors); ``rank``: its place in the automatic order (lower first);
    ``requires``: modules it imports, whose import failure is the reason it cannot run."""
    name: str
    devices: tuple[str, ...]
    rank: int
    requires: tuple[str, ...] = ()
    explicit: dict[str, str] = field(default_factory=dict)
    reference: bool = False  # the specification every other backend is tested against
