"""The server side of one lab: every daemon of the seed, started in order and stopped in reverse.

Used by the runner for each case and by ``httpboot-harness serve`` for manual work, so both hand
out the same configuration.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .network import TAP, Addressing
from .process import ManagedProcess
from .services.base import Service
from .services.dhcpd6 import Dhcpd6
from .services.dnsmasq import Dnsmasq
from .services.lighttpd import Lighttpd, TlsFiles
from .services.radvd import Radvd
from .tls import TlsMaterial
from .waiting import Deadline


@dataclass(frozen=True)
class ServerPlan:
    """What the servers hand out: the boot URL per family, the files, and TLS if any."""

    boot_url_v4: str
    boot_url_v6: str
    document_root: Path
    tls: TlsMaterial | None = None
    addressing: Addressing = field(default_factory=Addressing)
    interface: str = TAP

    def services(self) -> list[Service]:
        tls_files = None
        if self.tls is not None:
            tls_files = TlsFiles(self.tls.server_certificate, self.tls.server_key)
        return [
            Dnsmasq(self.boot_url_v4, self.addressing, interface=self.interface),
            Dhcpd6(self.boot_url_v6, self.addressing, interface=self.interface),
            Radvd(self.addressing, interface=self.interface),
            Lighttpd(self.document_root, tls_files),
        ]


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
    started: dict[str, ManagedProcess] = {}
    for service in plan.services():
        process = service.start(
            netns=netns, workdir=workdir / service.name, tag=tag, deadline=deadline
        )
        stack.callback(process.stop)
        started[service.name] = process
    return started
