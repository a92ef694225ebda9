"""``httpboot-harness tls-audit``: every TLS condition booted on one firmware, one table row each.

A row says what a secure firmware does (refuse at ``tls``), what this one did (the verdict with
its phase), what was negotiated on the wire (the ServerHello's protocol and suite, read from the
capture), the assessment, and the cause from the server's side. Exit codes as for ``matrix``:
0 every condition as expected (a known weakness of this build counts as expected), 1 one differs,
125 the harness could not judge one.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt

from .config import Settings
from .runner import CaseResult
from .tls_conditions import (
    CONTROL,
    TLS_AUDIT_CASES,
    TlsCondition,
    condition_of,
    firmware_release,
    observed_outcome,
)

TLS_HANDSHAKE, TLS_ALERT = 22, 21
SERVER_HELLO, CLIENT_HELLO = 2, 1
SUPPORTED_VERSIONS = 43
HTTPS_PORT = 443
VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
            0x0304: "TLS 1.3"}  # fmt: skip

AS_EXPECTED, DIFFERS, CANNOT_JUDGE, RECORDED = "as expected", "DIFFERS", "cannot judge", "recorded"


@dataclass(frozen=True)
class Handshake:
    """What the capture shows of the TLS handshakes: the client's offer, the server's choice,
    and the alerts (who sent them, and their names)."""

    client_versions: tuple[str, ...] = ()
    client_suites: int = 0
    version: str | None = None
    suite: str | None = None
    alerts: tuple[str, ...] = ()

    @property
    def negotiated(self) -> str:
        if self.version is None:
            return "-"
        return f"{self.version} {self.suite}"

    def offered(self) -> str:
        if not self.client_versions:
            return "no ClientHello"
        return f"client offered {'/'.join(self.client_versions)}, {self.client_suites} suites"


def read_handshake(capture: Path) -> Handshake:
    """The first ClientHello, the first ServerHello and every cleartext alert on port 443."""
    if not capture.exists() or capture.stat().st_size == 0:
        return Handshake()
    with capture.open("rb") as handle:
        try:
            packets = list(dpkt.pcap.Reader(handle))
        except (ValueError, dpkt.dpkt.NeedData):
            return Handshake()
    client: tuple[tuple[str, ...], int] | None = None
    server: tuple[str, str] | None = None
    alerts: list[str] = []
    for _, frame in packets:
        segment = _tls_segment(frame)
        if segment is None:
            continue
        from_server, payload = segment
        if _cleartext_alert(payload):
            alerts.append(
                f"{alert_name(payload[6])} from the {'server' if from_server else 'client'}"
            )
        if len(payload) < 9 or payload[0] != TLS_HANDSHAKE:
            continue
        body = payload[9 : 9 + int.from_bytes(payload[6:9], "big")]
        if payload[5] == CLIENT_HELLO and client is None and not from_server:
            client = _client_hello(body)
        elif payload[5] == SERVER_HELLO and server is None and from_server:
            server = _server_hello(body)
    return Handshake(
        client_versions=client[0] if client else (),
        client_suites=client[1] if client else 0,
        version=server[0] if server else None,
        suite=server[1] if server else None,
        alerts=tuple(dict.fromkeys(alerts)),
    )


def _cleartext_alert(payload: bytes) -> bool:
    """An alert record of two bytes (level, description): an encrypted one is longer, and its
    bytes say nothing."""
    return len(payload) >= 7 and payload[0] == TLS_ALERT and payload[3:5] == b"\x00\x02"


def alert_name(code: int) -> str:
    """RFC 8446's name of an alert description (``protocol_version``), from dpkt's table."""
    name: str | None = dpkt.ssl.alert_description_str.get(code)
    if name is None:
        return f"alert {code}"
    return name.split("_AD_", 1)[-1].lower()


def _tls_segment(frame: bytes) -> tuple[bool, bytes] | None:
    try:
        ip = dpkt.ethernet.Ethernet(frame).data
    except dpkt.dpkt.UnpackError:
        return None
    tcp = getattr(ip, "data", None)
    if not isinstance(tcp, dpkt.tcp.TCP) or HTTPS_PORT not in (tcp.sport, tcp.dport):
        return None
    payload = bytes(tcp.data)
    return (tcp.sport == HTTPS_PORT, payload) if payload else None


def _version(code: int) -> str:
    return VERSIONS.get(code, f"0x{code:04x}")


def _extensions(hello: Any) -> dict[int, bytes]:
    return {kind: bytes(data) for kind, data in getattr(hello, "extensions", [])}


def _client_hello(body: bytes) -> tuple[tuple[str, ...], int] | None:
    try:
        hello = dpkt.ssl.TLSClientHello(body)
    except (dpkt.dpkt.UnpackError, struct.error):
        return None
    listed = _extensions(hello).get(SUPPORTED_VERSIONS)
    if listed:
        codes = [int.from_bytes(listed[i : i + 2], "big") for i in range(1, len(listed), 2)]
        versions = tuple(_version(c) for c in codes if c in VERSIONS)
    else:
        versions = (_version(hello.version),)
    return versions, len(hello.ciphersuites)


def _server_hello(body: bytes) -> tuple[str, str] | None:
    try:
        hello = dpkt.ssl.TLSServerHello(body)
    except (dpkt.dpkt.UnpackError, struct.error):
        return None
    chosen = _extensions(hello).get(SUPPORTED_VERSIONS)
    version = int.from_bytes(chosen[:2], "big") if chosen else hello.version
    return _version(version), str(hello.ciphersuite.name)


# -- the table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditRow:
    condition: str
    title: str
    expected: str
    observed: str
    negotiated: str
    assessment: str
    cause: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def assess(condition: TlsCondition, result: CaseResult, release: str | None) -> str:
    """as expected | known weakness (reference) | DIFFERS | recorded (a control) | cannot judge."""
    if result.error is not None:
        return CANNOT_JUDGE
    if condition.control:
        return RECORDED
    weakness = condition.weakness(release)
    if result.passed:
        return AS_EXPECTED if weakness is None else f"{AS_EXPECTED} (known weakness not seen)"
    if weakness is not None and result.judgement.verdict == "booted":
        return f"known weakness ({weakness.reference})"
    return DIFFERS


def audit_row(result: CaseResult, handshake: Handshake) -> AuditRow:
    condition = condition_of(result.case)
    assert condition is not None, f"{result.case.id} is not a TLS audit case"
    firmware = result.details.get("firmware")
    release = firmware_release(Path(str(firmware))) if firmware else None
    expectation = result.case.expectation
    expected = CONTROL if condition.control else f"{expectation.verdict} at {expectation.phase}"
    if result.error is not None:
        cause = result.error
    elif result.judgement.verdict == "booted":
        cause = f"booted: {handshake.offered()}"
    else:
        cause = result.judgement.cause or result.judgement.summary
        if handshake.alerts:
            cause = f"{'; '.join(handshake.alerts)}; {cause}"
    return AuditRow(
        condition.name, condition.title, expected, observed_outcome(result.judgement),
        handshake.negotiated, assess(condition, result, release), " ".join(cause.split()),
    )  # fmt: skip


def format_audit(rows: Iterable[AuditRow], firmware: str) -> str:
    """condition | expected | observed | negotiated | assessment | cause, one row each."""
    header = ("condition", "expected", "observed", "negotiated", "assessment", "cause")
    lines = [header] + [
        (r.condition, r.expected, r.observed, r.negotiated, r.assessment, r.cause) for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]])
        for line in lines
    ]
    out.insert(1, "  ".join("-" * w for w in [*widths, len(header[-1])]))
    return f"TLS audit of {firmware}\n" + "\n".join(line.rstrip() for line in out) + "\n"


def audit_exit_code(rows: Sequence[AuditRow]) -> int:
    if any(r.assessment == CANNOT_JUDGE for r in rows):
        return 125
    if any(r.assessment == DIFFERS for r in rows):
        return 1
    return 0


def audit_rows(results: Sequence[CaseResult]) -> list[AuditRow]:
    return [audit_row(r, read_handshake(r.artifacts / "tcpdump" / "capture.pcap")) for r in results]


def report_rows(results: Sequence[CaseResult], rows: Sequence[AuditRow]) -> list[Mapping[str, Any]]:
    """The JSON report's rows: each case's usual row plus its audit row under ``tls_audit``."""
    return [
        {**r.to_report(), "tls_audit": row.to_dict()} for r, row in zip(results, rows, strict=True)
    ]


def run_audit(settings: Settings, *, jobs: int = 1) -> int:
    """Boot every condition on the settings' firmware, print the table; the audit's exit code."""
    from .cli import run_cases
    from .report import write_report

    temporary = settings.artifacts is None
    artifacts = settings.artifacts or Path(tempfile.mkdtemp(prefix="httpboot-tls-audit-"))
    # The conditions' protocol ranges and cipher strings are lighttpd settings.
    settings = dataclasses.replace(settings, http_server="lighttpd")
    try:
        results = run_cases(TLS_AUDIT_CASES, settings, artifacts, jobs=jobs)
    except KeyboardInterrupt:
        if temporary:  # a stop leaves nothing of ours, this folder neither
            shutil.rmtree(artifacts, ignore_errors=True)
        raise
    rows = audit_rows(results)
    if settings.report is not None:
        write_report(settings.report, report_rows(results, rows))
    firmware = str(results[0].details.get("firmware") or settings.ovmf_code or "the firmware")
    release = firmware_release(Path(firmware)) if Path(firmware).is_file() else None
    print()
    print(format_audit(rows, f"{firmware} (edk2 {release or 'release unknown'})"), end="")
    for result in results:
        if result.error:
            print(f"{result.case.id}: {result.error}", file=sys.stderr)
    print(f"artifacts: {artifacts}")
    return audit_exit_code(rows)
