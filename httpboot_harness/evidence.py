"""Judge what the servers logged, the console showed, QMP reported and the capture saw.

Everything here is pure: each service reads its own log into typed records (``services/``), the
console is reduced to :class:`ConsoleFacts`, and :func:`judge` walks the phase table
(``phases.PHASES``) with the case's own proofs; the first phase without proof decides the
verdict. All of it is tested against recorded runs in fixtures/.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .netcapture import NetEvent
from .payload import NONCE_BYTES, PROOF_PREFIX
from .phases import (
    CHAIN_PHASES,
    DOWNLOAD_DONE,
    NBP_OK,
    PHASES,
    SPECS,
    STAGE_LINE,
    Phase,
    family_of,
)
from .services.dhcpd4 import parse_isc_dhcpd4
from .services.dhcpd6 import Dhcp6Log, parse_dhcpd6
from .services.dnsmasq import (
    Dhcp4Exchange,
    TftpRecord,
    parse_dns_queries,
    parse_dnsmasq_dhcp,
    parse_tftp_log,
)
from .services.faulty_http import FaultRecord, read_fault_log
from .services.lighttpd import AccessRecord, read_http_logs
from .services.silent_dns import DroppedQuery, read_query_log

if TYPE_CHECKING:
    from .cases import Case
    from .payload import Served

Verdict = Literal["booted", "refused", "failed", "error"]

_STATION = re.compile(r"Station IP(?:v6)? address is (?P<address>[0-9a-fA-F:.]+)")
_FILE_SIZE = re.compile(r"File Size: (?P<size>\d+) Bytes")
_FIRMWARE_ERROR = re.compile(r"Error: |ERROR: |[Ff]ailed")
_WHOLE_PROOF = re.compile(rf"{PROOF_PREFIX} \S+ [0-9a-f]{{{2 * NONCE_BYTES}}}(\s|$)")
"""A proof line with all its words: another image's, if its nonce is not this run's."""
_SECURITY_VIOLATION = re.compile(r"Access Denied|Security Violation|ACCESS_DENIED|SECURITY_VIOL")


@dataclass(frozen=True)
class ConsoleFacts:
    station_address: str | None
    file_size: int | None
    download_complete: bool
    nbp_downloaded: bool
    proof_seen: bool
    firmware_errors: tuple[str, ...]
    security_violation: str | None = None
    """The firmware's words when it refused to run an image (Secure Boot), if it said so."""
    stage_lines: tuple[str, ...] = ()
    """What a boot chain's stages printed: their marks, errors and prompts (``STAGE_LINE``)."""
    damaged_proof: str | None = None
    """A proof line that lost bytes on its way (its nonce cut short): an image ran, and the
    harness cannot tell which."""


def parse_console(plain: str, proof_line: str) -> ConsoleFacts:
    station = _STATION.search(plain)
    size = _FILE_SIZE.search(plain)
    lines = plain.splitlines()
    errors = tuple(dict.fromkeys(line.strip() for line in lines if _FIRMWARE_ERROR.search(line)))
    violation = _SECURITY_VIOLATION.search(plain)
    proof_seen = proof_line in plain
    damaged = [line.strip() for line in lines
               if PROOF_PREFIX in line and not _WHOLE_PROOF.search(line)]  # fmt: skip
    return ConsoleFacts(
        station_address=station["address"] if station else None,
        file_size=int(size["size"]) if size else None,
        download_complete=DOWNLOAD_DONE in plain,
        nbp_downloaded=NBP_OK in plain,
        proof_seen=proof_seen,
        firmware_errors=errors,
        security_violation=violation[0] if violation else None,
        stage_lines=tuple(line for line in lines if STAGE_LINE.search(line)),
        damaged_proof=damaged[0] if damaged and not proof_seen else None,
    )


@dataclass(frozen=True)
class ServerLogs:
    """What the daemons logged, parsed; read from a case's artifacts folder after they stopped."""

    access: list[AccessRecord]
    dhcp4: list[Dhcp4Exchange]
    dhcp6: Dhcp6Log
    dns_queries: list[tuple[str, str, str]]
    tls_errors: list[str]
    tftp: list[TftpRecord] = field(default_factory=list)
    http_faults: list[FaultRecord] = field(default_factory=list)
    """What the faulty HTTP server spoiled (a reset, a short body, a stall, a redirect, ...)."""
    dropped_dns: list[DroppedQuery] = field(default_factory=list)
    """Queries the silent name server read and did not answer."""

    @classmethod
    def from_case_dir(cls, case_dir: Path) -> ServerLogs:
        def read(relative: str) -> str:
            path = case_dir / relative
            return path.read_text(errors="replace") if path.exists() else ""

        dnsmasq = read("dnsmasq/dnsmasq.log")
        # Whichever HTTP server ran this case left its logs in its own folder.
        http = [read_http_logs(case_dir / server)
                for server in ("lighttpd", "apache2", "faulty-http")]  # fmt: skip
        return cls(
            access=[record for logs in http for record in logs.access],
            dhcp4=parse_dnsmasq_dhcp(dnsmasq) + parse_isc_dhcpd4(read("dhcpd4/dhcpd4.log")),
            dhcp6=parse_dhcpd6(read("dhcpd6/dhcpd6.log")),
            dns_queries=parse_dns_queries(dnsmasq),
            tls_errors=[line for logs in http for line in logs.tls_errors],
            tftp=parse_tftp_log(dnsmasq),
            http_faults=read_fault_log(case_dir / "faulty-http"),
            dropped_dns=read_query_log(case_dir / "silent-dns"),
        )


