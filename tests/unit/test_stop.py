"""The stop request: what sets it, what it raises, the exit code, and the pool that obeys it."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from httpboot_harness import stop
from httpboot_harness.errors import HarnessError, HarnessTimeout
from httpboot_harness.waiting import Deadline, wait_until


@pytest.fixture(autouse=True)
def fresh_request() -> Iterator[None]:
    stop.reset()
    yield
    stop.reset()


def test_check_is_silent_until_a_stop_is_requested() -> None:
    stop.check()
    stop.request(signal.SIGTERM)
    with pytest.raises(stop.Interrupted, match="SIGTERM"):
        stop.check()


def test_interrupted_is_never_taken_for_the_harness_s_error_or_any_exception() -> None:
    """The runner turns Exception into the verdict "error": a stop must pass through it."""
    assert issubclass(stop.Interrupted, KeyboardInterrupt)
    assert not issubclass(stop.Interrupted, Exception)
    assert not issubclass(stop.Interrupted, HarnessError)


@pytest.mark.parametrize(
    ("signals", "code"),
    [([], 130), ([signal.SIGINT], 130), ([signal.SIGTERM], 143),
     ([signal.SIGTERM, signal.SIGINT], 143)],
)  # fmt: skip
def test_the_first_signal_decides_the_exit_code(signals: list[int], code: int) -> None:
    for signum in signals:
        stop.request(signum)
    assert stop.exit_code() == code


def test_a_signal_inside_the_handled_block_requests_a_stop_without_raising() -> None:
    """Raising in the handler would land between a Popen and its cleanup line; the waits raise."""
    before = signal.getsignal(signal.SIGTERM)
    with stop.signals_handled():
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = Deadline(5)
        while not stop.requested():  # the handler runs between two bytecodes of this thread
            assert not deadline.expired()
        assert stop.exit_code() == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_readiness_wait_ends_at_a_stop_and_a_cleanup_wait_does_not() -> None:
    stop.request(signal.SIGINT)
    with pytest.raises(stop.Interrupted):
        wait_until(lambda: False, deadline=Deadline(5), what="a daemon")
    with pytest.raises(HarnessTimeout):
        wait_until(lambda: False, deadline=Deadline(0.05), what="a group to end", stoppable=False)


def test_the_pool_keeps_the_order_of_the_items() -> None:
    assert stop.run_parallel(lambda n: n * n, [3, 1, 2], jobs=2) == [9, 1, 4]


def test_the_pool_raises_a_worker_s_exception_as_pool_map_would() -> None:
    def work(n: int) -> int:
        if n == 2:
            raise ValueError("two")
        return n

    with pytest.raises(ValueError, match="two"):
        stop.run_parallel(work, [1, 2, 3], jobs=2)


def _stoppable_walk(started: threading.Event) -> int:
    """A menu walk in miniature: it waits, checking the request as every wait does."""
    started.set()
    deadline = Deadline(30)
    while not deadline.expired():
        stop.check()
        time.sleep(0.01)
    return 0


def test_a_stop_reaches_the_workers_and_the_cases_not_begun_never_begin() -> None:
    began: list[int] = []
    started = threading.Event()

    def work(n: int) -> int:
        began.append(n)
        return _stoppable_walk(started)

    threading.Timer(0.5, stop.request, args=(signal.SIGTERM,)).start()
    t0 = time.monotonic()
    with pytest.raises(stop.Interrupted):
        stop.run_parallel(work, [1, 2, 3, 4], jobs=2)
    assert time.monotonic() - t0 < 5
    assert sorted(began) == [1, 2]


def test_a_keyboard_interrupt_in_the_main_thread_stops_the_workers_too() -> None:
    """pytest's own SIGINT handler raises KeyboardInterrupt in the main thread only."""
    started = threading.Event()

    def interrupt_main() -> None:
        started.wait(5)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt_main, daemon=True).start()
    with pytest.raises(stop.Interrupted):
        stop.run_parallel(lambda _n: _stoppable_walk(started), [1, 2], jobs=2)
    assert stop.requested()
    assert stop.exit_code() == 130


def test_the_wait_for_workers_after_a_stop_is_bounded() -> None:
    release = threading.Event()

    def deaf(_n: int) -> None:  # a teardown that takes its time, deaf to the request
        release.wait(10)

    stop.request(signal.SIGINT)
    t0 = time.monotonic()
    try:
        with pytest.raises(stop.Interrupted):
            stop.run_parallel(deaf, [1], jobs=1, unwind=0.3)
        assert time.monotonic() - t0 < 3
    finally:
        release.set()
