"""The server side of one lab: every daemon of the seed, started in order and stopped in reverse.

Used by the runner for each case and by ``httpboot-harness serve`` for manual work, so both hand
out the same configuration. The plan says what to serve and with which software; ``profile``
chooses between the harness's tuned settings and the seed HOWTO's configuration as written.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .config import Profile
from .errors import UsageError
from .network import TAP, Addressing
from .process import ManagedProcess
from .services.apache2 import Apache2
from .services.base import Service
from .services.dhcpd4 import Dhcpd4
from .services.dhcpd6 import Dhcp6Vendor, Dhcpd6
from .services.dnsmasq import Dnsmasq
from .services.faulty_http import FaultyHttp, HttpFault
from .services.lighttpd import DEFAULT_TLS_OFFER, Lighttpd, TlsFiles, TlsOffer
from .services.radvd import Radvd
from .services.silent_dns import SilentDns
from .tls import TlsMaterial
from .waiting import Deadline


@dataclass(frozen=True)
class ServerPlan:
    """What the servers hand out, and which software hands it out."""

    boot_url: str | None
    """The URL offered by DHCPv4 and DHCPv6 to HTTPClient; None: addresses only (Boot URI)."""
    document_root: Path
    tls: TlsMaterial | None = None
    addressing: Addressing = field(default_factory=Addressing)
    interface: str = TAP
    name_server: bool = True
    dhcp_server: str = "dnsmasq"
    http_server: str = "lighttpd"
    dhcp6_vendor: Dhcp6Vendor = "rfc3315"
    pxe_boot_file: str | None = None
    pxe_url_v6: str | None = None
    dhcp_v4: bool = True
    dhcp_v6: bool = True
    http_vendor_class: bool = True
    router: bool = True
    """DHCPv4 offers the server as router (dnsmasq only)."""
    status_overrides: tuple[tuple[str, int], ...] = ()
    """(URL path, status): the HTTP server answers these paths with an error status.
    These four fields exist to induce failures (cases with faults)."""
    arch_boot_urls: tuple[tuple[str, str], ...] = ()
    """(``HTTPClient:Arch:000NN``, URL): each architecture its own boot file, by vendor class,
    in DHCPv4 and DHCPv6 (with ``dhcp6_vendor="arch"``); the mixed-architecture case."""
    radvd_max_interval: int = 10
    profile: Profile = "tuned"
    """tuned: DHCPv6 preference 255, router adverts, no ping before DHCPv4 offers.
    seed: the seed's dhcpd6.conf as written, no router adverts, dnsmasq's default ping check."""
    http_faults: tuple[HttpFault, ...] = ()
    """Spoiled transfers (reset, short body, stall, redirect, ...): served by the faulty HTTP
    server (``services/faulty_http.py``) in place of lighttpd or apache2, plain HTTP only."""
    dns_answers: bool = True
    """False: the name server offered by DHCP reads every query and answers none."""
    router_adverts: bool = True
    """False: no radvd even in the tuned profile (the seed's profile never runs it)."""
    tls_offer: TlsOffer = DEFAULT_TLS_OFFER
    """The HTTPS server's cipher string and protocol range (the TLS audit's conditions)."""

    def services(self, apache_root: Path | None = None) -> list[Service]:
        """The daemons in start order; apache2 serves a readable copy from ``apache_root``."""
        tuned = self.profile == "tuned"
        tls_files = None
        if self.tls is not None:
            tls_files = TlsFiles(self.tls.server_certificate, self.tls.server_key, self.tls_offer)
        isc_v4 = self.dhcp_server == "isc"
        services: list[Service] = [
            Dnsmasq(
                self.boot_url,
                self.addressing,
                interface=self.interface,
                dhcp_v4=self.dhcp_v4 and not isc_v4,
                name_server=self.name_server,
                tftp_root=self.document_root,
                pxe_boot_file=self.pxe_boot_file,
                ping_before_offer=not tuned,
                http_vendor_class=self.http_vendor_class,
                arch_boot_urls=self.arch_boot_urls,
                router=self.router,
                dns=self.dns_answers,
            )
        ]
        if not self.dns_answers:
            services.append(SilentDns())
        if isc_v4 and self.dhcp_v4:
            services.append(
                Dhcpd4(self.boot_url, self.addressing, self.name_server, self.pxe_boot_file)
            )
        if self.dhcp_v6:
            services.append(
                Dhcpd6(
                    self.boot_url,
                    self.addressing,
                    interface=self.interface,
                    preference=255 if tuned else None,
                    vendor_form=self.dhcp6_vendor,
                    pxe_url_v6=self.pxe_url_v6,
                    name_server=self.name_server,
                    arch_urls=self.arch_boot_urls,
                )
            )
        if tuned and self.router_adverts:
            services.append(
                Radvd(
                    self.addressing, interface=self.interface, max_interval=self.radvd_max_interval
                )
            )
        if self.http_server == "apache2" and self.tls_offer != DEFAULT_TLS_OFFER:
            raise UsageError("the TLS audit's protocol and cipher conditions need lighttpd")
        if self.http_faults:
            services.append(FaultyHttp(self.document_root, self.http_faults))
        elif self.http_server == "apache2":
            served = apache_root or self.document_root
            services.append(Apache2(self.document_root, served, tls_files, self.status_overrides))
        else:
            services.append(Lighttpd(self.document_root, tls_files, self.status_overrides))
        return services


def start_servers(
    plan: ServerPlan,
    stack: ExitStack,
    *,
    netns: str | None,
    workdir: Path,
    tag: str,
    deadline: Deadline,
) -> dict[str, ManagedProcess]:
    """Start each daemon and wait until it is ready; ``stack`` stops them in reverse order."""
    apache_root = None
    if plan.http_server == "apache2":
        # apache2's workers run as www-data: they serve a world-readable copy of the files.
        apache_root = Path(tempfile.mkdtemp(prefix=f"{tag}-www-"))
        stack.callback(shutil.rmtree, apache_root, ignore_errors=True)
    started: dict[str, ManagedProcess] = {}
    for service in plan.services(apache_root):
        process = service.start(
            netns=netns, workdir=workdir / service.name, tag=tag, deadline=deadline
        )
        stack.callback(process.stop)
        started[service.name] = process
    return started
