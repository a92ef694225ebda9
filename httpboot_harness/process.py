"""A child process of the harness: started in a namespace, tagged, watched, and always stopped.

Children run in their own session (process group), so a stop reaches everything they spawned, and
carry ``HTTPBOOT_HARNESS_TAG`` in their environment, so a later run can find and end what a killed
run left behind (:func:`sweep_orphans`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import psutil

from .errors import ServiceError
from .waiting import ChildDied, Deadline, wait_until

log = logging.getLogger(__name__)

TAG_VARIABLE = "HTTPBOOT_HARNESS_TAG"


class Readiness(Protocol):
    """A check that a started daemon is ready to serve."""

    def __str__(self) -> str: ...

    def is_ready(self, process: ManagedProcess) -> bool: ...


@dataclass(frozen=True)
class ListeningSocket:
    """Ready when a socket of ``proto`` (tcp or udp) is bound to ``port`` in the daemon's namespace.

    It reads /proc/<pid>/net/*, which shows the sockets of the namespace the daemon runs in, so the
    harness never has to enter the namespace to look.
    """

    proto: str
    port: int
    ipv6: bool = False

    def __str__(self) -> str:
        family = "IPv6" if self.ipv6 else "IPv4"
        return f"{self.proto.upper()} port {self.port} ({family})"

    def is_ready(self, process: ManagedProcess) -> bool:
        table = Path(f"/proc/{process.pid}/net/{self.proto}{'6' if self.ipv6 else ''}")
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            return False
        wanted_state = "0A" if self.proto == "tcp" else "07"  # LISTEN / unconnected
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if state == wanted_state and int(local.rsplit(":", 1)[1], 16) == self.port:
                return True
        return False


@dataclass(frozen=True)
class LogContains:
    """Ready when the daemon's log holds ``text`` (for daemons without a socket to look at)."""

    text: str

    def __str__(self) -> str:
        return f"log line {self.text!r}"

    def is_ready(self, process: ManagedProcess) -> bool:
        return self.text in process.log_text()


class ManagedProcess:
    """One daemon: argv, optional network namespace, a log file, readiness checks and a stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        netns: str | None,
        tag: str,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.netns = netns
        self.tag = tag
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def full_argv(self) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return prefix + self.argv

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ServiceError(f"{self.name} was never started")
        return self._popen.pid

    def start(self) -> None:
        env = dict(os.environ)
        env[TAG_VARIABLE] = self.tag
        self._log = self.log_path.open("ab")
        try:
            self._popen = subprocess.Popen(
                self.full_argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            self._log.close()
            raise ServiceError(f"could not start {self.name} ({self.full_argv[0]}): {exc}") from exc
        log.debug("started %s pid %d: %s", self.name, self._popen.pid, self.full_argv)

    def death_notice(self) -> str | None:
        """None while running; otherwise a sentence with the exit code and the log's tail."""
        if self._popen is None:
            return f"{self.name} was never started"
        code = self._popen.poll()
        if code is None:
            return None
        return f"{self.name} exited with code {code}; last log lines:\n{self.log_tail()}"

    def wait_ready(self, checks: Sequence[Readiness], deadline: Deadline) -> None:
        for check in checks:
            try:
                wait_until(
                    lambda check=check: check.is_ready(self),  # type: ignore[misc]
                    deadline=deadline,
                    what=f"{self.name} to be ready ({check})",
                    still_alive=self.death_notice,
                )
            except ChildDied as died:
                raise ServiceError(str(died)) from None
            except ServiceError:
                raise
            except Exception as exc:
                raise ServiceError(f"{exc}; last log lines:\n{self.log_tail()}") from exc

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, then SIGKILL after ``grace``; safe to call twice."""
        popen, self._popen = self._popen, None
        if popen is not None:
            terminate_group(popen, grace)
        if self._log is not None:
            self._log.close()
            self._log = None


def terminate_group(popen: subprocess.Popen[bytes], grace: float) -> None:
    """End a child started with ``start_new_session`` and everything in its process group."""
    if popen.poll() is None:
        _signal_group(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGTERM for %.1f s; killing it", popen.pid, grace)
    _signal_group(popen.pid, signal.SIGKILL)
    try:
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.error("pid %d survived SIGKILL", popen.pid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        log.warning("cannot signal process group %d: %s", pgid, exc)


def owner_alive(tag: str) -> bool:
    """Tags look like ``hbh-<owner pid>-<random>``; the run is over when that pid is gone."""
    try:
        owner = int(tag.split("-")[1])
    except (IndexError, ValueError):
        return False
    return psutil.pid_exists(owner) and owner != 0


def sweep_orphans() -> list[int]:
    """Kill processes whose tag names a run that no longer exists (left by SIGKILL); return pids."""
    killed: list[int] = []
    for proc in psutil.process_iter(["pid"]):
        try:
            tag = proc.environ().get(TAG_VARIABLE)
        except (psutil.Error, OSError):
            continue
        if tag and not owner_alive(tag):
            try:
                proc.kill()
                killed.append(proc.pid)
            except psutil.Error:
                pass
    if killed:
        log.warning("ended %d process(es) left by an earlier, killed run: %s", len(killed), killed)
    return killed
