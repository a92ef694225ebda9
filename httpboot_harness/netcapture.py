"""Read a case's packet capture into dated network events (dpkt parses the packets).

Each event is one thing a person reading the capture in Wireshark would point at: a DHCP message
and whether it carried the HTTPClient class, a router advert, duplicate address detection, a DNS
question and its answer, a TCP connect or refusal, a TLS handshake message or alert, an HTTP
request and response, and the last byte of the download.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dpkt

from .network import LINK_LOCAL_V6

if TYPE_CHECKING:
    from .waiting import Deadline

DHCP4_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK",
               7: "RELEASE", 8: "INFORM"}  # fmt: skip
DHCP6_TYPES = {1: "SOLICIT", 2: "ADVERTISE", 3: "REQUEST", 4: "CONFIRM", 5: "RENEW", 6: "REBIND",
               7: "REPLY", 8: "RELEASE", 9: "DECLINE", 11: "INFORMATION-REQUEST"}  # fmt: skip
DHCP6_VENDOR_CLASS, DHCP6_BOOTFILE_URL = 16, 59
DHCP4_VENDOR_CLASS, DHCP4_MESSAGE_TYPE = 60, 53
TLS_HANDSHAKE, TLS_ALERT = 22, 21
TLS_HANDSHAKE_TYPES = {1: "ClientHello", 2: "ServerHello"}
HTTP_PORTS = (80, 443)


@dataclass(frozen=True)
class NetEvent:
    seconds: float
    """Capture time relative to the origin given to :func:`read_capture`."""
    kind: str
    """dhcp4 | dhcp6 | ra | dad | dns | tcp | tls | http | download"""
    what: str
    detail: str = ""


DAD_SECONDS = 1.1
"""RFC 4861's default RetransTimer (1 s) for one detection probe, and a margin."""


def wait_for_link_local_dad(
    capture: Path,
    pump: Callable[[float], object],
    deadline: Deadline,
    *,
    look_seconds: float = 3.0,
    interface_id: str = "",
) -> bool:
    """Wait until the capture shows a client's link-local duplicate address detection began one
    RetransTimer ago (``interface_id``: only for the address ending so, one guest of several),
    feeding ``pump`` meanwhile; False when none was seen within ``look_seconds``."""
    look = deadline.sooner(look_seconds)
    while not look.expired():
        started = [
            e.seconds
            for e in read_capture(capture, origin_wall=0.0)
            if e.kind == "dad" and e.detail.startswith("for fe80::")
            and e.detail.endswith(interface_id)
        ]  # fmt: skip
        if started:
            done_at = started[0] + DAD_SECONDS
            while time.time() < done_at and not deadline.expired():
                pump(min(0.05, done_at - time.time()))
            return True
        pump(0.05)
    return False


def read_capture(path: Path, origin_wall: float) -> list[NetEvent]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    events: list[NetEvent] = []
    last_data: dict[tuple[str, int, int], float] = {}
    streams = _Streams()
    with path.open("rb") as handle:
        try:
            reader = dpkt.pcap.Reader(handle)
            packets = list(reader)
        except (ValueError, dpkt.dpkt.NeedData):
            return []
    for wall, frame in packets:
        seconds = wall - origin_wall
        try:
            eth = dpkt.ethernet.Ethernet(frame)
        except dpkt.dpkt.UnpackError:
            continue
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
            continue
        transport = ip.data
        if isinstance(transport, dpkt.udp.UDP):
            events += _udp(seconds, ip, transport)
        elif isinstance(transport, dpkt.tcp.TCP):
            events += _tcp(seconds, ip, transport, last_data)
            events += streams.read(seconds, ip, transport)
        elif isinstance(transport, dpkt.icmp6.ICMP6):
            events += _icmp6(seconds, ip, transport)
    for (client, port, _), seconds in last_data.items():
        events.append(NetEvent(seconds, "download", "last byte", f"from port {port} to {client}"))
    events += unanswered_solicitations(events)
    return sorted(events, key=lambda e: e.seconds)


