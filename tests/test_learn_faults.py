"""Faults around a run: damaged or foreign checkpoints, a checkpoint from another config or other
data, output directories that cannot be written, two processes on one --out, and SIGKILLs at
random moments (the soak). Every refusal is one line with exit code 2 and keeps the checkpoint."""
import errno
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
import torch

from rlmba import cli
from rlmba.data import make_synthetic
from rlmba.learn import checkpoint as ckpt
from rlmba.learn.checkpoint import FAULT_ENV, CheckpointError, atomic_save, load
from rlmba.learn.rundir import RunDirectory

TIMEOUT = 240
ARGS = ["--strategy", "rlmba", "random", "--seeds", "0", "--initial", "6", "--budget", "6", "--rounds", "3",
        "--epochs", "2", "--min-steps", "0", "--episodes", "2", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    ds = make_synthetic(n=240, num_classes=4, dims=(6, 5), seed=3)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_a=ds.features[0].numpy(), x_b=ds.features[1].numpy(), y=ds.labels.numpy(),
             split=ds.split.numpy())
    return str(path)


def _cmd(data_file, out, *extra):
    return [sys.executable, "-m", "rlmba.cli", "run", "--dataset", data_file, *ARGS, "--out", str(out), *extra]


def _env(fault=None):
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, "RLMBA_DEBUG")}
    return {**env, FAULT_ENV: fault} if fault else env


def _run(data_file, out, *extra, fault=None):
    return subprocess.run(_cmd(data_file, out, *extra), env=_env(fault), capture_output=True, text=True,
                          timeout=TIMEOUT)


def _final(out):
    """What must not depend on interruptions: every run's metrics, labeled sets, the policy log."""
    results = json.loads((out / "metrics.json").read_text())
    for seeds in results["runs"].values():
        for hist in seeds.values():
            for r in hist:
                r.pop("time_train"), r.pop("time_select")
    return {k: results[k] for k in ("runs", "labeled", "policy_log")}


@pytest.fixture(scope="module")
def reference(data_file, tmp_path_factory):
    """An uninterrupted run's final results."""
    out = tmp_path_factory.mktemp("reference") / "run"
    proc = _run(data_file, out)
    assert proc.returncode == 0, proc.stderr
    return _final(out)


@pytest.fixture(scope="module")
def killed(data_file, tmp_path_factory):
    """A run killed in round 1 of job 1 (the second policy-training episode): its directory."""
    out = tmp_path_factory.mktemp("killed") / "run"
    proc = _run(data_file, out, fault="epoch:1:1")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return out


