"""Comparing strategies: every strategy x seed under one protocol, and the comparison outputs.

    results = run_comparison(RunConfig(strategies=["all"], seeds=[0, 1, 2], out="cmp"))
    path = run_baselines(RunConfig(seeds=[0, 1, 2], out="bl"))  # curves the RL-MBA reward reads

Protocol: :class:`rlmba.learn.runner.Experiment` runs each seed's strategies one after another;
a seed fixes the initial labeled set (drawn from the seed alone, see
:meth:`rlmba.learn.loop.ActiveLearner._initial`), the model initialisations and every
strategy's random stream, so all strategies of a seed start from the same labels.
:func:`check_protocol` verifies it on the results.

Outputs (``out``): everything :func:`rlmba.learn.report.write_results` writes (metrics.json/csv,
curves.json, summary.txt, learning_curve.png with every strategy in one plot), plus
``comparison.md`` (test Top-1 at each budget mean +- std over seeds, AULC, selection time per
round), ``comparison.csv`` (the same numbers, one row per strategy) and, for the embedded
``mfeat`` benchmark only, ``paper_table.md`` (the final-budget Top-1 beside the paper's table,
with ranks; beside a user's own dataset those columns would compare nothing).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import os
from typing import Sequence

import torch

from . import baselines as _register  # noqa: F401  (registers the baseline strategies)
from .checkpoint import atomic_write
from .config import RunConfig
from .metrics import aulc
from .report import _mean_std, curve, write_results
from .reward import BaselineCurves
from .runner import Experiment
from .strategies import STRATEGIES, available_strategies

PAPER_BASELINES = ("gcnal", "badge", "bmmal")  # the paper's reward baselines E
# Top-1 at 3,000 labels from the paper's main table: data, backbones and budget differ
PAPER_DATASETS = ("Food101", "KineticsSound", "VGGSound")
PAPER_TOP1 = {"random": (.8470, .4650, .2173), "entropy": (.8480, .4650, .2043), "gcnal": (.8510, .4600, .2033),
              "coreset": (.8422, .4600, .2013), "deepfool": (.8500, .4680, .1973), "bald": (.8450, .4550, .1993),
              "badge": (.8420, .4700, .2023), "bmmal": (.8609, .4745, .2053), "rlmba": (.8650, .4841, .2223)}
CANONICAL = ("random", "entropy", "margin", "least_confidence", "bald", "coreset", "badge", "bmmal",
             "deepfool", "gcnal", "uncertaingcn", "amcb_only", "efda_only", "rlmba")


def all_strategies() -> list[str]:
    """Every strategy rlmba ships (aliases such as ``coregcn`` = ``gcnal`` left out), paper order."""
    ours = [n for n in available_strategies()
            if STRATEGIES[n].__module__.startswith("rlmba.") and getattr(STRATEGIES[n], "alias_of", None) is None]
    return [n for n in CANONICAL if n in ours] + sorted(n for n in ours if n not in CANONICAL)


def expand_strategies(names: Sequence[str]) -> list[str]:
    """``"all"`` -> :func:`all_strategies`; duplicates dropped, order kept. Unknown names raise."""
    out: list[str] = []
    for name in names:
        for n in all_strategies() if name == "all" else [name]:
            if n not in STRATEGIES:
                raise ValueError(f"strategy: unknown {n!r}; available: {available_strategies()} or 'all'")
            if n not in out:
                out.append(n)
    return out


def check_protocol(results: dict) -> None:
    """Raise ValueError unless, for every seed, all strategies started from the same labeled set."""
    initial = results["config"]["initial"]
    by_seed: dict[str, tuple[str, list]] = {}
    for name, seeds in results["labeled"].items():
        for seed, labeled in seeds.items():
            first = sorted(labeled[:initial]) if isinstance(initial, int) else sorted(initial)
            if seed in by_seed and by_seed[seed][1] != first:
                raise ValueError(f"seed {seed}: {name!r} started from other labels than {by_seed[seed][0]!r}")
            by_seed.setdefault(seed, (name, first))


def selection_times(results: dict) -> dict[str, list[float]]:
    """Seconds of selection per round (mean over seeds), per strategy: rounds 0 .. T - 1.

    The loop's ``time_select`` covers building the round state, the pool's forward pass and the
    strategy's ``select``."""
    rounds = results["config"]["rounds"]
    out = {}
    for name, seeds in results["runs"].items():
        per_seed = [[r["time_select"] for r in hist if r["round"] < rounds] for hist in seeds.values()]
        if per_seed and per_seed[0]:
            out[name] = torch.tensor(per_seed, dtype=torch.float64).mean(0).tolist()
    return out


