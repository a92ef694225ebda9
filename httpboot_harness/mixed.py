"""Two architectures at once from one server: the seed's "serve different architectures at the
same time", proven.

One lab holds a bridge with two taps; an x86_64 (q35, OVMF) and an aarch64 (virt, AAVMF) guest
boot at the same time from the same DNS, DHCPv4, DHCPv6, router adverts and HTTP(S) servers.
DHCP tells the architectures apart by vendor class (``HTTPClient:Arch:00016`` / ``00019``:
dnsmasq tags, and the seed's dhcpd6 subclass form), so each gets its own boot file.

A guest booted when, from evidence: its own console shows its own proof line (its own nonce); the
DHCP log shows its vendor class matched and its own URL offered to its own MAC (DHCPv4) or in its
class's scope (DHCPv6), with the address its console reports; the access log shows its own image
fetched whole from that address; and QMP saw it power off. The harness's own trouble (a menu it
could not drive, QEMU dying on the host) is an ``error``, never a firmware verdict.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from . import stop
from .accel import resolve_accel
from .arch import qemu_for
from .artifacts import CaseArtifacts
from .cases import Case, Family, Scheme
from .config import Settings
from .console import Console, MachineGone, SerialLineLost
from .errors import HarnessError, HarnessTimeout, InfrastructureError
from .evidence import ConsoleFacts, ServerLogs, damaged_proof_said, parse_console
from .firmware import find_arch_firmware
from .machine import DEFAULT_MAC, Machine, MachineSpec
from .netcapture import wait_for_link_local_dad
from .network import BRIDGE, TAP, Addressing, BridgedLab, new_tag
from .ovmf_menu import MenuEntryMissing, OvmfMenu
from .payload import ProofImage, build_proof_image
from .rig import CACERTS_FW_CFG, sweep_once
from .server import ServerPlan, start_servers
from .services.tcpdump import CAPTURE_FILE, Tcpdump
from .tls import TlsMaterial, make_tls_material
from .userns import choose_mode
from .waiting import Deadline

log = logging.getLogger(__name__)

TAPS = (TAP, "tap1")
MACS = (DEFAULT_MAC, "52:54:00:12:34:57")
RADVD_MAX_INTERVAL = 4
"""Unsolicited adverts every 3-4 s. radvd answers only the first of two guests' solicitations
within its 3 s MinDelayBetweenRAs (the floor it accepts), so with the default 10 s interval the
second guest waited about 9 s longer for IPv6 (field notes); frequent adverts reach both soon."""


@dataclass(frozen=True)
class MixedCase:
    """Both architectures from one server, over ``family`` and ``scheme``."""

    family: Family
    scheme: Scheme = "http"
    radvd_max_interval: int = RADVD_MAX_INTERVAL

    @property
    def id(self) -> str:
        return f"mixed-{self.family}-{self.scheme}"

    @property
    def guests(self) -> tuple[Case, Case]:
        return Case(self.family, self.scheme), Case(self.family, self.scheme, arch="aarch64")

    @property
    def markers(self) -> tuple[str, ...]:
        return ("mixed", self.family, self.scheme, "x86_64", "aarch64")


MIXED_CASES: tuple[MixedCase, ...] = (MixedCase("ipv4"), MixedCase("ipv6"))


@dataclass
class Guest:
    """One of the two clients: its case, its link, its image and what it showed."""

    case: Case
    tap: str
    mac: str
    files: CaseArtifacts
    image: ProofImage
    url: str
    image_path: str
    machine: Machine | None = None
    console: Console | None = None
    reached_entry: bool = False
    harness_failure: str | None = None
    console_text: str = ""
    proof_at: float | None = None
    """Seconds from ``cont`` to the proof line on the console."""
    proven: dict[str, str] = field(default_factory=dict)
    missing: str | None = None
    """The first thing not proven; None: booted."""

    @property
    def folder(self) -> Path:
        return self.files.folder

    def row(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "arch": self.case.arch,
            "verdict": "booted" if self.missing is None else "failed",
            "proof_seconds": None if self.proof_at is None else round(self.proof_at, 3),
            "mac": self.mac,
            "url": self.url,
            "nonce": self.image.nonce,
            "proven": self.proven,
            "missing": self.missing,
        }


@dataclass
class MixedResult:
    case: MixedCase
    guests: list[Guest]
    accel: str
    artifacts: Path
    error: str | None = None
    total: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and all(g.missing is None for g in self.guests)

    def to_report(self) -> dict[str, Any]:
        """One row of the JSON report, the same keys as a single case's plus each guest's."""
        verdict = "error" if self.error else ("booted" if self.passed else "failed")
        firmware = [g.proof_at for g in self.guests if g.proof_at is not None]
        return {
            "id": self.case.id,
            "arch": "+".join(g.case.arch for g in self.guests),
            "verdict": verdict,
            "phase": None,
            "accel": self.accel,
            "timings": {
                "firmware": round(max(firmware), 3) if firmware else None,
                "total": round(self.total, 3),
            },
            "artifacts": str(self.artifacts),
            "expected": "booted",
            "met_expectation": self.passed,
            "error": self.error,
            "guests": [g.row() for g in self.guests],
        }


def run_mixed(
    case: MixedCase, settings: Settings, artifacts: Path, *, tls: TlsMaterial | None = None
) -> MixedResult:
    """Boot both guests at once from one server and judge each; never raises for the harness's
    own trouble (that is ``error``). KeyboardInterrupt cleans up and propagates."""
    started = time.monotonic()
    files = CaseArtifacts(artifacts, case.id)
    result = MixedResult(case, [], "unknown", files.folder)
    try:
        _run(case, settings, files, tls, result)
    except HarnessError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a library's surprise is the harness's, never the firmware's
        result.error = f"unexpected {type(exc).__name__}: {exc}"
        log.exception("%s", case.id)
    result.total = time.monotonic() - started
    files.write_verdict(result.to_report())
    return result


def _run(
    case: MixedCase,
    settings: Settings,
    files: CaseArtifacts,
    tls: TlsMaterial | None,
    result: MixedResult,
) -> None:
    deadline = Deadline(settings.timeout)
    addressing = Addressing()
    folder = files.folder
    guests = []
    for guest_case, tap, mac in zip(case.guests, TAPS, MACS, strict=True):
        where = guest_case.locations(addressing)
        image = build_proof_image(
            folder / "www" / where.served_file, guest_case.id,
            script=folder / f"{guest_case.id}.cfg", arch=guest_case.arch_spec,
        )  # fmt: skip
        guest_files = CaseArtifacts(folder, guest_case.id)
        guests.append(
            Guest(guest_case, tap, mac, guest_files, image, where.http_url, where.image_path)
        )
    result.guests = guests
    if case.scheme == "https" and tls is None:
        tls = make_tls_material(folder / "tls", addressing)
    sweep_once()
    with ExitStack() as stack:
        mode = choose_mode(settings.lab_mode)[0]
        lab = stack.enter_context(BridgedLab(new_tag(), addressing, TAPS, mode=mode))
        plan = ServerPlan(
            boot_url=guests[0].url, document_root=folder / "www", tls=tls,
            addressing=addressing, interface=BRIDGE, dhcp_server="dnsmasq",
            http_server=settings.http_server, dhcp6_vendor="arch",
            arch_boot_urls=tuple((g.case.arch_spec.vendor_class, g.url) for g in guests),
            radvd_max_interval=case.radvd_max_interval,
        )  # fmt: skip
        start_servers(plan, stack, netns=lab.name, workdir=folder, tag=lab.name, deadline=deadline)
        capture = Tcpdump(interface=BRIDGE).start(
            netns=lab.name, workdir=folder / "tcpdump", tag=lab.name, deadline=deadline
        )
        stack.callback(capture.stop)
        for guest in guests:
            result.accel = _launch(
                guest, settings=settings, tls=tls, netns=lab.name, stack=stack, deadline=deadline
            )
        for guest in guests:
            assert guest.machine is not None
            guest.machine.resume()
        # Each guest's walk in a thread of its own; a stop reaches both (stop.run_parallel).
        capture_file = folder / "tcpdump" / CAPTURE_FILE
        stop.run_parallel(lambda g: _drive(g, capture_file, deadline), guests, len(guests))
        for guest in guests:
            assert guest.console is not None
            assert guest.machine is not None
            guest.console.close()  # every byte the guest printed is in now (serial_relay)
            guest.files.write_console(guest.console, guest.machine.started_monotonic or 0.0)
            guest.console_text = guest.console.plain
            arrived = guest.console.arrival(guest.image.proof_line)
            if arrived is not None:
                guest.proof_at = arrived - (guest.machine.started_monotonic or arrived)
    # Everything has stopped: lighttpd has written its access log.
    for guest in guests:
        assert guest.machine is not None
        end = guest.machine.end()
        if guest.harness_failure is None and end.by_host:
            guest.harness_failure = f"QEMU ended without the guest asking: {end.detail}"
        if guest.harness_failure is not None:
            raise InfrastructureError(f"{guest.case.id}: {guest.harness_failure}")
    logs = ServerLogs.from_case_dir(folder)
    facts = [parse_console(g.console_text, g.image.proof_line) for g in guests]
    for guest, fact in zip(guests, facts, strict=True):
        if fact.damaged_proof is not None:
            said = damaged_proof_said(fact.damaged_proof, guest.image.proof_line)
            raise SerialLineLost(f"{guest.case.id}: {said}")
    for index, guest in enumerate(guests):
        other = 1 - index  # two guests
        judge_guest(guest, guests[other], logs, facts[index], facts[other].station_address)


def _launch(
    guest: Guest,
    *,
    settings: Settings,
    tls: TlsMaterial | None,
    netns: str,
    stack: ExitStack,
    deadline: Deadline,
) -> str:
    arch = guest.case.arch_spec
    qemu = qemu_for(arch.name, settings.qemu, settings.arch)
    firmware = find_arch_firmware(settings, arch)
    accel, _why = resolve_accel(settings.accel, qemu, firmware, arch.name)
    fw_cfg = ((CACERTS_FW_CFG, tls.ca_signature_list),) if tls is not None else ()
    base = MachineSpec(
        qemu=qemu, accel=accel, firmware_code=firmware.code,
        vars_copy=firmware.copy_vars(guest.folder / "VARS.fd"),
        socket_dir=Machine.new_socket_dir(), mac=guest.mac, tap=guest.tap,
        fw_cfg_files=fw_cfg, extra_args=settings.qemu_args,
    )  # fmt: skip
    machine = Machine(guest.case.machine_spec(base), netns=netns, tag=netns, workdir=guest.folder)
    stack.callback(machine.stop)
    guest.machine = machine
    machine.launch(deadline)
    console = Console(machine.spec.serial_pipe, guest.folder / "console.raw", machine.death_notice)
    stack.callback(console.close)
    guest.console = console
    return accel


def _drive(guest: Guest, capture: Path, deadline: Deadline) -> None:
    """Reach the guest's boot entry, then read its console until it powers off or the deadline
    passes. A menu the harness could not drive is the harness's failure."""
    machine, console = guest.machine, guest.console
    assert machine is not None
    assert console is not None
    menu = OvmfMenu(
        console,
        keep_screen=lambda step: guest.files.keep_screen(console, step),
        before_network_entry=lambda d: _wait_for_dad(guest, capture, d),
        restart=lambda why: _restart(guest, why),
    )
    try:
        guest.case.source.reach_entry(guest.case, menu, guest.case.locations(Addressing()),
                                      deadline)  # fmt: skip
        guest.reached_entry = True
        while not deadline.expired():
            console.pump(0.1)
            machine.poll_events()
            if machine.guest_powered_off() or machine.death_notice() is not None:
                return  # its last bytes are taken in when its console closes
    except HarnessTimeout as exc:
        if not guest.reached_entry:
            guest.harness_failure = f"could not drive the firmware's menus: {exc}"
    except MenuEntryMissing as exc:  # the firmware did not offer the entry: its verdict
        log.info("%s: %s", guest.case.id, exc)
    except MachineGone as exc:
        log.info("%s: %s", guest.case.id, exc)


