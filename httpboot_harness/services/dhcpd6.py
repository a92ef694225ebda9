"""DHCPv6 from ISC dhcpd -6, in the seed's RFC 3315 vendor-class form.

On top of the seed's dhcpd6.conf, the default ("tuned") profile sends a server preference of 255,
which ends the client's wait for more Advertise messages (RFC 8415, 18.2.1), and logs one line per
answered client that names the vendor class and boot URL, which is the evidence the verdict reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..network import TAP, Addressing
from ..process import ListeningSocket, LogContains, Readiness
from .base import Binary, Service

OFFER_LOG_MARK = "httpboot-offer"


@dataclass(frozen=True)
class Dhcpd6(Service):
    boot_url_v6: str
    addressing: Addressing = field(default_factory=Addressing)
    interface: str = TAP
    preference: int | None = 255

    name = "dhcpd6"
    binary = Binary("dhcpd", "isc-dhcp-server")

    def render(self, workdir: Path) -> dict[str, str]:
        a = self.addressing
        lines = [
            "option dhcp6.bootfile-url code 59 = string;",
            "option dhcp6.vendor-class code 16 = {integer 32, integer 16, string};",
            "default-lease-time 14400;",
            "max-lease-time 172800;",
        ]
        if self.preference is not None:
            lines.append(f"option dhcp6.preference {self.preference};")
        lines += [
            f"subnet6 {a.server_v6.network} {{",
            f"        range6 {a.pool_v6[0]} {a.pool_v6[1]};",
            f'        option dhcp6.bootfile-url "{self.boot_url_v6}";',
            f"        option dhcp6.name-servers {a.server_v6.ip};",
            '        option dhcp6.vendor-class 0 10 "HTTPClient";',
            f'        log(info, concat("{OFFER_LOG_MARK} vendor-class HTTPClient url ",'
            f' "{self.boot_url_v6}"));',
            "}",
        ]
        return {"dhcpd6.conf": "\n".join(lines) + "\n", "dhcpd6.leases": ""}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [
            executable,
            "-6",
            "-f",
            "-d",
            "-cf",
            str(workdir / "dhcpd6.conf"),
            "-lf",
            str(workdir / "dhcpd6.leases"),
            "-pf",
            str(workdir / "dhcpd6.pid"),
            self.interface,
        ]

    def readiness(self) -> list[Readiness]:
        return [ListeningSocket("udp", 547, ipv6=True), LogContains("Server starting service.")]
