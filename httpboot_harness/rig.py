"""The rig of one case: lab, image, servers, capture and a paused machine, torn down as one.

Everything is started in order and registered on one ExitStack right after it started, so leaving
the ``with`` block (on success, on any exception, on Ctrl-C) stops it all in reverse order: QEMU
first, then the capture, the daemons (each waited for with its whole process group) and the
namespace last.
"""

from __future__ import annotations

import functools
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .accel import resolve_accel
from .arch import qemu_for
from .artifacts import CaseArtifacts
from .cases import Case, Locations
from .config import Settings
from .errors import MachineError, PrerequisiteError
from .firmware import Firmware, find_arch_firmware, find_secure_boot_firmware
from .machine import Machine, MachineSpec
from .network import Addressing, Lab, new_tag
from .payload import ProofImage, build_proof_image
from .preflight import rejected_qemu_arg
from .process import ManagedProcess
from .server import ServerPlan, start_servers
from .services.tcpdump import CAPTURE_FILE, Tcpdump
from .sweep import sweep
from .tls import TlsMaterial, make_tls_material
from .tls_conditions import condition_material
from .userns import choose_mode
from .waiting import Deadline

if TYPE_CHECKING:
    from .warm_start import StartChoice

CACERTS_FW_CFG = "etc/edk2/https/cacerts"


@functools.cache
def sweep_once() -> None:
    """Remove what an earlier run killed with SIGKILL left behind (once per process)."""
    sweep()


