"""Who ended QEMU: the guest, a signal from the host, or QEMU's own error. No QEMU needed.

The rule under test: only the guest's own SHUTDOWN/RESET is about the firmware; a signal or a
host error must become the verdict ``error`` (``MachineEnd.by_host``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from httpboot_harness.machine import (
    EndKind,
    Machine,
    MachineSpec,
    Qmp,
    QmpEvent,
    classify_end,
)
from httpboot_harness.process import ManagedProcess
from httpboot_harness.waiting import Deadline, wait_until
from tests.unit.test_qmp_failures import FakeQemu

GUEST_OFF = QmpEvent("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}, 9.1)
GUEST_RESET = QmpEvent("SHUTDOWN", {"guest": True, "reason": "guest-reset"}, 4.0)
HOST_SIGNAL = QmpEvent("SHUTDOWN", {"guest": False, "reason": "host-signal"}, 5.0)
TERMINATED = "qemu-system-x86_64: terminating on signal 15 from pid 4242 (kill)\n"


def test_the_guests_power_off_is_the_guests_doing() -> None:
    end = classify_end([GUEST_OFF], None, "")
    assert end.kind is EndKind.GUEST_SHUTDOWN
    assert not end.by_host
    assert "9.100 s" in end.detail


def test_a_guest_reset_under_no_reboot_is_a_reset() -> None:
    assert classify_end([GUEST_RESET], None, "").kind is EndKind.GUEST_RESET
    reset = QmpEvent("RESET", {"guest": True, "reason": "guest-reset"}, 3.0)
    assert classify_end([reset], 0, "").kind is EndKind.GUEST_RESET


def test_the_guest_event_wins_over_a_later_kill() -> None:
    """With -no-shutdown QEMU stays up after the power-off; a later kill says nothing."""
    assert classify_end([GUEST_OFF], -9, "").kind is EndKind.GUEST_SHUTDOWN


def test_a_running_qemu_is_running() -> None:
    end = classify_end([QmpEvent("RESUME", {}, 0.0)], None, "")
    assert end.kind is EndKind.RUNNING
    assert not end.by_host


def test_sigkill_is_a_kill_by_the_host() -> None:
    end = classify_end([], -9, "")
    assert (end.kind, end.signal, end.by_host) == (EndKind.KILLED, 9, True)
    assert "SIGKILL" in str(end)


def test_sigterm_that_qemu_caught_and_logged_names_the_sender() -> None:
    """QEMU handles SIGTERM itself and exits 0: only its log line tells it was a signal."""
    end = classify_end([HOST_SIGNAL], 0, TERMINATED)
    assert (end.kind, end.signal, end.exit_code) == (EndKind.KILLED, 15, 0)
    assert "SIGTERM (signal 15) from pid 4242 (kill)" in end.detail


def test_an_error_exit_is_a_host_error_with_the_log() -> None:
    end = classify_end([], 1, "qemu-system-x86_64: -drive ...: Could not open 'x': No such file\n")
    assert (end.kind, end.exit_code, end.by_host) == (EndKind.HOST_ERROR, 1, True)
    assert "Could not open" in end.log_tail


def test_a_clean_exit_without_the_guest_is_a_host_error() -> None:
    quit_event = QmpEvent("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"}, 2.0)
    end = classify_end([quit_event], 0, "")
    assert end.kind is EndKind.HOST_ERROR
    assert "host-qmp-quit" in end.detail


# -- with real processes standing in for QEMU ----------------------------------------------


def machine_with(tmp_path: Path, argv: list[str]) -> Machine:
    socket_dir = tmp_path / "sockets"
    socket_dir.mkdir()
    spec = MachineSpec(
        qemu="qemu-system-x86_64",
        accel="tcg",
        firmware_code=Path("/fw/CODE.fd"),
        vars_copy=tmp_path / "VARS.fd",
        socket_dir=socket_dir,
    )
    process = ManagedProcess(
        "qemu", argv, log_path=tmp_path / "qemu.log", netns=None, tag="hbh-test"
    )
    process.start()
    return Machine(spec, netns="unused", tag="hbh-test", workdir=tmp_path, _process=process)


def ended(machine: Machine) -> None:
    wait_until(lambda: machine.death_notice() is not None, deadline=Deadline(20), what="the end")


def test_a_qemu_killed_by_someone_else_is_killed_even_after_the_stop(tmp_path: Path) -> None:
    machine = machine_with(tmp_path, ["sleep", "60"])
    assert machine.end().kind is EndKind.RUNNING
    os.kill(machine._process.pid, signal.SIGKILL)  # type: ignore[union-attr]
    ended(machine)
    machine.stop()
    end = machine.end()
    assert (end.kind, end.signal) == (EndKind.KILLED, signal.SIGKILL)
    assert (tmp_path / "qmp-events.jsonl").exists()


def test_a_qemu_that_exits_with_an_error_is_a_host_error(tmp_path: Path) -> None:
    machine = machine_with(tmp_path, ["sh", "-c", "echo 'qemu: cannot open tap0' >&2; exit 3"])
    ended(machine)
    end = machine.end()
    assert (end.kind, end.exit_code) == (EndKind.HOST_ERROR, 3)
    assert "cannot open tap0" in end.log_tail
    machine.stop()
    assert machine.end() == end


# Like QEMU: SIGTERM is caught, logged with its sender, and the exit status is 0.
CATCHES_SIGTERM = (
    "trap 'echo \"qemu: terminating on signal 15 from pid 1 (x)\" >&2; exit 0' TERM; "
    "echo ready; while :; do sleep 0.05; done"
)


@pytest.mark.parametrize("argv", [["sleep", "60"], ["sh", "-c", CATCHES_SIGTERM]])
def test_the_harnesss_own_stop_is_never_taken_for_a_kill(tmp_path: Path, argv: list[str]) -> None:
    machine = machine_with(tmp_path, argv)
    if argv[0] == "sh":
        wait_until(
            lambda: "ready" in (tmp_path / "qemu.log").read_text(),
            deadline=Deadline(20),
            what="the trap",
        )
    machine.stop()
    assert machine.end().kind is EndKind.RUNNING
    assert not machine.end().by_host
    if argv[0] == "sh":  # what end() would say without the snapshot taken at the stop
        assert "terminating on signal 15" in (tmp_path / "qemu.log").read_text()


def test_a_machine_never_started_is_a_host_error(tmp_path: Path) -> None:
    spec = MachineSpec("q", "tcg", Path("/c"), tmp_path / "v", tmp_path)
    assert Machine(spec, "ns", "tag", tmp_path).end().kind is EndKind.HOST_ERROR


def test_the_guests_shutdown_read_before_the_stop_decides_the_end(tmp_path: Path) -> None:
    """After the stop, the end is still the guest's own shutdown, and the event log has it."""
    shutdown = {
        "event": "SHUTDOWN",
        "data": {"guest": True, "reason": "guest-shutdown"},
        "timestamp": {"seconds": 100, "microseconds": 0},
    }
    machine = machine_with(tmp_path, ["sleep", "60"])
    path = Path(f"/tmp/hbh-end-test-{os.getpid()}.sock")
    with FakeQemu(path, events=[shutdown]):
        qmp = Qmp(path)
        qmp.connect(10.0)
        machine._qmp = qmp
        deadline = Deadline(10.0)
        while not machine.poll_events(timeout=0.2) and not deadline.expired():
            pass
        machine.stop()
    path.unlink(missing_ok=True)
    assert machine.end().kind is EndKind.GUEST_SHUTDOWN
    assert '"SHUTDOWN"' in (tmp_path / "qmp-events.jsonl").read_text()
