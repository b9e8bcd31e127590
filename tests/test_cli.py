"""The ``rlmba`` command line: config precedence, run outputs, demo, info, strategy names."""
import csv
import json

import numpy as np
import pytest
import torch

from rlmba import cli
from rlmba.data import make_synthetic
from rlmba.learn import BaselineCurves


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
    with pytest.raises(SystemExit, match=r"config.train: unknown keys \['epoch'\]"):
        cli.build_config(_args("run", "--config", str(j)))


def test_run_writes_the_results_directory(data_file, tmp_path, capsys):
    out = tmp_path / "res"
    rc = cli.main(["run", "--dataset", data_file, "--strategy", "rlmba", "random", "entropy", "--seeds", "0", "1",
                   "--initial", "5", "--budget", "5", "--rounds", "2", "--epochs", "2", "--min-steps", "0", "--episodes", "1",
                   "--threads", "1", "--no-progress", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "AULC" in printed and "rlmba" in printed and "entropy" in printed
    for f in ("metrics.json", "metrics.csv", "curves.json", "summary.txt", "learning_curve.png",
              "modality_contributions.png", "policy.pt", "checkpoint.pt"):
        assert (out / f).stat().st_size > 0, f
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


def test_demo_smoke(tmp_path, capsys):
    rc = cli.main(["demo", "--seeds", "0", "--rounds", "1", "--epochs", "2", "--min-steps", "0", "--episodes", "1", "--no-progress",
                   "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "rlmba demo" in out and "AULC" in out
    assert (tmp_path / "learning_curve.png").exists()


def test_user_errors_exit_2(tmp_path, capsys):
    assert cli.main(["run", "--dataset", str(tmp_path / "missing.npz"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_info_dispatch(monkeypatch):
    calls = []
    import rlmba.info
    monkeypatch.setattr(rlmba.info, "main", lambda *a: calls.append(("info", a)) or 0)
    assert cli.main(["info"]) == 0
    assert calls == [("info", ())]


def test_strategy_all_expands_and_unknown_names_fail(tmp_path):
    from rlmba.learn.experiment import expand_strategies

    names = expand_strategies(["all"])
    assert {"rlmba", "random", "entropy", "badge", "bmmal", "coreset", "bald", "deepfool", "gcnal"} <= set(names)
    with pytest.raises(SystemExit, match="oracle"):
        cli.main(["run", "--strategy", "oracle", "--out", str(tmp_path)])
