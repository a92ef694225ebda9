"""Router advertisements from radvd, so the client need not wait for its own solicitations.

AdvManagedFlag tells the client to use DHCPv6 for its address; the prefix is on-link so the server
is reached directly. Without adverts OVMF waits about 10 s more before it continues (field notes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..network import TAP, Addressing
from ..process import LogContains, Readiness
from .base import Binary, Service


@dataclass(frozen=True)
class Radvd(Service):
    addressing: Addressing = field(default_factory=Addressing)
    interface: str = TAP
    max_interval: int = 10
    """Seconds between unsolicited adverts at most (the minimum is 3/4 of it, and never below
    radvd's 3 s). With several clients on one link radvd answers only the first solicitation
    within MinDelayBetweenRAs; frequent unsolicited adverts reach the others soon anyway."""

    name = "radvd"
    binary = Binary("radvd", "radvd")

    def render(self, workdir: Path) -> dict[str, str]:
        text = (
            f"interface {self.interface} {{\n"
            "    AdvSendAdvert on;\n"
            "    AdvManagedFlag on;\n"
            "    AdvOtherConfigFlag on;\n"
            f"    MinRtrAdvInterval {max(3, self.max_interval * 3 // 4)};\n"
            f"    MaxRtrAdvInterval {self.max_interval};\n"
            # The client waits RetransTimer for its duplicate address detection: 1 s by
            # default; a router may advertise a shorter one (RFC 4861 6.3.4).
            "    AdvRetransTimer 100;\n"
            f"    prefix {self.addressing.server_v6.network} {{\n"
            "        AdvOnLink on;\n"
            "        AdvAutonomous off;\n"
            "    };\n"
            "};\n"
        )
        return {"radvd.conf": text}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [
            executable,
            "--nodaemon",
            "--logmethod=stderr",
            f"--config={workdir / 'radvd.conf'}",
            f"--pidfile={workdir / 'radvd.pid'}",
        ]

    def readiness(self) -> list[Readiness]:
        return [LogContains("started")]
