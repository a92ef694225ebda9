"""DNS for the boot host name (both families) and DHCPv4 with the HTTPClient offer, from dnsmasq.

The offer follows the seed's dhcpd.conf: a client whose vendor class starts with ``HTTPClient``
gets option 60 ``HTTPClient`` back and the boot URL as the file name, plus router and name server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..network import TAP, Addressing
from ..process import ListeningSocket, Readiness
from .base import Binary, Service


@dataclass(frozen=True)
class Dnsmasq(Service):
    boot_url_v4: str
    addressing: Addressing = field(default_factory=Addressing)
    interface: str = TAP
    dhcp_v4: bool = True

    name = "dnsmasq"
    binary = Binary("dnsmasq", "dnsmasq-base")

    def render(self, workdir: Path) -> dict[str, str]:
        a = self.addressing
        hosts = f"{a.server_v4.ip} {a.hostname}\n{a.server_v6.ip} {a.hostname}\n"
        lines = [
            f"interface={self.interface}",
            "bind-dynamic",
            "no-resolv",
            "no-hosts",
            "no-poll",
            f"addn-hosts={workdir / 'hosts'}",
            "log-queries",
            "user=root",
            "group=root",
        ]
        if self.dhcp_v4:
            lines += [
                f"dhcp-range={a.pool_v4[0]},{a.pool_v4[1]},{a.server_v4.netmask},1h",
                "dhcp-authoritative",
                # dnsmasq pings an address before offering it and waits 3 s for an echo; the lab
                # has no other hosts, so that wait only delays the offer.
                "no-ping",
                f"dhcp-leasefile={workdir / 'dnsmasq.leases'}",
                "log-dhcp",
                "dhcp-vendorclass=set:http,HTTPClient",
                "dhcp-option-force=tag:http,60,HTTPClient",
                f"dhcp-boot=tag:http,{self.boot_url_v4}",
                f"dhcp-option=option:router,{a.server_v4.ip}",
                f"dhcp-option=option:dns-server,{a.server_v4.ip}",
            ]
        return {"dnsmasq.conf": "\n".join(lines) + "\n", "hosts": hosts}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [
            executable,
            "--keep-in-foreground",
            "--log-facility=-",
            f"--conf-file={workdir / 'dnsmasq.conf'}",
            "--pid-file=",
        ]

    def readiness(self) -> list[Readiness]:
        checks: list[Readiness] = [
            ListeningSocket("udp", 53),
            ListeningSocket("udp", 53, ipv6=True),
        ]
        if self.dhcp_v4:
            checks.append(ListeningSocket("udp", 67))
        return checks
