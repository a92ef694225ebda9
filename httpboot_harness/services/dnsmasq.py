"""DNS for the boot host name (both families), DHCPv4 and TFTP, from dnsmasq.

The DHCPv4 offers follow the seed's mixed dhcpd.conf: a client whose vendor class starts with
``HTTPClient`` gets option 60 ``HTTPClient`` back and the boot URL as the file name; one that
starts with ``PXEClient`` gets a TFTP file name served by dnsmasq's own TFTP server (which also
answers over IPv6, for the DHCPv6 PXE offer). Router and name server go to every client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..network import TAP, Addressing
from ..process import ListeningSocket, Readiness
from .base import Binary, Service

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
_TFTP_SENT = re.compile(r"dnsmasq-tftp\[\d+\]: sent (?P<path>\S+) to (?P<client>\S+)")
_DNSMASQ_VENDOR = re.compile(r"dnsmasq-dhcp\[\d+\]: (?P<xid>\d+) vendor class: (?P<vendor>\S+)")
_DNSMASQ_TAGS = re.compile(r"dnsmasq-dhcp\[\d+\]: (?P<xid>\d+) tags: (?P<tags>.*)$")
_HTTPCLIENT_HEX = "48:54:54:50:43:6c:69:65:6e:74"  # "HTTPClient"


@dataclass(frozen=True)
class Dnsmasq(Service):
    boot_url_v4: str | None
    """The HTTPClient offer's URL; None: the offer gives an address but no boot URL."""
    addressing: Addressing = field(default_factory=Addressing)
    interface: str = TAP
    dhcp_v4: bool = True
    name_server: bool = True
    """Offer the name server; off for IP-literal URLs (the seed's shim workaround)."""
    tftp_root: Path | None = None
    pxe_boot_file: str | None = None
    """The PXEClient offer's file name, relative to ``tftp_root``."""
    ping_before_offer: bool = False
    """dnsmasq's default: ping an address and wait 3 s for an echo before offering it. The lab
    has no other hosts, so the tuned profile turns it off; the seed profile keeps it."""
    http_vendor_class: bool = True
    """Send option 60 HTTPClient; off only to show that the firmware ignores such an offer."""
    arch_boot_urls: tuple[tuple[str, str], ...] = ()
    """(vendor class prefix, URL): each architecture's own boot file (``HTTPClient:Arch:00019``
    gets the aarch64 image), in place of ``boot_url_v4``, for clients sharing one server."""
    router: bool = True
    """Offer the server as the router (option 3); off for the seed's shim "no router" note."""
    dns: bool = True
    """Answer DNS; off (``port=0``) while the offers still name the server: another process
    holds port 53 and answers nothing (the "DNS does not answer" fault)."""

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
            # Names under the lab's domain that the hosts file lacks are answered NXDOMAIN.
            f"local=/{a.domain}/",
            "user=root",
            "group=root",
        ]
        if not self.dns:
            lines.append("port=0")
        if self.dhcp_v4:
            lines += [
                f"dhcp-range={a.pool_v4[0]},{a.pool_v4[1]},{a.server_v4.netmask},1h",
                "dhcp-authoritative",
                *([] if self.ping_before_offer else ["no-ping"]),
                f"dhcp-leasefile={workdir / 'dnsmasq.leases'}",
                "log-dhcp",
                # An empty option: none sent.
                f"dhcp-option=option:router,{a.server_v4.ip}" if self.router else (
                    "dhcp-option=option:router"),
            ]  # fmt: skip
            if self.name_server:
                lines.append(f"dhcp-option=option:dns-server,{a.server_v4.ip}")
            else:
                lines.append("dhcp-option=option:dns-server")  # an empty option: none sent
            if self.boot_url_v4 is not None:
                lines.append("dhcp-vendorclass=set:http,HTTPClient")
                if self.http_vendor_class:
                    lines.append("dhcp-option-force=tag:http,60,HTTPClient")
                if not self.arch_boot_urls:
                    lines.append(f"dhcp-boot=tag:http,{self.boot_url_v4}")
                for vendor, url in self.arch_boot_urls:
                    tag = arch_tag(vendor)
                    lines += [f"dhcp-vendorclass=set:{tag},{vendor}",
                              f"dhcp-boot=tag:http,tag:{tag},{url}"]  # fmt: skip
            if self.pxe_boot_file is not None:
                lines += [
                    "dhcp-vendorclass=set:pxe,PXEClient",
                    f"dhcp-boot=tag:pxe,{self.pxe_boot_file},,{a.server_v4.ip}",
                ]
        if self.tftp_root is not None:
            lines += ["enable-tftp", f"tftp-root={self.tftp_root}"]
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
        checks: list[Readiness] = (
            [
                ListeningSocket("udp", 53),
                ListeningSocket("udp", 53, ipv6=True),
            ]
            if self.dns
            else []
        )
        if self.dhcp_v4:
            checks.append(ListeningSocket("udp", 67))
        if self.tftp_root is not None:
            checks += [ListeningSocket("udp", 69), ListeningSocket("udp", 69, ipv6=True)]
        return checks


def arch_tag(vendor_class: str) -> str:
    """dnsmasq's tag for a vendor class: ``HTTPClient:Arch:00019`` -> ``arch00019``."""
    return "arch" + vendor_class.rpartition(":")[2]


@dataclass(frozen=True)
class Dhcp4Exchange:
    xid: str
    messages: tuple[str, ...]
    address: str
    mac: str
    vendor_class_sent: bool
    bootfile: str | None
    client_class: str | None = None
    """The vendor class the client sent (option 60), e.g. ``HTTPClient:Arch:00019:UNDI:003000``."""
    tags: tuple[str, ...] = ()
    """The tags dnsmasq matched for the transaction (``http``, ``arch00019``, the interface)."""
    options_sent: tuple[str, ...] = ()
    """The option codes dnsmasq sent in this transaction."""


def parse_dnsmasq_dhcp(text: str) -> list[Dhcp4Exchange]:
    """Group dnsmasq's --log-dhcp lines by transaction id."""
    messages: dict[str, list[tuple[str, str, str]]] = {}
    vendor: dict[str, bool] = {}
    bootfile: dict[str, str] = {}
    client_class: dict[str, str] = {}
    tags: dict[str, tuple[str, ...]] = {}
    sent: dict[str, list[str]] = {}
    for line in text.splitlines():
        if m := _DNSMASQ_VENDOR.search(line):
            client_class[m["xid"]] = m["vendor"]
        elif m := _DNSMASQ_TAGS.search(line):
            tags[m["xid"]] = tuple(t.strip() for t in m["tags"].split(","))
        if m := _DNSMASQ_DHCP.search(line):
            messages.setdefault(m["xid"], []).append((m["message"], m["address"], m["mac"]))
        elif m := _DNSMASQ_SENT.search(line):
            sent.setdefault(m["xid"], []).append(m["code"])
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
                client_class=client_class.get(xid),
                tags=tags.get(xid, ()),
                options_sent=tuple(dict.fromkeys(sent.get(xid, ()))),
            )
        )
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
