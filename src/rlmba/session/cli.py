"""``rlmba session init|query|label|status|export``: the labeling session on the command line.

Registered in :data:`rlmba.cli.COMMANDS` (``arguments`` builds the verbs, ``main`` runs one); nothing
heavy is imported until a verb runs.
"""
from __future__ import annotations

import argparse
import os
import sys


def arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("A resumable labeling session: query a batch, have it labeled, add the answers, query "
                     "again. See docs/labeling.md.")
    verbs = p.add_subparsers(dest="verb", required=True)
    init = verbs.add_parser("init", help="create a session directory on a pool file")
    init.add_argument("dir")
    init.add_argument("--data", required=True, help="the pool: .npz or .npy directory, y = -1 for unlabeled rows")
    init.add_argument("--strategy", default="rlmba", help="selection strategy (default rlmba)")
    init.add_argument("--budget", type=int, default=20, help="rows per query (default 20)")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--initial", type=int, help="rows of the cold-start query (default: the budget)")
    init.add_argument("--cold-start", dest="cold_start", default="kmeans", choices=["kmeans", "random"],
                      help="first pick while no model can be trained (default kmeans)")
    init.add_argument("--val-frac", dest="val_frac", type=float, default=0.2,
                      help="share of the labels held out for validation when the file marks none (default 0.2)")
    init.add_argument("--num-classes", dest="num_classes", type=int, help="number of classes C")
    init.add_argument("--policy", help="RL-MBA policy file (policy.pt); without one RL-MBA takes the b largest q")
    init.add_argument("--config", help="JSON/TOML file with [train] and [rlmba] sections (as for rlmba run)")
    init.add_argument("--epochs", type=int, help="training epochs per query")
    init.add_argument("--min-steps", dest="min_steps", type=int, help="at least this many gradient steps per query")
    query = verbs.add_parser("query", help="train on the labels so far and write the next batch to label")
    query.add_argument("dir")
    query.add_argument("--budget", type=int, help="rows to ask for (default: the session's)")
    query.add_argument("--replace", action="store_true", help="replace a pending query")
    query.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    query.add_argument("--threads", type=int, help="torch threads")
    label = verbs.add_parser("label", help="add answers (CSV id,label or JSON lines)")
    label.add_argument("dir")
    label.add_argument("answers")
    status = verbs.add_parser("status", help="rounds, labels per class, metrics; writes learning_curve.png")
    status.add_argument("dir")
    export = verbs.add_parser("export", help="every label held (.csv or .npz), or a query for Label Studio")
    export.add_argument("dir")
    export.add_argument("--out", required=True)
    export.add_argument("--label-studio", dest="label_studio", action="store_true",
                        help="write the pending query as Label Studio tasks (a .json file)")
    export.add_argument("--field", help="with --label-studio: a meta_<field> array of the pool file to show")


def _init(args) -> str:
    from ..cli import load_config_file
    from . import Session

    sections = load_config_file(args.config) if args.config else {}
    unknown = sorted(set(sections) - {"train", "rlmba"})
    if unknown:
        raise ValueError(f"--config {args.config}: a session reads only the [train] and [rlmba] sections, "
                         f"got {unknown}")
    train = dict(sections.get("train", {}))
    for key in ("epochs", "min_steps"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    s = Session.init(args.dir, args.data, strategy=args.strategy, budget=args.budget, seed=args.seed,
                     initial=args.initial, cold_start=args.cold_start, val_frac=args.val_frac,
                     num_classes=args.num_classes, policy=args.policy, train=train, rlmba=sections.get("rlmba"))
    st = s.settings
    held = "a share of the answers held out for validation" if st["holdout"] else "the file's validation rows"
    return (f"session {s.dir}: {st['n']} rows, {s.status(plot=False)['labels']} labeled, {st['num_classes']} "
            f"classes; strategy {st['strategy']}, {st['budget']} rows per query, {held}\n"
            f"next: rlmba session query {args.dir}")


def _query(args) -> str:
    from . import Session

    q = Session(args.dir).query(args.budget, replace=args.replace, device=args.device, threads=args.threads)
    return (f"round {q.round} ({q.strategy}): {len(q.ids)} rows to label -> {q.path} (also .jsonl)\n"
            f"answer with: rlmba session label {args.dir} ANSWERS.csv   (columns id,label)")


def _label(args) -> str:
    from . import Session

    r = Session(args.dir).label(args.answers)
    held = f" ({r['held_out']} held out for validation)" if r["held_out"] else ""
    already = f"; {r['already']} already recorded" if r["already"] else ""
    left = (f"{r['remaining']} rows of the query still to answer" if r["remaining"] else
            f"nothing pending; next: rlmba session query {args.dir}")
    return f"accepted {r['accepted']} answers{held}{already}; {left}"


def _status(args) -> str:
    from . import Session

    return Session(args.dir).status()["text"]


def _export(args) -> str:
    from . import Session

    out = Session(args.dir).export(args.out, label_studio=args.label_studio, field=args.field)
    return f"wrote {os.path.abspath(out)}"


VERBS = {"init": _init, "query": _query, "label": _label, "status": _status, "export": _export}


def main(args: argparse.Namespace) -> int:
    """Run one verb; a refused verb prints ``rlmba session: error: ...`` and returns 2."""
    try:
        print(VERBS[args.verb](args), flush=True)
    except (ValueError, FileNotFoundError) as exc:
        if os.environ.get("RLMBA_DEBUG"):
            raise
        print(f"rlmba session: error: {exc}", file=sys.stderr)
        return 2
    return 0
