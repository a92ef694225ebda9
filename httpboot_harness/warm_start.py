"""Warm start (``--warm-start``): each case starts from a machine saved at its Boot Manager.

For each distinct firmware (the key: QEMU, a hash of the code, of the vars as the case would
start them, of every ``-fw_cfg`` file, and the rest of QEMU's argv: memory, board, devices,
options), one machine is booted to the Boot Manager in a lab of its own, stopped, and saved with
QEMU's migration to a file, once per process. A case then starts a new QEMU with the same argv
in its own namespace (tap0 there too, so the netdev matches), a private copy of the vars file as
it was at the save, and ``-incoming``: the guest resumes in its Boot Manager, the screen saved
with it is shown again, and the case chooses its entry there as a cold case does once its Boot
Manager is up (``UrlSource.reach_entry_restored``), against its own servers, with the same proof
required.

What must match between save and restore (verified with QEMU 7.2 under TCG, field notes "Warm
start"): QEMU refuses another RAM size, flash size, device set or board, but silently accepts
another code file of the same size or other fw_cfg files, whose contents the firmware has already
read (the HTTPS CA list): so the key holds their contents, not their names. The flash contents
travel in the stream; the vars file is still copied per case so that the firmware's later writes
land on the same bytes.

A case starts cold, and says why, when something it changes before the Boot Manager cannot be in
a shared snapshot: its vars copy written before power-on (BootNext of a preset URL, keys enrolled
for Secure Boot), the Secure Boot profile (SMM, not verified across a restore), or an
architecture where warm starts were not verified (aarch64).

What a warm start does not test: the firmware's power-on path up to its Boot Manager (SEC, PEI,
DXE dispatch, the network drivers' start and IPv6 duplicate address detection) runs once per
snapshot, not once per case. Everything after the Boot Manager runs per case.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import logging
import shutil
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from . import stop
from .cases import Case
from .console import Console, MachineGone
from .errors import HarnessError
from .machine import Machine, MachineSpec
from .netcapture import wait_for_link_local_dad
from .network import Lab, new_tag
from .ovmf_menu import OvmfMenu
from .services.tcpdump import CAPTURE_FILE, Tcpdump
from .waiting import Deadline

log = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 120.0
"""At most this long to boot a firmware to its Boot Manager and save it (under TCG about 8 s
alone; a starved machine is slower)."""
DAD_LOOK_SECONDS = 5.0
"""How long the saver looks in its capture for the link-local address's duplicate address
detection. A snapshot taken during it resumes with the detection half done, and the restored
IPv6 boot then stalls after DHCPv6 (field notes): the save waits until the detection is over."""


@dataclass(frozen=True)
class Snapshot:
    """A machine saved at its Boot Manager: the migration stream and the vars file of then."""

    key: str
    state: Path
    vars_file: Path
    screen: Path
    """The console transcript up to the save: the screen a restored case starts from."""
    seconds: float
    """How long booting to the Boot Manager and saving took."""


@dataclass(frozen=True)
class StartChoice:
    """How a case starts: warm from ``snapshot``, or cold for ``reason``."""

    snapshot: Snapshot | None
    reason: str | None = None
    waited: float = 0.0
    """Seconds this case spent making or waiting for the snapshot."""

    @property
    def mode(self) -> str:
        return "warm" if self.snapshot is not None else "cold"


def cold_reason(case: Case) -> str | None:
    """Why ``case`` must start cold whatever its vars, or None."""
    if case.arch != "x86_64":
        return f"warm start is verified on x86_64 only, not {case.arch}"
    if case.firmware.secure_boot:
        return "Secure Boot profile (SMM and enrolled keys are not verified across a restore)"
    return None


def vars_edit_reason(vars_copy: Path, template: Path) -> str | None:
    """A vars copy the case wrote before power-on (BootNext, enrolled keys) is its own."""
    if _digest(vars_copy) != _digest(template):
        return "the case writes its vars copy before power-on"
    return None


def snapshot_key(spec: MachineSpec) -> str:
    """The firmware's identity for a snapshot: QEMU's argv without the per-case paths, with
    the code, the vars and every fw_cfg file by content."""
    neutral = dataclasses.replace(
        spec,
        firmware_code=Path(f"code:{_digest(spec.firmware_code)}"),
        vars_copy=Path(f"vars:{_digest(spec.vars_copy)}"),
        socket_dir=Path("sockets"),
        fw_cfg_files=tuple(
            (name, Path(f"file:{_digest(path)}")) for name, path in spec.fw_cfg_files
        ),
    )
    return hashlib.sha256("\0".join(neutral.argv()).encode()).hexdigest()[:16]


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class WarmStarts:
    """The process-wide cache: one snapshot per firmware key, made by the first case that needs
    it while the others with the same key wait; thread-safe (``matrix --jobs``). A snapshot
    that could not be made is not tried again in this process: its cases start cold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._made: dict[str, Snapshot] = {}
        self._failed: dict[str, str] = {}
        self._folder: Path | None = None

    def choose(
        self, case: Case, spec: MachineSpec, template: Path, deadline: Deadline
    ) -> StartChoice:
        """Warm from the snapshot of ``spec``'s firmware (made now if needed), or cold with the
        reason. ``spec.vars_copy`` is the case's vars copy, already prepared."""
        reason = cold_reason(case) or vars_edit_reason(spec.vars_copy, template)
        if reason is not None:
            return StartChoice(None, reason)
        started = time.monotonic()
        key = snapshot_key(spec)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # Another case may be making this snapshot: wait for it, within this case's deadline.
        if not _acquire(key_lock, deadline):
            waited = time.monotonic() - started
            return StartChoice(None, "the snapshot was not ready within the deadline", waited)
        try:
            if key not in self._made and key not in self._failed:
                try:
                    self._made[key] = save_at_boot_manager(
                        spec, self._snapshot_folder(key), key, deadline.sooner(SNAPSHOT_SECONDS)
                    )
                except (HarnessError, MachineGone) as exc:
                    log.warning("warm start: no snapshot for firmware %s: %s", key, exc)
                    self._failed[key] = f"the snapshot could not be made: {exc}"
        finally:
            key_lock.release()
        waited = time.monotonic() - started
        if key in self._failed:
            return StartChoice(None, self._failed[key], waited)
        return StartChoice(self._made[key], None, waited)

    def close(self) -> None:
        """Remove every snapshot made (also done when the process exits)."""
        with self._lock:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
            self._made.clear()
            self._failed.clear()

    def _snapshot_folder(self, key: str) -> Path:
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="hbh-warm-"))
                atexit.register(shutil.rmtree, self._folder, True)
        return self._folder / key


