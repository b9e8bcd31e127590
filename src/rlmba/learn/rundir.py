"""A run's output directory, held by one process for the run's lifetime.

- **One process per directory**: an exclusive ``flock`` on the directory itself (released by the
  kernel when the process dies, so it is never stale; no lock file); a second process refuses to start.
- **No run silently replaced**: a new run refuses a directory that holds another run's
  checkpoint or results unless ``overwrite`` (which first deletes that run's files);
  ``resume`` requires a checkpoint.
- **Temporary files** of writers killed mid-write are deleted, never one whose process is alive.
- **Nothing left behind**: a run that fails before writing anything removes the directory it created.
"""
from __future__ import annotations

import fcntl
import os

from .checkpoint import is_stale_temp

CHECKPOINT = "checkpoint.pt"
# What a run writes; ``overwrite`` deletes these (and nothing else) from the directory.
RUN_FILES = (CHECKPOINT, CHECKPOINT + ".prev", "metrics.json", "metrics.csv", "curves.json", "summary.txt",
             "learning_curve.png", "modality_contributions.png", "comparison.md", "comparison.csv",
             "paper_table.md", "policy.pt", "baselines.json")


class RunDirectory:
    """``with RunDirectory(out, resume=..., overwrite=...):`` hold ``out`` while a run writes into it.

    Every refusal raises ``ValueError`` (one line, naming the directory) before anything is written.
    """

    def __init__(self, path: str, *, resume: bool = False, overwrite: bool = False):
        self.path, self.resume, self.overwrite = str(path), resume, overwrite
        self.created, self._fd = False, None

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def holds_run(self) -> bool:
        return any(os.path.exists(self.file(f)) for f in (CHECKPOINT, CHECKPOINT + ".prev", "metrics.json"))

    def __enter__(self) -> "RunDirectory":
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"--out {self.path}: exists and is not a directory")
        if self.resume and not (os.path.exists(self.file(CHECKPOINT)) or os.path.exists(self.file(CHECKPOINT + ".prev"))):
            raise ValueError(f"--resume: no checkpoint in {self.path} (nothing to resume; run without --resume)")
        self.created = not os.path.isdir(self.path)
        os.makedirs(self.path, exist_ok=True)
        try:
            self._lock()
            if not self.resume and self.holds_run():
                if not self.overwrite:
                    raise ValueError(f"--out {self.path}: holds another run; pass --resume to continue it or "
                                     "--overwrite to replace it")
                for name in RUN_FILES:
                    if os.path.exists(self.file(name)):
                        os.remove(self.file(name))
            for name in os.listdir(self.path):
                if ".tmp-" in name and is_stale_temp(name):
                    os.remove(self.file(name))
        except BaseException:
            self._release(failed=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._release(failed=exc_type is not None)

    def _lock(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"--out {self.path}: in use by another running rlmba process; "
                             "wait for it or choose another --out") from None
        self._fd = fd

    def _release(self, failed: bool) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if failed and self.created and not os.listdir(self.path):
            os.rmdir(self.path)
