"""A session directory's files: atomic writes, the writer lock, and the fault points tests kill at.

Every file is written to a temporary name in the same directory, flushed, fsync'ed and moved over
the old one with ``os.replace`` (atomic on POSIX), then the directory is fsync'ed: a reader, or a
process started after a SIGKILL at any instant, sees the old file or the new one, never a torn
one. ``state.json`` is the only file a verb's outcome depends on and is always written last.

Fault injection (tests only): ``RLMBA_FAULT_INJECT="session:<point>"`` makes the process SIGKILL
itself at that point (:func:`fault`): ``query-picked`` (picks made, nothing written),
``query-files`` (query files written, state not), ``state-tmp`` (new state in its temporary file,
not yet moved into place), ``state-saved`` (state moved into place, the verb not yet returned).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal


class SessionError(ValueError):
    """A session verb refused: bad input, a busy or missing session, a pending query."""


def fault(point: str) -> None:
    """SIGKILL this process if ``RLMBA_FAULT_INJECT`` is ``session:<point>``."""
    from ..learn.checkpoint import FAULT_ENV

    if os.environ.get(FAULT_ENV) == f"session:{point}":
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def atomic_write(path: str, data: bytes | str, fault_point: str | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    if fault_point:
        fault(fault_point)
    os.replace(tmp, path)
    _fsync_dir(path)


def _plain(x):
    """NaN -> None, recursively: JSON has no NaN."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def write_json(path: str, obj, fault_point: str | None = None) -> None:
    atomic_write(path, json.dumps(_plain(obj), indent=1) + "\n", fault_point)


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def remove_stale(directory: str) -> None:
    """Delete temporary files a killed writer left behind (call with the lock held)."""
    for root, _, files in os.walk(directory):
        for name in files:
            if ".tmp-" in name:
                os.remove(os.path.join(root, name))


@contextlib.contextmanager
def writer_lock(directory: str):
    """Hold ``DIR/.lock`` exclusively (``flock``; the kernel drops it when the holder dies, even by
    SIGKILL). A second writer is refused at once with the holder's pid, never left waiting."""
    path = os.path.join(directory, ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise SessionError(f"{directory}: busy: another rlmba process (pid {holder}) is changing this "
                               "session; wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        remove_stale(directory)
        yield
    finally:
        os.close(fd)
