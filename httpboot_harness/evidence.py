"""Turn what the servers logged, the console showed and QMP reported into a verdict.

Everything here is pure: parsers take text, the judge takes parsed records, so all of it is tested
against recorded runs in fixtures/. A case passes only when every link of the chain is proven:

    boot-entry -> dhcp -> dns -> connect (http) | tls (https) -> download -> image -> poweroff

and the verdict of a case that stops early names the first link that is missing.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

from .cases import Case, Verdict
from .netcapture import NetEvent

PHASES = (
    "firmware", "boot-entry", "dhcp", "dns", "connect", "tls", "download", "image", "poweroff",
)  # fmt: skip

_ACCESS = re.compile(
    r'^(?P<client>\S+) (?P<port>\d+) "(?P<method>[A-Z]+) (?P<path>\S+) (?P<protocol>[^"]+)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<agent>[^"]*)"$'
)
_DNSMASQ_DHCP = re.compile(
    r"dnsmasq-dhcp\[\d+\]: (?P<xid>\d+) (?P<message>DHCP[A-Z]+)\((?P<iface>[^)]+)\) "
    r"(?P<address>[0-9.]+) (?P<mac>[0-9a-f:]{17})"
)
_DNSMASQ_SENT = re.compile(
    r"dnsmasq-dhcp\[\d+\]: (?P<xid>\d+) sent size: *\d+ option: *(?P<code>\d+) \S+ +(?P<value>.*)$"
)
_DNSMASQ_QUERY = re.compile(
    r"dnsmasq\[\d+\]: query\[(?P<type>A|AAAA)\] (?P<name>\S+) from (?P<client>\S+)"
)
_DHCPD6_REPLY = re.compile(
    r"(?P<kind>Advertise|Reply) NA: address (?P<address>[0-9a-f:]+) to client with duid"
)
_DHCPD6_OFFER = re.compile(r"httpboot-offer vendor-class (?P<vendor>\S+) url (?P<url>\S+)")
_ISC_DHCP4 = re.compile(
    r"(?P<message>DHCP[A-Z]+) (?:on|for) (?P<address>[0-9.]+) (?:\(\S+\) )?(?:to|from) "
    r"(?P<mac>[0-9a-f:]{17})"
)
_TFTP_SENT = re.compile(r"dnsmasq-tftp\[\d+\]: sent (?P<path>\S+) to (?P<client>\S+)")
_STATION = re.compile(r"Station IP(?:v6)? address is (?P<address>[0-9a-fA-F:.]+)")
_FILE_SIZE = re.compile(r"File Size: (?P<size>\d+) Bytes")
_FIRMWARE_ERROR = re.compile(r"Error: |[Ff]ailed")
NBP_OK = "NBP file downloaded successfully."
_HTTPCLIENT_HEX = "48:54:54:50:43:6c:69:65:6e:74"  # "HTTPClient"


@dataclass(frozen=True)
class AccessRecord:
    client: str
    port: int
    method: str
    path: str
    protocol: str
    status: int
    bytes: int
    agent: str


def parse_access_log(text: str) -> list[AccessRecord]:
    records = []
    for line in text.splitlines():
        m = _ACCESS.match(line.strip())
        if m:
            records.append(
                AccessRecord(
                    client=m["client"],
                    port=int(m["port"]),
                    method=m["method"],
                    path=m["path"],
                    protocol=m["protocol"],
                    status=int(m["status"]),
                    bytes=0 if m["bytes"] == "-" else int(m["bytes"]),
                    agent=m["agent"],
                )
            )
    return records


@dataclass(frozen=True)
class Dhcp4Exchange:
    xid: str
    messages: tuple[str, ...]
    address: str
    mac: str
    vendor_class_sent: bool
    bootfile: str | None


def parse_dnsmasq_dhcp(text: str) -> list[Dhcp4Exchange]:
    """Group dnsmasq's --log-dhcp lines by transaction id."""
    messages: dict[str, list[tuple[str, str, str]]] = {}
    vendor: dict[str, bool] = {}
    bootfile: dict[str, str] = {}
    for line in text.splitlines():
        if m := _DNSMASQ_DHCP.search(line):
            messages.setdefault(m["xid"], []).append((m["message"], m["address"], m["mac"]))
        elif m := _DNSMASQ_SENT.search(line):
            if m["code"] == "60" and _HTTPCLIENT_HEX in m["value"].lower():
                vendor[m["xid"]] = True
            if m["code"] == "67":
                bootfile[m["xid"]] = m["value"].strip()
    exchanges = []
    for xid, seen in messages.items():
        exchanges.append(
            Dhcp4Exchange(
                xid=xid,
                messages=tuple(kind for kind, _, _ in seen),
                address=seen[-1][1],
                mac=seen[-1][2],
                vendor_class_sent=vendor.get(xid, False),
                bootfile=bootfile.get(xid),
            )
        )
    return exchanges


