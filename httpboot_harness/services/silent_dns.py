"""A name server that is there and never answers: the "DNS does not answer" fault.

dnsmasq keeps handing out addresses (and names the server as DNS server in its offers) with its
own DNS off (``port=0``); this process holds UDP port 53 on both families, so the client's
queries reach a socket (no ICMP port unreachable that would tell the client at once) and are
read, logged and dropped. The log shows what was asked and when; the capture shows that
nothing came back. Run on its own: ``python -m httpboot_harness.services.silent_dns LOG``.
"""

from __future__ import annotations

import re
import selectors
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..process import ListeningSocket, Readiness
from .base import Binary, Service

QUERY_LOG = "queries.log"
_QUERY = re.compile(
    r"^(?P<wall>[\d.]+) dropped query (?P<name>\S+) type (?P<type>\d+) from (?P<client>\S+)$"
)


@dataclass(frozen=True)
class SilentDns(Service):
    name = "silent-dns"
    binary = Binary("python3", "python3")

    def render(self, workdir: Path) -> dict[str, str]:
        return {}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [sys.executable, "-m", __name__, str(workdir / QUERY_LOG)]

    def log_files(self, workdir: Path) -> dict[str, Path]:
        return {**super().log_files(workdir), "dns queries": workdir / QUERY_LOG}

    def readiness(self) -> list[Readiness]:
        return [ListeningSocket("udp", 53), ListeningSocket("udp", 53, ipv6=True)]


@dataclass(frozen=True)
class DroppedQuery:
    wall: float
    name: str
    rtype: str
    """A, AAAA or the type's number."""
    client: str


def parse_query_log(text: str) -> list[DroppedQuery]:
    types = {"1": "A", "28": "AAAA"}
    return [
        DroppedQuery(float(m["wall"]), m["name"], types.get(m["type"], m["type"]), m["client"])
        for line in text.splitlines()
        if (m := _QUERY.match(line.strip()))
    ]


def read_query_log(workdir: Path) -> list[DroppedQuery]:
    path = workdir / QUERY_LOG
    return parse_query_log(path.read_text(errors="replace")) if path.exists() else []


def question(packet: bytes) -> tuple[str, int]:
    """The first question's name and type of a DNS message (RFC 1035 4.1.2, no compression in a
    query's question)."""
    labels, offset = [], 12
    while offset < len(packet) and (length := packet[offset]) != 0:
        labels.append(packet[offset + 1 : offset + 1 + length].decode(errors="replace"))
        offset += 1 + length
    rtype = (
        int.from_bytes(packet[offset + 1 : offset + 3], "big") if offset + 3 <= len(packet) else 0
    )
    return ".".join(labels), rtype


def serve(log_path: Path) -> None:
    sockets = []
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, 53))
        sockets.append(sock)
    chooser = selectors.DefaultSelector()
    for sock in sockets:
        chooser.register(sock, selectors.EVENT_READ)
    print("silent-dns: reading queries on port 53, answering none", flush=True)
    with log_path.open("a", buffering=1) as log:
        while True:
            for key, _ in chooser.select():
                packet, client = key.fileobj.recvfrom(4096)  # type: ignore[union-attr]
                name, rtype = question(packet)
                log.write(f"{time.time():.3f} dropped query {name} type {rtype} from {client[0]}\n")


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
