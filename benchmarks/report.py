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
REFERENCES = ("torch-eager", "torch-compile")


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
    medians = {r["extra_info"]["provider"]: r["stats"]["median"] for r in rows}
    lines = ["| provider | median ms | GB/s (min bytes) | vs eager | vs compile |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["stats"]["median"]):
        p, t = r["extra_info"]["provider"], r["stats"]["median"]
        ratios = [f"{medians[ref] / t:.1f}x" if ref in medians else "" for ref in REFERENCES]
        gbs = r["extra_info"]["bytes"] / t / 1e9
        lines.append(f"| {p} | {t * 1e3:.2f} | {gbs:.1f} | {ratios[0]} | {ratios[1]} |")
    return lines


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
        "once, outputs written once). Ratios are against the pure-PyTorch reference in the same run.", "",
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
