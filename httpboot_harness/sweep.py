"""Remove what runs killed with SIGKILL left: namespaces, daemons, QEMU, relays, temp folders.

A run that ends normally (or by Ctrl-C, SIGTERM) takes everything down itself. A SIGKILL gives it
no chance: its daemons and QEMU go on in the namespace, the namespace stays, and so do the QEMU
socket folders and apache2's readable copies in the temporary folder. Each of those names its
owner (see :mod:`labstate`), so this module can find them and remove only those whose owner is
gone. Every new run does it once at its start; ``httpboot-harness sweep`` does it on demand and
says what it removed.

The order matters: processes first (waited for), so that no daemon holds a namespace or writes
into a folder being removed; then the lab holders and namespaces; then the folders and records.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pyroute2 import netns

from . import labstate
from .errors import HarnessTimeout
from .labstate import owner_gone
from .network import remove_namespace
from .process import TAG_VARIABLE
from .waiting import Deadline, wait_until

log = logging.getLogger(__name__)

RELAY_MODULE = "httpboot_harness.serial_relay"
KILL_WAIT = 5.0
"""Seconds to wait for killed processes to be gone before their namespace is removed."""


@dataclass
class Swept:
    """What one sweep removed, for the person and for tests."""

    processes: list[str] = field(default_factory=list)
    """``<pid> <name> (<tag>)`` of each process ended."""
    namespaces: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.processes or self.namespaces or self.folders or self.records)

    def lines(self) -> list[str]:
        """One line per thing removed; the command prints them."""
        return [
            *(f"process   {p}" for p in self.processes),
            *(f"namespace {n}" for n in self.namespaces),
            *(f"folder    {f}" for f in self.folders),
            *(f"record    {r}" for r in self.records),
        ]


def _relay_tag(cmdline: list[str]) -> str | None:
    """A serial relay's owner, from its socket's folder (``hbh-<pid>-...``); else None."""
    if RELAY_MODULE not in cmdline:
        return None
    index = cmdline.index(RELAY_MODULE)
    if len(cmdline) <= index + 1:
        return None
    return Path(cmdline[index + 1]).parent.name


def process_tag(proc: psutil.Process) -> str | None:
    """The run a process belongs to: its ``HTTPBOOT_HARNESS_TAG``, or a relay's socket folder."""
    try:
        tag = proc.environ().get(TAG_VARIABLE)
        if tag:
            return tag
        return _relay_tag(proc.cmdline())
    except (psutil.Error, OSError):
        return None


def stale_processes() -> Iterator[tuple[psutil.Process, str]]:
    """Processes of runs whose owner is gone (daemons, QEMU, tcpdump, relays), with the tag."""
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        tag = process_tag(proc)
        if tag is None:
            continue
        try:
            made = proc.create_time()
        except psutil.Error:
            continue
        if owner_gone(tag, made):
            yield proc, tag


def stale_folders(root: Path | None = None) -> Iterator[Path]:
    """``hbh-<pid>-...`` folders in the temporary folder whose owner is gone (QEMU's socket
    folders, apache2's readable copies)."""
    root = root or Path(tempfile.gettempdir())
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if labstate.owner_pid(entry.name) is None:
            continue
        try:
            made = entry.lstat().st_ctime
        except OSError:
            continue
        if entry.is_dir() and not entry.is_symlink() and owner_gone(entry.name, made):
            yield entry


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie: an orphan's zombie belongs to whoever adopted it (init, or a
    subreaper such as another harness), holds nothing, and is reaped in its parent's time."""
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _end(procs: list[psutil.Process]) -> None:
    """SIGKILL each, then wait (bounded) until none runs."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    try:
        wait_until(
            lambda: not any(_running(p) for p in procs),
            deadline=Deadline(KILL_WAIT),
            what="killed processes to end",
            stoppable=False,  # removing leftovers is cleanup, also on the way out of a stop
        )
    except HarnessTimeout:
        left = [p.pid for p in procs if _running(p)]
        log.warning("processes %s outlived SIGKILL for %.0f s", left, KILL_WAIT)


def _holder(record: labstate.LabRecord) -> psutil.Process | None:
    """A record's holder process, if it is still the one recorded (not a reused pid)."""
    if record.holder_pid is None:
        return None
    try:
        proc = psutil.Process(record.holder_pid)
        same = record.holder_started is None or (
            abs(proc.create_time() - record.holder_started) <= labstate.REUSE_SLACK
        )
    except psutil.Error:
        return None
    return proc if same else None


