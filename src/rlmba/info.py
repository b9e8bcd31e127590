"""``python -m rlmba.info`` / ``rlmba info``: versions, build features, and every backend of every
op with whether it can run here and, if not, why."""
from __future__ import annotations

import importlib
import os
import platform

import torch

from . import __version__
from ._dispatch import BACKENDS, DEVICES, backend_reasons, explain, public_ops


def _version(module: str) -> str:
    try:
        return importlib.import_module(module).__version__
    except Exception as exc:
        return f"not available ({type(exc).__name__})"


def build_info() -> dict:
    try:
        from . import _C
    except ImportError as exc:
        return {"compiled module": f"not built: {exc}"}
    info = dict(_C.build_info)
    info["openmp threads"] = _C.cpu_max_threads()
    info["cpu isa"] = ", ".join(k for k, v in _C.cpu_features().items() if v) or "baseline"
    info["families"] = ", ".join(info["families"])
    return info


def report() -> str:
    lines = [f"rlmba {__version__}  python {platform.python_version()}  {platform.machine()}"]
    lines += [f"  {m:<8} {_version(m)}" for m in ("torch", "numpy", "numba", "triton")]
    lines.append(f"  torch threads {torch.get_num_threads()}, CUDA available: {torch.cuda.is_available()}")
    lines.append(f"  RLMBA_BACKEND={os.environ.get('RLMBA_BACKEND', '')!r} RLMBA_STRICT={os.environ.get('RLMBA_STRICT', '')!r}")
    lines.append("build (rlmba._C):")
    lines += [f"  {k}: {v}" for k, v in build_info().items()]
    lines.append("backends:")
    for device in DEVICES:
        for name in BACKENDS:
            reasons = backend_reasons(name, device)
            lines.append(f"  {device:<4} {name:<7} {'usable' if not reasons else 'unusable: ' + '; '.join(reasons)}")
    lines.append("ops (cpu):")
    for op in public_ops():
        usable = [b for b, r in explain(op, "cpu").items() if not r]
        lines.append(f"  {op:<24} {', '.join(usable) or 'none'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    print(report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
