"""The ``rlmba`` command line: ``run``, ``demo``, ``baselines``, ``info``, ``session``.

    rlmba demo                                  # RL-MBA vs random vs entropy on the embedded digits
    rlmba run --dataset mfeat --strategy rlmba random --rounds 8 --budget 20 --seeds 0 1 2
    rlmba run --config exp.toml --resume        # continue a killed run from its last round
    rlmba run --strategy rlmba --policy rlmba-results/policy.pt   # evaluate a saved policy frozen

A config file (JSON, or TOML on Python 3.11+) holds the fields of
:class:`rlmba.learn.config.RunConfig`, with ``[train]`` and ``[rlmba]`` sections; flags given on
the command line override it.

Subcommands are the table :data:`COMMANDS`: a name, its help, the function that adds its
arguments and the function that runs it, both given as ``"module:function"`` and imported only
when needed, so ``rlmba --help`` and ``rlmba --version`` never import torch (the modules that
add arguments must not either). A handler takes the parsed arguments and returns the exit code.
A user error (bad input, configuration, data or checkpoint; a directory that cannot be
written) is one line on stderr and exit code 2; ``RLMBA_DEBUG=1`` shows the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import NamedTuple

from . import __version__


class Command(NamedTuple):
    help: str
    arguments: str  # "module:function(parser)" adding the command's arguments (must not import torch)
    handler: str    # "module:function(args) -> exit code", imported when the command runs


COMMANDS = {
    "run": Command("run an active-learning experiment", "rlmba.cli:run_arguments", "rlmba.cli:run_command"),
    "demo": Command("RL-MBA vs random vs entropy on the embedded UCI digits (~minutes)",
                    "rlmba.cli:run_arguments", "rlmba.cli:demo_command"),
    "baselines": Command("run GCNAL, BADGE, BMMAL and write the reward's baseline curves",
                         "rlmba.cli:baselines_arguments", "rlmba.cli:baselines_command"),
    "info": Command("versions and every backend: built, usable, and why not", "rlmba.cli:no_arguments",
                    "rlmba.info:main"),
    "session": Command("label your own pool: init, query, label, status, export",
                       "rlmba.session.cli:arguments", "rlmba.session.cli:main"),
}

# flag -> RunConfig field (top level) or (section, field)
RUN_FLAGS = {"dataset": "dataset", "modalities": "modalities", "strategy": "strategies", "seeds": "seeds",
             "initial": "initial", "budget": "budget", "rounds": "rounds", "device": "device",
             "threads": "threads", "policy": "policy", "baselines": "baselines", "out": "out",
             "epochs": ("train", "epochs"), "min_steps": ("train", "min_steps"), "episodes": ("rlmba", "train_episodes"),
             "reward_mode": ("rlmba", "reward_mode")}

DEMO = {"dataset": "mfeat", "strategies": ["rlmba", "random", "entropy"], "seeds": [0, 1, 2], "initial": 20,
        "budget": 20, "rounds": 6, "threads": 1, "out": "rlmba-demo",
        "train": {"epochs": 30}, "rlmba": {"train_episodes": 3}}

# for --help only (the registry needs torch); a test keeps it equal to rlmba.learn's list
STRATEGY_NAMES = ("random", "entropy", "margin", "least_confidence", "bald", "coreset", "badge", "bmmal",
                  "deepfool", "gcnal", "uncertaingcn", "amcb_only", "efda_only", "rlmba")


class UsageError(ValueError):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


def _resolve(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def load_config_file(path: str) -> dict:
    """A dict from a ``.json`` or ``.toml`` file; UsageError (one line) for anything unreadable."""
    if not os.path.isfile(path):
        raise UsageError(f"--config {path}: no such file")
    try:
        if path.endswith(".toml"):
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                try:
                    import tomli as tomllib
                except ModuleNotFoundError:
                    raise UsageError(f"--config {path}: TOML needs Python 3.11+ or the tomli package; "
                                     "use a .json config instead") from None
            with open(path, "rb") as f:
                data = tomllib.load(f)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, TOMLDecodeError
        raise UsageError(f"--config {path}: not valid {'TOML' if path.endswith('.toml') else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a table of RunConfig fields, got {type(data).__name__}")
    return data


def build_config(args, base: dict | None = None):
    """RunConfig from ``base`` (defaults), the config file, then the flags actually given."""
    from .learn.config import from_dict

    data = dict(base or {})
    if getattr(args, "config", None):
        for k, v in load_config_file(args.config).items():
            data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) and isinstance(data.get(k), dict) else v
    for flag, field in RUN_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if isinstance(field, tuple):
            section = data.get(field[0])
            data[field[0]] = {**(section if isinstance(section, dict) else {}), field[1]: value}
        else:
            data[field] = value
    if getattr(args, "no_progress", False):
        data["progress"] = False
    try:
        return from_dict(data)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"bad configuration: {exc}") from None


def execute(cfg, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> dict:
    """Run an experiment, write its results directory, print the summary table."""
    from .learn.experiment import run_comparison
    from .learn.report import summary_table

    results = run_comparison(cfg, resume=resume, overwrite=overwrite)
    if not quiet:
        print(summary_table(results))
        print(f"\n{len(results['runs'])} strategies x {len(cfg.seeds)} seeds in {results['wall_s']:.1f} s; "
              f"results in {os.path.abspath(cfg.out)}: "
              + ", ".join(os.path.basename(p) for p in results["paths"].values()))
    return results


def run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="JSON or TOML file with RunConfig fields ([train], [rlmba] sections)")
    p.add_argument("--dataset", help="'mfeat' (embedded), 'synthetic', or a .npz file / .npy directory")
    p.add_argument("--modalities", nargs="+", help="use only these modalities, in this order")
    p.add_argument("--strategy", nargs="+", help="strategies to compare, or 'all'")
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
    p.add_argument("--device", help="torch device: cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--out", help="results directory")
    p.add_argument("--resume", action="store_true", help="continue from the results directory's checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a finished or partial run in --out")
    p.add_argument("--no-progress", dest="no_progress", action="store_true", help="no progress output")
    p.epilog = "strategies: " + ", ".join(STRATEGY_NAMES) + " (and any registered with rlmba.learn.register_strategy)"


def baselines_arguments(p: argparse.ArgumentParser) -> None:
    run_arguments(p)
    p.add_argument("--use", nargs="+", help="baseline strategies (default: gcnal badge bmmal)")


def no_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run_command(args) -> int:
    execute(build_config(args), resume=args.resume, overwrite=args.overwrite)
    return 0


def demo_command(args) -> int:
    cfg = build_config(args, DEMO)
    print(f"rlmba demo: {', '.join(cfg.strategies)} on {cfg.dataset}, {cfg.initial} initial labels + "
          f"{cfg.budget} x {cfg.rounds} rounds, seeds {cfg.seeds}, {cfg.rlmba.train_episodes} policy-training "
          f"episodes, {cfg.threads or 'default'} torch thread(s)\n", flush=True)
    # the demo's own directory is replaced by the next demo; any other --out is protected as for `run`
    execute(cfg, resume=args.resume, overwrite=args.overwrite or (cfg.out == DEMO["out"] and not args.resume))
    return 0


def baselines_command(args) -> int:
    from .learn.experiment import run_baselines

    run_baselines(build_config(args), use=args.use, resume=args.resume, overwrite=args.overwrite, quiet=False)
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="rlmba", description="Fast multimodal active learning (RL-MBA).")
    ap.add_argument("--version", action="version", version=f"rlmba {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, command in COMMANDS.items():
        _resolve(command.arguments)(sub.add_parser(name, help=command.help, description=command.help))
    return ap


def _one_line(exc: BaseException) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    debug = os.environ.get("RLMBA_DEBUG") == "1"
    try:
        return _resolve(COMMANDS[args.command].handler)(args) or 0
    except BrokenPipeError:  # `rlmba info | head`: the reader is gone, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print("rlmba: interrupted (a run continues from its last round with --resume)", file=sys.stderr)
        return 130
    except Exception as exc:
        from ._dispatch import BackendError  # no torch import

        if debug or not isinstance(exc, (ValueError, TypeError, OSError, MemoryError, BackendError)):
            raise
        print(f"rlmba: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
