"""The CPU kernel variant: an ``RLMBA_CPU_ISA`` this CPU lacks raises ValueError on import, which
becomes the reason the cpp backend cannot run (``rlmba info`` prints it)."""
from ... import _C

ISA = _C.cpu_isa()
