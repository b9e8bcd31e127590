"""What a session holds, for people: the status summary, its learning curve, and the exports
(every label as CSV or npz; a query as Label Studio import tasks)."""
from __future__ import annotations

import io
import json
import math
import os

import numpy as np

from .pool import Pool
from .store import SessionError, atomic_write


def summary(session) -> dict:
    """Rounds, labels per class (training / validation), validation metrics per round, pending."""
    s, state = session.settings, session.state()
    names = s["class_names"] or [str(c) for c in range(s["num_classes"])]
    val = set(state["val"])
    per_class = {n: [0, 0] for n in names}
    for i, c in state["labels"]:
        per_class[names[c]][1 if i in val else 0] += 1
    rounds = []
    for r in state["rounds"]:
        m = r.get("metrics") or {}
        rounds.append({"round": r["round"], "strategy": r["strategy"], "asked": len(r["ids"]),
                       "labels_before": r["labels_before"], "replaced": bool(r.get("replaced")),
                       "val_top1": m.get("val", {}).get("top1"), "val_nll": m.get("val", {}).get("nll"),
                       "val_ece": m.get("val", {}).get("ece"), "test_top1": (m.get("test") or {}).get("top1"),
                       "train_labels": m.get("labels")})
    return {"dir": session.dir, "data": s["data"], "strategy": s["strategy"], "budget": s["budget"], "seed": s["seed"],
            "n": s["n"], "labels": len(state["labels"]), "validation_held_out": len(val), "per_class": per_class,
            "rounds": rounds, "pending": state["pending"]}


def _cell(x, fmt="{:.4f}") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def summary_text(info: dict, plot_path: str | None) -> str:
    held = f" ({info['validation_held_out']} held out for validation)" if info["validation_held_out"] else ""
    lines = [f"session {info['dir']}: strategy {info['strategy']}, budget {info['budget']}, seed {info['seed']}",
             f"pool {info['data']}: {info['n']} rows, {info['labels']} labeled by the session{held}", "",
             "labels per class (training + validation):"]
    lines += [f"  {name}: {t + v}" + (f" ({v} validation)" if v else "") for name, (t, v) in info["per_class"].items()]
    lines += ["", "round  strategy            asked  labels  val top1  val NLL  val ECE  test top1"]
    for r in info["rounds"]:
        note = "  (replaced)" if r["replaced"] else ""
        lines.append(f"{r['round']:>5}  {r['strategy']:<18} {r['asked']:>6}  {r['labels_before']:>6}  "
                     f"{_cell(r['val_top1']):>8}  {_cell(r['val_nll']):>7}  {_cell(r['val_ece']):>7}  "
                     f"{_cell(r['test_top1']):>9}{note}")
    if not info["rounds"]:
        lines.append("  (no query yet: rlmba session query DIR)")
    p = info["pending"]
    if p:
        asked = info["rounds"][p["round"]]["asked"]
        lines += ["", f"pending: round {p['round']}, {asked - len(p['ids'])} of {asked} answered "
                      f"(queries/round-{p['round']:03d}.csv)"]
    lines.append("validation metrics: the model trained at each query, on the labels held then")
    if plot_path:
        lines.append(f"learning curve: {plot_path}")
    return "\n".join(lines)


def plot(info: dict, path: str) -> str | None:
    """Validation (and test) Top-1 against the labels held at each query; None before any model."""
    pts = [r for r in info["rounds"] if r["val_top1"] is not None]
    if not pts:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = [r["labels_before"] for r in pts]
    ax.plot(x, [r["val_top1"] for r in pts], marker="o", label="validation")
    if any(r["test_top1"] is not None for r in pts):
        ax.plot(x, [r["test_top1"] for r in pts], marker="s", label="test")
    ax.set_xlabel("labels")
    ax.set_ylabel("Top-1")
    ax.set_title(f"labeling session: {info['strategy']}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(path, buf.getvalue())
    return path


def export(session, out: str, label_studio: bool = False, field: str | None = None) -> str:
    """``.csv`` (id,label) or ``.npz`` (id, label, validation) of every label the session holds
    (the pool file's and the answers); ``label_studio``: the pending (else the last) query as a
    JSON list of Label Studio tasks ``{"data": {"id", "round", "score"[, field]}}``."""
    state = session.state()
    if label_studio:
        return _label_studio(session, state, out, field)
    pool = Pool(session.settings["data"], session.settings["num_classes"])
    known = {int(i): int(pool.y[i]) for i in np.flatnonzero(pool.y >= 0)}
    known.update({i: c for i, c in state["labels"]})
    ids = sorted(known)
    val = set(state["val"]) | {i for i in ids if pool.split[i] == 1}
    ext = os.path.splitext(out)[1].lower()
    if ext == ".csv":
        text = "id,label\n" + "".join(f"{i},{known[i]}\n" for i in ids)
        atomic_write(out, text)
    elif ext == ".npz":
        buf = io.BytesIO()
        np.savez(buf, id=np.array(ids, dtype=np.int64), label=np.array([known[i] for i in ids], dtype=np.int64),
                 validation=np.array([i in val for i in ids]))
        atomic_write(out, buf.getvalue())
    else:
        raise SessionError(f"--out {out}: expected a .csv or .npz file (or --label-studio with a .json file)")
    return out


def _label_studio(session, state: dict, out: str, field: str | None) -> str:
    if not state["rounds"]:
        raise SessionError("--label-studio: no query yet; run 'rlmba session query DIR' first")
    r = state["rounds"][state["pending"]["round"]] if state["pending"] else state["rounds"][-1]
    values = None
    if field is not None:
        meta = Pool(session.settings["data"], session.settings["num_classes"]).meta
        if field not in meta:
            raise SessionError(f"--field {field}: the pool file has no meta_{field} array (has "
                               f"{sorted('meta_' + k for k in meta) or 'none'})")
        values = meta[field]
    tasks = []
    for i, score in zip(r["ids"], r["scores"]):
        data = {"id": i, "round": r["round"], "score": None if score is None or math.isnan(score) else score}
        if values is not None:
            data[field] = values[i].item()
        tasks.append({"data": data})
    atomic_write(out, json.dumps(tasks, indent=1) + "\n")
    return out

