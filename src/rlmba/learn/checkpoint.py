"""Atomic, checksummed files, checkpoints, and the fault-injection hook the resume tests use.

Every file a run writes goes through :func:`atomic_write`: the bytes go to a temporary file in
the same directory (named ``<file>.tmp-<pid>``), are flushed and fsync'ed, then moved over the
old file with ``os.replace`` (atomic on POSIX). A reader, or a run resumed after a crash at any
instant, sees the previous file or the new one, never a torn one. A write that fails (read-only
directory, full disk) raises ``OSError`` naming the path and the errno and leaves the old file.

A checkpoint is ``MAGIC``, the SHA-256 of the payload, the payload's length, then the payload
(``torch.save`` of tensors, numbers, strings, lists and dicts; loaded with ``weights_only=True``,
so no code runs). :func:`load` checks all three before unpickling anything: a truncated,
zero-length, text, foreign or bit-flipped file raises :class:`CheckpointError`. The checkpoint
before the current one is kept beside it (``<file>.prev``), so a damaged file never costs more
than one round.

Fault injection (tests only): ``RLMBA_FAULT_INJECT="<point>:<job>:<round>"`` makes the process
SIGKILL itself at that point: ``epoch`` (after the first training epoch of that round),
``select`` (just before that round's selection) or ``save`` (that round's checkpoint written to
its temporary file, not yet moved into place).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import signal
import zipfile

import torch

FAULT_ENV = "RLMBA_FAULT_INJECT"
MAGIC = b"RLMBA-CHECKPOINT-1\n"
_DIGEST = hashlib.sha256().digest_size
_HEADER = len(MAGIC) + _DIGEST + 8


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, foreign, or from another run."""


def maybe_fault(point: str, job: int, round_: int) -> None:
    """SIGKILL this process if ``RLMBA_FAULT_INJECT`` names exactly this point."""
    spec = os.environ.get(FAULT_ENV)
    if spec and spec == f"{point}:{job}:{round_}":
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write(path: str, data: bytes, fault=None, keep_previous: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    ``keep_previous``: the file being replaced stays readable as ``<path>.prev``.
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if fault is not None:
            fault()
        if keep_previous and os.path.exists(path):
            os.replace(_hard_link(path, f"{path}.prev.tmp-{os.getpid()}"), f"{path}.prev")
        os.replace(tmp, path)
    except OSError as exc:  # read-only directory, full disk ...: name the file, not the temporary
        _remove(tmp)
        raise OSError(exc.errno, exc.strerror or str(exc), path) from None
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def _hard_link(src: str, dst: str) -> str:
    _remove(dst)
    os.link(src, dst)
    return dst


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _fsync_dir(directory: str) -> None:
    """Make a rename durable (best effort: not every file system lets a directory be fsync'ed)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_stale_temp(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`atomic_write` whose writer is gone."""
    pid = name.rpartition(".tmp-")[2]
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def dumps(obj) -> bytes:
    """A checkpoint's bytes: header (magic, SHA-256, length) and the ``torch.save`` payload."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + len(payload).to_bytes(8, "little") + payload


def atomic_save(obj, path: str, fault=None) -> None:
    """Write a checkpoint of ``obj`` to ``path`` atomically, keeping the previous one as ``<path>.prev``."""
    atomic_write(path, dumps(obj), fault, keep_previous=True)


def loads(blob: bytes, path: str = "checkpoint") -> dict:
    """The object of a checkpoint's bytes; :class:`CheckpointError` unless they are intact."""
    if not blob:
        raise CheckpointError(f"{path}: empty file (0 bytes)")
    if not blob.startswith(MAGIC):
        kind = "a pickle or torch file from elsewhere" if blob[:1] == b"\x80" or blob[:2] == b"PK" else \
            "text" if _is_text(blob[:256]) else "unknown data"
        raise CheckpointError(f"{path}: not an rlmba checkpoint ({kind}, no rlmba header)")
    if len(blob) < _HEADER:
        raise CheckpointError(f"{path}: truncated ({len(blob)} bytes, header incomplete)")
    digest, size = blob[len(MAGIC):len(MAGIC) + _DIGEST], int.from_bytes(blob[_HEADER - 8:_HEADER], "little")
    payload = blob[_HEADER:]
    if len(payload) != size:
        raise CheckpointError(f"{path}: truncated or padded ({len(payload)} payload bytes, header says {size})")
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path}: corrupted (SHA-256 mismatch)")
    try:
        obj = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: unreadable payload ({type(exc).__name__}: {_first_line(exc)})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(obj).__name__}")
    return obj


def load(path: str) -> dict:
    """A checkpoint written by :func:`atomic_save`; :class:`CheckpointError` if it is not intact."""
    with open(path, "rb") as f:
        return loads(f.read(), path)


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]

