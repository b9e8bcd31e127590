"""The torch backend of the seeding ops: the factored float64 reference (any device)."""
from ..._dispatch import implements
from ...reference.seeding import kmeanspp_factored


@implements("badge_select", "torch")
def badge_select(probs, embeddings, u, b):
    return kmeanspp_factored(probs, [embeddings], None, u, b)


@implements("bmmal_select", "torch")
def bmmal_select(probs, hs, scales, u, b):
    return kmeanspp_factored(probs, hs, scales, u, b)