def sweep(*, announce: bool = True) -> Swept:
    """Remove everything of runs whose owner is gone; never touches a live run's. ``announce``
    logs a warning naming what was removed (a run's own sweep at its start)."""
    swept = Swept()
    dead_records = [r for r in labstate.records() if r.owner_gone()]

    victims: list[psutil.Process] = []
    for proc, tag in stale_processes():
        with contextlib.suppress(psutil.Error):
            swept.processes.append(f"{proc.pid} {proc.name()} ({tag})")
            victims.append(proc)
    for record in dead_records:
        holder = _holder(record)
        if holder is not None and holder not in victims:
            with contextlib.suppress(psutil.Error):
                swept.processes.append(f"{holder.pid} {holder.name()} (holder of {record.tag})")
                victims.append(holder)
    _end(victims)

    gone_namespaces = {r.namespace for r in dead_records if r.namespace}
    for name in netns.listnetns():
        if name in gone_namespaces or (name.startswith(labstate.PREFIX) and owner_gone(name)):
            remove_namespace(name)
            swept.namespaces.append(name)

    folders = list(stale_folders())
    folders += [Path(p) for r in dead_records for p in r.paths if Path(p).exists()]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            swept.folders.append(str(folder))
    for record in dead_records:
        record.release()
        swept.records.append(record.tag)
    if swept and announce:
        log.warning("removed what an earlier, killed run left: %s", "; ".join(swept.lines()))
    return swept


def sweep_own() -> Swept:
    """End this run's own processes, namespaces, folders and records, as a sweep ends a killed
    run's: the last resort of a stop whose cases did not tear down in time (``stop``), done
    just before the process leaves without waiting for them."""
    me = os.getpid()
    prefix = labstate.own_prefix()
    swept = Swept()
    records = [r for r in labstate.records() if r.owner_pid == me]
    victims: list[psutil.Process] = []
    for proc in psutil.process_iter():
        tag = process_tag(proc) if proc.pid != me else None
        if tag is not None and tag.startswith(prefix):
            with contextlib.suppress(psutil.Error):
                swept.processes.append(f"{proc.pid} {proc.name()} ({tag})")
                victims.append(proc)
    victims += [h for r in records if (h := _holder(r)) is not None and h not in victims]
    _end(victims)
    for name in netns.listnetns():
        if name.startswith(prefix):
            remove_namespace(name)
            swept.namespaces.append(name)
    temp = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        folders = [p for p in temp.iterdir() if p.name.startswith(prefix) and p.is_dir()]
        folders += [Path(p) for r in records for p in r.paths if Path(p).exists()]
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
            swept.folders.append(str(folder))
    for record in records:
        record.release()
        swept.records.append(record.tag)
    return swept


def leftovers_of(owner: int, temp_root: Path | None = None) -> list[str]:
    """What is still there of the run whose process was ``owner``: its namespaces, processes
    (daemons, QEMU, tcpdump, relays), temporary folders and lab records. Empty after a clean
    end, or after a sweep of a killed run (the soak and the tests read this)."""
    prefix = f"{labstate.PREFIX}{owner}-"
    temp_root = temp_root or Path(tempfile.gettempdir())
    found = [f"namespace {n}" for n in netns.listnetns() if n.startswith(prefix)]
    for proc in psutil.process_iter():
        tag = process_tag(proc)
        if tag is not None and tag.startswith(prefix):
            with contextlib.suppress(psutil.Error):
                found.append(f"process {proc.pid} {proc.name()} ({tag})")
    with contextlib.suppress(OSError):
        found += [f"folder {p}" for p in sorted(temp_root.iterdir()) if p.name.startswith(prefix)]
    found += [f"record {r.tag}" for r in labstate.records(temp_root) if r.owner_pid == owner]
    return found
