"""Where a boot's seconds went: its timeline cut at milestones, each piece named for its activity.

A milestone is a moment in the timeline (the DHCP ACK, the DNS answer, the last byte); the time
between two milestones is named for what was being done then ("DHCP", "address configuration",
"download"), never for the milestone that ends it: IPv6's two seconds between the DHCPv6 reply
and the DNS query are address configuration (duplicate address detection), not DNS. Where a
milestone is missing (a preset boot has no menu walk, a refused boot stops early), the piece
spans several activities and is named for all of them. The benchmark's plot and the HTML report
both draw from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Milestone:
    key: str
    activity: str
    """What the time up to this milestone, since the one before, was spent on."""
    source: str
    what: str
    """The timeline event's ``what`` starts with this."""
    detail: str = ""
    """...and its detail contains this."""
    tls_activity: str | None = None
    """The activity's name in an HTTPS boot, where it differs."""


MILESTONES: tuple[Milestone, ...] = (
    Milestone("entry chosen", "firmware start and boot menu", "harness",
              "firmware reached the boot option"),
    Milestone("dhcp started", "network start", "network", "DHCPv4 DISCOVER", "HTTPClient"),
    Milestone("dhcp started", "network start", "network", "DHCPv6 SOLICIT", "HTTPClient"),
    Milestone("dhcp done", "DHCP", "network", "DHCPv4 ACK", "HTTPClient"),
    Milestone("dhcp done", "DHCP", "network", "DHCPv6 REPLY", "HTTPClient"),
    Milestone("dns asked", "address configuration", "network", "DNS query"),
    Milestone("dns answered", "DNS", "network", "DNS answer"),
    Milestone("connected", "TCP connect", "network", "TCP connected"),
    Milestone("size known", "HEAD request", "console", "firmware knows the file size",
              tls_activity="TLS handshake and HEAD"),
    Milestone("last byte", "download", "network", "last byte"),
    Milestone("image output", "image start", "console", "image output"),
    Milestone("power-off", "image run to power-off", "qmp", "QMP SHUTDOWN"),
)  # fmt: skip
"""In boot order; a key may have several ways to be found (IPv4 or IPv6), the first seen wins."""

KEYS: tuple[str, ...] = tuple(dict.fromkeys(m.key for m in MILESTONES))
HARNESS_ACTIVITY = "harness setup and teardown"
"""After the power-off, up to the case's total (lab setup, QEMU start and teardown)."""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    activity: str
    failed: bool = False
    """The piece where a boot that was not booted stopped."""

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _field(event: Any, name: str) -> Any:
    return event[name] if isinstance(event, Mapping) else getattr(event, name)


def find_milestones(events: Iterable[Any]) -> dict[str, float]:
    """Each milestone's time in seconds from the guest's start; ``events`` are TimelineEvents
    or their dicts (a JSON report's ``timeline``)."""
    rows = [(float(_field(e, "seconds")), str(_field(e, "source")), str(_field(e, "what")),
             str(_field(e, "detail"))) for e in events]  # fmt: skip
    found: dict[str, float] = {}
    for milestone in MILESTONES:
        if milestone.key in found:
            continue
        for seconds, source, what, detail in rows:
            if (
                source == milestone.source
                and what.startswith(milestone.what)
                and (milestone.detail in detail)
            ):
                found[milestone.key] = seconds
                break
    return found


def _activity(key: str, tls: bool) -> str:
    milestone = next(m for m in MILESTONES if m.key == key)
    return milestone.tls_activity if tls and milestone.tls_activity else milestone.activity


def segments(
    marks: Mapping[str, float],
    *,
    tls: bool,
    end: float | None = None,
    failed_phase: str | None = None,
    total: float | None = None,
) -> list[Segment]:
    """Cut 0 .. the last milestone at each milestone present, naming each piece for the
    activities it spans. ``end``: when the boot stopped, if later than the last milestone; the
    piece up to it is where a boot that failed at ``failed_phase`` stopped. ``total``: the case's
    whole time, drawn as the harness's own piece after the power-off."""
    pieces: list[Segment] = []
    start = 0.0
    spanned: list[str] = []
    for key in KEYS:
        spanned.append(_activity(key, tls))
        if key not in marks or marks[key] < start:
            continue
        pieces.append(Segment(start, marks[key], " + ".join(dict.fromkeys(spanned))))
        start, spanned = marks[key], []
    if failed_phase is not None and end is not None and end > start:
        pieces.append(Segment(start, end, f"stopped at {failed_phase}", failed=True))
    elif total is not None and "power-off" in marks and total > start:
        pieces.append(Segment(start, total, HARNESS_ACTIVITY))
    return pieces


def row_segments(row: Mapping[str, Any]) -> list[Segment]:
    """A JSON report row's pieces, from its timeline, verdict and scheme."""
    timeline = row.get("timeline") or []
    marks = find_milestones(timeline)
    last = max((float(e["seconds"]) for e in timeline), default=None)
    failed = None if row.get("verdict") == "booted" else (row.get("phase") or row.get("verdict"))
    tls = "https" in str(row.get("id", "")).split("-")
    return segments(marks, tls=tls, end=last, failed_phase=failed)
