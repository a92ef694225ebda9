"""Who owns a lab: an owner record per lab, and the test that tells a killed run's leftovers.

Everything a run makes outside its artifacts folder carries its owner's pid: namespaces and
process tags are ``hbh-<pid>-<random>`` and temporary folders ``hbh-<pid>-...``. A run is over
when that pid is gone, or now belongs to a process started after the thing was made (the pid was
reused). So a sweep never touches what a live run holds: a concurrent ``matrix --jobs``, a
pytest-xdist worker, another user's lab.

Each lab also leaves a record, ``<state root>/<tag>.json``::

    {"tag": ..., "namespace": ..., "owner_pid": ..., "owner_started": ...,
     "holder_pid": null, "holder_started": null, "paths": []}

``holder_pid`` is for labs held by a process rather than by a named namespace (a rootless lab's
holder in a user namespace): the sweep ends the holder of a dead owner's lab, and the lab goes with
it. ``paths`` lists further folders of the lab to remove. The records live in the temporary folder,
one root per user, so a rootless run and a root run each see their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psutil

PREFIX = "hbh-"
OWNED_NAME = re.compile(r"^hbh-(\d+)-")
"""``hbh-<owner pid>-...``; other ``hbh-`` names (``hbh-kvm-probe-``) name no owner."""
REUSE_SLACK = 1.5
"""Seconds of doubt when comparing start times: psutil's come from /proc/stat's whole-second
boot time, so a process can seem up to a second younger or older than it is."""


def own_prefix() -> str:
    """``hbh-<this pid>-``: how every name this run makes begins, so a sweep can tell its owner."""
    return f"{PREFIX}{os.getpid()}-"


StartTime = Callable[[int], "float | None"]


def state_root(temp: Path | None = None) -> Path:
    """The folder of lab records: per user, in the temporary folder (``TMPDIR`` moves it)."""
    return (temp or Path(tempfile.gettempdir())) / f"httpboot-harness-labs-{os.getuid()}"


def owner_pid(name: str) -> int | None:
    """The owner's pid in ``hbh-<pid>-...``, or None for any other name."""
    match = OWNED_NAME.match(name)
    return int(match.group(1)) if match else None


def process_started(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds), or None if there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def owner_gone(
    name: str,
    made: float | None = None,
    *,
    owner_started: float | None = None,
    started: StartTime = process_started,
) -> bool:
    """True when ``name`` is the harness's and its owner is no longer running.

    ``made`` is when the thing was made (a folder's ctime, a process's start): an owner process
    that started later cannot have made it, so its pid was reused. ``owner_started``, from a
    record, says the same more exactly. Names that are not ``hbh-<pid>-...`` are never gone.
    """
    pid = owner_pid(name)
    if pid is None:
        return False
    return pid_gone(pid, made, owner_started=owner_started, started=started)


def pid_gone(
    pid: int,
    made: float | None = None,
    *,
    owner_started: float | None = None,
    started: StartTime = process_started,
) -> bool:
    """:func:`owner_gone` for a known owner pid."""
    if pid <= 0:
        return False
    now = started(pid)
    if now is None:
        return True
    if owner_started and abs(now - owner_started) > REUSE_SLACK:
        return True
    return made is not None and now > made + REUSE_SLACK


@dataclass(frozen=True)
class LabRecord:
    """What a sweep needs to remove one lab when its owner was killed."""

    tag: str
    namespace: str | None
    owner_pid: int
    owner_started: float
    holder_pid: int | None = None
    holder_started: float | None = None
    paths: tuple[str, ...] = field(default=())

    @property
    def file(self) -> Path:
        return state_root() / f"{self.tag}.json"

    def owner_gone(self, started: StartTime = process_started) -> bool:
        return pid_gone(self.owner_pid, owner_started=self.owner_started, started=started)

    def save(self) -> LabRecord:
        """Write the record atomically (a reader never sees half of it)."""
        root = state_root()
        scratch = root / f".{self.tag}.json.new"
        for attempt in range(3):  # another run may remove the empty root in between
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                scratch.write_text(json.dumps(asdict(self)) + "\n")
                scratch.replace(self.file)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        return self

    def with_holder(self, pid: int) -> LabRecord:
        """The record with a holder process (rootless labs), saved."""
        return replace(self, holder_pid=pid, holder_started=process_started(pid)).save()

    def with_path(self, path: Path) -> LabRecord:
        """The record with one more folder to remove after a kill, saved."""
        return replace(self, paths=(*self.paths, str(path))).save()

    def release(self) -> None:
        """The lab is gone: forget it (tolerates "already forgotten")."""
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()
        with contextlib.suppress(OSError):  # the last one out leaves no empty folder
            state_root().rmdir()


def claim(tag: str, namespace: str | None) -> LabRecord:
    """Record that this process owns the lab ``tag``, before anything of it exists."""
    me = os.getpid()
    return LabRecord(tag, namespace, me, process_started(me) or 0.0).save()


def records(temp: Path | None = None) -> Iterator[LabRecord]:
    """Every readable record of this user; a torn or foreign file is skipped."""
    root = state_root(temp)
    if not root.is_dir():
        return
    for path in sorted(root.glob("hbh-*.json")):
        try:
            data = json.loads(path.read_text())
            data["paths"] = tuple(data.get("paths", ()))
            yield LabRecord(**data)
        except (OSError, ValueError, TypeError):
            continue
