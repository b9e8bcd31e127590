"""Results directory: metrics (JSON, CSV), baseline curves, summary table, and plots.

Plots use matplotlib's Agg canvas through the object API (no pyplot, no global backend switch).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os

import torch

from .checkpoint import atomic_write
from .metrics import aulc
from .reward import BaselineCurves


def _mean_std(values: list[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return t.mean().item(), (t.std(unbiased=False).item() if len(values) > 1 else 0.0)


def curve(runs: dict, split: str = "test") -> tuple[list[int], dict[str, list[list[float]]]]:
    """(labels, {strategy: per-seed Top-1 lists}) from ``results["runs"]``; seeds must agree on labels."""
    labels, out = None, {}
    for name, seeds in runs.items():
        if not seeds:
            continue
        out[name] = []
        for hist in seeds.values():
            lab = [r["labels"] for r in hist]
            labels = labels or lab
            if lab != labels:
                raise ValueError(f"runs[{name!r}]: labeled-set sizes {lab} differ from {labels}")
            out[name].append([r[split]["top1"] for r in hist])
    return labels or [], out


def rows(results: dict, modalities: list[str]) -> list[dict]:
    """One flat row per (strategy, seed, round)."""
    out = []
    for name, seeds in results["runs"].items():
        for seed, hist in seeds.items():
            for r in hist:
                row = {"strategy": name, "seed": seed, "round": r["round"], "labels": r["labels"]}
                for split in ("val", "test"):
                    for k in ("top1", "nll", "ece", "imbalance"):
                        if k in r[split]:
                            row[f"{split}_{k}"] = r[split][k]
                for i, m in enumerate(modalities):
                    row[f"top1_{m}"] = r["val"]["top1_modality"][i]
                    row[f"delta_{m}"] = r["val"]["delta"][i]
                    row[f"w_{m}"] = r["weights"][i]
                    row[f"T_{m}"] = r["temperatures"][i]
                    row[f"shapley_{m}"] = r["shapley"][i]
                for k in ("train_loss", "time_train", "time_select"):
                    row[k] = r[k]
                out.append(row)
    return out


def summary_table(results: dict) -> str:
    """Test Top-1 per round (mean +- std over seeds) and the AULC, one column per strategy."""
    labels, curves = curve(results["runs"], "test")
    names = list(curves)
    nseeds = max((len(v) for v in curves.values()), default=0)
    head = f"Test Top-1 (mean +- std over {nseeds} seed{'s' if nseeds != 1 else ''})"
    lines = [head, "labels " + "".join(f"{n:>17}" for n in names)]
    for i, n_lab in enumerate(labels):
        cells = [_mean_std([c[i] for c in curves[n]]) for n in names]
        lines.append(f"{n_lab:>6} " + "".join(f"{m:>10.4f}+-{s:.3f}" for m, s in cells))
    cells = [_mean_std([aulc(labels, c) for c in curves[n]]) for n in names]
    lines.append("  AULC " + "".join(f"{m:>10.4f}+-{s:.3f}" for m, s in cells))
    return "\n".join(lines)


HIGHLIGHT = ("rlmba",)
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def line_style(i: int) -> dict:
    """The i-th strategy's colour, line style and marker: tab10 colours, with the style and marker
    cycling at other periods (4, 7), so no two of the first 140 strategies look alike."""
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    return {"color": palette[i % len(palette)], "ls": LINE_STYLES[i % 4], "marker": MARKERS[i % 7]}


def plot_learning_curve(results: dict, path: str, highlight=HIGHLIGHT) -> None:
    """Mean test Top-1 per strategy over seeds. Up to 6 strategies: every one with a +-1 std band.
    More: a distinct colour, line style and marker each, the final Top-1 in the legend (sorted by
    it), and bands only for the ``highlight`` strategies (RL-MBA, drawn thick and black on top)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, curves = curve(results["runs"], "test")
    many = len(curves) > 6
    fig = Figure(figsize=(9 if many else 6, 5 if many else 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lines = []
    for i, (name, per_seed) in enumerate(curves.items()):
        t = torch.tensor(per_seed, dtype=torch.float64)
        mean, std = t.mean(0), t.std(0, unbiased=False)
        ours = name in highlight
        style = dict(line_style(i), color="black", ls="-") if ours else line_style(i)
        line, = ax.plot(labels, mean.tolist(), ms=4, lw=2.4 if ours else 1.3, zorder=3 if ours else 2,
                        label=f"{name} ({mean[-1]:.3f})" if many else name, **style)
        lines.append((mean[-1].item(), line))
        if ours or not many:
            ax.fill_between(labels, (mean - std).tolist(), (mean + std).tolist(), color=style["color"],
                            alpha=0.15 if many else 0.2, lw=0, zorder=1)
    ax.set_xlabel("labeled samples")
    ax.set_ylabel("test Top-1")
    bands = "; band: ±1 std of " + ", ".join(h for h in highlight if h in curves) if many else " and ±1 std"
    ax.set_title(f"{results['dataset']['name']}: mean over seeds{bands}", fontsize=10)
    ax.grid(alpha=0.3)
    if many:
        ordered = [line for _, line in sorted(lines, key=lambda p: -p[0])]
        ax.legend(handles=ordered, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False,
                  title="final Top-1", title_fontsize=8, handlelength=3)
    else:
        ax.legend()
    fig.tight_layout()
    _save_figure(fig, path)


def _save_figure(fig, path: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=os.path.splitext(path)[1][1:] or "png")
    atomic_write(path, buf.getvalue())


def plot_contributions(results: dict, path: str) -> None:
    """Left: final-round Shapley contributions per modality and strategy (mean over seeds).
    Right: AMCB weights w_m across rounds (mean over seeds) of the first strategy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mods = results["dataset"]["modalities"]
    runs = {n: s for n, s in results["runs"].items() if s}
    fig = Figure(figsize=(11, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    width = 0.8 / max(len(runs), 1)
    for k, (name, seeds) in enumerate(runs.items()):
        phi = torch.tensor([h[-1]["shapley"] for h in seeds.values()], dtype=torch.float64).mean(0)
        ax.bar([i + k * width for i in range(len(mods))], phi.tolist(), width, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(mods))], mods, rotation=30, ha="right")
    ax.set_ylabel("Shapley contribution to p(true class)")
    ax.set_title("modality contributions, last round")
    ax.legend()
    if runs:
        name, seeds = next(iter(runs.items()))
        w = torch.tensor([[r["weights"] for r in h] for h in seeds.values()], dtype=torch.float64).mean(0)
        labels = [r["labels"] for r in next(iter(seeds.values()))]
        for i, m in enumerate(mods):
            ax2.plot(labels, w[:, i].tolist(), marker="o", ms=3, label=m)
        ax2.set_title(f"AMCB weights w ({name})")
        ax2.set_xlabel("labeled samples")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, path)


def write_results(results: dict, out: str) -> dict[str, str]:
    """Write every output file into ``out``, each atomically; returns {what: path}."""
    os.makedirs(out, exist_ok=True)
    paths = {k: os.path.join(out, f) for k, f in [
        ("json", "metrics.json"), ("csv", "metrics.csv"), ("curves", "curves.json"), ("summary", "summary.txt"),
        ("learning_curve", "learning_curve.png"), ("contributions", "modality_contributions.png")]}
    text = json.dumps(results, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x)
    atomic_write(paths["json"], text.encode())
    flat = rows(results, results["dataset"]["modalities"])
    if flat:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
        atomic_write(paths["csv"], buf.getvalue().encode())
    labels, val_curves = curve(results["runs"], "val")
    if val_curves:
        BaselineCurves(labels, val_curves).save(paths["curves"])
        atomic_write(paths["summary"], (summary_table(results) + "\n").encode())
        plot_learning_curve(results, paths["learning_curve"])
        plot_contributions(results, paths["contributions"])
    return paths
