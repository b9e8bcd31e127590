"""The ``rlmba`` command line: config precedence, run outputs, demo, info, strategy names, and
every user error as one line on stderr with exit code 2, no traceback and nothing written."""
import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from rlmba import cli
from rlmba.data import make_synthetic
from rlmba.learn import BaselineCurves
from rlmba.learn.checkpoint import atomic_save

TINY = ["--initial", "5", "--budget", "5", "--rounds", "1", "--epochs", "1", "--min-steps", "0", "--episodes", "1",
        "--threads", "1"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # the CLI sets --threads for the process


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    ds = make_synthetic(n=150, num_classes=3, dims=(4, 3), seed=2)
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, x_a=ds.features[0].numpy(), x_b=ds.features[1].numpy(), y=ds.labels.numpy(), split=ds.split.numpy())
    return str(path)


def _args(*argv):
    return cli.parser().parse_args(list(argv))


def _main(*argv) -> int:
    try:
        return cli.main(list(argv))
    except SystemExit as exc:  # argparse
        return exc.code


def _tree(path):
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*"))


def assert_user_error(capsys, tmp_path, argv, match):
    """Exit code 2, exactly one line on stderr matching ``match``, no traceback, nothing written."""
    before = _tree(tmp_path)
    rc = _main(*argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(match, lines[0]), lines[0]
    assert _tree(tmp_path) == before
    return lines[0]


def test_config_file_then_flags(tmp_path):
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"budget": 7, "rounds": 4, "train": {"epochs": 3}, "rlmba": {"tau": 0.5}}))
    cfg = cli.build_config(_args("run", "--config", str(j), "--rounds", "2", "--strategy", "random"))
    assert (cfg.budget, cfg.rounds, cfg.strategies, cfg.train.epochs, cfg.rlmba.tau) == (7, 2, ["random"], 3, 0.5)
    assert cfg.train.batch_size == 64 and cfg.rlmba.gamma == 0.9  # untouched defaults
    t = tmp_path / "c.toml"
    t.write_text('seeds = [4, 5]\n[rlmba]\nkappa = 3\nreward_mode = "absolute"\n')
    cfg = cli.build_config(_args("run", "--config", str(t), "--epochs", "9", "--reward-mode", "incremental"))
    assert (cfg.seeds, cfg.rlmba.kappa, cfg.rlmba.reward_mode, cfg.train.epochs) == ([4, 5], 3, "incremental", 9)
    demo = cli.build_config(_args("demo", "--seeds", "1"), cli.DEMO)
    assert demo.strategies == ["rlmba", "random", "entropy"] and demo.seeds == [1] and demo.threads == 1
    j.write_text(json.dumps({"train": {"epoch": 3}}))
    with pytest.raises(cli.UsageError, match=r"config.train: unknown keys \['epoch'\]"):
        cli.build_config(_args("run", "--config", str(j)))


