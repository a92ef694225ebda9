"""DHCPv6 from ISC dhcpd -6, in each of the seed's vendor-class configurations.

- ``rfc3315``: ``vendor-class code 16 = {integer 32, integer 16, string}``, ``0 10 "HTTPClient"``.
- ``string``: the seed's form for older HTTP boot code, ``code 16 = string``, ``"HTTPClient"``.
- ``classes``: classes matching the client's vendor class data at offset 6 (after the enterprise
  number and the data length): PXEClient gets a tftp:// URL, HTTPClient the HTTP URL.
- ``arch``: the HTTPClient subclass matched on ``HTTPClient:Arch:00016`` (x86_64) only; with
  ``arch_urls`` one subclass per architecture, each with its own URL (the seed's "serve different
  architectures at the same time"), and the log line names the whole class.

On top of the seed, a server preference of 255 ends the client's wait for more Advertise messages
(RFC 8415, 18.2.1), and each offer scope logs one line naming its vendor class and URL: the
evidence the verdict reads, so it fires only when that scope really answered the client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..network import TAP, Addressing
from ..process import ListeningSocket, LogContains, Readiness
from .base import Binary, Service

Dhcp6Vendor = Literal["rfc3315", "string", "classes", "arch"]
"""How dhcpd6.conf writes the vendor class (the seed's four DHCPv6 configurations)."""
OFFER_LOG_MARK = "httpboot-offer"
OFFER_LOG_LINE = re.compile(OFFER_LOG_MARK + r" vendor-class (?P<vendor>\S+) url (?P<url>\S+)")
_DHCPD6_REPLY = re.compile(
    r"(?P<kind>Advertise|Reply) NA: address (?P<address>[0-9a-f:]+) to client with duid"
)


@dataclass(frozen=True)
class Dhcpd6(Service):
    boot_url_v6: str | None
    """The HTTPClient offer's URL; None: addresses only."""
    addressing: Addressing = field(default_factory=Addressing)
    interface: str = TAP
    preference: int | None = 255
    vendor_form: Dhcp6Vendor = "rfc3315"
    pxe_url_v6: str | None = None
    """The PXEClient offer's tftp:// URL (``classes`` and ``arch`` forms)."""
    name_server: bool = True
    arch_urls: tuple[tuple[str, str], ...] = ()
    """(``HTTPClient:Arch:000NN``, URL) for the ``arch`` form: one subclass each."""

    name = "dhcpd6"
    binary = Binary("dhcpd", "isc-dhcp-server")

    def render(self, workdir: Path) -> dict[str, str]:
        a = self.addressing
        plain_string = self.vendor_form == "string"
        vendor_type = "string" if plain_string else "{integer 32, integer 16, string}"
        lines = [
            "option dhcp6.bootfile-url code 59 = string;",
            f"option dhcp6.vendor-class code 16 = {vendor_type};",
            "default-lease-time 14400;",
            "max-lease-time 172800;",
        ]
        if self.preference is not None:
            lines.append(f"option dhcp6.preference {self.preference};")
        lines += [
            f"subnet6 {a.server_v6.network} {{",
            f"        range6 {a.pool_v6[0]} {a.pool_v6[1]};",
        ]
        if self.boot_url_v6 is None and self.name_server:
            # No offer scope carries the name server when no URL is offered (Boot URI cases).
            lines.append(f"        option dhcp6.name-servers {a.server_v6.ip};")
        http_offer = self._offer_lines("HTTPClient", self.boot_url_v6, plain_string)
        if self.vendor_form in ("rfc3315", "string"):
            lines += ["        " + line for line in http_offer]
        else:
            match_length = 21 if self.vendor_form == "arch" else 10
            http_key = "HTTPClient:Arch:00016" if self.vendor_form == "arch" else "HTTPClient"
            lines += [
                '        class "PXEClient" {',
                "                match substring (option dhcp6.vendor-class, 6, 9);",
                "        }",
                '        subclass "PXEClient" "PXEClient" {',
                *(
                    "                " + line
                    for line in self._offer_lines("PXEClient", self.pxe_url_v6, vendor=False)
                ),
                "        }",
                '        class "HTTPClient" {',
                f"                match substring (option dhcp6.vendor-class, 6, {match_length});",
                "        }",
            ]
            subclasses = self.arch_urls or ((http_key, self.boot_url_v6),)
            for key, url in subclasses:
                logged = key if self.arch_urls else "HTTPClient"
                offer = self._offer_lines("HTTPClient", url, logged=logged)
                lines += [f'        subclass "HTTPClient" "{key}" {{',
                          *("                " + line for line in offer),
                          "        }"]  # fmt: skip
        lines.append("}")
        return {"dhcpd6.conf": "\n".join(lines) + "\n", "dhcpd6.leases": ""}

    def _offer_lines(
        self,
        vendor_class: str,
        url: str | None,
        plain_string: bool = False,
        *,
        vendor: bool = True,
        logged: str | None = None,
    ) -> list[str]:
        if url is None:
            return []
        lines = [f'option dhcp6.bootfile-url "{url}";']
        if self.name_server:
            lines.append(f"option dhcp6.name-servers {self.addressing.server_v6.ip};")
        if vendor:
            value = f'"{vendor_class}"' if plain_string else f'0 10 "{vendor_class}"'
            lines.append(f"option dhcp6.vendor-class {value};")
        lines.append(
            f'log(info, concat("{OFFER_LOG_MARK} vendor-class {logged or vendor_class} url ", '
            f'"{url}"));'
        )
        return lines

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


@dataclass(frozen=True)
class Dhcp6Log:
    replies: tuple[tuple[str, str], ...]
    """(Advertise|Reply, leased address)"""
    offers: tuple[tuple[str, str], ...]
    """(vendor class, boot URL) from the harness's own log statement in dhcpd6.conf"""


def parse_dhcpd6(text: str) -> Dhcp6Log:
    return Dhcp6Log(
        replies=tuple((m["kind"], m["address"]) for m in _DHCPD6_REPLY.finditer(text)),
        offers=tuple((m["vendor"], m["url"]) for m in OFFER_LOG_LINE.finditer(text)),
    )