@dataclass
class Evidence:
    """Everything gathered for one case, already parsed."""

    case: Case
    image_path: str
    """The path the server logs for the image (``/<id>/bootx64.efi``; TFTP: without the /)."""
    image_size: int
    boot_url: str
    """Where the firmware boots from: the URL, the PXE file name or the tftp:// URL."""
    proof_line: str
    reached_boot_entry: bool
    console: ConsoleFacts
    servers: ServerLogs
    shutdown_event: dict[str, Any] | None
    firmware_output: bool = True
    network: list[NetEvent] | None = None
    """What the capture saw; None when there was no capture (recorded runs without one)."""
    menu_problem: str | None = None
    """A confirmed fact about the firmware's menu (an entry it does not offer)."""
    returned_to_menu: bool = False
    """The firmware drew its menu again after the boot attempt."""
    offered_url: str | None = None
    """What the DHCP offer carries; None: the same as ``boot_url``."""
    served: tuple[Served, ...] = ()
    """A boot chain's further files, in the order they must be fetched."""
    kernel_cmdline: str = ""
    """The kernel command line a chain serves."""

    def __post_init__(self) -> None:
        if self.offered_url is None:
            self.offered_url = self.boot_url

    def net(self, prefix: str) -> list[NetEvent]:
        return [e for e in self.network or [] if e.what.startswith(prefix)]

    @property
    def access(self) -> list[AccessRecord]:
        return self.servers.access

    def requests_on(self, port: int) -> list[AccessRecord]:
        """Requests the HTTP server logged on ``port`` from a client of the case's family."""
        return [
            r for r in self.access if r.port == port and family_of(r.client) == self.case.family
        ]


@dataclass
class Judgement:
    verdict: Verdict
    phase: str | None
    summary: str
    proven: dict[str, str] = field(default_factory=dict)
    """Each phase that was proven, with the evidence in one line."""
    cause: str | None = None
    """For a case that stopped: why, from the server logs, the capture and the console."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(ev: Evidence) -> Judgement:
    """Walk the phase table; the first phase that applies and has no proof decides."""
    proven: dict[str, str] = {}
    for spec in PHASES:
        if spec.phase not in ev.case.phases:
            continue
        prove = ev.case.prover(spec.phase) or spec.prove
        proof = prove(ev)
        if proof is None:
            return _stopped_at(spec.phase, ev, proven)
        proven[spec.phase.value] = proof
    return Judgement("booted", None, "the firmware downloaded the image and ran it", proven)


def damaged_proof_said(damaged: str, proof_line: str) -> str:
    """Why a damaged proof line gives no verdict (the judge's summary, the mixed case's error)."""
    return (
        f"the console lost bytes of the proof line ({damaged!r} for {proof_line!r}), "
        "so the harness cannot tell which image ran"
    )


def _stopped_at(phase: Phase, ev: Evidence, proven: dict[str, str]) -> Judgement:
    """Refused when the firmware said why it stopped, failed when it just did not get on; no
    verdict when the serial line damaged the proof line (the harness's loss, not the firmware's)."""
    cause = SPECS[phase].explain(ev)
    if ev.console.damaged_proof is not None:
        summary = "no verdict: " + damaged_proof_said(ev.console.damaged_proof, ev.proof_line)
        return Judgement("error", phase.value, summary, proven, cause)
    errors = list(ev.console.firmware_errors)
    if errors and not ev.console.proof_seen and phase not in CHAIN_PHASES:
        # Only the firmware refuses; a later stage that stops has failed (its lines are quoted).
        summary = f"the firmware refused at {phase}: {' / '.join(errors)}; {cause}"
        return Judgement("refused", phase.value, summary, proven, cause)
    return Judgement("failed", phase.value, f"no evidence of {phase}: {cause}", proven, cause)