def test_run_writes_the_results_directory(data_file, tmp_path, capsys):
    out = tmp_path / "res"
    rc = cli.main(["run", "--dataset", data_file, "--strategy", "rlmba", "random", "entropy", "--seeds", "0", "1",
                   "--initial", "5", "--budget", "5", "--rounds", "2", "--epochs", "2", "--min-steps", "0", "--episodes", "1",
                   "--threads", "1", "--no-progress", "--out", str(out)])
    assert rc == 0
    captured = capsys.readouterr()
    assert "AULC" in captured.out and "rlmba" in captured.out and "entropy" in captured.out
    assert captured.err == ""  # --no-progress
    for f in ("metrics.json", "metrics.csv", "curves.json", "summary.txt", "learning_curve.png",
              "modality_contributions.png", "policy.pt", "checkpoint.pt", "comparison.md", "comparison.csv"):
        assert (out / f).stat().st_size > 0, f
    assert not (out / "paper_table.md").exists()  # the paper's columns only beside the embedded benchmark
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 * 3 and {"val_top1", "test_ece", "w_a", "shapley_b", "delta_a"} <= set(rows[0])
    res = json.loads((out / "metrics.json").read_text())
    assert set(res["runs"]) == {"rlmba", "random", "entropy"} and len(res["policy_log"]) == 1
    assert [len(v) for v in res["labeled"]["random"].values()] == [15, 15]
    curves = BaselineCurves.load(str(out / "curves.json"), use=["random", "entropy"])
    assert curves.labels == [5, 10, 15]
    # the curves file feeds the relative reward; a saved policy is evaluated frozen
    out2 = tmp_path / "res2"
    rc = cli.main(["run", "--dataset", data_file, "--strategy", "rlmba", "--seeds", "0", "--initial", "5",
                   "--budget", "5", "--rounds", "2", "--epochs", "2", "--min-steps", "0", "--baselines", str(out / "curves.json"),
                   "--policy", str(out / "policy.pt"), "--threads", "1", "--no-progress", "--out", str(out2)])
    assert rc == 0
    res2 = json.loads((out2 / "metrics.json").read_text())
    assert res2["labeled"]["rlmba"]["0"] == res["labeled"]["rlmba"]["0"]  # same frozen policy, same seed
    # a new run into a directory that holds one is refused; --overwrite replaces it
    capsys.readouterr()
    assert_user_error(capsys, tmp_path, ["run", "--dataset", data_file, "--strategy", "random", "--out", str(out2),
                                         *TINY], r"holds another run.*--resume.*--overwrite")
    assert cli.main(["run", "--dataset", data_file, "--strategy", "random", "--seeds", "0", "--out", str(out2),
                     "--overwrite", "--no-progress", *TINY]) == 0
    assert not (out2 / "policy.pt").exists()  # the replaced run's files are gone
    assert set(json.loads((out2 / "metrics.json").read_text())["runs"]) == {"random"}


def test_demo_smoke_and_progress_lines(tmp_path, capsys):
    rc = cli.main(["demo", "--seeds", "0", "--rounds", "1", "--epochs", "2", "--min-steps", "0", "--episodes", "1",
                   "--out", str(tmp_path)])
    assert rc == 0
    captured = capsys.readouterr()
    assert "rlmba demo" in captured.out and "AULC" in captured.out
    assert (tmp_path / "learning_curve.png").exists() and (tmp_path / "paper_table.md").exists()
    # stderr is not a terminal here: one plain line per round, each naming its job, no escape codes
    lines = captured.err.strip().splitlines()
    assert "\x1b" not in captured.err and "\r" not in captured.err
    assert any(re.match(r"rlmba: policy training 1/1: round 1/2", x) for x in lines), lines
    assert any(re.match(r"rlmba: seed 0 \(1/1\), 3/3 strategies: entropy: round 2/2, 40 labels, top-1 ", x)
               for x in lines), lines
    assert len(lines) == 4 * 2  # 4 jobs x 2 rounds


def test_info_dispatch(monkeypatch):
    calls = []
    import rlmba.info
    monkeypatch.setattr(rlmba.info, "main", lambda args: calls.append(args.command) or 0)
    assert cli.main(["info"]) == 0
    assert calls == ["info"]


def test_strategy_names_in_help_match_the_registry():
    from rlmba.learn.experiment import all_strategies

    assert list(cli.STRATEGY_NAMES) == all_strategies()


