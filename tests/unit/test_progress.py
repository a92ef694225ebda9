"""The overall progress line: done/total, elapsed, and an estimate of the time left."""

from __future__ import annotations

import io

import pytest

from httpboot_harness.progress import LiveProgress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("httpboot_harness.progress.time.monotonic", fake)
    return fake


def test_the_estimate_comes_from_the_durations_file_less_what_already_ran(clock: Clock) -> None:
    out = io.StringIO()
    live = LiveProgress(["a", "b", "c"], out, estimates={"a": 60.0, "b": 30.0, "c": 90.0})
    live.update("a", "lab")
    clock.now += 50
    live.finish("a", "booted, as expected")
    live.update("b", "lab")
    clock.now += 10
    # b: 30 - 10 running = 20 left; c: 90 not started
    assert live.overall() == "1/3 done, 1 min 00 s elapsed, about 1 min 50 s left"
    assert "[1/3 done, 50 s elapsed, about 2 min 00 s left]\n" in out.getvalue()


def test_without_durations_the_estimate_is_the_mean_so_far_over_the_jobs(clock: Clock) -> None:
    live = LiveProgress(["a", "b", "c", "d", "e"], io.StringIO(), jobs=2)
    assert live.overall() == "0/5 done, 0 s elapsed"  # nothing to estimate from yet
    live.update("a", "lab")
    clock.now += 40
    live.finish("a", "booted")
    # four cases of 40 s each, two at a time
    assert live.overall() == "1/5 done, 40 s elapsed, about 1 min 20 s left"


def test_when_all_are_done_no_estimate_is_shown(clock: Clock) -> None:
    live = LiveProgress(["a"], io.StringIO(), estimates={"a": 5.0})
    live.update("a", "lab")
    clock.now += 7
    live.finish("a", "booted")
    assert live.overall() == "1/1 done, 7 s elapsed"


def test_on_a_terminal_the_overall_line_is_drawn_above_the_cases(clock: Clock) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    live = LiveProgress(["a", "b"], out)
    live.update("a", "lab")
    live.update("a", "dhcp")
    frames = out.getvalue().split("\x1b[3A")  # redraws move up over three lines
    assert len(frames) == 2
    assert frames[1].startswith("\x1b[2K0/2 done, 0 s elapsed\n\x1b[2Ka  dhcp (0.0 s)\n")
