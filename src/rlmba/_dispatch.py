"""Backend registry and dispatch, derived from declarations.

Three kinds of declaration, each written once:

- an **op** (:func:`declare_op`, in its ``rlmba.ops`` module): the facts a call reports about its
  inputs (``dtype``, ``C``, ``metric`` ...) and the public names that run it (``entropy`` runs
  ``uncertainty_scores``; ``kmeans`` runs ``kmeans_plusplus``, ``nearest_centroid`` and
  ``cluster_sums``), and whether its values are differentiable in its inputs;
- a **backend** (:class:`Backend`, in ``rlmba/backends/<name>/__init__.py``): the devices it runs
  on, its rank in a device's automatic order, the modules it needs;
- an **implementation** (:func:`implements`, in the backend's op-family modules): the dtypes it
  takes, the largest value of a fact it handles (``limits``), the values of a fact it knows.

A call picks its backend in this order: the ``backend=`` argument, the ``RLMBA_BACKEND``
environment variable, then the device's automatic order. A requested backend that cannot take
the call raises :class:`BackendError` with its reasons; an automatic fallback past a
higher-ranked backend is logged once on ``logging.getLogger("rlmba")`` and raises instead under
``RLMBA_STRICT=1``. Every reason is derived from the declarations above: :func:`explain` and
``rlmba info`` print them.

Autograd: only the reference backend records gradients. A differentiable op called on another
backend with an input that requires grad (while grad mode is on) raises instead of returning a
result cut off from the graph. Index-returning ops (selection, sampling) have nothing to
differentiate.
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

from .backends import Backend  # noqa: F401  (declared there: backend packages import it without this module)

log = logging.getLogger("rlmba")


class BackendError(RuntimeError):
    """No backend can run the call; the message lists every candidate with its reasons."""


@dataclass(frozen=True)
class Op:
    name: str
    facts: tuple[str, ...]
    public: tuple[str, ...]
    differentiable: bool


@dataclass(frozen=True)
class Impl:
    fn: Callable
    dtypes: tuple | None  # None: any dtype
    limits: dict          # fact -> largest value handled
    values: dict          # fact -> the values known


_ops: dict[str, Op] = {}
_impls: dict[tuple[str, str], Impl] = {}
_logged: set[tuple] = set()
_trace = threading.local()


def declare_op(name: str, facts: tuple[str, ...] = ("dtype",), public: tuple[str, ...] | None = None,
               differentiable: bool = False) -> None:
    """Declare op ``name``: the facts its calls report, the public names that run it, and whether
    its values are differentiable in its inputs."""
    _ops[name] = Op(name, tuple(facts), tuple(public) if public is not None else (name,), differentiable)


def implements(op: str, backend: str, dtypes: tuple | None = None, limits: dict | None = None,
               values: dict | None = None):
    """Decorator: register ``fn`` as ``backend``'s implementation of ``op``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {BACKENDS}")

    def register(fn):
        _impls[(op, backend)] = Impl(fn, dtypes, dict(limits or {}), dict(values or {}))
        return fn

    return register


# ---------------------------------------------------------------- the declared backends
def _declarations() -> dict[str, Backend]:
    """Every package under rlmba.backends declares ``BACKEND`` in its ``__init__`` (no imports of
    its dependencies there), so this reads all of them without loading any."""
    from . import backends

    found = {}
    for info in pkgutil.iter_modules(backends.__path__):
        if info.ispkg:
            decl = importlib.import_module(f"{backends.__name__}.{info.name}").BACKEND
            found[decl.name] = decl
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


DECLARED = _declarations()
BACKENDS = tuple(DECLARED)
DEVICES = ("cpu", "cuda")
# device -> backends chosen automatically there, in order
PRIORITY = {d: tuple(n for n, b in DECLARED.items() if d in b.devices and d not in b.explicit) for d in DEVICES}
REFERENCE = next(n for n, b in DECLARED.items() if b.reference)


@functools.lru_cache(maxsize=None)
def _load(backend: str) -> tuple[str, ...]:
    """Import the backend's requirements, then every module of its package (each registers its
    implementations); a failure is the reason it cannot run. Done once per process."""
    package = f"rlmba.backends.{backend}"
    for module in DECLARED[backend].requires:
        try:
            importlib.import_module(module)
        except Exception as exc:  # an optional dependency or the compiled module is missing
            return (f"cannot import {module}: {type(exc).__name__}: {exc}",)
    try:
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{info.name}")
    except Exception as exc:
        return (f"cannot import {package}: {type(exc).__name__}: {exc}",)
    return ()


def _device_reasons(backend: str, device: str) -> list[str]:
    decl = DECLARED[backend]
    if device not in decl.devices:
        return [f"{backend} runs on {' and '.join(d.upper() for d in decl.devices)} tensors only, got device {device!r}"]
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return ["no CUDA device is available to torch"]
    need = decl.explicit.get(device)
    if need is not None:
        var, value = need.split("=", 1)
        if os.environ.get(var) != value:
            return [f"{backend} runs {device} tensors only under {need} (set before importing rlmba)"]
    return []


