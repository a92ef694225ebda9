"""A live progress display: the whole run's state, then one line per case with its phase and time.

The first line says how many cases are done, the time since the start and an estimate of what
is left: from an earlier report's durations (``--durations-from``) where it has the case, else
from the mean of the cases finished so far, shared over the jobs running at once.
On a terminal the lines are redrawn in place; elsewhere (CI logs) each change is one new line,
and the overall line is printed each time a case finishes. Safe to call from several threads
(``matrix --jobs``).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Mapping
from typing import TextIO


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class LiveProgress:
    def __init__(
        self,
        case_ids: list[str],
        stream: TextIO | None = None,
        *,
        estimates: Mapping[str, float] | None = None,
        jobs: int = 1,
    ) -> None:
        self._stream = stream or sys.stdout
        self._tty = self._stream.isatty()
        self._ids = case_ids
        self._state = {case_id: "waiting" for case_id in case_ids}
        self._started: dict[str, float] = {}
        self._took: dict[str, float] = {}
        self._estimates = dict(estimates or {})
        self._jobs = max(jobs, 1)
        self._run_started = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = False
        self._width = max((len(c) for c in case_ids), default=0)

    def update(self, case_id: str, phase: str) -> None:
        with self._lock:
            now = time.monotonic()
            started = self._started.setdefault(case_id, now)
            self._state[case_id] = f"{phase} ({now - started:.1f} s)"
            if self._tty:
                self._redraw()
            else:
                self._stream.write(f"{case_id:{self._width}}  {self._state[case_id]}\n")
                self._stream.flush()

    def finish(self, case_id: str, outcome: str) -> None:
        """The case's last line; it now counts as done in the overall line."""
        with self._lock:
            now = time.monotonic()
            self._took[case_id] = now - self._started.setdefault(case_id, now)
        self.update(case_id, outcome)
        if not self._tty:
            with self._lock:
                self._stream.write(f"[{self.overall()}]\n")
                self._stream.flush()

    def overall(self, now: float | None = None) -> str:
        """``3/5 done, 2 min 10 s elapsed, about 1 min 20 s left``."""
        now = time.monotonic() if now is None else now
        text = f"{len(self._took)}/{len(self._ids)} done, {_clock(now - self._run_started)} elapsed"
        left = self._seconds_left(now)
        if left is not None:
            text += f", about {_clock(left)} left"
        return text

    def _seconds_left(self, now: float) -> float | None:
        pending = [c for c in self._ids if c not in self._took]
        if not pending:
            return None
        fallback = (
            statistics.mean(self._took.values())
            if self._took
            else statistics.mean(self._estimates.values())
            if self._estimates
            else None
        )
        total = 0.0
        for case_id in pending:
            estimate = self._estimates.get(case_id, fallback)
            if estimate is None:
                return None
            running = now - self._started[case_id] if case_id in self._started else 0.0
            total += max(estimate - running, 0.0)
        return total / min(self._jobs, len(pending))

    def _redraw(self) -> None:
        if self._drawn:
            self._stream.write(f"\x1b[{len(self._ids) + 1}A")
        self._stream.write(f"\x1b[2K{self.overall()}\n")
        for case_id in self._ids:
            self._stream.write(f"\x1b[2K{case_id:{self._width}}  {self._state[case_id]}\n")
        self._stream.flush()
        self._drawn = True
