"""Stopping a child stops its whole process group and waits until no member is left.

Real processes, no root: a Python leader that spawns a child into its own group, as radvd does
with its helper.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from httpboot_harness.process import (
    ManagedProcess,
    adopt_orphans,
    describe_status,
    group_exists,
    group_members,
    terminate_group,
)
from httpboot_harness.waiting import Deadline, wait_until

# The leader prints its child's pid, then waits; ``{child}`` is the child's own code.
LEADER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {child!r}])
print(child.pid, flush=True)
{after}
"""
SLEEPER = "import time; time.sleep(60)"
DEAF_SLEEPER = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def start_group(tmp_path: Path, child: str, after: str = "time.sleep(60)") -> ManagedProcess:
    process = ManagedProcess(
        "group",
        [sys.executable, "-c", LEADER.format(child=child, after=after)],
        log_path=tmp_path / "group.log",
        netns=None,
        tag="hbh-test",
    )
    process.start()
    return process


def child_pid(process: ManagedProcess) -> int:
    wait_until(lambda: process.log_text().strip() != "", deadline=Deadline(20), what="the pid")
    return int(process.log_text().split()[0])


def gone(pid: int) -> bool:
    """Not even a zombie is left (psutil.pid_exists counts zombies as existing)."""
    return not psutil.pid_exists(pid)


def test_stop_returns_only_when_the_leaders_child_is_gone_too(tmp_path: Path) -> None:
    process = start_group(tmp_path, SLEEPER)
    child = child_pid(process)
    assert {p.pid for p in group_members(process.pid)} == {process.pid, child}
    process.stop(grace=5.0)
    assert gone(child)
    assert not group_exists(process.pid)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    process = start_group(tmp_path, DEAF_SLEEPER)
    child = child_pid(process)
    time.sleep(0.3)  # let the child install its handler
    started = time.monotonic()
    process.stop(grace=1.0)
    assert gone(child)
    assert time.monotonic() - started < 8.0


def test_a_child_left_running_by_a_leader_that_exited_is_stopped(tmp_path: Path) -> None:
    """A daemon whose main process is gone can still have members holding ports and files."""
    process = start_group(tmp_path, SLEEPER, after="")
    child = child_pid(process)
    wait_until(lambda: process.returncode is not None, deadline=Deadline(20), what="the leader")
    assert psutil.Process(child).status() != psutil.STATUS_ZOMBIE
    process.stop(grace=5.0)
    assert gone(child)
    assert not group_exists(process.pid)


def test_a_zombie_nobody_reaps_is_reported_after_the_reap_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A member whose living parent (outside the group) does not reap it keeps the group:
    logged, never raised. (Orphans the harness adopts are reaped: see adopt_orphans.)"""
    leader = subprocess.Popen(["sleep", "60"], process_group=0)
    # A parent of its own group that starts a member in the leader's group and never reaps it.
    keeper = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "p = subprocess.Popen(['true'], process_group=int(sys.argv[1])); "
         "print(p.pid, flush=True); time.sleep(60)", str(leader.pid)],
        process_group=0, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert keeper.stdout is not None
    member = int(keeper.stdout.readline())
    try:
        wait_until(
            lambda: psutil.Process(member).status() == psutil.STATUS_ZOMBIE,
            deadline=Deadline(20),
            what="the member to exit",
        )
        started = time.monotonic()
        assert terminate_group(leader, grace=2.0, reap=0.5) is False
        assert time.monotonic() - started < 5.0
        assert leader.returncode == -signal.SIGTERM
        assert psutil.Process(member).status() == psutil.STATUS_ZOMBIE
        assert f"process group {leader.pid} still has members" in caplog.text
    finally:
        keeper.kill()
        keeper.wait()
        keeper.stdout.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(member, 0)  # adopted by this process, if it is a subreaper
    wait_until(lambda: not group_exists(leader.pid), deadline=Deadline(20), what="the group to go")


def test_returncode_and_death_notice_survive_the_stop(tmp_path: Path) -> None:
    process = ManagedProcess(
        "sleeper", ["sleep", "60"], log_path=tmp_path / "s.log", netns=None, tag="hbh-test"
    )
    process.start()
    assert process.returncode is None
    os.kill(process.pid, signal.SIGKILL)
    wait_until(lambda: process.returncode is not None, deadline=Deadline(20), what="the kill")
    notice = process.death_notice()
    assert notice is not None
    assert "killed by SIGKILL (signal 9)" in notice
    process.stop()
    assert process.returncode == -signal.SIGKILL
    assert process.returncode_before_stop == -signal.SIGKILL
    assert process.death_notice() == "sleeper was stopped by the harness"
    process.stop()  # twice is fine


def test_a_process_the_harness_stopped_has_no_status_before_stop(tmp_path: Path) -> None:
    process = ManagedProcess(
        "sleeper", ["sleep", "60"], log_path=tmp_path / "s.log", netns=None, tag="hbh-test"
    )
    process.start()
    process.stop()
    assert process.returncode_before_stop is None
    assert process.returncode == -signal.SIGTERM


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-9, "was killed by SIGKILL (signal 9)"),
        (-15, "was killed by SIGTERM (signal 15)"),
    ],
)
def test_exit_statuses_are_described_in_words(code: int, text: str) -> None:
    assert describe_status(code) == text


def test_a_helper_orphaned_by_its_daemon_is_adopted_and_reaped_at_once(tmp_path: Path) -> None:
    """radvd's shape: the daemon exits before its helper; the helper is reaped by the harness
    (its subreaper), not left a zombie for init to reap a second later."""
    daemon = ManagedProcess(
        "daemon",
        ["sh", "-c", "sleep 60 & echo helper $! ; exec sleep 60"],
        log_path=tmp_path / "d.log", netns=None, tag="hbh-test",
    )  # fmt: skip
    daemon.start()
    assert adopt_orphans()
    wait_until(lambda: "helper" in daemon.log_text(), deadline=Deadline(20), what="the helper")
    helper = int(daemon.log_text().split()[1])
    started = time.monotonic()
    daemon.stop(grace=5.0)
    assert time.monotonic() - started < 1.0
    assert not psutil.pid_exists(helper)
