"""A live progress display: one line per case with the phase it reached and the time it took.

On a terminal the lines are redrawn in place; elsewhere (CI logs) each change is one new line.
Safe to call from several threads (``matrix --jobs``).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class LiveProgress:
    def __init__(self, case_ids: list[str], stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._tty = self._stream.isatty()
        self._ids = case_ids
        self._state = {case_id: "waiting" for case_id in case_ids}
        self._started: dict[str, float] = {}
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

    def _redraw(self) -> None:
        if self._drawn:
            self._stream.write(f"\x1b[{len(self._ids)}A")
        for case_id in self._ids:
            self._stream.write(f"\x1b[2K{case_id:{self._width}}  {self._state[case_id]}\n")
        self._stream.flush()
        self._drawn = True