def backend_reasons(backend: str, device: str) -> list[str]:
    """Why ``backend`` cannot run anything on ``device`` (empty list: it can)."""
    return _device_reasons(backend, device) or list(_load(backend))


def _fact_reasons(backend: str, impl: Impl, facts: dict) -> list[str]:
    reasons = []
    dtype = facts.get("dtype")
    if impl.dtypes is not None and dtype is not None and dtype not in impl.dtypes:
        names = ", ".join(str(d).replace("torch.", "") for d in impl.dtypes)
        reasons.append(f"{backend} takes {names}, got {str(dtype).replace('torch.', '')}")
    for fact, limit in impl.limits.items():
        if facts.get(fact) is not None and facts[fact] > limit:
            reasons.append(f"{backend} handles {fact} <= {limit}, got {fact} = {facts[fact]}")
    for fact, known in impl.values.items():
        if facts.get(fact) is not None and facts[fact] not in known:
            reasons.append(f"{backend} knows {fact} in {tuple(known)}, got {facts[fact]!r}")
    return reasons


def _impl_reasons(op: str, backend: str, device: str, facts: dict) -> tuple[Impl | None, list[str]]:
    reasons = backend_reasons(backend, device)
    if reasons:
        return None, reasons
    impl = _impls.get((op, backend))
    if impl is None:
        return None, [f"{backend} has no implementation of {op}"]
    reasons = _fact_reasons(backend, impl, facts)
    return (None, reasons) if reasons else (impl, [])


def _check_facts(op: str, facts: dict) -> None:
    if op not in _ops:
        raise ValueError(f"{op!r} is not an op; known: {sorted(_ops)}")
    unknown = set(facts) - set(_ops[op].facts)
    if unknown:
        raise TypeError(f"{op}: unknown facts {sorted(unknown)}; {op} declares {_ops[op].facts}")


# ---------------------------------------------------------------- dispatch
def _requested(backend: str | None) -> str | None:
    name = backend or os.environ.get("RLMBA_BACKEND") or None
    if name is not None and name not in BACKENDS:
        source = "backend" if backend else "RLMBA_BACKEND"
        raise ValueError(f"{source}={name!r} is not a backend; choose one of {BACKENDS}")
    return name


def dispatch(op: str, device: str, backend: str | None = None, **facts) -> Callable:
    """The implementation of ``op`` that runs this call; ``facts`` describe the inputs."""
    _check_facts(op, facts)
    requested = _requested(backend)
    if requested is not None:
        impl, reasons = _impl_reasons(op, requested, device, facts)
        if impl is None:
            raise BackendError(f"{op}: backend {requested!r} cannot run on {device}: " + "; ".join(reasons))
        return _traced(op, requested, impl.fn)

    skipped = []
    for name in PRIORITY.get(device, (REFERENCE,)):
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


@functools.lru_cache(maxsize=None)
def _declare_all() -> None:
    """Import every ``rlmba.ops`` module: each declares its ops when imported, so the names are
    known to :func:`explain` and :func:`public_ops` whichever ops ran before."""
    from . import ops as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def _runs(name: str) -> list[str]:
    """The registered ops a public name runs."""
    _declare_all()
    ops = [op.name for op in _ops.values() if name in op.public]
    if not ops:
        raise ValueError(f"{name!r} is not an op; known: {public_ops()}")
    return ops


def explain(op: str, device: str, **facts) -> dict[str, list[str]]:
    """For every backend, the reasons it cannot run ``op`` (a public name, e.g. ``"entropy"``, or
    a registered op) on ``device`` (empty: it can)."""
    _declare_all()
    parts = [op] if op in _ops else _runs(op)
    out = {}
    for name in BACKENDS:
        reasons = []
        for part in parts:
            _check_facts(part, {k: v for k, v in facts.items() if k in _ops[part].facts or len(parts) == 1})
            found = _impl_reasons(part, name, device, facts)[1]
            reasons += found if len(parts) == 1 else [f"{part}: {r}" for r in found]
        out[name] = list(dict.fromkeys(reasons))
    return out


def public_ops() -> list[str]:
    """Every public op name (``rlmba.<name>``) that runs through the registry."""
    _declare_all()
    return sorted({name for op in _ops.values() for name in op.public})


def ops() -> list[str]:
    """Names of every registered op that has at least one implementation."""
    for name in BACKENDS:
        _load(name)
    return sorted({op for op, _ in _impls})


def automatic(device: str = "cpu", reference: bool = True) -> tuple[str, ...]:
    """The backends chosen automatically on ``device``, in order (without the reference if asked)."""
    return tuple(n for n in PRIORITY[device] if reference or n != REFERENCE)


# ---------------------------------------------------------------- tracing
def _traced(op: str, backend: str, fn: Callable) -> Callable:
    calls = getattr(_trace, "calls", None)
    if calls is not None:
        calls.append((op, backend))
    return _no_grad_guard(op, backend, fn) if _ops[op].differentiable and backend != REFERENCE else fn


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
