"""The torch backend of the selection ops: the reference implementations themselves (any device)."""
from ..._dispatch import implements
from ...reference import selection as ref

implements("topb_select", "torch")(ref.topb_select)
implements("k_center_greedy", "torch")(ref.TorchKCenter)