def comparison(results: dict, split: str = "test") -> tuple[list[int], list[dict]]:
    """(labels, one row per strategy): Top-1 mean/std at each budget, AULC mean/std, selection
    seconds per round (mean over seeds) and their mean."""
    labels, curves = curve(results["runs"], split)
    times = selection_times(results)
    rows = []
    for name, per_seed in curves.items():
        cells = [_mean_std([c[i] for c in per_seed]) for i in range(len(labels))]
        area = _mean_std([aulc(labels, c) for c in per_seed])
        t = times.get(name, [])
        rows.append({"strategy": name, "seeds": len(per_seed), "top1": cells, "aulc": area, "select_s": t,
                     "select_s_mean": sum(t) / len(t) if t else float("nan")})
    return labels, rows


def comparison_markdown(results: dict, split: str = "test") -> str:
    labels, rows = comparison(results, split)
    nseeds = max((r["seeds"] for r in rows), default=0)
    lines = [f"# {results['dataset']['name']}: {split} Top-1, mean +- std over {nseeds} seed(s)", "",
             "| strategy | " + " | ".join(f"{n} labels" for n in labels) + " | AULC | select s/round |",
             "|---|" + "---|" * (len(labels) + 2)]
    for r in rows:
        cells = [f"{m:.4f} +- {s:.4f}" for m, s in r["top1"]]
        lines.append(f"| {r['strategy']} | " + " | ".join(cells)
                     + f" | {r['aulc'][0]:.4f} +- {r['aulc'][1]:.4f} | {r['select_s_mean']:.3f} |")
    rounds = max((len(r["select_s"]) for r in rows), default=0)
    lines += ["", "## Selection time per round (s, mean over seeds)", "",
              "| strategy | " + " | ".join(f"round {t}" for t in range(rounds)) + " | mean |",
              "|---|" + "---|" * (rounds + 1)]
    for r in rows:
        lines.append(f"| {r['strategy']} | " + " | ".join(f"{x:.3f}" for x in r["select_s"])
                     + f" | {r['select_s_mean']:.3f} |")
    return "\n".join(lines) + "\n"


