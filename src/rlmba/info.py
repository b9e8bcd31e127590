"""``python -m rlmba.info`` / ``rlmba info``: versions, build features, and every backend of every
op with whether it can run here and, if not, why."""
from __future__ import annotations

import importlib
import json
import os
import platform
from importlib import resources

import torch

from . import __version__
from ._dispatch import BACKENDS, DEVICES, backend_reasons, explain, public_ops


def _version(module: str) -> str:
    try:
        return importlib.import_module(module).__version__
    except Exception as exc:
        return f"not available ({type(exc).__name__})"


def build_decisions() -> dict:
    """What the build decided and why (C++ extension, CUDA kernels): ``rlmba/_build.json``,
    written by CMake at install time; empty for a build that predates it."""
    try:
        with resources.files("rlmba").joinpath("_build.json").open() as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def build_info() -> dict:
    decisions = {f"build: {k}": v for k, v in build_decisions().items()}
    try:
        from . import _C
    except ImportError as exc:
        return {"compiled module": f"not available ({exc}); the cpu ops run on numba or torch", **decisions}
    info = dict(_C.build_info)
    info["openmp threads"] = _C.cpu_max_threads()
    info["cpu isa"] = ", ".join(k for k, v in _C.cpu_features().items() if v) or "baseline"
    try:
        path = _C.cpu_isa()
    except ValueError as exc:
        path = f"unusable: {exc}; unset it or choose one this CPU has"
    info["cpu kernel path"] = f"{path} (RLMBA_CPU_ISA={os.environ.get('RLMBA_CPU_ISA', '')!r})"
    info["families"] = ", ".join(info["families"])
    return {**info, **decisions}


def report() -> str:
    lines = [f"rlmba {__version__}  python {platform.python_version()}  {platform.machine()}"]
    lines += [f"  {m:<8} {_version(m)}" for m in ("torch", "numpy", "numba", "triton")]
    lines.append(f"  torch threads {torch.get_num_threads()}, CUDA available: {torch.cuda.is_available()}")
    lines.append("  " + " ".join(f"{k}={os.environ.get(k, '')!r}" for k in ("RLMBA_BACKEND", "RLMBA_STRICT", "RLMBA_CPU_ISA")))
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
