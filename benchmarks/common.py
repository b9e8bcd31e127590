"""Shared pieces of the benchmark suites: providers, the one-time correctness check, and the
record every timing carries (sizes, bytes moved, threads, versions, git sha)."""
from __future__ import annotations

import os
import subprocess

import torch

import rlmba
from rlmba._dispatch import automatic, explain

QUICK = os.environ.get("RLMBA_BENCH_QUICK") == "1"  # small sizes: a smoke run of every suite
COMPILED = {}


def size(full: int, quick: int) -> int:
    return quick if QUICK else full


def backends(op: str, **facts) -> list[str]:
    """Every backend chosen automatically on the CPU that can run ``op`` here, without the
    reference (timed separately as the eager baseline); Triton's interpreter is a test tool."""
    reasons = explain(op, "cpu", **facts)
    return [b for b in automatic("cpu", reference=False) if not reasons[b]]


def providers(op: str, **facts) -> list[str]:
    """Backends plus the pure-PyTorch reference, eager and under torch.compile."""
    return backends(op, **facts) + ["torch-eager", "torch-compile"]


def compiled(fn):
    """torch.compile of a reference function, compiled once per function."""
    if fn not in COMPILED:
        COMPILED[fn] = torch.compile(fn, dynamic=False)
    return COMPILED[fn]


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(__file__), check=True).stdout.strip()
    except Exception:
        return "unknown"


def record(benchmark, *, op: str, provider: str, case: str, bytes_moved: int, **sizes) -> None:
    benchmark.group = f"{op} {case}"
    benchmark.extra_info.update(
        op=op, provider=provider, case=case, bytes=bytes_moved, threads=torch.get_num_threads(),
        torch=torch.__version__, rlmba=rlmba.__version__, git=git_sha(), **sizes)


def check_once(out, ref, what: str) -> None:
    """Before timing: the provider's output matches the reference (float32 tolerance)."""
    outs, refs = (o if isinstance(o, tuple) else (o,) for o in (out, ref))
    for o, r in zip(outs, refs):
        torch.testing.assert_close(o.double(), r.double(), rtol=1e-4, atol=1e-5, equal_nan=True,
                                   msg=lambda m: f"{what}: {m}")
