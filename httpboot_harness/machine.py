"""QEMU: the argv of the seed's client, a paused start, QMP with a timeout on every call, a stop.

QEMU is started paused (``-S``) and checked for an early death before anything else; the QMP event
listener exists before ``cont``, so no event is missed. ``-no-shutdown`` keeps QEMU alive after the
guest powers off, so the SHUTDOWN event (guest=true) is read before QEMU is told to quit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import shutil
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from qemu.qmp import QMPClient

from .errors import HarnessTimeout, MachineError
from .process import ManagedProcess
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
    memory_mb: int = 1024
    fw_cfg_files: tuple[tuple[str, Path], ...] = ()
    boot_menu_ms: int = 60000
    """How long the firmware waits for ESC; long by default so the harness drives the menus,
    short when the boot entry is preset in the vars (BootNext) and nobody presses a key."""
    extra_args: tuple[str, ...] = ()

    @property
    def serial_socket(self) -> Path:
        return self.socket_dir / "serial.sock"

    @property
    def qmp_socket(self) -> Path:
        return self.socket_dir / "qmp.sock"

    def _client(self) -> list[str]:
        """The seed's client: q35, two pflash drives, virtio-net on tap0 without option ROM."""
        argv = [
            self.qemu,
            "-machine", "q35",
            "-accel", self.accel,
            "-m", str(self.memory_mb),
            "-nodefaults",
            "-no-user-config",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={self.firmware_code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={self.vars_copy}",
            "-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no",
            # romfile= (empty): no iPXE option ROM, so OVMF's own HTTP boot driver runs.
            "-device", f"virtio-net-pci,netdev=net0,mac={self.mac},romfile=",
            "-device", "virtio-rng-pci",
        ]  # fmt: skip
        for name, path in self.fw_cfg_files:
            argv += ["-fw_cfg", f"name={name},file={path}"]
        return argv

    def argv(self) -> list[str]:
        """For the harness: serial and QMP on unix sockets, kept alive after the power-off."""
        return [
            *self._client(),
            "-display", "none",
            "-chardev", f"socket,id=serial0,path={self.serial_socket},server=on,wait=off",
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


class Qmp:
    """A synchronous bridge to qemu.qmp's QMPClient, with a timeout on every call."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._loop = asyncio.new_event_loop()
        self._client = QMPClient("httpboot-harness")

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coroutine, timeout))
        except TimeoutError as exc:
            raise HarnessTimeout(f"QMP did not answer within {timeout:.1f} s") from exc

    def connect(self, timeout: float) -> None:
        self._run(self._client.connect(str(self._path)), timeout)

    def execute(self, command: str, timeout: float = 5.0, **arguments: Any) -> Any:
        return self._run(self._client.execute(command, arguments or None), timeout)

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when none arrives within ``timeout``."""
        try:
            event = self._run(self._client.events.get(), timeout)
        except HarnessTimeout:
            return None
        return dict(event)

    def close(self) -> None:
        try:
            self._run(self._client.disconnect(), 5.0)
        except Exception as exc:
            log.debug("QMP disconnect: %s", exc)
        finally:
            self._loop.close()


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

    @staticmethod
    def new_socket_dir() -> Path:
        return Path(tempfile.mkdtemp(prefix="hbh-"))

    def launch(self, deadline: Deadline) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [*self.spec.argv(), "-S"]
        (self.workdir / "qemu-argv.json").write_text(json.dumps(argv, indent=1) + "\n")
        command = ["ip", "netns", "exec", self.netns, *argv]
        (self.workdir / "qemu-command.txt").write_text(shlex.join(command) + "\n")
        self._process = ManagedProcess(
            "qemu", argv, log_path=self.workdir / "qemu.log", netns=self.netns, tag=self.tag
        )
        self._process.start()
        try:
            wait_until(
                lambda: self.spec.qmp_socket.exists() and self.spec.serial_socket.exists(),
                deadline=deadline.sooner(30),
                what="QEMU's QMP and serial sockets",
                still_alive=self._process.death_notice,
            )
        except ChildDied as died:
            raise MachineError(f"QEMU failed to start: {died}") from None
        self._qmp = Qmp(self.spec.qmp_socket)
        self._qmp.connect(timeout=min(10.0, deadline.remaining()))

    def resume(self) -> None:
        """Start the guest: from here on the firmware's clock runs."""
        self.started_wall = time.time()
        self.started_monotonic = time.monotonic()
        self._require_qmp().execute("cont")

    def death_notice(self) -> str | None:
        return self._process.death_notice() if self._process else "QEMU was never started"

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
        """Ask QEMU to quit over QMP, then end the process group; always writes the event log."""
        try:
            if self._qmp is not None and self.death_notice() is None:
                try:
                    self.poll_events()
                    self._qmp.execute("quit", timeout=3.0)
                except Exception as exc:
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
