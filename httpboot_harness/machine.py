"""QEMU: the argv of the seed's client, a paused start, QMP with a timeout on every call, a stop.

QEMU is started paused (``-S``) and checked for an early death before anything else; the QMP event
listener exists before ``cont``, so no event is missed. ``-no-shutdown`` keeps QEMU alive after the
guest powers off, so the SHUTDOWN event (guest=true) is read before QEMU is told to quit.

Every failure of QMP (qemu.qmp, asyncio, the socket) is raised as the harness's own
:class:`QmpError` (a MachineError), a timeout as HarnessTimeout: never a library traceback, and
never a firmware verdict. :meth:`Machine.end` tells from evidence who ended QEMU: the guest
(QMP SHUTDOWN/RESET with guest=true), a signal from the host, or QEMU's own error.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import re
import shlex
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from qemu.qmp import QMPClient
from qemu.qmp.protocol import ConnectError

from . import stop
from .errors import HarnessTimeout, InfrastructureError, MachineError, QmpError
from .labstate import own_prefix
from .network import TAP
from .process import ManagedProcess, describe_status
from .serial_relay import pipe_paths
from .userns import enter_prefix
from .waiting import ChildDied, Deadline, wait_until

log = logging.getLogger(__name__)

DEFAULT_MAC = "52:54:00:12:34:56"
T = TypeVar("T")


@dataclass(frozen=True)
class MachineSpec:
    """Everything QEMU is started with; ``argv`` is pure and unit-tested."""

    qemu: str
    accel: str
    firmware_code: Path
    vars_copy: Path
    socket_dir: Path
    """Short folder for the unix sockets (paths are limited to 108 bytes); Machine removes it."""
    mac: str = DEFAULT_MAC
    machine_args: tuple[str, ...] = ("-machine", "q35")
    """The board (and CPU) of the case's architecture (arch.ArchSpec.machine_args)."""
    tap: str = TAP
    memory_mb: int = 1024
    fw_cfg_files: tuple[tuple[str, Path], ...] = ()
    boot_menu_ms: int = 60000
    """How long the firmware waits for ESC; long by default so the harness drives the menus,
    short when the boot entry is preset in the vars (BootNext) and nobody presses a key."""
    extra_args: tuple[str, ...] = ()

    @property
    def serial_pipe(self) -> Path:
        """The base of QEMU's serial FIFOs (``.in`` and ``.out``, see :mod:`serial_relay`)."""
        return self.socket_dir / "serial"

    @property
    def qmp_socket(self) -> Path:
        return self.socket_dir / "qmp.sock"

    def _client(self) -> list[str]:
        """The seed's client: q35 (virt), two pflash drives, virtio-net on a tap, no option ROM."""
        argv = [
            self.qemu,
            *self.machine_args,
            "-accel", self.accel,
            "-m", str(self.memory_mb),
            "-nodefaults",
            "-no-user-config",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={self.firmware_code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={self.vars_copy}",
            "-netdev", f"tap,id=net0,ifname={self.tap},script=no,downscript=no",
            # romfile= (empty): no iPXE option ROM, so OVMF's own HTTP boot driver runs.
            "-device", f"virtio-net-pci,netdev=net0,mac={self.mac},romfile=",
            "-device", "virtio-rng-pci",
        ]  # fmt: skip
        for name, path in self.fw_cfg_files:
            argv += ["-fw_cfg", f"name={name},file={path}"]
        return argv

    def argv(self) -> list[str]:
        """For the harness: serial on FIFOs, QMP on a unix socket, kept alive after the
        power-off."""
        return [
            *self._client(),
            "-display", "none",
            "-chardev", f"pipe,id=serial0,path={self.serial_pipe}",
            "-serial", "chardev:serial0",
            "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
            "-boot", f"menu=on,splash-time={self.boot_menu_ms}",
            "-no-reboot",
            "-no-shutdown",
            *self.extra_args,
        ]  # fmt: skip

    def command_for_person(self) -> list[str]:
        """For a person at a terminal: the console on stdio; QEMU ends when the guest does."""
        return [
            *self._client(),
            "-display", "none",
            # mon: multiplexes the monitor on the same terminal (Ctrl-A x quits, Ctrl-A c monitor).
            "-serial", "mon:stdio",
            "-no-reboot",
            *self.extra_args,
        ]  # fmt: skip


@dataclass
class QmpEvent:
    name: str
    data: dict[str, Any]
    seconds: float
    """Host time of the event relative to the guest's start (``cont``)."""


class _QuietLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """qemu.qmp logs each failed connect at ERROR; every failure reaches the user as a QmpError
    saying the same, so its lines go to debug (where a retried attempt belongs too)."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


class Qmp:
    """A synchronous bridge to qemu.qmp's QMPClient: a timeout on every call, and every failure
    raised as :class:`QmpError` (a MachineError) saying what was sent, a timeout as
    HarnessTimeout."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._loop = asyncio.new_event_loop()
        self._client = QMPClient("httpboot-harness")
        self._client.logger = cast(logging.Logger, _QuietLog(log.getChild("qmp"), {}))

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float, sent: str) -> T:
        if self._loop.is_closed():
            coroutine.close()  # never awaited otherwise: a RuntimeWarning
            raise MachineError(f"QMP {sent}: the connection was already closed")
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coroutine, timeout))
        except TimeoutError as exc:
            raise HarnessTimeout(f"QMP did not answer {sent} within {timeout:.1f} s") from exc
        except Exception as exc:  # qemu.qmp's QMPError, OSError, EOFError, asyncio's errors
            raise QmpError(sent, exc) from exc

    def connect(self, timeout: float, still_alive: Callable[[], str | None] = lambda: None) -> None:
        """Connect and negotiate, trying again until ``timeout`` while nothing listens yet.

        Under load QEMU can be slow to listen after its socket file appears (a refused connect),
        so a refused, missing or hung-up socket is tried again; a protocol error is not. A death
        reported by ``still_alive`` ends the wait at once.
        """
        deadline = Deadline(timeout)
        sent = f"connect to {self._path}"
        attempts, interval = 0, 0.02
        while True:
            stop.check()  # a stop while QEMU starts: the launch's cleanup closes the client
            attempts += 1
            try:
                self._run(self._client.connect(str(self._path)), deadline.remaining(), sent)
                if attempts > 1:
                    log.debug("QMP connected after %d attempts", attempts)
                return
            except QmpError as exc:
                if not _worth_retrying(exc.cause):
                    raise
                last = exc
            death = still_alive()
            if death is not None:
                raise MachineError(f"QEMU ended before QMP connected: {death}") from last
            time.sleep(min(interval, deadline.remaining()))
            interval = min(interval * 2, 0.25)
            if deadline.remaining() < 0.05:  # too little left for an honest attempt
                raise QmpError(
                    f"{sent} ({attempts} attempts in {timeout:.1f} s)", last.cause
                ) from last.cause

    def execute(self, command: str, timeout: float = 5.0, **arguments: Any) -> Any:
        sent = f"execute {command!r}" + (f" {arguments}" if arguments else "")
        return self._run(self._client.execute(command, arguments or None), timeout, sent)

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when none arrives within ``timeout``."""
        try:
            event = self._run(self._client.events.get(), timeout, "wait for an event")
        except HarnessTimeout:
            return None
        return dict(event)

    def close(self) -> None:
        """Disconnect and close the loop; never raises (it runs during cleanup)."""
        try:
            self._run(self._client.disconnect(), 5.0, "disconnect")
        except InfrastructureError as exc:
            log.debug("%s", exc)
        finally:
            self._loop.close()


def _worth_retrying(error: BaseException) -> bool:
    """A connect that failed for want of a listener: QEMU may not have got round to it yet."""
    return isinstance(error, ConnectError) and isinstance(error.exc, (OSError, EOFError))


class EndKind(enum.StrEnum):
    """How QEMU's run ended, as far as the evidence tells."""

    RUNNING = "running"
    """Still running (after :meth:`Machine.stop`: it was running when the harness ended it)."""
    GUEST_SHUTDOWN = "guest-shutdown"
    GUEST_RESET = "guest-reset"
    KILLED = "killed"
    """A signal from the host ended QEMU (SIGKILL, or SIGTERM/SIGINT/SIGHUP it logged)."""
    HOST_ERROR = "host-error"
    """QEMU exited on its own without the guest asking: its own error."""