def _resume_error(capsys, data_file, out, *extra) -> str:
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    rc = cli.main(["run", "--dataset", data_file, *ARGS, "--out", str(out), "--resume", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files  # the checkpoints are kept as they were
    return err.strip()


def _copy(killed, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    return out


# ---------------------------------------------------------------- checkpoint files
def test_damaged_checkpoints_are_detected(tmp_path):
    path = str(tmp_path / "c.pt")
    state = {"job": 3, "weights": torch.randn(1000, dtype=torch.float64), "labeled": torch.arange(50)}
    atomic_save(state, path)
    blob = (tmp_path / "c.pt").read_bytes()
    torch.testing.assert_close(load(path)["weights"], state["weights"], rtol=0, atol=0)
    raw = state["weights"].numpy().tobytes()
    start = blob.index(raw[:64])  # where the tensor's data lies in the file
    rng = random.Random(0)
    for _ in range(12):  # a flipped byte anywhere in the tensor's data
        at = start + rng.randrange(len(raw))
        bad = bytearray(blob)
        bad[at] ^= 1 << rng.randrange(8)
        with pytest.raises(CheckpointError, match="corrupted \\(SHA-256 mismatch\\)"):
            ckpt.loads(bytes(bad), "c.pt")
    for cut in (0, 5, len(ckpt.MAGIC) + 10, len(blob) // 2, len(blob) - 1):
        with pytest.raises(CheckpointError, match="empty|truncated|not an rlmba checkpoint"):
            ckpt.loads(blob[:cut], "c.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"job": 0}, foreign)
    for data, match in ((foreign.read_bytes(), "a pickle or torch file from elsewhere"),
                        (b"job = 3\n", r"not an rlmba checkpoint \(text"),
                        (blob + b"\0", "truncated or padded")):
        with pytest.raises(CheckpointError, match=match):
            ckpt.loads(data, "c.pt")
    atomic_save({"job": 4}, path)  # the one before is kept beside it
    assert load(path)["job"] == 4 and load(path + ".prev")["job"] == 3


def test_atomic_write_keeps_the_old_file_and_names_the_path(tmp_path, monkeypatch):
    path = str(tmp_path / "c.pt")
    atomic_save({"v": torch.arange(3)}, path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(ckpt.os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_save({"v": torch.arange(5)}, path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == path
    monkeypatch.undo()
    torch.testing.assert_close(load(path)["v"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


# ---------------------------------------------------------------- resume refusals
def test_resume_refuses_edited_foreign_and_damaged_checkpoints(killed, tmp_path, data_file, capsys):
    out = _copy(killed, tmp_path)
    path = str(out / "checkpoint.pt")
    good = load(path)
    assert (good["job"], good["learner"]["round"]) == (1, 1)
    for edit, match in ((lambda d: d.update(job=-3), r"job index -3 outside \[0, 4\]"),
                        (lambda d: d.update(job=2), r"saved for seed 10001, this learner has seed 0"),
                        (lambda d: d.update(job=3), r"finished runs \[\] do not match job 3's"),
                        (lambda d: d["learner"].update(round=3), r"round 3 with 1 evaluations"),
                        (lambda d: d["learner"]["labeled"].__setitem__(7, d["learner"]["labeled"][0]),
                         "labeled set is not 12 distinct pool indices"),
                        (lambda d: d["learner"].update(seed=7), "saved for seed 7"),
                        (lambda d: d.pop("strategies"), r"invalid KeyError: 'strategies'"),
                        (lambda d: d.update(format="rlmba-run-0"), "format 'rlmba-run-0'")):
        data = load(str(killed / "checkpoint.pt"))
        edit(data)
        atomic_save(data, path)
        assert re.search(match, _resume_error(capsys, data_file, out)), match
    (out / "checkpoint.pt").write_bytes((killed / "checkpoint.pt").read_bytes()[:-100])
    line = _resume_error(capsys, data_file, out)
    assert "truncated" in line and "checkpoint.pt.prev" in line  # points at the intact one before it


def test_resume_refuses_another_config_and_other_data(killed, tmp_path, data_file, capsys):
    out = _copy(killed, tmp_path)
    line = _resume_error(capsys, data_file, out, "--budget", "5", "--epochs", "3")
    assert "configuration differs" in line and "budget (checkpoint 6, now 5)" in line
    assert "train.epochs (checkpoint 2, now 3)" in line
    with np.load(data_file) as z:
        arrays = dict(z)
    arrays["y"] = np.random.default_rng(0).permutation(arrays["y"])  # same labels, other rows
    permuted = tmp_path / "tiny.npz"  # same file name, so the dataset's name is unchanged
    np.savez(permuted, **arrays)
    line = _resume_error(capsys, str(permuted), out)
    assert line.endswith("the dataset's content differs from the checkpoint's in ['labels']"), line


def test_resume_from_the_previous_checkpoint(killed, tmp_path, data_file, reference, capsys):
    """The damaged checkpoint is refused; moving the kept previous one into place resumes, and
    the run ends exactly as an uninterrupted one."""
    out = _copy(killed, tmp_path)
    (out / "checkpoint.pt").write_bytes(b"garbage")
    assert "not an rlmba checkpoint" in _resume_error(capsys, data_file, out)
    os.replace(out / "checkpoint.pt.prev", out / "checkpoint.pt")
    assert cli.main(["run", "--dataset", data_file, *ARGS, "--out", str(out), "--resume"]) == 0
    assert _final(out) == reference


# ---------------------------------------------------------------- output directories
def _mount_tmpfs(path, size, *options):
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(path)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")


@pytest.mark.parametrize("kind", ["full", "read-only"])
def test_unwritable_output_directory_is_one_line(tmp_path, data_file, capsys, kind):
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt, "48k" if kind == "full" else "1m", *(["ro"] if kind == "read-only" else []))
    try:
        rc = cli.main(["run", "--dataset", data_file, *ARGS, "--out", str(mnt / "out")])
        err = capsys.readouterr().err
        leftover = sorted(p.name for p in mnt.iterdir())
    finally:
        subprocess.run(["umount", str(mnt)], check=True, timeout=30)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    if kind == "full":
        assert re.search(rf"\[Errno {errno.ENOSPC}\] No space left on device: '{mnt}/out/\S+'", err), err
        assert leftover == []  # the temporary file and the empty directory are gone
    else:
        assert f"[Errno {errno.EROFS}] Read-only file system: '{mnt}/out'" in err, err


def test_stale_temporary_files_of_live_processes_are_kept(tmp_path):
    live = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        for pid in (live.pid, dead.pid):
            (tmp_path / f"checkpoint.pt.tmp-{pid}").write_bytes(b"partial")
        with RunDirectory(str(tmp_path)):
            pass
        assert [p.name for p in tmp_path.iterdir()] == [f"checkpoint.pt.tmp-{live.pid}"]
    finally:
        live.kill()
        live.wait()


def test_second_process_on_the_same_out_is_refused(data_file, tmp_path, capsys):
    out = tmp_path / "run"
    first = subprocess.Popen(_cmd(data_file, out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _locked(out):  # wait until the first run holds the directory
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        rc = cli.main(["run", "--dataset", data_file, *ARGS, "--out", str(out), "--overwrite"])
        err = capsys.readouterr().err
        assert rc == 2 and err.strip() == (f"rlmba: error: --out {out}: in use by another running rlmba process; "
                                           "wait for it or choose another --out")
        _, stderr = first.communicate(timeout=TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr  # neither its results nor its temporary files were touched
    assert (out / "metrics.json").stat().st_size > 0


def _locked(path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if we took it
    return False


# ---------------------------------------------------------------- SIGKILL soak
def _run_and_kill(cmd, rng, round_s: float | None) -> tuple[int, str]:
    """Run ``cmd``; with ``round_s``, SIGKILL it at a uniformly random moment of the round after its
    first progress line (training, evaluation, selection or the checkpoint write), or when it
    ends. Returns the exit code and stderr."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines, first = [], threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            first.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if round_s is not None:
        while not first.wait(0.1) and proc.poll() is None:
            pass
        time.sleep(rng.uniform(0, round_s))
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    reader.join(timeout=TIMEOUT)
    proc.stderr.close()
    return proc.returncode, "".join(lines)


def _round_seconds(stderr: str) -> float | None:
    """Median time between consecutive progress lines of one job."""
    times = [float(t) for t in re.findall(r"\((\d+\.\d) s\)", stderr)]
    steps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    return steps[len(steps) // 2] if steps else None


@pytest.mark.parametrize("faults, kills", [(["select:2:2"], 1),
                                           pytest.param(["epoch:0:1", "select:2:2", "save:3:1"], 12,
                                                        marks=pytest.mark.slow)])
def test_sigkill_soak(data_file, tmp_path, reference, faults, kills):
    """SIGKILL at injection points (``epoch``: in training, ``select``: in a selection, ``save``: a
    checkpoint between its temporary file and the rename), then ``kills`` times at random moments,
    each time resumed: the final metrics, labeled sets and policy log equal an uninterrupted run's."""
    rng = random.Random(uuid.uuid4().int)  # fresh moments each run; the seed is in any failure message
    seed = rng.randrange(2**32)
    rng.seed(seed)
    out, landed, attempts, round_s = tmp_path / "killed", 0, 0, None
    for fault in faults:
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
        proc = _run(data_file, out, *resume, fault=fault)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
    while True:
        resume = ["--resume"] if (out / "checkpoint.pt").exists() or (out / "checkpoint.pt.prev").exists() else []
        cmd = [c for c in _cmd(data_file, out, *resume) if c != "--no-progress"]
        rc, stderr = _run_and_kill(cmd, rng, (round_s or 1.0) if landed < kills else None)
        round_s = _round_seconds(stderr) or round_s
        attempts += 1
        assert attempts < 4 * kills + 10, f"seed {seed}: no progress"
        if rc == -signal.SIGKILL:
            landed += 1
            continue
        assert rc == 0, f"seed {seed}: {stderr}"
        assert _final(out) == reference, f"seed {seed}"
        if landed >= kills:
            break
        shutil.rmtree(out)  # finished before enough kills landed: again, from scratch
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
