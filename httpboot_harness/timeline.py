"""One ordered list of what happened in a boot, from the console, the capture and QMP.

Times are seconds from the guest's start (QMP ``cont``). The console gives the firmware's own
words, the capture what went over the wire, QMP the power-off; together they show where each
second of a boot goes, and where a failed boot stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .netcapture import NetEvent


@dataclass(frozen=True)
class TimelineEvent:
    seconds: float
    source: str
    """console | network | qmp | harness"""
    what: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


def build_timeline(
    *,
    harness_marks: dict[str, float],
    console_arrival: Callable[[str], float | None],
    marks: Iterable[tuple[str, str]],
    network: Iterable[NetEvent],
    qmp: Iterable[tuple[float, str, str]],
) -> list[TimelineEvent]:
    """Merge every source; ``marks`` are (console text, what it marks), the phase table's and
    the proof line; the harness marks are already relative to the guest's start."""
    events = [TimelineEvent(t, "harness", what) for what, t in harness_marks.items()]
    seen: set[str] = set()
    for needle, what in marks:
        arrived = console_arrival(needle)
        if arrived is not None and what not in seen:
            seen.add(what)
            events.append(TimelineEvent(arrived, "console", what, needle.strip()))
    events += [TimelineEvent(e.seconds, "network", e.what, e.detail) for e in network]
    events += [TimelineEvent(t, "qmp", name, detail) for t, name, detail in qmp]
    return sorted(events, key=lambda e: e.seconds)


def format_timeline(events: Iterable[TimelineEvent]) -> str:
    """The readable form: one line per event, time first."""
    lines = [f"{e.seconds:8.3f} s  {e.source:8} {e.what}" + (f"  ({e.detail})" if e.detail else "")
             for e in events]  # fmt: skip
    return "\n".join(lines) + "\n"