@dataclass(frozen=True)
class MachineEnd:
    """Why QEMU ended, read from QMP events, its exit status and its log."""

    kind: EndKind
    detail: str
    """One sentence for a person: the event, the signal (and its sender), or the exit code."""
    signal: int | None = None
    exit_code: int | None = None
    log_tail: str = ""
    """QEMU's last log lines, for a host error."""

    @property
    def by_host(self) -> bool:
        """True when the host, not the guest, ended QEMU: no firmware verdict may rest on it."""
        return self.kind in (EndKind.KILLED, EndKind.HOST_ERROR)

    def __str__(self) -> str:
        return self.detail


# QEMU's own line when it quits on SIGTERM, SIGINT or SIGHUP (it then exits with status 0).
_TERMINATED = re.compile(r"terminating on signal (\d+)(?: from pid (\d+)(?: \(([^)]*)\))?)?")


def classify_end(events: Sequence[QmpEvent], returncode: int | None, qemu_log: str) -> MachineEnd:
    """The end of a QEMU run started with ``-no-reboot -no-shutdown``.

    The guest's own SHUTDOWN or RESET (``guest: true``) comes first: with ``-no-shutdown`` QEMU
    stays up after it, so whatever ended the process later says nothing about the firmware.
    """
    for event in events:
        if not event.data.get("guest") or event.name not in ("SHUTDOWN", "RESET"):
            continue
        reason = str(event.data.get("reason", ""))
        # -no-reboot turns a guest reset into SHUTDOWN with reason guest-reset; without it, RESET.
        reset = event.name == "RESET" or reason == "guest-reset"
        return MachineEnd(
            EndKind.GUEST_RESET if reset else EndKind.GUEST_SHUTDOWN,
            f"the guest ended its run: QMP {event.name} ({reason}) at {event.seconds:.3f} s",
        )
    if returncode is None:
        return MachineEnd(EndKind.RUNNING, "QEMU is running; the guest has not powered off")
    if returncode < 0:
        return MachineEnd(EndKind.KILLED, f"QEMU {describe_status(returncode)}", -returncode)
    if match := _TERMINATED.search(qemu_log):
        number = int(match.group(1))
        sender = f" from pid {match.group(2)}" if match.group(2) else ""
        if match.group(3):
            sender += f" ({match.group(3)})"
        return MachineEnd(
            EndKind.KILLED,
            f"QEMU quit on {_signal_name(number)} (signal {number}){sender}",
            number,
            returncode,
        )
    host = [e for e in events if e.name == "SHUTDOWN"]
    why = f" (QMP SHUTDOWN {host[-1].data.get('reason', '')})" if host else ""
    tail = "\n".join(qemu_log.splitlines()[-15:])
    return MachineEnd(
        EndKind.HOST_ERROR,
        f"QEMU {describe_status(returncode)} without the guest powering off{why}",
        exit_code=returncode,
        log_tail=tail,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "an unknown signal"


@dataclass
class Machine:
    """One QEMU process inside the lab's namespace, paused until :meth:`resume`."""

    spec: MachineSpec
    netns: str
    tag: str
    workdir: Path
    events: list[QmpEvent] = field(default_factory=list)
    started_wall: float | None = None
    started_monotonic: float | None = None
    _process: ManagedProcess | None = None
    _qmp: Qmp | None = None
    _end: MachineEnd | None = None
    """How QEMU stood when :meth:`stop` began, before the harness ended it."""

    @staticmethod
    def new_socket_dir() -> Path:
        """``hbh-<owner pid>-sock-...``: a sweep removes it when a killed run left it."""
        return Path(tempfile.mkdtemp(prefix=f"{own_prefix()}sock-"))

    def launch(self, deadline: Deadline, *, incoming: Path | None = None) -> None:
        """Start QEMU paused and connect QMP; ``incoming``: a state saved by :meth:`save_state`
        is loaded first (a warm start), and the guest stays paused until :meth:`resume`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [*self.spec.argv(), "-S"]
        if incoming is not None:
            argv += ["-incoming", "defer"]
        (self.workdir / "qemu-argv.json").write_text(json.dumps(argv, indent=1) + "\n")
        command = [*enter_prefix(self.netns), *argv]
        (self.workdir / "qemu-command.txt").write_text(shlex.join(command) + "\n")
        for fifo in pipe_paths(self.spec.serial_pipe):
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo, 0o600)
        self._process = ManagedProcess(
            "qemu", argv, log_path=self.workdir / "qemu.log", netns=self.netns, tag=self.tag
        )
        self._process.start()
        try:
            wait_until(
                self.spec.qmp_socket.exists,
                deadline=deadline.sooner(30),
                what="QEMU's QMP socket",
                still_alive=self._process.death_notice,
            )
        except ChildDied as died:
            raise MachineError(f"QEMU failed to start: {died}") from None
        qmp = Qmp(self.spec.qmp_socket)
        try:
            qmp.connect(min(10.0, deadline.remaining()), still_alive=self._process.death_notice)
        except BaseException:
            qmp.close()
            raise
        self._qmp = qmp
        if incoming is not None:
            self._load_state(incoming, deadline)

    def save_state(self, path: Path, deadline: Deadline) -> None:
        """Stop the guest and write its whole state (RAM, devices, the flash contents) to
        ``path`` through QEMU's migration; QEMU stays up, paused.

        The guest is stopped first, so the saved state is its state at the stop and the vars
        file on disk matches the flash contents in the stream (QEMU drains its writes on stop).
        """
        qmp = self._require_qmp()
        qmp.execute("stop")
        qmp.execute("migrate", uri=f"exec:cat > {shlex.quote(str(path))}")
        status: dict[str, Any] = {}

        def finished() -> bool:
            status.update(qmp.execute("query-migrate"))
            return status.get("status") in ("completed", "failed", "cancelled")

        self._wait(finished, deadline, "QEMU to save the guest's state")
        if status.get("status") != "completed":
            raise MachineError(
                f"QEMU could not save the guest's state to {path}: "
                f"{status.get('status')} {status.get('error-desc', '')}".rstrip()
            )

    def _load_state(self, path: Path, deadline: Deadline) -> None:
        """Load a saved state into this (``-incoming defer``) QEMU; the guest stays paused.

        ``cont`` sent while QEMU is still loading would only be remembered, and then undone by
        the paused state the stream carries: so the wait is for the run state to leave
        ``inmigrate``. QEMU refuses a state of another machine (RAM size, devices, flash size)
        with a message and exits: a MachineError with its log, never a firmware verdict.
        """
        qmp = self._require_qmp()
        qmp.execute("migrate-incoming", uri=f"exec:cat {shlex.quote(str(path))}")
        state: dict[str, Any] = {}

        def loaded() -> bool:
            state.update(qmp.execute("query-status"))
            if state.get("status") != "inmigrate":
                return True
            migration = qmp.execute("query-migrate")
            if migration.get("status") == "failed":
                raise MachineError(f"QEMU could not load the saved state {path}")
            return False

        self._wait(loaded, deadline, f"QEMU to load the saved state {path}")
        if state.get("status") not in ("paused", "prelaunch"):  # prelaunch: saved before cont
            raise MachineError(
                f"QEMU loaded the saved state {path} but stands {state.get('status')!r}, not paused"
            )

    def _wait(self, condition: Callable[[], bool], deadline: Deadline, what: str) -> None:
        """Poll ``condition`` (QMP queries); QEMU exiting meanwhile (QMP then only says it was
        disconnected) is raised with QEMU's own last words, e.g. why it refused a state."""
        try:
            wait_until(
                condition, deadline=deadline.sooner(60), what=what, still_alive=self.death_notice
            )
        except ChildDied as died:
            raise MachineError(self._ended_while(what, str(died))) from None
        except QmpError as exc:
            with contextlib.suppress(HarnessTimeout):  # a QEMU on its way out: let it finish
                wait_until(lambda: self.death_notice() is not None, deadline=Deadline(3), what=what)
            death = self.death_notice()
            if death is None:
                raise
            raise MachineError(self._ended_while(what, death)) from exc

    @staticmethod
    def _ended_while(what: str, death: str) -> str:
        """``death`` (the process's notice) carries QEMU's last log lines."""
        return f"QEMU ended while waiting for {what}: {death}"

    def resume(self) -> None:
        """Start the guest: from here on the firmware's clock runs."""
        self.started_wall = time.time()
        self.started_monotonic = time.monotonic()
        self._require_qmp().execute("cont")

    def restart(self) -> None:
        """Reset the guest to power-on, as a reset button would (the firmware hung in its
        menus). ``-no-reboot`` would make a power-off of it: the reboot action is switched to
        reset for this one request, which QEMU classifies when it is made."""
        qmp = self._require_qmp()
        qmp.execute("set-action", reboot="reset")
        try:
            qmp.execute("system_reset")
        finally:
            qmp.execute("set-action", reboot="shutdown")
        if not qmp.execute("query-status").get("running"):
            qmp.execute("cont")  # a reset keeps a stopped guest stopped

    def death_notice(self) -> str | None:
        return self._process.death_notice() if self._process else "QEMU was never started"

    def end(self) -> MachineEnd:
        """Who ended QEMU, from the events read so far, its exit status and its log.

        After :meth:`stop`, the answer as it stood when the stop began: a QEMU the harness quit
        is ``running``, never ``killed``. ``end().by_host`` means the verdict must be ``error``.
        """
        if self._end is not None:
            return self._end
        if self._process is None:
            return MachineEnd(EndKind.HOST_ERROR, "QEMU was never started")
        return classify_end(self.events, self._process.returncode, self._process.log_text())

    def poll_events(self, timeout: float = 0.0) -> list[QmpEvent]:
        """Collect QMP events that arrived (waiting up to ``timeout`` for the first)."""
        qmp = self._require_qmp()
        new: list[QmpEvent] = []
        wait = timeout
        while (raw := qmp.next_event(max(wait, 0.001))) is not None:
            stamp = raw.get("timestamp", {})
            wall = stamp.get("seconds", 0) + stamp.get("microseconds", 0) / 1e6
            event = QmpEvent(raw["event"], raw.get("data", {}), wall - (self.started_wall or wall))
            new.append(event)
            wait = 0.0
        self.events.extend(new)
        return new

    def guest_powered_off(self) -> QmpEvent | None:
        for event in self.events:
            if event.name == "SHUTDOWN" and event.data.get("guest"):
                return event
        return None

    def _require_qmp(self) -> Qmp:
        if self._qmp is None:
            raise MachineError("QEMU's QMP connection is not open")
        return self._qmp

    def stop(self) -> None:
        """Ask QEMU to quit over QMP, then end the process group; always writes the event log.

        The events still queued are read and :meth:`end` is fixed first, so the harness's own
        quit is never taken for someone else's.
        """
        try:
            if self._qmp is not None:
                with contextlib.suppress(InfrastructureError):
                    self.poll_events()  # even from a dead QEMU: what it sent before dying
            if self._end is None and self._process is not None:
                self._end = self.end()
            if self._qmp is not None and self.death_notice() is None:
                try:
                    self._qmp.execute("quit", timeout=3.0)
                except InfrastructureError as exc:
                    log.debug("QMP quit failed: %s", exc)
        finally:
            if self._qmp is not None:
                self._qmp.close()
                self._qmp = None
            if self._process is not None:
                self._process.stop(grace=5.0)
            shutil.rmtree(self.spec.socket_dir, ignore_errors=True)
            self._write_event_log()

    def _write_event_log(self) -> None:
        lines = [
            json.dumps({"event": e.name, "seconds": round(e.seconds, 3), "data": e.data})
            for e in self.events
        ]
        (self.workdir / "qmp-events.jsonl").write_text("".join(line + "\n" for line in lines))
