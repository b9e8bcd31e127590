"""The ``rlmba`` command line: ``run``, ``demo``, ``baselines``, ``info``, ``session``.

    rlmba demo                                  # RL-MBA vs random vs entropy on the embedded digits
    rlmba run --dataset mfeat --strategy rlmba random --rounds 8 --budget 20 --seeds 0 1 2
    rlmba run --config exp.toml --resume        # continue a killed run from its last round
    rlmba run --strategy rlmba --policy rlmba-results/policy.pt   # evaluate a saved policy frozen

A config file (JSON, or TOML on Python 3.11+) holds the fields of
:class:`rlmba.learn.config.RunConfig`, with ``[train]`` and ``[rlmba]`` sections; flags given on
the command line override it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .session import cli as session_cli

# flag -> RunConfig field (top level) or (section, field)
RUN_FLAGS = {"dataset": "dataset", "modalities": "modalities", "strategy": "strategies", "seeds": "seeds",
             "initial": "initial", "budget": "budget", "rounds": "rounds", "device": "device",
             "threads": "threads", "policy": "policy", "baselines": "baselines", "out": "out",
             "epochs": ("train", "epochs"), "min_steps": ("train", "min_steps"), "episodes": ("rlmba", "train_episodes"),
             "reward_mode": ("rlmba", "reward_mode")}

DEMO = {"dataset": "mfeat", "strategies": ["rlmba", "random", "entropy"], "seeds": [0, 1, 2], "initial": 20,
        "budget": 20, "rounds": 6, "threads": 1, "out": "rlmba-demo",
        "train": {"epochs": 30}, "rlmba": {"train_episodes": 3}}


def load_config_file(path: str) -> dict:
    """A dict from a ``.json`` or ``.toml`` file."""
    if path.endswith(".toml"):
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib
            except ModuleNotFoundError:
                raise SystemExit(f"--config {path}: TOML needs Python 3.11+ or the tomli package; "
                                 "use a .json config instead") from None
        with open(path, "rb") as f:
            return tomllib.load(f)
    with open(path) as f:
        return json.load(f)


def build_config(args, base: dict | None = None):
    """RunConfig from ``base`` (defaults), the config file, then the flags actually given."""
    from .learn.config import from_dict

    data = dict(base or {})
    if getattr(args, "config", None):
        for k, v in load_config_file(args.config).items():
            data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    for flag, field in RUN_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if isinstance(field, tuple):
            data.setdefault(field[0], {})[field[1]] = value
        else:
            data[field] = value
    if getattr(args, "no_progress", False):
        data["progress"] = False
    try:
        return from_dict(data)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"rlmba: bad configuration: {exc}") from None


def execute(cfg, resume: bool = False, quiet: bool = False) -> dict:
    """Run an experiment, write its results directory, print the summary table."""
    import torch

    from .learn.experiment import expand_strategies, write_comparison
    from .learn.report import summary_table
    from .learn.runner import Experiment

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        cfg.strategies = expand_strategies(cfg.strategies)
    except ValueError as exc:
        raise SystemExit(f"rlmba: {exc}; available: {_strategies()}") from None
    t0 = time.perf_counter()
    results = Experiment(cfg).run(resume=resume)
    results["wall_s"] = time.perf_counter() - t0
    paths = write_comparison(results, cfg.out)
    if not quiet:
        print(summary_table(results))
        print(f"\n{len(results['runs'])} strategies x {len(cfg.seeds)} seeds in {results['wall_s']:.1f} s; "
              f"results in {os.path.abspath(cfg.out)}: " + ", ".join(os.path.basename(p) for p in paths.values()))
    return results


def _strategies() -> list[str]:
    from .learn import available_strategies
    return available_strategies()


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="JSON or TOML file with RunConfig fields ([train], [rlmba] sections)")
    p.add_argument("--dataset", help="'mfeat' (embedded), 'synthetic', or a .npz file / .npy directory")
    p.add_argument("--modalities", nargs="+", help="use only these modalities, in this order")
    p.add_argument("--strategy", nargs="+", help="strategies to compare, or 'all' (see 'rlmba run --help')")
    p.add_argument("--seeds", nargs="+", type=int, help="evaluation seeds (initial labels, model init)")
    p.add_argument("--initial", type=int, help="initial random labels")
    p.add_argument("--budget", type=int, help="labels per round b")
    p.add_argument("--rounds", type=int, help="selection rounds T (T + 1 evaluations)")
    p.add_argument("--epochs", type=int, help="training epochs per round E")
    p.add_argument("--min-steps", dest="min_steps", type=int, help="at least this many gradient steps per round")
    p.add_argument("--episodes", type=int, help="RL-MBA policy-training episodes before evaluation")
    p.add_argument("--policy", help="a saved policy (policy.pt): skip policy training")
    p.add_argument("--baselines", help="baseline curves JSON for the relative reward (e.g. a curves.json)")
    p.add_argument("--reward-mode", dest="reward_mode", choices=["relative", "absolute", "incremental"])
    p.add_argument("--device", help="torch device, e.g. cpu or cuda")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--out", help="results directory")
    p.add_argument("--resume", action="store_true", help="continue from the results directory's checkpoint")
    p.add_argument("--no-progress", dest="no_progress", action="store_true", help="no progress bars")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rlmba", description="Fast multimodal active learning (RL-MBA).")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an active-learning experiment",
                         epilog="strategies: " + ", ".join(_strategies()))
    _add_run_flags(run)
    demo = sub.add_parser("demo", help="RL-MBA vs random vs entropy on the embedded UCI digits (~minutes)")
    _add_run_flags(demo)
    baselines = sub.add_parser("baselines", help="run GCNAL, BADGE, BMMAL and write the reward's baseline curves")
    _add_run_flags(baselines)
    baselines.add_argument("--use", nargs="+", help="baseline strategies (default: gcnal badge bmmal)")
    sub.add_parser("info", help="versions and every backend: built, usable, and why not")
    session_cli.add_parser(sub)
    return ap


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    if args.command == "info":
        from . import info
        return info.main() or 0
    if args.command == "session":
        return session_cli.main(args)
    cfg = build_config(args, DEMO if args.command == "demo" else None)
    if args.command == "demo":
        print(f"rlmba demo: {', '.join(cfg.strategies)} on {cfg.dataset}, {cfg.initial} initial labels + "
              f"{cfg.budget} x {cfg.rounds} rounds, seeds {cfg.seeds}, {cfg.rlmba.train_episodes} policy-training "
              f"episodes, {cfg.threads or 'default'} torch thread(s)\n", flush=True)
    try:
        if args.command == "baselines":
            from .learn.experiment import run_baselines
            print(run_baselines(cfg, use=args.use, resume=args.resume, quiet=False))
            return 0
        execute(cfg, resume=args.resume)
    except (ValueError, FileNotFoundError) as exc:  # bad data, config or checkpoint: no traceback
        if os.environ.get("RLMBA_DEBUG"):
            raise
        print(f"rlmba: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