def _acquire(lock: threading.Lock, deadline: Deadline) -> bool:
    """Take ``lock`` before the deadline, in short slices: a stop requested meanwhile raises
    (the case making the snapshot may take a minute)."""
    while True:
        stop.check()
        if lock.acquire(timeout=min(0.2, max(deadline.remaining(), 0.001))):
            return True
        if deadline.expired():
            return False


WARM_STARTS = WarmStarts()
"""The cache every run in this process shares (xdist workers each have their own)."""


def save_at_boot_manager(spec: MachineSpec, folder: Path, key: str, deadline: Deadline) -> Snapshot:
    """Boot ``spec`` in a lab of its own to the Boot Manager, wait out the link-local address's
    duplicate address detection (seen in the capture), and save the machine."""
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    vars_file = folder / "vars.fd"
    shutil.copyfile(spec.vars_copy, vars_file)
    state = folder / "state.bin"
    with ExitStack() as stack:
        lab = stack.enter_context(Lab(new_tag()))
        capture = Tcpdump().start(
            netns=lab.name, workdir=folder / "tcpdump", tag=lab.name, deadline=deadline
        )
        stack.callback(capture.stop)
        machine = Machine(
            dataclasses.replace(spec, vars_copy=vars_file, socket_dir=Machine.new_socket_dir()),
            netns=lab.name, tag=lab.name, workdir=folder,
        )  # fmt: skip
        stack.callback(machine.stop)
        machine.launch(deadline)
        console = Console(machine.spec.serial_pipe, folder / "console.raw", machine.death_notice)
        stack.callback(console.close)
        machine.resume()
        OvmfMenu(console, restart=lambda _why: machine.restart()).open_boot_manager(deadline)
        if not wait_for_link_local_dad(
            folder / "tcpdump" / CAPTURE_FILE, console.pump, deadline, look_seconds=DAD_LOOK_SECONDS
        ):
            log.info("warm start: no duplicate address detection seen (IPv6 off?); saving anyway")
        machine.save_state(state, deadline)
    seconds = time.monotonic() - started
    log.info("warm start: firmware %s saved at its Boot Manager in %.1f s", key, seconds)
    return Snapshot(key, state, vars_file, folder / "console.raw", seconds)
