"""The pure-PyTorch backend: the reference implementations themselves, on any device."""
from .. import Backend

BACKEND = Backend("torch", devices=("cpu", "cuda"), rank=9, reference=True)
