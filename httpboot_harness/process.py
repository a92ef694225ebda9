"""A child process of the harness: started in a namespace, tagged, watched, and always stopped.

Children run in their own session (process group), so a stop reaches everything they spawned, and
carry ``HTTPBOOT_HARNESS_TAG`` in their environment, so a later run can find and end what a killed
run left behind (:mod:`sweep`).

A stop waits for the whole group, not just its leader: radvd's privilege-separation helper outlives
radvd by a moment, and when the leader is gone such children belong to init, which reaps them when
it gets round to it (about 1 s later in this project's containers, measured). Until then
``ps`` still shows them, so a stop returns only once the group is empty (or its deadline passed).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import psutil

from .errors import HarnessTimeout, ServiceError
from .userns import enter_prefix
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
        self._stopped = False
        self.returncode_before_stop: int | None = None
        """The exit status when the harness began :meth:`stop`: None if it was still running
        then (the harness ended it), else what ended it on its own (negative: a signal)."""

    @property
    def full_argv(self) -> list[str]:
        prefix = enter_prefix(self.netns) if self.netns else []
        return prefix + self.argv

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ServiceError(f"{self.name} was never started")
        return self._popen.pid

    def start(self) -> None:
        adopt_orphans()
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

    @property
    def returncode(self) -> int | None:
        """None while running (or never started); else the exit code, negative for a signal.

        Kept after :meth:`stop`, so the caller can still tell how the process ended.
        """
        return None if self._popen is None else self._popen.poll()

    def death_notice(self) -> str | None:
        """None while running; otherwise a sentence with the exit code and the log's tail."""
        if self._popen is None:
            return f"{self.name} was never started"
        if self._stopped:
            return f"{self.name} was stopped by the harness"
        code = self._popen.poll()
        if code is None:
            return None
        return f"{self.name} {describe_status(code)}; last log lines:\n{self.log_tail()}"

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
        """SIGTERM the whole process group, SIGKILL what is left after ``grace``, and return once
        the group is empty; safe to call twice."""
        if self._popen is not None and not self._stopped:
            self._stopped = True
            self.returncode_before_stop = self._popen.poll()
            terminate_group(self._popen, grace)
        if self._log is not None:
            self._log.close()
            self._log = None


def describe_status(code: int) -> str:
    """``exited with code 3`` or ``was killed by SIGKILL (signal 9)``, from a Popen returncode."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "an unknown signal"
    return f"was killed by {name} (signal {-code})"


def group_members(pgid: int) -> list[psutil.Process]:
    """Every process whose process group is ``pgid``, zombies included."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (OSError, psutil.Error):
            continue  # gone meanwhile
    return members


def group_exists(pgid: int) -> bool:
    """True while any process, even a zombie nobody has reaped yet, is in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # there is a member, owned by someone else
    return True


def _group_alive(pgid: int) -> bool:
    """True while a member of ``pgid`` still runs (zombies hold no socket, file or namespace)."""
    for proc in group_members(pgid):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except psutil.Error:
            continue
    return False


def terminate_group(popen: subprocess.Popen[bytes], grace: float, reap: float = 5.0) -> bool:
    """End a child started with ``start_new_session`` and everything in its process group.

    SIGTERM to the group; SIGKILL to the group when a member still runs after ``grace``; then
    wait up to ``reap`` seconds until no member is left, zombies included (those of reparented
    children are init's to reap). Returns False, after logging who is left, when the group
    outlived that; never raises, as it runs during cleanup.
    """
    pgid = popen.pid

    def still_running() -> bool:
        popen.poll()  # reap the leader (our child) as soon as it exits
        return _group_alive(pgid)

    if still_running():
        _signal_group(pgid, signal.SIGTERM)
        if not _poll(lambda: not still_running(), grace):
            log.warning("process group %d ignored SIGTERM for %.1f s; killing it", pgid, grace)
    _signal_group(pgid, signal.SIGKILL)  # also reaches members that only now appeared
    try:
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.error("pid %d survived SIGKILL", pgid)
    if _poll(lambda: not _reap_adopted(pgid) and not group_exists(pgid), reap):
        return True
    left = []
    for proc in group_members(pgid):
        with contextlib.suppress(psutil.Error):
            left.append(f"{proc.pid} {proc.name()} ({proc.status()}, parent {proc.ppid()})")
    log.warning("process group %d still has members after %.1f s: %s", pgid, reap, left)
    return False


PR_SET_CHILD_SUBREAPER = 36


@functools.cache
def adopt_orphans() -> bool:
    """Make this process the subreaper of its descendants (Linux prctl).

    A daemon that exits before its own helper (radvd's privilege-separation child) orphans it;
    the helper would be reparented to init and stay a zombie until init reaps it, 1-2 s later
    on this machine. Adopted by us instead, it is reaped the moment its group is stopped.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _reap_adopted(pgid: int) -> bool:
    """Reap the group's zombies that are our adopted children; False: nothing left to reap."""
    reaped = False
    for proc in group_members(pgid):
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if proc.ppid() == os.getpid() and proc.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(proc.pid, os.WNOHANG)
                reaped = True
    return reaped


def _poll(condition: Callable[[], bool], seconds: float) -> bool:
    """True as soon as ``condition`` holds, False when ``seconds`` passed without it."""
    try:
        wait_until(
            condition, deadline=Deadline(seconds), what="", poll=0.01, max_poll=0.1,
            stoppable=False,  # a cleanup step: it runs on the way out of a stop too
        )  # fmt: skip
    except HarnessTimeout:
        return False
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        log.warning("cannot signal process group %d: %s", pgid, exc)
