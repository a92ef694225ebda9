"""DHCPv4 from ISC dhcpd, rendered from the seed's mixed PXE + HTTP dhcpd.conf.

The alternative to dnsmasq's DHCPv4 (dnsmasq then serves only DNS and TFTP). As in dhcpd6, each
class logs one line naming its vendor class and boot file when it answers a client: the evidence
the verdict reads beside dhcpd's own ``DHCPACK on <address> to <mac>`` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..network import TAP, Addressing
from ..process import ListeningSocket, LogContains, Readiness
from .base import Binary, Service
from .dhcpd6 import OFFER_LOG_LINE, OFFER_LOG_MARK
from .dnsmasq import Dhcp4Exchange

_ISC_DHCP4 = re.compile(
    r"(?P<message>DHCP[A-Z]+) (?:on|for) (?P<address>[0-9.]+) (?:\(\S+\) )?(?:to|from) "
    r"(?P<mac>[0-9a-f:]{17})"
)


@dataclass(frozen=True)
class Dhcpd4(Service):
    boot_url_v4: str | None
    """The HTTPClient class's file name (the URL); None: addresses only."""
    addressing: Addressing = field(default_factory=Addressing)
    name_server: bool = True
    pxe_boot_file: str | None = None

    name = "dhcpd4"
    binary = Binary("dhcpd", "isc-dhcp-server")

    def render(self, workdir: Path) -> dict[str, str]:
        a = self.addressing
        lines = []
        if self.name_server:
            lines.append(f"option domain-name-servers {a.server_v4.ip};")
        lines += [
            f"option routers {a.server_v4.ip};",
            "default-lease-time 14400;",
            "ddns-update-style none;",
            "authoritative;",
            f"subnet {a.server_v4.network.network_address} netmask {a.server_v4.netmask} {{",
            f"  range dynamic-bootp {a.pool_v4[0]} {a.pool_v4[1]};",
            "  default-lease-time 14400;",
            "  max-lease-time 172800;",
        ]
        mark = f"{OFFER_LOG_MARK} vendor-class"
        if self.pxe_boot_file is not None:
            lines += [
                '  class "pxeclients" {',
                '    match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";',
                f"    next-server {a.server_v4.ip};",
                f'    filename "{self.pxe_boot_file}";',
                f'    log(info, "{mark} PXEClient url {self.pxe_boot_file}");',
                "  }",
            ]
        lines += [
            '  class "httpclients" {',
            '    match if substring (option vendor-class-identifier, 0, 10) = "HTTPClient";',
            '    option vendor-class-identifier "HTTPClient";',
        ]
        if self.boot_url_v4 is not None:
            lines += [
                f'    filename "{self.boot_url_v4}";',
                f'    log(info, "{mark} HTTPClient url {self.boot_url_v4}");',
            ]
        lines += ["  }", "}"]
        return {"dhcpd.conf": "\n".join(lines) + "\n", "dhcpd.leases": ""}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [
            executable,
            "-4",
            "-f",
            "-d",
            "-cf",
            str(workdir / "dhcpd.conf"),
            "-lf",
            str(workdir / "dhcpd.leases"),
            "-pf",
            str(workdir / "dhcpd.pid"),
            TAP,
        ]

    def readiness(self) -> list[Readiness]:
        return [ListeningSocket("udp", 67), LogContains("Server starting service.")]


def parse_isc_dhcpd4(text: str) -> list[Dhcp4Exchange]:
    """ISC dhcpd's DHCPOFFER/DHCPACK lines, each with the offer the harness's class logged just
    before it (dhcpd logs no transaction id, so one exchange per acknowledged lease)."""
    exchanges: list[Dhcp4Exchange] = []
    messages: list[str] = []
    offer: tuple[str, str] | None = None
    for line in text.splitlines():
        if m := OFFER_LOG_LINE.search(line):
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
