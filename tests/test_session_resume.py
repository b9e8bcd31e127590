"""A labeling session under SIGKILL: a query or a label killed at every point where it writes
loses nothing, and repeating the command ends where an uninterrupted one ends.

As in test_learn_resume.py, the child kills itself at an exact point (RLMBA_FAULT_INJECT =
``session:<point>``, :mod:`rlmba.session.store`): ``query-picked`` (round trained, nothing
written), ``query-files`` (query files written, state not), ``state-tmp`` (new state in its
temporary file), ``state-saved`` (state in place, the command not yet returned).
"""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlmba.data import make_synthetic
from rlmba.learn.checkpoint import FAULT_ENV
from rlmba.session import Session

TIMEOUT = 240


pytestmark = pytest.mark.usefixtures("one_thread")


def _cli(*args, fault=None):
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = f"session:{fault}"
    return subprocess.run([sys.executable, "-m", "rlmba.cli", "session", *args], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def _state(directory) -> str:
    """state.json without the training and selection times (they differ run to run)."""
    import json
    state = json.loads(Path(directory, "state.json").read_text())
    for r in state["rounds"]:
        if r.get("metrics"):
            r["metrics"].pop("time_train"), r["metrics"].pop("time_select")
    return json.dumps(state, sort_keys=True)


@pytest.fixture
def base(tmp_path):
    """A session whose cold start is answered: its next query is a strategy round."""
    ds = make_synthetic(n=160, num_classes=3, dims=(5, 4), seed=2)
    y, split = ds.labels.numpy(), ds.split.numpy()
    np.savez(tmp_path / "pool.npz", x_a=ds.features[0].numpy(), x_b=ds.features[1].numpy(),
             y=np.where(split == 0, -1, y), split=split)
    s = Session.init(str(tmp_path / "base"), str(tmp_path / "pool.npz"), strategy="badge", budget=5,
                     train={"epochs": 2, "min_steps": 0})
    s.query()
    s.label({i: int(y[i]) for i in s.state()["pending"]["ids"]})
    return tmp_path, y


def _query_killed_then_again(base, points, replace_killed_after_save: bool):
    tmp, _ = base
    ref, run = tmp / "ref", tmp / "run"
    shutil.copytree(tmp / "base", ref)
    shutil.copytree(tmp / "base", run)
    Session(str(ref)).query(threads=1)
    before = Path(run, "state.json").read_bytes()
    for point in points:
        killed = _cli("query", str(run), "--threads", "1", fault=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        assert Path(run, "state.json").read_bytes() == before, point  # nothing half-done is visible
    assert any(p.name.startswith("state.json.tmp-") for p in run.iterdir())  # the torn write left behind
    done = _cli("query", str(run), "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert "round 1 (badge): 5 rows to label" in done.stdout
    assert not any(".tmp-" in p.name for p in run.rglob("*"))
    assert _state(run) == _state(ref)
    for f in ("round-001.csv", "round-001.jsonl"):
        assert Path(run, "queries", f).read_bytes() == Path(ref, "queries", f).read_bytes()
    if replace_killed_after_save:
        killed = _cli("query", str(run), "--replace", "--threads", "1", fault="state-saved")
        assert killed.returncode == -signal.SIGKILL
        assert Session(str(run)).state()["pending"]["round"] == 2  # the replacing query was saved before the kill


def test_sigkill_during_query_then_query_again(base):
    _query_killed_then_again(base, ("state-tmp",), False)  # query files written, state not yet in place


@pytest.mark.slow
def test_sigkill_at_every_query_point(base):
    _query_killed_then_again(base, ("query-picked", "query-files", "state-tmp"), True)


def test_sigkill_during_label_then_label_again(base):
    tmp, y = base
    ref, run = tmp / "ref", tmp / "run"
    shutil.copytree(tmp / "base", ref)
    Session(str(ref)).query(threads=1)
    shutil.copytree(ref, run)
    ids = Session(str(ref)).state()["pending"]["ids"]
    answers = tmp / "answers.csv"
    answers.write_text("id,label\n" + "".join(f"{i},{y[i]}\n" for i in ids))
    Session(str(ref)).label(str(answers))
    before = Path(run, "state.json").read_bytes()
    killed = _cli("label", str(run), str(answers), fault="state-tmp")
    assert killed.returncode == -signal.SIGKILL and Path(run, "state.json").read_bytes() == before
    killed = _cli("label", str(run), str(answers), fault="state-saved")
    assert killed.returncode == -signal.SIGKILL and _state(run) == _state(ref)  # applied before the kill
    again = _cli("label", str(run), str(answers))  # the annotator cannot know: sending again is harmless
    assert again.returncode == 0 and "accepted 0 answers; 5 already recorded" in again.stdout, again.stderr
    assert _state(run) == _state(ref)
    assert not any(".tmp-" in p.name for p in run.rglob("*"))


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_query(base):
    """Kill ``query`` after random delays (not only at the write points): the state is always the
    old one or the new one, and finishing the command gives the uninterrupted result."""
    import json
    import random
    import time

    tmp, _ = base
    ref = tmp / "ref"
    shutil.copytree(tmp / "base", ref)
    t0 = time.perf_counter()
    assert _cli("query", str(ref), "--threads", "1").returncode == 0
    full = time.perf_counter() - t0
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    for k, delay in enumerate(random.Random(0).uniform(0.3 * full, 1.1 * full) for _ in range(6)):
        run = tmp / f"run{k}"
        shutil.copytree(tmp / "base", run)
        before = _state(run)
        child = subprocess.Popen([sys.executable, "-m", "rlmba.cli", "session", "query", str(run), "--threads", "1"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(TIMEOUT)
        assert _state(run) in (before, _state(ref)), delay
        if json.loads(Path(run, "state.json").read_text())["pending"] is None:
            assert _cli("query", str(run), "--threads", "1").returncode == 0
        assert _state(run) == _state(ref), delay
        assert Path(run, "queries", "round-001.csv").read_bytes() == Path(ref, "queries", "round-001.csv").read_bytes()