def _address(ip: dpkt.ip.IP | dpkt.ip6.IP6, field: str) -> str:
    import ipaddress

    return str(ipaddress.ip_address(getattr(ip, field)))


def _udp(seconds: float, ip: object, udp: dpkt.udp.UDP) -> list[NetEvent]:
    ports = {udp.sport, udp.dport}
    payload = bytes(udp.data)
    if ports & {67, 68}:
        return [_dhcp4(seconds, payload)]
    if ports & {546, 547} and payload:
        return [_dhcp6(seconds, payload)]
    if 53 in ports:
        return _dns(seconds, payload)
    return []


def _dhcp4(seconds: float, payload: bytes) -> NetEvent:
    try:
        message = dpkt.dhcp.DHCP(payload)
    except dpkt.dpkt.UnpackError:
        return NetEvent(seconds, "dhcp4", "malformed DHCPv4")
    options = dict(message.opts)
    kind = DHCP4_TYPES.get(options.get(DHCP4_MESSAGE_TYPE, b"\0")[0], "unknown")
    vendor = options.get(DHCP4_VENDOR_CLASS, b"").decode(errors="replace")
    boot_bytes = message.file.rstrip(b"\0") or options.get(67, b"").rstrip(b"\0")
    boot = boot_bytes.decode(errors="replace")
    detail = f"vendor class {vendor or 'none'}"
    if kind in ("OFFER", "ACK"):
        detail += f", boot file {boot or 'none'}"
    return NetEvent(seconds, "dhcp4", f"DHCPv4 {kind}", detail)


def dhcp6_options(payload: bytes) -> dict[int, bytes]:
    """Top-level DHCPv6 options after the 4-byte message header (type and transaction id)."""
    options: dict[int, bytes] = {}
    offset = 4
    while offset + 4 <= len(payload):
        code, length = struct.unpack_from("!HH", payload, offset)
        options[code] = payload[offset + 4 : offset + 4 + length]
        offset += 4 + length
    return options


def _dhcp6(seconds: float, payload: bytes) -> NetEvent:
    kind = DHCP6_TYPES.get(payload[0], f"type {payload[0]}")
    options = dhcp6_options(payload)
    vendor = options.get(DHCP6_VENDOR_CLASS, b"")
    # enterprise number (4 bytes), then length-prefixed class data; keep the readable part.
    vendor_text = vendor[6:].decode(errors="replace") if len(vendor) > 6 else "none"
    detail = f"vendor class {vendor_text}"
    if DHCP6_BOOTFILE_URL in options:
        detail += f", boot URL {options[DHCP6_BOOTFILE_URL].decode(errors='replace')}"
    return NetEvent(seconds, "dhcp6", f"DHCPv6 {kind}", detail)


def _dns(seconds: float, payload: bytes) -> list[NetEvent]:
    try:
        message = dpkt.dns.DNS(payload)
    except (dpkt.dpkt.UnpackError, IndexError):
        return []
    questions = ", ".join(
        f"{'AAAA' if q.type == dpkt.dns.DNS_AAAA else 'A' if q.type == dpkt.dns.DNS_A else q.type} "
        f"{q.name}"
        for q in message.qd
    )
    if message.qr == dpkt.dns.DNS_Q:
        return [NetEvent(seconds, "dns", "DNS query", questions)]
    rcode = message.rcode
    if rcode == dpkt.dns.DNS_RCODE_NXDOMAIN:
        return [NetEvent(seconds, "dns", "DNS answer NXDOMAIN", questions)]
    return [NetEvent(seconds, "dns", "DNS answer", f"{questions}: {len(message.an)} record(s)")]


def _icmp6(seconds: float, ip: dpkt.ip6.IP6, icmp: dpkt.icmp6.ICMP6) -> list[NetEvent]:
    if icmp.type == 133:
        return [NetEvent(seconds, "ra", "router solicitation", f"from {_address(ip, 'src')}")]
    if icmp.type == 134:
        return [NetEvent(seconds, "ra", "router advertisement", f"to {_address(ip, 'dst')}")]
    if icmp.type == 135 and _address(ip, "src") == "::":
        target = _address_bytes(bytes(icmp.data)[4:20])
        return [NetEvent(seconds, "dad", "duplicate address detection", f"for {target}")]
    return []