def paper_table_markdown(results: dict, split: str = "test") -> str:
    """Our final-budget Top-1 and AULC per strategy beside the paper's Top-1 (ranks in brackets,
    1 = best of the paper's nine methods in that column)."""
    labels, rows = comparison(results, split)
    ours = {r["strategy"]: r for r in rows}
    shared = [n for n in PAPER_TOP1 if n in ours]
    rank = {n: 1 + sum(ours[m]["top1"][-1][0] > ours[n]["top1"][-1][0] for m in shared) for n in shared}
    paper_rank = [{n: 1 + sum(PAPER_TOP1[m][d] > PAPER_TOP1[n][d] for m in PAPER_TOP1) for n in PAPER_TOP1}
                  for d in range(len(PAPER_DATASETS))]
    nseeds = max((r["seeds"] for r in rows), default=0)
    lines = [f"| strategy | {results['dataset']['name']} Top-1 @ {labels[-1]} labels ({nseeds} seeds) | AULC | "
             + " | ".join(f"paper: {d} @ 3,000" for d in PAPER_DATASETS) + " |", "|---|---|---|" + "---|" * len(PAPER_DATASETS)]
    for r in rows:
        n, (m, s) = r["strategy"], r["top1"][-1]
        mine = f"{m:.3f} ± {s:.3f}" + (f" ({rank[n]})" if n in rank else "")
        paper = [f"{PAPER_TOP1[n][d]:.4f} ({paper_rank[d][n]})" if n in PAPER_TOP1 else "—"
                 for d in range(len(PAPER_DATASETS))]
        lines.append(f"| {n} | {mine} | {r['aulc'][0]:.3f} ± {r['aulc'][1]:.3f} | " + " | ".join(paper) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(results: dict, out: str, split: str = "test") -> dict[str, str]:
    """:func:`rlmba.learn.report.write_results` plus comparison.md/.csv, and paper_table.md for
    the embedded benchmark (``mfeat``). Every file is written atomically."""
    check_protocol(results)
    paths = write_results(results, out)
    paths["comparison"] = os.path.join(out, "comparison.md")
    atomic_write(paths["comparison"], comparison_markdown(results, split).encode())
    if results["dataset"]["name"] == "mfeat":
        paths["paper_table"] = os.path.join(out, "paper_table.md")
        atomic_write(paths["paper_table"], paper_table_markdown(results, split).encode())
    labels, rows = comparison(results, split)
    rounds = max((len(r["select_s"]) for r in rows), default=0)
    header = (["strategy", "seeds"] + [f"top1_{n}_{k}" for n in labels for k in ("mean", "std")]
              + ["aulc_mean", "aulc_std", "select_s_mean"] + [f"select_s_round{t}" for t in range(rounds)])
    table = [header] + [[r["strategy"], r["seeds"], *[x for cell in r["top1"] for x in cell], *r["aulc"],
                         r["select_s_mean"], *r["select_s"]] for r in rows]
    paths["comparison_csv"] = os.path.join(out, "comparison.csv")
    atomic_write(paths["comparison_csv"], csv_bytes(table))
    return paths


def csv_bytes(rows: list[list]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


def run_comparison(cfg: RunConfig, *, dataset=None, model_factory=None, resume: bool = False,
                   overwrite: bool = False, quiet: bool = True) -> dict:
    """Run ``cfg.strategies`` (``"all"`` expanded) x ``cfg.seeds`` and write the comparison to
    ``cfg.out``. Returns the results dict (``results["paths"]``: the files written).
    ``resume``/``overwrite``: see :class:`rlmba.learn.rundir.RunDirectory`."""
    cfg = dataclasses.replace(cfg, strategies=expand_strategies(cfg.strategies))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    experiment = Experiment(cfg, dataset=dataset, model_factory=model_factory)
    results = experiment.run(resume=resume, overwrite=overwrite, write=lambda r: write_comparison(r, cfg.out))
    if not quiet:
        print(comparison_markdown(results))
        print(f"results in {os.path.abspath(cfg.out)}")
    return results


def baseline_curves(results: dict, use: Sequence[str] = PAPER_BASELINES) -> BaselineCurves:
    """Validation Top-1 per evaluation of the strategies ``use`` (one curve per seed), the
    :class:`~rlmba.learn.reward.BaselineCurves` RL-MBA's relative reward reads."""
    labels, curves = curve(results["runs"], "val")
    missing = [u for u in use if u not in curves]
    if missing:
        raise ValueError(f"baselines: no runs of {missing} in the results (have {sorted(curves)})")
    return BaselineCurves(labels, {u: curves[u] for u in use})


def run_baselines(cfg: RunConfig, use: Sequence[str] | None = None, path: str | None = None, *,
                  dataset=None, model_factory=None, resume: bool = False, overwrite: bool = False,
                  quiet: bool = True) -> str:
    """Run the baselines ``use`` (default: the paper's GCNAL, BADGE, BMMAL) under ``cfg``'s
    protocol and write their per-round validation Top-1 to ``path`` (default
    ``<cfg.out>/baselines.json``), the file ``rlmba run --baselines`` takes. Returns the path."""
    use = expand_strategies(list(use or PAPER_BASELINES))
    path = path or os.path.join(cfg.out, "baselines.json")

    def write(results):
        paths = write_comparison(results, cfg.out)
        baseline_curves(results, use).save(path)
        return {**paths, "baselines": path}
    cfg = dataclasses.replace(cfg, strategies=use)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    results = Experiment(cfg, dataset=dataset, model_factory=model_factory).run(resume=resume, overwrite=overwrite,
                                                                                write=write)
    if not quiet:
        print(comparison_markdown(results))
        print(f"baseline curves in {os.path.abspath(path)}")
    return path