def parse_isc_dhcpd4(text: str) -> list[Dhcp4Exchange]:
    """ISC dhcpd's DHCPOFFER/DHCPACK lines, each with the offer the harness's class logged just
    before it (dhcpd logs no transaction id, so one exchange per acknowledged lease)."""
    exchanges: list[Dhcp4Exchange] = []
    messages: list[str] = []
    offer: tuple[str, str] | None = None
    for line in text.splitlines():
        if m := _DHCPD6_OFFER.search(line):
            offer = (m["vendor"], m["url"])
        elif m := _ISC_DHCP4.search(line):
            messages.append(m["message"])
            if m["message"] == "DHCPACK":
                exchanges.append(
                    Dhcp4Exchange(
                        xid=f"isc-{len(exchanges)}",
                        messages=tuple(messages),
                        address=m["address"],
                        mac=m["mac"],
                        vendor_class_sent=offer is not None and offer[0] == "HTTPClient",
                        bootfile=offer[1] if offer else None,
                    )
                )
                messages, offer = [], None
    return exchanges


def parse_dns_queries(text: str) -> list[tuple[str, str, str]]:
    """(record type, name, client) for each query dnsmasq logged."""
    return [(m["type"], m["name"], m["client"]) for m in _DNSMASQ_QUERY.finditer(text)]


@dataclass(frozen=True)
class TftpRecord:
    path: str
    """The file's path on the server (dnsmasq logs the full path under its tftp-root)."""
    client: str


def parse_tftp_log(text: str) -> list[TftpRecord]:
    """Files dnsmasq's TFTP server sent completely, and to whom."""
    return [TftpRecord(m["path"], m["client"]) for m in _TFTP_SENT.finditer(text)]


@dataclass(frozen=True)
class Dhcp6Log:
    replies: tuple[tuple[str, str], ...]
    """(Advertise|Reply, leased address)"""
    offers: tuple[tuple[str, str], ...]
    """(vendor class, boot URL) from the harness's own log statement in dhcpd6.conf"""


def parse_dhcpd6(text: str) -> Dhcp6Log:
    return Dhcp6Log(
        replies=tuple((m["kind"], m["address"]) for m in _DHCPD6_REPLY.finditer(text)),
        offers=tuple((m["vendor"], m["url"]) for m in _DHCPD6_OFFER.finditer(text)),
    )


@dataclass(frozen=True)
class ConsoleFacts:
    station_address: str | None
    file_size: int | None
    download_complete: bool
    nbp_downloaded: bool
    proof_seen: bool
    firmware_errors: tuple[str, ...]


