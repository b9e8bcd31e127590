"""The torch backend of the Plackett-Luce ops (the only one, by design: see rlmba.ops.sampling)."""
from ..._dispatch import implements
from ...ops.selection import topb_select
from ...reference import sampling as ref


@implements("plackett_luce_sample", "torch")
def plackett_luce_sample(logits, u, b):
    """Gumbel-top-b through topb_select (compiled backends; ties -> lower index), then log P."""
    idx = topb_select(ref.gumbel_keys(logits, u), b)
    return idx, ref.plackett_luce_log_prob(logits, idx)


implements("plackett_luce_log_prob", "torch")(ref.plackett_luce_log_prob)