def _address_bytes(raw: bytes) -> str:
    import ipaddress

    return str(ipaddress.ip_address(raw)) if len(raw) == 16 else "?"


def _tcp(
    seconds: float,
    ip: dpkt.ip.IP | dpkt.ip6.IP6,
    tcp: dpkt.tcp.TCP,
    last_data: dict[tuple[str, int, int], float],
) -> list[NetEvent]:
    if tcp.dport not in HTTP_PORTS and tcp.sport not in HTTP_PORTS:
        return []
    server_port = tcp.dport if tcp.dport in HTTP_PORTS else tcp.sport
    from_server = tcp.sport == server_port
    flags = tcp.flags
    events: list[NetEvent] = []
    if flags & dpkt.tcp.TH_SYN and not flags & dpkt.tcp.TH_ACK:
        events.append(NetEvent(seconds, "tcp", "TCP SYN", f"to port {server_port}"))
    elif flags & dpkt.tcp.TH_SYN and flags & dpkt.tcp.TH_ACK:
        events.append(NetEvent(seconds, "tcp", "TCP connected", f"port {server_port}"))
    elif flags & dpkt.tcp.TH_RST and from_server and (
        _address(ip, "dst"), server_port, tcp.dport) not in last_data:  # fmt: skip
        # (a reset after data is no refusal: _Streams names it)
        events.append(NetEvent(seconds, "tcp", "TCP refused", f"port {server_port} sent RST"))
    payload = bytes(tcp.data)
    if not payload:
        return events
    if from_server:
        last_data[(_address(ip, "dst"), server_port, tcp.dport)] = seconds
    if server_port == 443:
        events += _tls(seconds, payload, from_server)
    elif payload.startswith((b"GET ", b"HEAD ")):
        line = payload.split(b"\r\n", 1)[0].decode(errors="replace")
        events.append(NetEvent(seconds, "http", line.split(" ", 1)[0], line))
    elif payload.startswith(b"HTTP/1."):
        line = payload.split(b"\r\n", 1)[0].decode(errors="replace")
        events.append(NetEvent(seconds, "http", f"HTTP {line.split(' ', 2)[1]}", line))
    return events


def _tls(seconds: float, payload: bytes, from_server: bool) -> list[NetEvent]:
    side = "server" if from_server else "client"
    if len(payload) >= 6 and payload[0] == TLS_HANDSHAKE:
        # Encrypted handshake records look alike later on; only the hellos are read.
        wanted = 2 if from_server else 1
        if payload[5] == wanted:
            name = TLS_HANDSHAKE_TYPES[wanted]
            return [NetEvent(seconds, "tls", f"TLS {name}", f"from the {side}")]
    # Only a two-byte alert record is cleartext: an encrypted alert's bytes say nothing.
    if len(payload) >= 7 and payload[0] == TLS_ALERT and payload[3:5] == b"\x00\x02":
        return [NetEvent(seconds, "tls", "TLS alert", f"from the {side}, code {payload[6]}")]
    return []


