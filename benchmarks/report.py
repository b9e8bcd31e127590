"""Run the benchmark suites and write benchmarks/RESULTS.md: ``make results`` (or
``python benchmarks/report.py [pytest args...]``, e.g. ``-k efda`` for one suite)."""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))


def run(pytest_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [sys.executable, "-m", "pytest", HERE, "-q", "-p", "no:randomly", f"--benchmark-json={out}", *pytest_args]
        subprocess.run(cmd, check=True)
        with open(out) as f:
            return json.load(f)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def table(rows: list[dict]) -> list[str]:
    """One row per provider; a ratio column per pure-PyTorch reference (providers named torch*)."""
    medians = {r["extra_info"]["provider"]: r["stats"]["median"] for r in rows}
    refs = sorted(p for p in medians if p.startswith("torch"))
    extras = [k for k in ("peak_extra_bytes", "sgemm_ms") if any(k in r["extra_info"] for r in rows)]
    head = ["provider", "median ms", "GB/s (min bytes)", *[f"vs {ref}" for ref in refs], *extras]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: r["stats"]["median"]):
        info, t = r["extra_info"], r["stats"]["median"]
        cells = [info["provider"], f"{t * 1e3:.2f}", f"{info['bytes'] / t / 1e9:.1f}"]
        cells += [f"{medians[ref] / t:.1f}x" for ref in refs]
        cells += [_extra(k, info.get(k)) for k in extras]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _extra(key: str, value) -> str:
    if value is None:
        return ""
    return f"{value / 2**20:.0f} MiB" if key == "peak_extra_bytes" else f"{value:.1f}"


def write(data: dict, path: str, command: str) -> None:
    groups = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)
    first = data["benchmarks"][0]["extra_info"] if data["benchmarks"] else {}
    lines = [
        "# rlmba benchmark results", "",
        f"Produced by `{command}` on {datetime.date.today()} — git {first.get('git', '?')}, "
        f"{first.get('threads', '?')} threads, torch {first.get('torch', '?')}, {cpu_model()}, "
        f"python {platform.python_version()}.",
        "Medians of 7 rounds after a warm-up; every provider's output was checked against the "
        "reference before timing. GB/s counts the bytes the op must move at least (inputs read "
        "once, outputs written once). Ratios are against the pure-PyTorch references (torch-*) in "
        "the same run; peak_extra_bytes is the resident memory the call added at its peak.", "",
    ]
    for group in sorted(groups):
        lines += [f"## {group}", "", *table(groups[group]), ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv: list[str]) -> None:
    data = run(argv)
    path = os.path.join(HERE, "RESULTS.md")
    write(data, path, "make results" if not argv else f"python benchmarks/report.py {' '.join(argv)}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
