"""Run one boot case end to end; the only module that knows the order of the steps.

    lab (namespace, tap0) -> image + TLS -> services ready -> QEMU paused -> cont
    -> Front Page -> Boot Manager -> entry -> follow the boot -> evidence -> verdict
    -> teardown in reverse order, on every exit path (an ExitStack owns each resource)

Infrastructure problems become the verdict "error" (the harness could not judge); anything the
firmware does or fails to do becomes booted / refused / failed with the phase it stopped at.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .accel import resolve_accel
from .cases import Case
from .config import Settings
from .console import KEY_ENTER, KEY_ESC, Console, FirmwareConsoleError, MachineGone
from .errors import HarnessError, HarnessTimeout, PrerequisiteError
from .evidence import Evidence, Judgement, ServerLogs, judge, meets_expectation, parse_console
from .firmware import find_firmware, set_boot_uri
from .machine import Machine, MachineSpec
from .netcapture import NetEvent, read_capture
from .network import Addressing, Lab, new_tag, sweep_stale_namespaces
from .payload import build_proof_image, build_proof_iso
from .process import ManagedProcess, sweep_orphans
from .server import ServerPlan, start_servers
from .services.tcpdump import CAPTURE_FILE, Tcpdump
from .timeline import TimelineEvent, build_timeline, format_timeline
from .tls import TlsMaterial, make_tls_material
from .waiting import Deadline

log = logging.getLogger(__name__)

CACERTS_FW_CFG = "etc/edk2/https/cacerts"
DAD_SECONDS = 1.1
"""RFC 4861's default RetransTimer (1 s) for one detection probe, and a margin."""
URI_BOOT_DESCRIPTION = "HBH-URI-BOOT"
EDIT_BOX_TITLE = "Please type in your data"
FORM_VALUE_END = 56
"""Column where a setup form's value ends and its help text begins (80-column screen)."""

Progress = Callable[[str], None]
ConsoleSink = Callable[[str], None]


@dataclass
class CaseResult:
    case: Case
    judgement: Judgement
    accel: str
    artifacts: Path
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    """"prerequisite" (something to install) or "infrastructure"; None when the harness judged."""
    console_tail: list[str] = field(default_factory=list)
    log_tails: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    timeline: list[TimelineEvent] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and meets_expectation(self.case, self.judgement)

    def to_report(self) -> dict[str, Any]:
        """One row of the JSON report; the documented keys first, extras after."""
        return {
            "id": self.case.id,
            "verdict": self.judgement.verdict,
            "phase": self.judgement.phase,
            "accel": self.accel,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "artifacts": str(self.artifacts),
            "expected": self.case.expected,
            "expected_phase": self.case.expected_phase,
            "met_expectation": self.passed,
            "summary": self.judgement.summary,
            "proven": self.judgement.proven,
            "error": self.error,
            **self.details,
            "timeline": [event.to_dict() for event in self.timeline],
        }


@dataclass(frozen=True)
class BootLocations:
    """Where a case's image lives and how the firmware is told about it."""

    image_path: str
    """The path the server logs: ``/<id>/bootx64.efi`` (HTTP) or ``<id>/bootx64.efi`` (TFTP)."""
    boot_url: str
    """What the case boots from: the HTTP(S) URL, the PXE file name (v4) or the tftp:// URL (v6)."""
    http_url: str
    """The HTTPClient URL the mixed DHCP servers offer (the same as boot_url for HTTP cases)."""
    pxe_file: str
    """The PXEClient file name, relative to the TFTP root."""
    pxe_url_v6: str


def boot_locations(case: Case, addressing: Addressing) -> BootLocations:
    """Derive the image path and URLs of ``case``: host name or IP literal, EFI or ISO, HTTP
    or PXE. Pure, so the shapes are unit-tested."""
    file_name = "boot.iso" if case.payload == "iso" else "bootx64.efi"
    if case.fault == "unknown-host":
        host = f"nowhere.{addressing.domain}"
    elif case.url_host == "name":
        host = addressing.hostname
    elif case.family == "ipv4":
        host = str(addressing.server_v4.ip)
    else:
        host = f"[{addressing.server_v6.ip}]"
    served_name = "missing.efi" if case.fault == "not-found" else file_name
    http_url = f"{case.scheme}://{host}/{case.id}/{served_name}"
    pxe_file = f"{case.id}/bootx64.efi"
    pxe_url_v6 = f"tftp://[{addressing.server_v6.ip}]/{pxe_file}"
    if case.boot == "pxe":
        boot_url = pxe_file if case.family == "ipv4" else pxe_url_v6
        return BootLocations(pxe_file, boot_url, http_url, pxe_file, pxe_url_v6)
    return BootLocations(f"/{case.id}/{file_name}", http_url, http_url, pxe_file, pxe_url_v6)