@pytest.fixture
def configs(tmp_path):
    files = {"bad.json": '{"budget": ', "bad.toml": "budget = \n", "list.json": '{"strategies": "entropy"}',
             "type.toml": '[train]\nepochs = "ten"\n', "array.json": "[1, 2]", "section.json": '{"train": 3}'}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("argv, match", [
    (["run", "--config", "bad.json"], r"--config .*bad.json: not valid JSON"),
    (["run", "--config", "bad.toml"], r"--config .*bad.toml: not valid TOML"),
    (["run", "--config", "missing.toml"], r"--config .*missing.toml: no such file"),
    (["run", "--config", "array.json"], r"expected a table"),
    (["run", "--config", "list.json"], r"config.strategies: expected a list of str, got str 'entropy'"),
    (["run", "--config", "type.toml"], r"config.train.epochs: expected int, got str 'ten'"),
    (["run", "--config", "section.json"], r"config.train: expected a table"),
    (["run", "--device", "gpu"], r"device: 'gpu' is not a device"),
    (["run", "--budget", "0"], r"budget: must be >= 1"),
    (["run", "--budget", "abc"], r"rlmba run: error: argument --budget: invalid int value"),
    (["run", "--seeds"], r"argument --seeds: expected at least one argument"),
    (["frobnicate"], r"rlmba: error: argument .*invalid choice"),
])
def test_user_errors_are_one_line(configs, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(configs)
    assert_user_error(capsys, configs, [*argv, "--out", "never"] if argv[0] == "run" and "--seeds" not in argv
                      else argv, match)


def test_run_errors_need_the_data_and_write_nothing(data_file, tmp_path, capsys):
    out = str(tmp_path / "out")
    base = ["run", "--dataset", data_file, "--strategy", "random", "--out", out, *TINY]
    assert_user_error(capsys, tmp_path, [*base, "--budget", "500"],
                      r"budget: 5 initial labels \+ 1 rounds x 500 = 505 labels, but the pool .* has \d+ rows")
    assert_user_error(capsys, tmp_path, [*base, "--resume"], r"--resume: no checkpoint in .*out")
    line = assert_user_error(capsys, tmp_path, [*base, "--strategy", "oracle"], r"unknown 'oracle'; available: ")
    assert line.count("available") == 1
    assert_user_error(capsys, tmp_path, ["run", "--dataset", str(tmp_path / "nope.npz"), "--out", out],
                      r"nope.npz: no such file")
    assert_user_error(capsys, tmp_path, [*base, "--modalities", "z"], r"modalities: unknown \['z'\]")
    if not torch.cuda.is_available():
        assert_user_error(capsys, tmp_path, [*base, "--device", "cuda"], r"device: 'cuda', but")
    (tmp_path / "file").write_text("x")
    assert_user_error(capsys, tmp_path, [*base[:-len(TINY)], "--out", str(tmp_path / "file"), *TINY],
                      r"exists and is not a directory")


def test_damaged_checkpoint_is_one_line_and_kept(data_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for content in (b"", b"hello, I am text\n", b"\x80\x04K\x01.", b"RLMBA-CHECKPOINT-1\n\x00\x01"):
        (out / "checkpoint.pt").write_bytes(content)
        line = assert_user_error(capsys, tmp_path, ["run", "--dataset", data_file, "--strategy", "random",
                                                    "--out", str(out), "--resume", *TINY], r"checkpoint.pt: ")
        assert re.search(r"empty|not an rlmba checkpoint|truncated", line), line
        assert (out / "checkpoint.pt").read_bytes() == content
    atomic_save({"format": "something-else"}, str(out / "checkpoint.pt"))
    assert_user_error(capsys, tmp_path, ["run", "--dataset", data_file, "--strategy", "random", "--out", str(out),
                                         "--resume", *TINY], r"format 'something-else'")


def test_no_torch_for_help_and_version():
    """--help and --version answer without importing torch (under a second on an idle machine)."""
    probe = ("import sys, contextlib, io\n"
             "from rlmba.cli import main\n"
             "for argv in (['--help'], ['--version'], ['run', '--help'], ['demo', '--help']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
             "        try: main(argv)\n"
             "        except SystemExit as e: assert e.code == 0, e\n"
             "    assert out.getvalue(), argv\n"
             "print(sorted(m for m in ('torch', 'numpy', 'numba', 'matplotlib') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    version = subprocess.run([sys.executable, "-m", "rlmba.cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and re.fullmatch(r"rlmba \d+\.\d+\.\d+\S*\n", version.stdout)


def test_traceback_only_with_rlmba_debug(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RLMBA_DEBUG"}
    cmd = [sys.executable, "-m", "rlmba.cli", "run", "--device", "gpu", "--out", str(tmp_path / "o")]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 2 and plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
    debug = subprocess.run(cmd, capture_output=True, text=True, env={**env, "RLMBA_DEBUG": "1"}, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ValueError" in debug.stderr
    assert not (tmp_path / "o").exists()
