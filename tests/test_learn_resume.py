"""Checkpoint/resume under SIGKILL: a run killed mid-round (and once more mid-checkpoint-write)
and resumed twice ends with the same labeled sets, metrics and policy as an uninterrupted run.

The child kills itself at an exact point through RLMBA_FAULT_INJECT (no timing luck involved):
``epoch:<job>:<round>`` after the first training epoch of that round, ``save:<job>:<round>``
after that round's checkpoint reached its temporary file but before ``os.replace``.
"""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from rlmba.data import make_synthetic
from rlmba.learn.checkpoint import FAULT_ENV, atomic_save, load

TIMEOUT = 240


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    ds = make_synthetic(n=240, num_classes=4, dims=(6, 5), seed=3)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_a=ds.features[0].numpy(), x_b=ds.features[1].numpy(), y=ds.labels.numpy(),
             split=ds.split.numpy())
    return str(path)


def _run(data_file, out, *extra, fault=None):
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    cmd = [sys.executable, "-m", "rlmba.cli", "run", "--dataset", data_file, "--strategy", "rlmba", "random",
           "--seeds", "0", "--initial", "6", "--budget", "6", "--rounds", "3", "--epochs", "2", "--min-steps", "0",
           "--episodes", "2", "--threads", "1", "--no-progress", "--out", str(out), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def _strip_times(results):
    for seeds in results["runs"].values():
        for hist in seeds.values():
            for r in hist:
                r.pop("time_train"), r.pop("time_select")
    return {k: results[k] for k in ("runs", "labeled", "policy_log")}


def test_sigkill_mid_round_and_mid_save_then_resume(data_file, tmp_path):
    ref = _run(data_file, tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    # jobs: 0, 1 = policy-training episodes; 2 = rlmba evaluation; 3 = random evaluation
    first = _run(data_file, out, fault="epoch:1:2")
    assert first.returncode == -signal.SIGKILL, first.stderr
    ck = load(str(out / "checkpoint.pt"))
    assert (ck["job"], ck["learner"]["round"]) == (1, 2)       # rounds 0 and 1 of job 1 kept
    assert len(ck["learner"]["labeled"]) == 6 + 2 * 6
    changed = _run(data_file, out, "--resume", "--budget", "5")  # a different protocol is refused
    assert changed.returncode == 2 and "budget" in changed.stderr, changed.stderr
    second = _run(data_file, out, "--resume", fault="save:2:1")
    assert second.returncode == -signal.SIGKILL, second.stderr
    assert any(p.name.startswith("checkpoint.pt.tmp-") for p in out.iterdir())  # torn write left behind
    ck = load(str(out / "checkpoint.pt"))
    assert (ck["job"], ck["learner"]["round"]) == (2, 1)       # the previous checkpoint is intact
    third = _run(data_file, out, "--resume")
    assert third.returncode == 0, third.stderr
    assert not any(p.name.startswith("checkpoint.pt.tmp-") for p in out.iterdir())
    a = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    b = json.loads((out / "metrics.json").read_text())
    assert _strip_times(a) == _strip_times(b)
    assert len(b["labeled"]["rlmba"]["0"]) == 6 + 3 * 6
    pa, pb = (torch.load(d / "policy.pt", weights_only=True) for d in (tmp_path / "ref", out))
    for k in pa["net"]:
        torch.testing.assert_close(pa["net"][k], pb["net"][k], rtol=0, atol=0)


def test_atomic_save_keeps_old_file_when_write_fails(tmp_path):
    path = str(tmp_path / "c.pt")
    atomic_save({"v": torch.arange(3)}, path)

    def boom():
        raise OSError("disk full")
    with pytest.raises(OSError):
        atomic_save({"v": torch.arange(5)}, path, fault=boom)
    torch.testing.assert_close(load(path)["v"], torch.arange(3))