class Rig:
    """Starts a case's world; ``with Rig(...) as rig`` guarantees its teardown."""

    def __init__(
        self, case: Case, settings: Settings, files: CaseArtifacts, tls: TlsMaterial | None
    ) -> None:
        self.case = case
        self.settings = settings
        self.files = files
        self.tls = tls
        self.addressing = Addressing()
        self.locations: Locations = case.locations(self.addressing)
        self.accel = "unknown"
        self.accel_reason = ""
        self.firmware: Firmware | None = None
        self.image: ProofImage | None = None
        self.services: dict[str, ManagedProcess] = {}
        self.machine: Machine | None = None
        self.timings: dict[str, float] = {}
        self.start_choice: StartChoice | None = None
        """How the machine started under --warm-start (None: not asked, a cold start)."""
        self._stack = ExitStack()

    def __enter__(self) -> Rig:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    @property
    def capture_file(self) -> Path:
        return self.files.folder / "tcpdump" / CAPTURE_FILE

    def check_prerequisites(self) -> None:
        """What can be said before anything starts: QEMU, firmware, accelerator."""
        arch = self.case.arch_spec
        if shutil.which(self.qemu) is None:
            raise PrerequisiteError(
                f"QEMU ({self.qemu}) is not installed",
                f"apt-get install {arch.qemu_package} (or make setup), or pass --qemu",
            )
        secure_boot = self.case.firmware.secure_boot
        if secure_boot:
            # The Secure Boot profile has its own build (ovmf-secboot-*); --ovmf-code is plain.
            self.firmware = find_secure_boot_firmware(self.settings, arch)
        else:
            self.firmware = find_arch_firmware(self.settings, arch)
        self.accel, self.accel_reason = resolve_accel(
            self.settings.accel, self.qemu, self.firmware, arch.name
        )

    @property
    def qemu(self) -> str:
        return qemu_for(self.case.arch, self.settings.qemu, self.settings.arch)

    def start(self, deadline: Deadline) -> Machine:
        """Lab, image, TLS, servers, capture, then QEMU started paused; returns the machine."""
        if self.firmware is None:
            self.check_prerequisites()
        assert self.firmware is not None
        sweep_once()
        folder = self.files.folder
        lab_started = time.monotonic()
        lab = self._stack.enter_context(
            Lab(new_tag(), self.addressing, mode=choose_mode(self.settings.lab_mode)[0])
        )
        where = self.locations
        arch = self.case.arch_spec
        image = build_proof_image(
            folder / "www" / where.pxe_file, self.case.id, script=folder / "proof-image.cfg",
            arch=arch,
        )  # fmt: skip
        own = condition_material(self.case, folder / "tls", self.addressing)
        if own is not None:  # a TLS audit condition: its own certificate, key and CA
            self.tls = own
        if self.case.scheme == "https" and self.tls is None:
            self.tls = make_tls_material(folder / "tls", self.addressing)
        self.image = self.case.payload.build(
            image, folder / "www" / where.served_file, folder, self.case, self.tls
        )
        trusted = self.case.firmware.trust(self.image.trusted_program, folder)
        self.image = self.image.measured(folder / "www")
        self._start_servers(lab.name, deadline)
        self.timings["lab_setup"] = time.monotonic() - lab_started

        vars_copy = self.firmware.copy_vars(folder / "OVMF_VARS.fd")
        self.case.source.prepare_vars(vars_copy, where)
        self.case.firmware.prepare_vars(vars_copy, trusted)
        spec = self._machine_spec(self.firmware.code, vars_copy)
        incoming = self._warm_state(spec, vars_copy, deadline)
        machine = Machine(spec, netns=lab.name, tag=lab.name, workdir=folder)
        self._stack.callback(machine.stop)
        self.machine = machine
        try:
            machine.launch(deadline, incoming=incoming)
        except MachineError as exc:
            # QEMU refusing one of the user's --qemu-arg is bad input, not the harness's trouble.
            try:
                qemu_log = (folder / "qemu.log").read_text(errors="replace")
            except OSError:
                qemu_log = ""
            rejected = rejected_qemu_arg(self.settings.qemu_args, qemu_log)
            if rejected is None:
                raise
            raise rejected from exc
        return machine

    def _warm_state(self, spec: MachineSpec, vars_copy: Path, deadline: Deadline) -> Path | None:
        """With --warm-start: the saved state to start from (the vars copy then replaced by
        the one saved with it), or None for a cold start; the choice is kept for the report."""
        if not self.settings.warm_start:
            return None
        from .warm_start import WARM_STARTS

        assert self.firmware is not None
        self.start_choice = WARM_STARTS.choose(
            self.case, spec, self.firmware.vars_template, deadline
        )
        self.timings["warm_snapshot"] = self.start_choice.waited
        if self.start_choice.snapshot is None:
            return None
        shutil.copyfile(self.start_choice.snapshot.vars_file, vars_copy)
        return self.start_choice.snapshot.state

    def _start_servers(self, netns: str, deadline: Deadline) -> None:
        base = ServerPlan(
            boot_url=None,
            document_root=self.files.folder / "www",
            tls=self.tls,
            addressing=self.addressing,
            dhcp_server=self.settings.dhcp_server,
            http_server=self.settings.http_server,
            profile=self.settings.profile,
        )
        self.services = start_servers(
            self.case.server_plan(base), self._stack, netns=netns, workdir=self.files.folder,
            tag=netns, deadline=deadline,
        )  # fmt: skip
        capture = Tcpdump().start(
            netns=netns, workdir=self.capture_file.parent, tag=netns, deadline=deadline
        )
        self._stack.callback(capture.stop)

    def _machine_spec(self, code: Path, vars_copy: Path) -> MachineSpec:
        fw_cfg: tuple[tuple[str, Path], ...] = ()
        if self.case.scheme == "https" and self.tls is not None:
            fw_cfg = ((CACERTS_FW_CFG, self.tls.ca_signature_list),)
        base = MachineSpec(
            qemu=self.qemu,
            accel=self.accel,
            firmware_code=code,
            vars_copy=vars_copy,
            socket_dir=Machine.new_socket_dir(),
            fw_cfg_files=fw_cfg,
            memory_mb=self.settings.memory,
            extra_args=self.settings.qemu_args,
        )
        return self.case.machine_spec(base)

    def log_tails(self, count: int = 15) -> dict[str, list[str]]:
        return {name: p.log_tail(count).splitlines() for name, p in self.services.items()}
