"""Run the benchmark suites and write benchmarks/RESULTS.md: ``make results`` (or
``python benchmarks/report.py [pytest args...]``, e.g. ``-k efda`` for one suite).

The raw pytest-benchmark data is kept in benchmarks/results.json. ``--update`` re-runs only the
selected benchmarks and replaces them there, keeping the others; RESULTS.md names every
command whose numbers it shows."""
from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
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
    extras = [k for k in ("peak_extra_bytes", "per_pick_ms", "pool_read_ms", "seeding_ms", "sgemm_equal_ms")
              if any(k in r["extra_info"] for r in rows)]
    head = ["provider", "median ms", "GB/s (min bytes)", *[f"vs {ref}" for ref in refs], *extras]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: r["stats"]["median"]):
        info, t = r["extra_info"], r["stats"]["median"]
        cells = [info["provider"], f"{t * 1e3:.2f}", f"{info['bytes'] / t / 1e9:.1f}"]
        cells += [f"{medians[ref] / t:.1f}x" for ref in refs]
        cells += [_extra(k, info.get(k), info) for k in extras]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _extra(key: str, value, info: dict) -> str:
    if value is None:
        return ""
    if key != "peak_extra_bytes":
        return f"{value:.1f}"
    size = info.get("input_bytes")
    return f"{value / 2**20:.0f} MiB" + (f" ({value / size:.2f}x input)" if size else "")


def write(data: dict, path: str) -> None:
    groups = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)
    first = data["benchmarks"][0]["extra_info"] if data["benchmarks"] else {}
    runs = "; ".join(f"`{r['command']}` on {r['date']} (git {r['git']})" for r in data["runs"])
    lines = [
        "# rlmba benchmark results", "",
        f"Produced by {runs}: {first.get('threads', '?')} threads, torch {first.get('torch', '?')}, "
        f"{cpu_model()}, python {platform.python_version()}.",
        "Medians of 7 rounds after a warm-up; every provider's output was checked against the "
        "reference before timing. GB/s counts the bytes the op must move at least (inputs read "
        "once, outputs written once). Ratios are against the pure-PyTorch references (torch-*) in "
        "the same run; peak_extra_bytes is the resident memory the call added at its peak.", "",
    ]
    for group in sorted(groups):
        lines += [f"## {group}", "", *table(groups[group]), ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def merge(old: dict, new: dict) -> dict:
    """``old`` with every benchmark that ``new`` measured replaced by ``new``'s."""
    fresh = {b["fullname"] for b in new["benchmarks"]}
    kept = [b for b in old["benchmarks"] if b["fullname"] not in fresh]
    shown = {b["fullname"] for b in kept}
    runs = [r for r in old["runs"] if shown & set(r["benchmarks"])]  # runs a kept benchmark came from
    return {"benchmarks": kept + new["benchmarks"], "runs": runs + new["runs"]}


def main(argv: list[str]) -> None:
    update = "--update" in argv
    argv = [a for a in argv if a != "--update"]
    data = run(argv)
    sha = next((b["extra_info"].get("git", "?") for b in data["benchmarks"]), "?")
    command = "make results" if not argv else f"python benchmarks/report.py {shlex.join(argv)}"
    if os.environ.get("RLMBA_BENCH_QUICK") == "1":
        command = "RLMBA_BENCH_QUICK=1 " + command
    data = {"benchmarks": data["benchmarks"],
            "runs": [{"command": command + (" --update" if update else ""), "date": str(datetime.date.today()),
                      "git": sha, "benchmarks": sorted(b["fullname"] for b in data["benchmarks"])}]}
    raw = os.path.join(HERE, "results.json")
    if update and os.path.exists(raw):
        with open(raw) as f:
            data = merge(json.load(f), data)
    with open(raw, "w") as f:
        json.dump(data, f, indent=1)
    path = os.path.join(HERE, "RESULTS.md")
    write(data, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
