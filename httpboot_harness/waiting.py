"""Deadlines on the monotonic clock, and the one polling loop every readiness wait goes through.

Every wait here has a deadline and asks, on each pass, whether the process it waits on is still
alive, so a crashed daemon or QEMU fails the wait at once instead of at the deadline, and whether
a stop was requested (:mod:`stop`), so SIGINT or SIGTERM ends it at once too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import stop
from .errors import HarnessTimeout


@dataclass
class Deadline:
    """A point on the monotonic clock, ``seconds`` from creation."""

    seconds: float
    start: float = field(default_factory=time.monotonic)

    @property
    def at(self) -> float:
        return self.start + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def sooner(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now, but never later than this one."""
        now = time.monotonic()
        return Deadline(min(seconds, self.at - now), start=now)


def wait_until(
    condition: Callable[[], bool],
    *,
    deadline: Deadline,
    what: str,
    still_alive: Callable[[], str | None] = lambda: None,
    poll: float = 0.02,
    max_poll: float = 0.2,
    stoppable: bool = True,
) -> None:
    """Poll ``condition`` until true; raise when ``still_alive`` reports a death or time runs out.

    ``still_alive`` returns None while all is well, or a sentence saying what died (the caller
    raises its own error type around it). The poll interval grows from ``poll`` to ``max_poll``.
    A requested stop raises :class:`stop.Interrupted`, unless ``stoppable`` is False: a cleanup
    step's wait (a process group ending) must run to its own deadline.
    """
    interval = poll
    while True:
        if stoppable:
            stop.check()
        if condition():
            return
        death = still_alive()
        if death is not None:
            raise ChildDied(death)
        if deadline.expired():
            raise HarnessTimeout(f"timed out after {deadline.seconds:.1f} s waiting for {what}")
        time.sleep(min(interval, deadline.remaining()) or 0.001)
        interval = min(interval * 1.5, max_poll)


class ChildDied(Exception):
    """The watched process ended during a wait; callers turn it into their own error type."""
