"""Progress output on stderr: live bars on a terminal (or in a notebook), one plain line per round
when stderr is a file or a pipe, so a redirected log holds no escape codes."""
from __future__ import annotations

import sys
import time

from tqdm import std
from tqdm.auto import tqdm
from tqdm.autonotebook import tqdm as notebook_or_std  # after tqdm.auto, which silences its warning


def live() -> bool:
    """Whether progress can redraw in place: stderr is a terminal, or tqdm runs in a notebook."""
    return notebook_or_std is not std.tqdm or sys.stderr.isatty()


class RoundProgress:
    """Rounds of one job: ``update(record)`` after each round; ``desc`` names the job
    (``policy training 2/4``, ``seed 0 (1/3), 3/14 strategies: entropy``)."""

    def __init__(self, desc: str, total: int, initial: int = 0, enabled: bool = True):
        self.desc, self.total, self.done, self.t0 = desc, total, initial, time.perf_counter()
        self.bar = tqdm(total=total, initial=initial, desc=desc, leave=False) if enabled and live() else None
        self.lines = enabled and self.bar is None

    def update(self, record: dict) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.lines:
            top1 = (record.get("test") or record.get("val") or {}).get("top1")
            score = f", top-1 {top1:.3f}" if isinstance(top1, float) else ""
            print(f"rlmba: {self.desc}: round {self.done}/{self.total}, {record['labels']} labels{score} "
                  f"({time.perf_counter() - self.t0:.1f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
