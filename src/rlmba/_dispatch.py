"""Backend registry and dispatch.

Each op has one implementation per backend. A call picks its backend in this order:
the ``backend=`` argument, then the ``RLMBA_BACKEND`` environment variable, then the
device's priority list (``PRIORITY``). An explicitly requested backend that cannot take
the call raises :class:`BackendError` with its reasons; an automatic fallback past a
higher-priority backend is logged once on ``logging.getLogger("rlmba")`` and raises
instead under ``RLMBA_STRICT=1``.

Backends declare *why they cannot run* (not built, no device, unsupported dtype ...),
never just "no": :func:`explain` and ``rlmba info`` print those reasons.

Autograd: only the ``torch`` backend records gradients. The ops in ``DIFFERENTIABLE`` return
values that are differentiable in their inputs; called on another backend with an input that
requires grad (while grad mode is on) they raise instead of silently returning a result cut
off from the graph. Index-returning ops (selection, sampling) have nothing to differentiate.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import pkgutil
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

log = logging.getLogger("rlmba")

BACKENDS = ("torch", "cpp", "numba", "triton", "cuda")
PRIORITY = {"cuda": ("triton", "cuda", "torch"), "cpu": ("cpp", "numba", "torch")}
DIFFERENTIABLE = frozenset({"fuse_evidence", "dirichlet_uncertainty", "efda_scores", "uncertainty_scores", "bald",
                            "nearest_centroid", "plackett_luce_log_prob"})
# Backends that are never in a device's priority list but may be asked for explicitly there:
# Triton's interpreter runs its kernels on CPU tensors (slowly; for tests).
EXPLICIT_ONLY = {"cpu": ("triton",)}


class BackendError(RuntimeError):
    """No backend can run the call; the message lists every candidate with its reasons."""


@dataclass(frozen=True)
class Impl:
    fn: Callable
    supports: Callable[..., list[str]] | None  # call facts -> reasons it cannot take them


_impls: dict[tuple[str, str], Impl] = {}
_logged: set[tuple] = set()
_trace = threading.local()


def implements(op: str, backend: str, supports: Callable[..., list[str]] | None = None):
    """Decorator: register ``fn`` as ``backend``'s implementation of ``op``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {BACKENDS}")

    def register(fn):
        _impls[(op, backend)] = Impl(fn, supports)
        return fn

    return register


# ---------------------------------------------------------------- backend availability
@functools.lru_cache(maxsize=None)
def _module_reasons(backend: str) -> tuple[str, ...]:
    """Import the backend's package and every module in it (each registers its implementations).

    The package's ``__init__`` imports what the backend needs (the compiled module, numba,
    triton); a failure there is the reason the backend cannot run. Done once per process.
    """
    package = f"rlmba.backends.{backend}"
    try:
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{package}.{info.name}")
    except Exception as exc:  # an optional dependency or the compiled module is missing
        return (f"cannot import {package}: {type(exc).__name__}: {exc}",)
    return ()


def _device_reasons(backend: str, device: str) -> list[str]:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return ["no CUDA device is available to torch"]
    if backend in ("cpp", "numba") and device != "cpu":
        return [f"{backend} runs on CPU tensors only, got device {device!r}"]
    if backend == "cuda" and device != "cuda":
        return ["the cuda backend runs on CUDA tensors only"]
    if backend == "triton" and device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        return ["Triton runs CPU tensors only under TRITON_INTERPRET=1 (set before importing rlmba)"]
    return []


def backend_reasons(backend: str, device: str) -> list[str]:
    """Why ``backend`` cannot run anything on ``device`` (empty list: it can)."""
    return _device_reasons(backend, device) or list(_module_reasons(backend))


def _impl_reasons(op: str, backend: str, device: str, facts: dict) -> tuple[Impl | None, list[str]]:
    reasons = backend_reasons(backend, device)
    if reasons:
        return None, reasons
    impl = _impls.get((op, backend))
    if impl is None:
        return None, [f"{backend} has no implementation of {op}"]
    if impl.supports is not None:
        reasons = impl.supports(**facts)
        if reasons:
            return None, reasons
    return impl, []


# ---------------------------------------------------------------- dispatch
def _requested(backend: str | None) -> str | None:
    name = backend or os.environ.get("RLMBA_BACKEND") or None
    if name is not None and name not in BACKENDS:
        source = "backend" if backend else "RLMBA_BACKEND"
        raise ValueError(f"{source}={name!r} is not a backend; choose one of {BACKENDS}")
    return name


def dispatch(op: str, device: str, backend: str | None = None, **facts) -> Callable:
    """The implementation of ``op`` that runs this call; ``facts`` describe the inputs."""
    requested = _requested(backend)
    if requested is not None:
        impl, reasons = _impl_reasons(op, requested, device, facts)
        if impl is None:
            raise BackendError(f"{op}: backend {requested!r} cannot run on {device}: " + "; ".join(reasons))
        return _traced(op, requested, impl.fn)

    skipped = []
    for name in PRIORITY.get(device, ("torch",)):
        impl, reasons = _impl_reasons(op, name, device, facts)
        if impl is not None:
            if skipped:
                _fallback(op, device, name, skipped)
            return _traced(op, name, impl.fn)
        skipped.append((name, reasons))
    raise BackendError(f"{op}: no backend can run on {device}:\n" + _format(skipped))


def _fallback(op: str, device: str, chosen: str, skipped: list) -> None:
    message = f"{op} on {device}: using {chosen}; skipped\n" + _format(skipped)
    if os.environ.get("RLMBA_STRICT") == "1":
        raise BackendError(message + "\n(RLMBA_STRICT=1 turns fallbacks into errors)")
    key = (op, device, chosen, tuple(name for name, _ in skipped))
    if key not in _logged:
        _logged.add(key)
        log.warning(message)


def _format(skipped: list) -> str:
    return "\n".join(f"  {name}: {'; '.join(reasons)}" for name, reasons in skipped)


def explain(op: str, device: str, **facts) -> dict[str, list[str]]:
    """For every backend, the reasons it cannot run ``op`` on ``device`` (empty: it can)."""
    return {name: _impl_reasons(op, name, device, facts)[1] for name in BACKENDS}


def ops() -> list[str]:
    """Names of every op that has at least one registered implementation."""
    for name in BACKENDS:
        _module_reasons(name)
    return sorted({op for op, _ in _impls})


# ---------------------------------------------------------------- tracing
def _traced(op: str, backend: str, fn: Callable) -> Callable:
    calls = getattr(_trace, "calls", None)
    if calls is not None:
        calls.append((op, backend))
    return _no_grad_guard(op, backend, fn) if op in DIFFERENTIABLE and backend != "torch" else fn


def _no_grad_guard(op: str, backend: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def call(*args, **kwargs):
        import torch

        if torch.is_grad_enabled() and any(_wants_grad(a) for a in (*args, *kwargs.values())):
            raise ValueError(f"{op}: an input requires grad, but the {backend} backend does not record gradients; "
                             f"pass backend='torch' to differentiate through {op}, or .detach() the input")
        return fn(*args, **kwargs)
    return call


def _wants_grad(x) -> bool:
    if isinstance(x, (list, tuple)):
        return any(_wants_grad(v) for v in x)
    return bool(getattr(x, "requires_grad", False))


@contextlib.contextmanager
def trace() -> Iterator[list[tuple[str, str]]]:
    """Record which backend ran each op inside the block: ``[(op, backend), ...]``."""
    outer = getattr(_trace, "calls", None)
    _trace.calls = calls = []
    try:
        yield calls
    finally:
        _trace.calls = outer
        if outer is not None:
            outer.extend(calls)
