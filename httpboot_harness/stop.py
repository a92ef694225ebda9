"""A stop in any state: one process-wide request that SIGINT and SIGTERM set and every wait reads.

A signal reaches the main thread only. With ``--jobs 2`` (and the mixed case's two guests) the
menu walks run in worker threads that a ``KeyboardInterrupt`` in the main thread never reaches,
so the pool's exit waited for their walks to finish (22-24 s measured on Debian 12's OVMF, 161 s
on a newer build). Instead the handlers only *request* a stop; every wait loop of a boot (the
console's reads, ``waiting.wait_until``, QMP's connect, the main thread's wait for its workers)
calls :func:`check`, which raises :class:`Interrupted` in whichever thread runs it. The exception
unwinds through each case's ExitStack, so every cleanup runs, and the command exits 130 (SIGINT)
or 143 (SIGTERM). Cleanup waits (stopping a process group, a sweep) do not check: they must end.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from types import FrameType
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
UNWIND_SECONDS = 8.0
"""How long the main thread waits, after a stop, for its workers' cases to tear down. Each check
is at most ~0.2 s apart and a teardown takes 1-3 s under TCG; 8 s keeps the exit within 10 s."""
POLL_SECONDS = 0.1
"""How often the main thread, waiting for its workers, looks at the stop request."""


class Interrupted(KeyboardInterrupt):
    """A stop was requested (SIGINT, SIGTERM, Ctrl-C): unwind, cleaning up on the way.

    A KeyboardInterrupt, not an Exception: the runner's ``except HarnessError`` and ``except
    Exception`` must never turn it into a case's verdict; it propagates after the teardown.
    """


class _Request:
    """The event and the signals that set it; one per process (:data:`REQUEST`)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signals: list[int] = []

    def set(self, signum: int) -> None:
        self.signals.append(signum)
        self.event.set()

    def clear(self) -> None:
        self.signals.clear()
        self.event.clear()


REQUEST = _Request()


def request(signum: int = signal.SIGINT) -> None:
    """Ask every wait of this process to stop; ``signum`` decides the exit code (first wins)."""
    REQUEST.set(signum)


def requested() -> bool:
    return REQUEST.event.is_set()


def check() -> None:
    """Raise :class:`Interrupted` once a stop was requested; the one call every wait makes."""
    if REQUEST.event.is_set():
        raise Interrupted(f"stopped by {signal_name()}")


def signal_name() -> str:
    """The name of the first signal that asked for the stop (SIGINT when none did)."""
    return signal.Signals(REQUEST.signals[0] if REQUEST.signals else signal.SIGINT).name


def exit_code() -> int:
    """128 + the first signal's number: 130 for SIGINT (also a plain Ctrl-C), 143 for SIGTERM."""
    return 128 + (REQUEST.signals[0] if REQUEST.signals else signal.SIGINT)


def reset() -> None:
    """Forget a request (tests; an in-process run after one that was stopped)."""
    REQUEST.clear()


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    """Only note the request: raising here would land at a random point of the main thread
    (between a Popen and the ExitStack line that would stop it); the waits raise instead.
    A second signal while unwinding is noted too and changes nothing."""
    if not requested():
        log.info("%s: stopping every case", signal.Signals(signum).name)
    request(signum)


@contextlib.contextmanager
def signals_handled() -> Iterator[None]:
    """SIGINT and SIGTERM request a stop while inside; the previous handlers come back after.
    Outside the main thread (where Python cannot install handlers) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_parallel(
    work: Callable[[T], R], items: Sequence[T], jobs: int, *, unwind: float = UNWIND_SECONDS
) -> list[R]:
    """``work`` over ``items``, ``jobs`` at a time, results in order; a stop ends it promptly.

    The main thread waits in short slices and checks the request between them; on a stop (or a
    KeyboardInterrupt raised in this thread, as pytest's own SIGINT handler does) it requests the
    stop for the workers, drops the cases not yet begun and waits up to ``unwind`` seconds for
    the running ones to tear down, then raises :class:`Interrupted`. Any other exception of a
    worker is raised as ``pool.map`` would, after every worker ended.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    futures: list[Future[R]] = []
    try:
        futures = [pool.submit(_unless_stopped, work, item) for item in items]
        pending: set[Future[R]] = set(futures)
        while pending:
            check()
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                break  # as pool.map: the first failure, once every worker has ended
        check()
        wait(futures)
        return [f.result() for f in futures]
    except KeyboardInterrupt:
        if not requested():
            request(signal.SIGINT)
        unwound = _unwind(pool, futures, unwind)
        if not unwound:
            log.warning("cases still tearing down after %.0f s of a stop", unwind)
        raise Interrupted(f"stopped by {signal_name()}") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _unless_stopped(work: Callable[[T], R], item: T) -> R:
    """A worker that frees itself after a stop must not begin the next case."""
    check()
    return work(item)


def _unwind(pool: ThreadPoolExecutor, futures: Sequence[Future[R]], seconds: float) -> bool:
    """Cancel what has not begun, wait (bounded) for what runs; True when all have ended.
    (A cancelled future never counts as done for ``wait``: only the begun ones are waited for.)"""
    begun = [f for f in futures if not f.cancel()]
    pool.shutdown(wait=False, cancel_futures=True)
    _, still = wait(begun, timeout=seconds)
    return not still
