"""The packet capture of a case: tcpdump on tap0 inside the namespace, written as a pcap file.

The file is an artifact (open it in Wireshark) and the source of the network half of the
timeline. ``-U`` writes each packet as it arrives, so the file is complete once tcpdump stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..network import TAP
from ..process import LogContains, Readiness
from .base import Binary, Service

CAPTURE_FILE = "capture.pcap"


@dataclass(frozen=True)
class Tcpdump(Service):
    interface: str = TAP

    name = "tcpdump"
    binary = Binary("tcpdump", "tcpdump")

    def render(self, workdir: Path) -> dict[str, str]:
        return {}

    def argv(self, executable: str, workdir: Path) -> list[str]:
        return [
            executable,
            "-i", self.interface,
            "-n",
            "-U",
            "--immediate-mode",
            "-Z", "root",  # keep root: the capture file lives in the harness's own folder
            "-w", str(workdir / CAPTURE_FILE),
        ]  # fmt: skip

    def readiness(self) -> list[Readiness]:
        return [LogContains(f"listening on {self.interface}")]