def _field_value(screen: str, label: str) -> str:
    """The value a form shows right of ``label`` (its first line; the help column cut off)."""
    for line in screen.splitlines():
        if label in line:
            rest = line.split(label, 1)[1]
            return rest[: max(0, FORM_VALUE_END - (len(line) - len(rest)))].strip()
    return ""


def _edit_box_text(screen: str) -> str:
    """What the open "Please type in your data" box holds: the line under its title."""
    lines = screen.splitlines()
    for number, line in enumerate(lines[:-1]):
        if EDIT_BOX_TITLE in line:
            return lines[number + 1].replace("\u2502", " ").strip()
    return ""


@functools.cache
def _sweep_once() -> None:
    """Remove what an earlier run killed with SIGKILL left behind (once per process)."""
    sweep_orphans()
    sweep_stale_namespaces()


def run_case(
    case: Case,
    settings: Settings,
    artifacts: Path,
    *,
    tls: TlsMaterial | None = None,
    progress: Progress | None = None,
    console_sink: ConsoleSink | None = None,
) -> CaseResult:
    """Boot ``case`` and judge it; artifacts go to ``artifacts/<case id>``. Never raises
    HarnessError: those become the verdict "error". KeyboardInterrupt cleans up and propagates."""
    started = time.monotonic()
    case_dir = artifacts.absolute() / case.id
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    run = _CaseRun(
        case, settings, case_dir, tls, progress or (lambda _phase: None), console_sink=console_sink
    )
    try:
        result = run.execute()
    except HarnessError as exc:
        result = run.error_result(exc)
    result.timings["total"] = time.monotonic() - started
    (case_dir / "verdict.json").write_text(json.dumps(result.to_report(), indent=2) + "\n")
    return result