def _restart(guest: Guest, why: str) -> None:
    """As the runner does: a firmware hung in its menus is reset to power-on, once."""
    assert guest.machine is not None
    log.warning("%s: %s", guest.case.id, why)
    guest.machine.restart()


def _wait_for_dad(guest: Guest, capture: Path, deadline: Deadline) -> None:
    """As the runner does for one guest: do not start an IPv6 boot while this guest's
    link-local address is still tentative (an edk2 2022.11 race), seen in the capture."""
    assert guest.console is not None
    wait_for_link_local_dad(capture, guest.console.pump, deadline,
                            interface_id=_eui64_suffix(guest.mac))  # fmt: skip


def _eui64_suffix(mac: str) -> str:
    """The interface identifier a MAC gives (52:54:00:12:34:56 -> 5054:ff:fe12:3456)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    words = [octets[0] << 8 | octets[1], octets[2] << 8 | 0xFF, 0xFE << 8 | octets[3],
             octets[4] << 8 | octets[5]]  # fmt: skip
    return ":".join(f"{w:x}" for w in words)


def _same_address(a: str | None, b: str | None) -> bool:
    try:
        return a is not None and b is not None and ip_address(a.strip("[]")) == ip_address(b)
    except ValueError:
        return False


def judge_guest(
    guest: Guest,
    other: Guest,
    logs: ServerLogs,
    facts: ConsoleFacts,
    other_station: str | None,
) -> None:
    """Fill ``guest.proven`` in boot order; the first step without evidence is ``missing``.
    ``facts`` is this guest's console, read once; ``other_station`` the other guest's address."""
    station = facts.station_address
    vendor = guest.case.arch_spec.vendor_class
    steps: list[tuple[str, str | None]] = [
        ("boot-entry", "selected in the Boot Manager" if guest.reached_entry else None),
        ("dhcp", _dhcp_proof(guest, logs, station, vendor)),
        ("download", _download_proof(guest, other, logs, station, other_station)),
        ("image", f"console: {guest.image.proof_line}" if facts.proof_seen else None),
        ("poweroff", _poweroff_proof(guest)),
    ]
    for name, proof in steps:
        if proof is None:
            guest.missing = name
            return
        guest.proven[name] = proof


def _dhcp_proof(guest: Guest, logs: ServerLogs, station: str | None, vendor: str) -> str | None:
    if guest.case.family == "ipv4":
        for ex in logs.dhcp4:
            if (
                ex.mac == guest.mac
                and "DHCPACK" in ex.messages
                and _same_address(station, ex.address)
                and ex.bootfile == guest.url
                and (ex.client_class or "").startswith(vendor)
                and f"arch{vendor.rpartition(':')[2]}" in ex.tags
            ):
                return (
                    f"dnsmasq: {ex.client_class} tagged {', '.join(ex.tags)}; DHCPACK "
                    f"{ex.address} to {ex.mac} with boot file {ex.bootfile}"
                )
        return None
    replied = any(
        kind == "Reply" and _same_address(station, address) for kind, address in logs.dhcp6.replies
    )
    if replied and (vendor, guest.url) in logs.dhcp6.offers:
        return f"dhcpd6: subclass {vendor} offered {guest.url}; Reply NA {station}"
    return None


def _download_proof(
    guest: Guest, other: Guest, logs: ServerLogs, station: str | None, other_station: str | None
) -> str | None:
    fetched = [r for r in logs.access if _same_address(r.client, station) and r.method == "GET"]
    # A GET of the other architecture's image from this guest's address is this guest's mistake,
    # unless the other guest held the same address: dhcpd6 hands a released address out again
    # (seen in CI), and the access log has no time to tell the two apart. The image's proof
    # line (its case id and nonce) still tells which image each guest ran.
    shared = _same_address(other_station, station.strip("[]") if station else None)
    if not shared and any(r.path == other.image_path for r in fetched):
        return None  # this guest fetched the other architecture's image
    for r in fetched:
        if r.path == guest.image_path and r.status == 200 and r.bytes == guest.image.size:
            return f"GET {r.path} 200 {r.bytes} bytes to {r.client} ({r.agent})"
    return None


def _poweroff_proof(guest: Guest) -> str | None:
    assert guest.machine is not None
    event = guest.machine.guest_powered_off()
    return None if event is None else f"QMP SHUTDOWN guest=true at {event.seconds:.2f} s"
