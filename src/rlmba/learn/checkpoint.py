"""Atomic checkpoint files, and the fault-injection hook the resume tests use.

A checkpoint is written to a temporary file in the same directory, flushed and fsync'ed, then
moved over the old one with ``os.replace`` (atomic on POSIX): a reader, or a run resumed after
a crash at any instant, sees either the previous checkpoint or the new one, never a torn file.

Fault injection (tests only): ``RLMBA_FAULT_INJECT="<point>:<job>:<round>"`` makes the process
SIGKILL itself at that point — ``epoch`` (after the first training epoch of that round) or
``save`` (checkpoint of that round written to its temporary file but not yet moved into place).
"""
from __future__ import annotations

import os
import signal

import torch

FAULT_ENV = "RLMBA_FAULT_INJECT"


def maybe_fault(point: str, job: int, round_: int) -> None:
    """SIGKILL this process if ``RLMBA_FAULT_INJECT`` names exactly this point."""
    spec = os.environ.get(FAULT_ENV)
    if spec and spec == f"{point}:{job}:{round_}":
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_save(obj, path: str, fault=None) -> None:
    """``torch.save`` to ``path`` through a temporary file and ``os.replace``."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    if fault is not None:
        fault()
    os.replace(tmp, path)
    try:  # make the rename itself durable
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def load(path: str) -> dict:
    """A checkpoint written by :func:`atomic_save` (tensors, numbers, strings, lists, dicts only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
