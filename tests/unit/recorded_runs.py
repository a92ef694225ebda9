"""Evidence built from everything a recorded run left: logs, console, QMP events and capture.

Each folder of fixtures/recorded/ with an ``expected.json`` is one real run laid out as a case's
artifacts folder. ``expected.json`` names the case, the nonce and URL, the image path and size,
what the harness saw beside the console (``reached_boot_entry``, ``returned_to_menu``) and the
verdict the harness gave at recording time (``verdict``, ``phase``, ``cause``; ``proven`` where
the run's verdict.json listed the proven phases). A folder with ``tcpdump/capture.pcap`` (trimmed)
is judged with its capture, as the runner judges a live run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from httpboot_harness.cases import Case, case_by_id
from httpboot_harness.evidence import Evidence, ServerLogs, parse_console
from httpboot_harness.netcapture import read_capture
from httpboot_harness.payload import PROOF_PREFIX, Served

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded"
CHAIN = RECORDED / "chain"
IMAGE_SIZE = 167936  # the proof image of the recorded runs
CAPTURE = Path("tcpdump") / "capture.pcap"


def recorded_names() -> list[str]:
    """Every recorded run that carries its expected verdict."""
    return sorted(p.parent.name for p in RECORDED.glob("*/expected.json"))


def expected_of(recorded: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((recorded / name / "expected.json").read_text())
    return data


def qmp_events(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "qmp-events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def load(recorded: Path, name: str, case: Case | None = None) -> Evidence:
    """The evidence of recorded run ``name``, judged as ``case`` (default: the recorded case)."""
    folder = recorded / name
    expected = expected_of(recorded, name)
    case = case or case_by_id(expected["id"])
    proof = f"{PROOF_PREFIX} {expected['id']} {expected['nonce']}"
    console_text = (folder / "console.txt").read_text()
    shutdown = next((e["data"] for e in qmp_events(folder) if e["event"] == "SHUTDOWN"), None)
    capture = folder / CAPTURE
    network = (
        read_capture(capture, expected.get("capture_origin", 0.0)) if capture.exists() else None
    )
    return Evidence(
        case=case,
        image_path=expected.get("image_path", f"/{expected['id']}/bootx64.efi"),
        image_size=expected.get("image_size", IMAGE_SIZE),
        boot_url=expected["boot_url"],
        proof_line=proof,
        reached_boot_entry=expected["reached_boot_entry"],
        console=parse_console(console_text, proof),
        servers=ServerLogs.from_case_dir(folder),
        shutdown_event=shutdown,
        firmware_output=bool(console_text.strip()),
        network=network,
        menu_problem=expected.get("menu_problem"),
        returned_to_menu=expected.get("returned_to_menu", False),
    )


def chain_run(name: str) -> Evidence:
    """A recorded boot chain run (fixtures/recorded/chain/), with the tree it served and the
    kernel command line (its expected.json lists both)."""
    expected = expected_of(CHAIN, name)
    served = tuple(
        Served(s["phase"], s["path"], s["size"], s["what"], tuple(s.get("members", ())))
        for s in expected["served"]
    )
    ev = load(CHAIN, name)
    return dataclasses.replace(ev, served=served, kernel_cmdline=expected["kernel_cmdline"])