def parse_console(plain: str, proof_line: str) -> ConsoleFacts:
    station = _STATION.search(plain)
    size = _FILE_SIZE.search(plain)
    errors = tuple(
        dict.fromkeys(line.strip() for line in plain.splitlines() if _FIRMWARE_ERROR.search(line))
    )
    return ConsoleFacts(
        station_address=station["address"] if station else None,
        file_size=int(size["size"]) if size else None,
        download_complete="Downloading...100%" in plain,
        nbp_downloaded=NBP_OK in plain,
        proof_seen=proof_line in plain,
        firmware_errors=errors,
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

    @classmethod
    def from_case_dir(cls, case_dir: Path) -> ServerLogs:
        def read(relative: str) -> str:
            path = case_dir / relative
            return path.read_text(errors="replace") if path.exists() else ""

        dnsmasq = read("dnsmasq/dnsmasq.log")
        http_servers = ("lighttpd", "apache2")  # whichever ran this case left its logs
        return cls(
            access=[r for s in http_servers for r in parse_access_log(read(f"{s}/access.log"))],
            dhcp4=parse_dnsmasq_dhcp(dnsmasq) + parse_isc_dhcpd4(read("dhcpd4/dhcpd4.log")),
            dhcp6=parse_dhcpd6(read("dhcpd6/dhcpd6.log")),
            dns_queries=parse_dns_queries(dnsmasq),
            tls_errors=[
                line for s in http_servers for line in tls_error_lines(read(f"{s}/error.log"))
            ],
            tftp=parse_tftp_log(dnsmasq),
        )


@dataclass
class Evidence:
    """Everything gathered for one case, already parsed."""

    case: Case
    image_path: str
    image_size: int
    boot_url: str
    proof_line: str
    reached_boot_entry: bool
    console: ConsoleFacts
    servers: ServerLogs
    shutdown_event: dict[str, Any] | None
    firmware_output: bool = True
    network: list[NetEvent] | None = None
    """What the capture saw; None when there was no capture (recorded runs without one)."""

    def net(self, prefix: str) -> list[NetEvent]:
        return [e for e in self.network or [] if e.what.startswith(prefix)]

    @property
    def access(self) -> list[AccessRecord]:
        return self.servers.access


@dataclass
class Judgement:
    verdict: Verdict
    phase: str | None
    summary: str
    proven: dict[str, str] = field(default_factory=dict)
    """Each phase that was proven, with the evidence in one line."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _family_of(address: str) -> str | None:
    try:
        parsed = ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return "ipv4"
    return "ipv4" if isinstance(parsed, IPv4Address) else "ipv6"


def phases_for(case: Case) -> tuple[str, ...]:
    """The links a booted case must prove, in order: TFTP has no connect or TLS step, HTTP a
    TCP connect, HTTPS a TLS handshake (which includes the connect)."""
    skipped = {"pxe": {"connect", "tls"}, "http": {"tls"}, "https": {"connect"}}
    key = "pxe" if case.boot == "pxe" else case.scheme
    return tuple(p for p in PHASES if p not in skipped[key])


def judge(ev: Evidence) -> Judgement:
    """Walk the chain of phases; the first one without evidence decides the verdict."""
    case = ev.case
    proven: dict[str, str] = {}
    checks: list[tuple[str, str | None]] = []
    checks.append(("firmware", "the firmware drew its screens" if ev.firmware_output else None))
    checks.append(
        (
            "boot-entry",
            _entry_note(case) if ev.reached_boot_entry else None,
        )
    )
    checks.append(("dhcp", _dhcp_proof(ev)))
    checks.append(("dns", _dns_proof(ev)))
    if case.boot == "pxe":
        checks.append(("download", _tftp_proof(ev)))
    else:
        checks += _http_proofs(ev)
    checks.append(("image", f"console: {ev.proof_line!r}" if ev.console.proof_seen else None))
    event = ev.shutdown_event
    poweroff = None
    if event and event.get("guest") and event.get("reason") == "guest-shutdown":
        poweroff = "QMP SHUTDOWN (guest=true, reason=guest-shutdown)"
    checks.append(("poweroff", poweroff))

    for phase, proof in checks:
        if proof is None:
            return _failed_at(phase, ev, proven)
        proven[phase] = proof
    return Judgement("booted", None, "the firmware downloaded the image and ran it", proven)


def _entry_note(case: Case) -> str:
    if case.url_source == "preset":
        return "BootNext Boot0099 with the boot URI, written by virt-fw-vars --set-boot-uri"
    if case.url_source == "uri":
        return f"typed the Boot URI in HTTP Boot Configuration, selected {case.boot_entry_label!r}"
    return f"selected {case.boot_entry_label!r} in the Boot Manager"


def _http_proofs(ev: Evidence) -> list[tuple[str, str | None]]:
    """tls (for https) and download: the HTTP server's access log and the console agree."""
    case = ev.case
    https_port, http_port = 443, 80
    wanted_port = https_port if case.scheme == "https" else http_port
    checks: list[tuple[str, str | None]] = []
    requests_on_port = [
        r for r in ev.access if r.port == wanted_port and _family_of(r.client) == case.family
    ]
    if case.scheme == "http":
        # For https the "tls" phase below covers the connection and the handshake.
        checks.append(("connect", _connect_proof(ev, wanted_port, requests_on_port)))
    if case.scheme == "https":
        tls = (
            f"{len(requests_on_port)} request(s) over TLS on port {https_port}"
            if requests_on_port
            else None
        )
        checks.append(("tls", tls))
    gets = [
        r
        for r in requests_on_port
        if r.method == "GET" and r.path == ev.image_path and r.status == 200
    ]
    full = [r for r in gets if r.bytes == ev.image_size]
    download = None
    if full and ev.console.download_complete:
        r = full[0]
        download = (
            f"GET {r.path} 200 {r.bytes} bytes to {r.client} on port {r.port} ({r.agent}); "
            "console: Downloading...100%"
        )
    checks.append(("download", download))
    return checks


def _tftp_proof(ev: Evidence) -> str | None:
    """PXE: the TFTP server sent the whole file to the client, and the firmware said so."""
    wanted = "/" + ev.image_path.lstrip("/")
    if not ev.console.nbp_downloaded:
        return None
    for record in ev.servers.tftp:
        if record.path.endswith(wanted) and _family_of(record.client) == ev.case.family:
            return f"dnsmasq-tftp: sent {record.path} to {record.client}; console: {NBP_OK}"
    return None


def _dhcp_proof(ev: Evidence) -> str | None:
    case = ev.case
    station = ev.console.station_address
    if case.family == "ipv4":
        for ex in ev.servers.dhcp4:
            if "DHCPACK" not in ex.messages or station not in (None, ex.address):
                continue
            if case.url_source != "dhcp" and ex.bootfile is None:
                return f"DHCPACK {ex.address} to {ex.mac}: an address and no boot file"
            if case.boot == "pxe" and ex.bootfile == ev.boot_url:
                return f"DHCPACK {ex.address} to {ex.mac} with PXE boot file {ex.bootfile}"
            if case.boot == "http" and ex.vendor_class_sent and ex.bootfile == ev.boot_url:
                return (
                    f"DHCPACK {ex.address} to {ex.mac} with option 60 HTTPClient "
                    f"and boot file {ex.bootfile}"
                )
        return None
    replies = [addr for kind, addr in ev.servers.dhcp6.replies if kind == "Reply"]
    if replies and case.url_source != "dhcp" and not ev.servers.dhcp6.offers:
        return f"dhcpd6: Reply NA {replies[-1]}: an address and no boot URL"
    if ev.network is not None and not any(
        case.vendor_class in e.detail for e in ev.net("DHCPv6 REQUEST")
    ):
        # The firmware's IPv6 stack also asks for an address on its own (router adverts say
        # "managed"); only a Request in the boot client's class shows it took the boot offer.
        return None
    offers = [url for vendor, url in ev.servers.dhcp6.offers if vendor == case.vendor_class]
    if replies and ev.boot_url in offers:
        return (
            f"dhcpd6: Reply NA {replies[-1]} with {case.vendor_class} offer {ev.boot_url} "
            f"({case.dhcp6_vendor} vendor-class form)"
        )
    return None


def _connect_proof(ev: Evidence, port: int, requests: list[AccessRecord]) -> str | None:
    if ev.network is None:  # no capture: a logged request shows the connection was made
        return f"the server logged {len(requests)} request(s) on port {port}" if requests else None
    connected = [e for e in ev.net("TCP connected") if e.detail == f"port {port}"]
    return f"TCP connection to port {port} accepted" if connected else None


def _dns_proof(ev: Evidence) -> str | None:
    wanted = "A" if ev.case.family == "ipv4" else "AAAA"
    if "://" not in ev.boot_url:
        return "no DNS needed: the PXE offer names the TFTP server by address"
    host = ev.boot_url.split("/")[2]
    if _family_of(host) is not None:
        asked = [q for q in ev.servers.dns_queries if q[0] == wanted]
        if asked:
            return None  # the URL named an address, yet the client resolved a name
        return f"no DNS needed: the URL names {host}, and no {wanted} query was logged"
    if ev.network is not None:
        # A query alone proves nothing: the answer must carry a record.
        answered = [
            e
            for e in ev.net("DNS answer")
            if e.detail.startswith(f"{wanted} {host}:") and not e.detail.endswith(" 0 record(s)")
        ]
        return f"DNS answer {answered[0].detail}" if answered else None
    for rtype, name, client in ev.servers.dns_queries:
        if rtype == wanted and name == host:
            return f"dnsmasq answered {rtype} {name} for {client}"
    return None


def _failed_at(phase: str, ev: Evidence, proven: dict[str, str]) -> Judgement:
    """A case that stopped at ``phase``: refused when the firmware said so, failed otherwise."""
    errors = list(ev.console.firmware_errors)
    detail = _explain(phase, ev)
    if errors and not ev.console.proof_seen:
        summary = f"the firmware refused at {phase}: {' / '.join(errors)}; {detail}"
        return Judgement("refused", phase, summary, proven)
    return Judgement("failed", phase, f"no evidence of {phase}: {detail}", proven)


def _explain(phase: str, ev: Evidence) -> str:
    """Name the cause of a stop from the server logs and the capture, not the console alone."""
    family_dhcp = "DHCPv4" if ev.case.family == "ipv4" else "DHCPv6"
    if phase == "dhcp":
        answers = ev.net(f"{family_dhcp} OFFER") + ev.net(f"{family_dhcp} ADVERTISE")
        if ev.network is not None and not ev.net(family_dhcp):
            return f"the client sent no {family_dhcp} message"
        if ev.network is not None and not answers:
            return f"no {family_dhcp} answer: the client asked, no server offered"
        if answers and not any("HTTPClient" in e.detail for e in answers):
            return f"{family_dhcp} answer without the HTTPClient class, so the firmware ignored it"
        return "no HTTPClient offer/reply for this family in the DHCP server's log"
    if phase == "dns":
        if ev.net("DNS answer NXDOMAIN"):
            return f"DNS: the name is unknown ({ev.net('DNS answer NXDOMAIN')[0].detail}: NXDOMAIN)"
        if ev.net("DNS query") and not ev.net("DNS answer"):
            return "DNS: the query got no answer"
        return "no DNS query for the boot host was answered"
    if phase == "connect":
        if ev.net("TCP refused"):
            return f"TCP connection refused ({ev.net('TCP refused')[0].detail})"
        if ev.net("TCP SYN"):
            return "TCP SYN sent, no answer"
        return "the firmware never opened a TCP connection"
    if phase == "tls":
        alerts = ev.net("TLS alert")
        words = "the HTTPS server logged: " + " | ".join(ev.servers.tls_errors[-2:])
        if alerts:
            return f"TLS alert ({alerts[0].detail}); " + (words if ev.servers.tls_errors else "")
        if ev.servers.tls_errors:
            return words
        if ev.network is not None and not ev.net("TCP SYN"):
            return "the firmware did not even connect: no CA certificates enrolled, or TLS off"
        return "no TLS handshake completed"
    if phase == "download":
        statuses = [e.detail for e in ev.net("HTTP ")]
        got = [f"{r.method} {r.path} {r.status} {r.bytes}" for r in ev.access]
        if any(r.status == 404 for r in ev.access):
            return f"HTTP 404: the server has no {ev.image_path} (server saw {got})"
        return (
            f"expected GET {ev.image_path} 200 {ev.image_size} bytes; server saw {got or 'none'}"
            + (f"; responses {statuses}" if statuses else "")
        )
    if phase == "poweroff":
        return f"last QMP shutdown event: {ev.shutdown_event}"
    return "see the console transcript and server logs in the artifacts"


def tls_error_lines(error_log: str) -> list[str]:
    """lighttpd's error-log lines about failed TLS handshakes."""
    return [
        line.strip()
        for line in error_log.splitlines()
        if "SSL" in line and ("alert" in line or "error" in line.lower())
    ]


def meets_expectation(case: Case, judgement: Judgement) -> bool:
    """The verdict is the expected one, and so is the failed phase where the case names one."""
    if judgement.verdict != case.expected:
        return False
    return case.expected_phase is None or judgement.phase == case.expected_phase