class _CaseRun:
    """The state of one run; kept in an object so the evidence step can see every part."""

    def __init__(
        self,
        case: Case,
        settings: Settings,
        case_dir: Path,
        tls: TlsMaterial | None,
        progress: Progress,
        *,
        console_sink: ConsoleSink | None,
    ) -> None:
        self.case = case
        self.settings = settings
        self.case_dir = case_dir
        self.tls = tls
        self.progress = progress
        self.accel = "unknown"
        self.timings: dict[str, float] = {}
        self.addressing = Addressing()
        self.locations = boot_locations(case, self.addressing)
        self.image_path = self.locations.image_path
        self.boot_url = self.locations.boot_url
        self.services: dict[str, ManagedProcess] = {}
        self.console: Console | None = None
        self.reached_entry = False
        self.console_sink = console_sink
        self.timings_origin = time.monotonic()
        """The guest's start (QMP cont); every time in the artifacts counts from here."""

    def error_result(self, exc: HarnessError) -> CaseResult:
        kind = "prerequisite" if isinstance(exc, PrerequisiteError) else "infrastructure"
        message = f"{kind} problem: {exc}"
        log.error("%s: %s", self.case.id, message)
        (self.case_dir / "harness-error.txt").write_text(
            message + "\n\n" + "".join(traceback.format_exception(exc))
        )
        judgement = Judgement("error", None, f"the harness could not judge the firmware: {exc}")
        return CaseResult(
            self.case, judgement, self.accel, self.case_dir, self.timings, error=message,
            error_kind=kind, console_tail=self._console_tail(), log_tails=self._log_tails(),
        )  # fmt: skip

    def execute(self) -> CaseResult:
        deadline = Deadline(self.settings.timeout)
        self.progress("prepare")
        if shutil.which(self.settings.qemu) is None:
            raise PrerequisiteError(
                f"QEMU ({self.settings.qemu}) is not installed",
                "apt-get install qemu-system-x86 (or make setup), or pass --qemu",
            )
        firmware = find_firmware(self.settings.ovmf_code, self.settings.ovmf_vars)
        self.accel, accel_why = resolve_accel(self.settings.accel, self.settings.qemu, firmware)
        _sweep_once()
        with ExitStack() as stack:
            lab_started = time.monotonic()
            lab = stack.enter_context(Lab(new_tag(), self.addressing))
            image = build_proof_image(
                self.case_dir / "www" / self.locations.pxe_file,
                self.case.id,
                script=self.case_dir / "proof-image.cfg",
            )
            if self.case.payload == "iso":
                image = build_proof_iso(
                    image, self.case_dir / "www" / self.image_path.lstrip("/"), self.case_dir
                )
            if self.case.scheme == "https" and self.tls is None:
                self.tls = make_tls_material(self.case_dir / "tls", self.addressing)
            self._start_services(stack, lab.name, deadline)
            self.timings["lab_setup"] = time.monotonic() - lab_started

            vars_copy = firmware.copy_vars(self.case_dir / "OVMF_VARS.fd")
            if self.case.url_source == "preset":
                set_boot_uri(vars_copy, self.locations.http_url)
            machine = self._machine(firmware.code, vars_copy, lab.name)
            stack.callback(machine.stop)
            self.progress("qemu")
            machine.launch(deadline)
            console = Console(
                machine.spec.serial_socket,
                self.case_dir / "console.raw",
                machine.death_notice,
                sink=self.console_sink,
            )
            self.console = console
            stack.callback(self._save_console)
            machine.resume()
            self._drive_and_follow(machine, console, image.proof_line, deadline)
        # Read the logs only now: the daemons have stopped, and lighttpd writes its buffered
        # access log when it stops.
        network = read_capture(
            self.case_dir / "tcpdump" / CAPTURE_FILE, machine.started_wall or time.time()
        )
        timeline = self._timeline(machine, console, image.proof_line, network)
        (self.case_dir / "timeline.txt").write_text(format_timeline(timeline))
        judgement = judge(self._evidence(machine, console, image.proof_line, image.size, network))
        return CaseResult(
            self.case, judgement, self.accel, self.case_dir, self.timings,
            console_tail=self._console_tail(), log_tails=self._log_tails(),
            timeline=timeline,
            details={"accel_reason": accel_why, "firmware": str(firmware.code),
                     "boot_url": self.boot_url, "nonce": image.nonce,
                     "image_path": self.image_path, "image_size": image.size,
                     "servers": sorted(self.services)},
        )  # fmt: skip

    # -- steps -----------------------------------------------------------------------------
    def _start_services(self, stack: ExitStack, netns: str, deadline: Deadline) -> None:
        self.progress("services")
        case, where = self.case, self.locations
        plan = ServerPlan(
            boot_url=where.http_url if case.url_source == "dhcp" else None,
            document_root=self.case_dir / "www",
            tls=self.tls,
            addressing=self.addressing,
            name_server=case.url_host == "name",
            dhcp_server=self.settings.dhcp_server,
            http_server=self.settings.http_server,
            dhcp6_vendor=case.dhcp6_vendor,
            pxe_boot_file=where.pxe_file,
            pxe_url_v6=where.pxe_url_v6,
            profile=self.settings.profile,
            dhcp_v4=not (case.fault == "no-dhcp" and case.family == "ipv4"),
            dhcp_v6=not (case.fault == "no-dhcp" and case.family == "ipv6"),
            http_vendor_class=case.fault != "no-httpclient",
        )
        self.services = start_servers(
            plan, stack, netns=netns, workdir=self.case_dir, tag=netns, deadline=deadline
        )
        capture = Tcpdump().start(
            netns=netns, workdir=self.case_dir / "tcpdump", tag=netns, deadline=deadline
        )
        stack.callback(capture.stop)

    def _machine(self, code: Path, vars_copy: Path, netns: str) -> Machine:
        fw_cfg: tuple[tuple[str, Path], ...] = ()
        if self.case.scheme == "https" and self.case.enroll_ca and self.tls is not None:
            fw_cfg = ((CACERTS_FW_CFG, self.tls.ca_signature_list),)
        spec = MachineSpec(
            qemu=self.settings.qemu,
            accel=self.accel,
            firmware_code=code,
            vars_copy=vars_copy,
            socket_dir=Machine.new_socket_dir(),
            fw_cfg_files=fw_cfg,
            # Preset: no one presses a key, so the firmware should not wait for one.
            boot_menu_ms=0 if self.case.url_source == "preset" else 60000,
            extra_args=self.settings.qemu_args,
        )
        return Machine(spec, netns=netns, tag=netns, workdir=self.case_dir)

    def _drive_and_follow(
        self, machine: Machine, console: Console, proof_line: str, deadline: Deadline
    ) -> None:
        """Drive the menus like a person would, then follow the boot until it ends."""
        t0 = machine.started_monotonic or time.monotonic()
        self.timings_origin = t0
        try:
            if self.case.url_source == "preset":
                # BootNext in the vars picks the entry: no key is pressed.
                self.reached_entry = True
                self.progress("booting")
                self._follow_boot(machine, console, proof_line, deadline, t0)
                machine.poll_events()
                return
            self.progress("front-page")
            console.enter_front_page(deadline)
            self.timings["front_page"] = time.monotonic() - t0
            entry_label = self.case.boot_entry_label
            if self.case.url_source == "uri":
                entry_label = self._type_boot_uri(console, deadline)
                self.timings["uri_typed"] = time.monotonic() - t0
            self.progress("boot-manager")
            console.choose("Boot Manager", deadline)
            console.wait_for(
                lambda: bool(console.screen.rows_with("Boot Manager Menu")),
                deadline,
                "the Boot Manager",
            )
            if self.case.family == "ipv6":
                self._wait_for_link_local_address(deadline)
            console.choose(entry_label, deadline)
            self.reached_entry = True
            self.timings["entry_selected"] = time.monotonic() - t0
            self.progress("booting")
            self._follow_boot(machine, console, proof_line, deadline, t0)
        except FirmwareConsoleError as exc:
            log.info("%s: %s", self.case.id, exc)
        except HarnessTimeout as exc:
            # The firmware did not get there in time: a firmware verdict, not an infra error.
            log.info("%s: %s", self.case.id, exc)
            (self.case_dir / "timeout.txt").write_text(f"{exc}\n")
        except MachineGone as exc:
            log.info("%s: QEMU ended: %s", self.case.id, exc)
        console.snapshot("the end of the boot")
        machine.poll_events()

    def _type_boot_uri(self, console: Console, deadline: Deadline) -> str:
        """The seed's manual way: Device Manager -> Network Device List -> the NIC -> HTTP Boot
        Configuration -> description and Boot URI typed in, saved with 'Y'; back on the Front
        Page. Returns the new boot option's description, which the Boot Manager then lists."""
        description = URI_BOOT_DESCRIPTION
        steps = ("Device Manager", "Network Device List", "MAC:", "HTTP Boot Configuration")
        for label in steps:
            self.progress(label)
            console.choose(label, deadline)
            title = console.screen.text().splitlines()[:3]  # not yet redrawn: read before pump
            console.wait_for(
                lambda title=title: console.screen.text().splitlines()[:3] != title,  # type: ignore[misc]
                deadline,
                f"the page behind {label!r}",
            )
            console.settle(deadline)
            self._snapshot(label)
        for field_label, value in (
            ("Input the description", description),
            ("Boot URI", self.locations.http_url),
        ):
            console.choose(field_label, deadline)
            console.wait_for(
                lambda: bool(console.screen.rows_with(EDIT_BOX_TITLE)),
                deadline,
                f"the edit box of {field_label!r}",
            )
            console.settle(deadline)
            console.erase(len(_edit_box_text(console.screen.text())), deadline)
            console.type_text(value, deadline)
            console.press(KEY_ENTER, deadline)
            self._snapshot(field_label)
            shown = _field_value(console.screen.text(), field_label)
            if not value.startswith(shown) or not shown:
                raise FirmwareConsoleError(
                    f"{field_label!r} shows {shown!r} after typing {value!r}:\n"
                    f"{console.screen.text()}"
                )
        # Leave the form: the browser asks whether to save the changes; 'Y' saves and exits.
        console.send(KEY_ESC)
        console.wait_for(
            lambda: bool(console.screen.rows_with("Save Changes")), deadline, "the save prompt"
        )
        console.settle(deadline)
        self._snapshot("save prompt")
        while not console.screen.rows_with("Boot Maintenance Manager"):
            key = b"Y" if console.screen.rows_with("Save Changes") else KEY_ESC
            title = console.screen.text().splitlines()[:3]
            console.send(key)
            console.wait_for(
                lambda title=title: console.screen.text().splitlines()[:3] != title,  # type: ignore[misc]
                deadline,
                "the firmware to leave the page",
            )
            console.settle(deadline)
        return description

    def _snapshot(self, step: str) -> None:
        """Keep each screen of the menu walk: the first thing to read when a label changes."""
        if self.console is not None:
            name = "".join(c if c.isalnum() else "-" for c in step.lower())
            folder = self.case_dir / "screens"
            folder.mkdir(exist_ok=True)
            (folder / f"{name}.txt").write_text(self.console.screen.text())

    def _follow_boot(
        self, machine: Machine, console: Console, proof_line: str, deadline: Deadline, t0: float
    ) -> None:
        error_seen_at: float | None = None
        while True:
            console.pump(min(0.1, deadline.remaining()))
            machine.poll_events()
            now = time.monotonic()
            self._note_proof(console, proof_line, t0)
            if (off := machine.guest_powered_off()) or machine.death_notice() is not None:
                if off is not None:
                    self.timings["poweroff"] = off.seconds
                # What the guest printed last may still be in the socket: read it all.
                console.settle(deadline.sooner(2.0))
                self._note_proof(console, proof_line, t0)
                return
            plain = console.plain
            if error_seen_at is None and "Error: " in plain[-4000:]:
                error_seen_at = now
                self.progress("firmware error")
            if error_seen_at is not None and now - error_seen_at > 2.0:
                # Let the firmware finish its message, then stop: it gave up.
                return
            if deadline.expired():
                raise HarnessTimeout("the case's deadline passed while the firmware was booting")

    def _wait_for_link_local_address(self, deadline: Deadline) -> None:
        """Do not start an IPv6 boot while the client's link-local address is tentative.

        Debian 12's OVMF (edk2 2022.11) fails at once with "Unexpected network error" when
        HTTP or PXE boot over IPv6 starts during the duplicate address detection of its
        link-local address (an edk2 race, fixed upstream): seen here when the entry was chosen
        0.7 s after the detection began. A person is never that fast; the harness is, so it
        waits until the capture shows the detection began one RetransTimer (1 s) ago.
        """
        capture = self.case_dir / "tcpdump" / CAPTURE_FILE
        look = deadline.sooner(3.0)
        while not look.expired():
            started = [
                e.seconds
                for e in read_capture(capture, origin_wall=0.0)
                if e.kind == "dad" and e.detail.startswith("for fe80::")
            ]
            if started:
                done_at = started[0] + DAD_SECONDS
                while time.time() < done_at and not deadline.expired():
                    if self.console is not None:
                        self.console.pump(min(0.05, done_at - time.time()))
                return
            if self.console is not None:
                self.console.pump(0.05)
        log.info("%s: no duplicate address detection seen; choosing the entry anyway", self.case.id)

    def _note_proof(self, console: Console, proof_line: str, t0: float) -> None:
        """Date the proof line by the arrival of its last byte, not by when we looked."""
        if "firmware" not in self.timings and (arrived := console.arrival(proof_line)):
            self.timings["firmware"] = arrived - t0
            self.progress("image running")

    def _timeline(
        self, machine: Machine, console: Console, proof_line: str, network: list[NetEvent]
    ) -> list[TimelineEvent]:
        origin = self.timings_origin
        marks = {
            "the Front Page is on the screen": self.timings.get("front_page"),
            "firmware reached the boot option (entry chosen)": self.timings.get("entry_selected"),
        }

        def arrival(needle: str) -> float | None:
            arrived = console.arrival(needle)
            return None if arrived is None else arrived - origin

        return build_timeline(
            harness_marks={what: t for what, t in marks.items() if t is not None},
            console_arrival=arrival,
            proof_line=proof_line,
            network=network,
            qmp=[(e.seconds, f"QMP {e.name}", str(e.data) if e.data else "")
                 for e in machine.events if e.name != "RESUME"],
        )  # fmt: skip

    def _evidence(
        self,
        machine: Machine,
        console: Console,
        proof_line: str,
        image_size: int,
        network: list[NetEvent],
    ) -> Evidence:
        event = machine.guest_powered_off()
        return Evidence(
            case=self.case,
            image_path=self.image_path,
            image_size=image_size,
            boot_url=self.boot_url,
            proof_line=proof_line,
            reached_boot_entry=self.reached_entry,
            console=parse_console(console.plain, proof_line),
            servers=ServerLogs.from_case_dir(self.case_dir),
            shutdown_event=event.data if event else None,
            firmware_output=console.first_output is not None,
            network=network,
        )

    # -- artifacts -------------------------------------------------------------------------
    def _save_console(self) -> None:
        if self.console is None:
            return
        self.console.close()
        (self.case_dir / "console.txt").write_text(self.console.plain)
        (self.case_dir / "screen.txt").write_text(self.console.screen.text())
        started = self.timings_origin
        with (self.case_dir / "screens.txt").open("w") as screens:
            for when, label, text in self.console.snapshots:
                screens.write(f"===== {when - started:7.2f} s  {label}\n{text}\n")

    def _console_tail(self, count: int = 20) -> list[str]:
        if self.console is None:
            return []
        return [line for line in self.console.plain.splitlines() if line.strip()][-count:]

    def _log_tails(self, count: int = 15) -> dict[str, list[str]]:
        tails = {}
        for name, process in self.services.items():
            tails[name] = process.log_tail(count).splitlines()
        return tails
