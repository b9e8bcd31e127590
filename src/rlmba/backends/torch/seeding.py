"""The torch backend of the seeding ops: the factored float64 reference (any device)."""
from ...reference.seeding import kmeanspp_factored
from ..seeding import register_gradient_seeding

register_gradient_seeding("torch", kmeanspp_factored)
