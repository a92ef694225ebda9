"""The files a case leaves for a person: one module writes them, so their names live here.

<artifacts>/<case id>/
    console.raw console.txt screen.txt screens.txt screens/<step>.txt
    timeline.txt verdict.json harness-error.txt (only when the harness failed)
    <daemon>/ (config and logs, written by each service) tcpdump/capture.pcap
    qemu-command.txt qemu-argv.json qemu.log qmp-events.jsonl (written by the machine)
"""

from __future__ import annotations

import json
import shutil
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .console import Console
from .timeline import TimelineEvent, format_timeline

CONSOLE_RAW = "console.raw"


class CaseArtifacts:
    """The artifacts folder of one case, made empty when the case starts."""

    def __init__(self, root: Path, case_id: str) -> None:
        self.folder = root.absolute() / case_id
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)

    @property
    def console_raw(self) -> Path:
        return self.folder / CONSOLE_RAW

    def keep_screen(self, console: Console, step: str) -> None:
        """Each screen of the menu walk: the first thing to read when a label changes."""
        name = "".join(c if c.isalnum() else "-" for c in step.lower())
        folder = self.folder / "screens"
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.txt").write_text(console.screen.text())

    def write_console(self, console: Console, origin: float) -> None:
        (self.folder / "console.txt").write_text(console.plain)
        (self.folder / "screen.txt").write_text(console.screen.text())
        with (self.folder / "screens.txt").open("w") as screens:
            for when, label, text in console.snapshots:
                screens.write(f"===== {when - origin:7.2f} s  {label}\n{text}\n")

    def write_timeline(self, events: list[TimelineEvent]) -> None:
        (self.folder / "timeline.txt").write_text(format_timeline(events))

    def write_verdict(self, row: Mapping[str, Any]) -> None:
        (self.folder / "verdict.json").write_text(json.dumps(row, indent=2) + "\n")

    def write_harness_error(self, message: str, exc: BaseException) -> None:
        text = message + "\n\n" + "".join(traceback.format_exception(exc))
        (self.folder / "harness-error.txt").write_text(text)