# -- how an HTTP connection ended, and what the responses said ----------------------------------
class _Streams:
    """Per HTTP connection: the server's stream bytes (by sequence number, so retransmissions
    count once), who closed it and how; the Content-Type and Location of each response."""

    def __init__(self) -> None:
        self.first_seq: dict[tuple[str, int], int] = {}
        self.sent: dict[tuple[str, int], int] = {}
        self.last_data: dict[tuple[str, int], float] = {}
        self.closed: set[tuple[str, int, str]] = set()
        self.acked: dict[tuple[str, int], int] = {}

    def read(
        self, seconds: float, ip: dpkt.ip.IP | dpkt.ip6.IP6, tcp: dpkt.tcp.TCP
    ) -> list[NetEvent]:
        if tcp.dport not in HTTP_PORTS and tcp.sport not in HTTP_PORTS:
            return []
        from_server = tcp.sport in HTTP_PORTS
        port = tcp.sport if from_server else tcp.dport
        client = _address(ip, "dst" if from_server else "src")
        key = (client, tcp.dport if from_server else tcp.sport)
        flags = tcp.flags
        payload = bytes(tcp.data)
        events: list[NetEvent] = []
        if from_server and flags & dpkt.tcp.TH_SYN:
            self.first_seq[key] = tcp.seq + 1
        elif from_server and payload and key in self.first_seq:
            end = (tcp.seq + len(payload) - self.first_seq[key]) % 2**32
            self.sent[key] = max(self.sent.get(key, 0), end)
            self.last_data[key] = seconds
            if port == HTTP_PORTS[0] and payload.startswith(b"HTTP/1."):
                events += _response_headers(seconds, payload)
        if not from_server and flags & dpkt.tcp.TH_ACK and key in self.first_seq:
            acked = (tcp.ack - self.first_seq[key]) % 2**32
            if acked < 2**31:  # (an ACK of the server's FIN counts one more: not a byte)
                acked = min(acked, self.sent.get(key, 0))
                self.acked[key] = max(self.acked.get(key, 0), acked)
        side = "server" if from_server else "client"
        how = "reset" if flags & dpkt.tcp.TH_RST else "FIN" if flags & dpkt.tcp.TH_FIN else None
        if how is None or not self.sent.get(key) or (*key, side) in self.closed:
            return events
        self.closed.add((*key, side))
        detail = f"port {port}, client port {key[1]}, after {self.sent[key]} stream bytes"
        if not from_server:
            quiet = seconds - self.last_data[key]
            detail += (
                f", {self.acked.get(key, 0)} acknowledged, {quiet:.3f} s after the server's "
                "last byte"
            )
        events.append(NetEvent(seconds, "tcp", f"TCP {how} from the {side}", detail))
        return events


def _response_headers(seconds: float, payload: bytes) -> list[NetEvent]:
    head = payload.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")[1:]
    events = []
    for line in head:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("content-type", "location"):
            label = "Content-Type" if name.strip().lower() == "content-type" else "Location"
            events.append(NetEvent(seconds, "header", f"response {label}", value.strip()))
    return events


def unanswered_solicitations(
    events: list[NetEvent], server: str = str(LINK_LOCAL_V6.ip)
) -> list[NetEvent]:
    """The client's wait for a router that never advertised, as one event.

    When the client solicited routers (the server's own kernel solicits too: not counted) and
    no router advertisement was ever on the wire, the event is dated at the client's next step
    after its last solicitation (duplicate address detection of a global address, a DNS query,
    a TCP connection) and says how long it waited, from its DHCPv6 reply if it had one before.
    """
    asked = [e for e in events if e.what == "router solicitation" and e.detail != f"from {server}"]
    if not asked or any(e.what == "router advertisement" for e in events):
        return []
    first, last = asked[0].seconds, asked[-1].seconds
    replies = [e.seconds for e in events if e.what == "DHCPv6 REPLY" and e.seconds <= first]
    since = replies[-1] if replies else first
    steps = [
        e for e in events
        if e.seconds > last and (
            (e.kind == "dad" and not e.detail.startswith("for fe80:"))
            or e.what in ("DNS query", "TCP SYN")
        )
    ]  # fmt: skip
    if not steps:
        detail = f"{len(asked)} router solicitation(s) from the client unanswered"
        return [NetEvent(last, "ra", "no router advert", detail)]
    step = steps[0]
    detail = (
        f"{len(asked)} router solicitation(s) from the client unanswered; it waited "
        f"{step.seconds - since:.1f} s from its {'DHCPv6 reply' if replies else 'first one'} "
        f"to its next step ({step.what} {step.detail})"
    )
    return [NetEvent(step.seconds, "ra", "no router advert", detail)]
