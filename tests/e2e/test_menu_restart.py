"""A firmware whose setup application hangs before its Front Page is reset to power-on once,
through QMP, and the case still judges the boot: real QEMU, real OVMF.

The hang is made by the harness's own patience: with UI_APP_HANG shorter than the setup
application's real start (about 2 s under TCG), its first start reads as a hang; after the
reset the patience is the real one again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from httpboot_harness import ovmf_menu
from httpboot_harness.cases import case_by_id
from httpboot_harness.config import Settings
from httpboot_harness.machine import Machine
from httpboot_harness.runner import run_case


@pytest.mark.httpboot
def test_a_hung_setup_application_is_reset_once_and_the_boot_still_judged(
    httpboot_settings: Settings, httpboot_artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_restart = Machine.restart
    resets: list[str] = []

    def restart(machine: Machine) -> None:
        resets.append("reset")
        monkeypatch.setattr(ovmf_menu, "UI_APP_HANG", 15.0)  # the second start is patient
        real_restart(machine)

    monkeypatch.setattr(ovmf_menu, "UI_APP_HANG", 0.2)
    monkeypatch.setattr(Machine, "restart", restart)

    result = run_case(case_by_id("ipv4-http"), httpboot_settings, httpboot_artifacts / "restart")

    assert result.error is None, result.error
    assert (result.judgement.verdict, result.passed) == ("booted", True)
    assert resets == ["reset"]
    (why,) = result.details["restarts"]
    assert why.startswith("the setup application printed nothing for 0 s after it started")
    console = (result.artifacts / "console.raw").read_text(errors="replace")
    assert console.count('starting Boot0000 "UiApp"') == 2  # before and after the reset
    lines = (result.artifacts / "qmp-events.jsonl").read_text().splitlines()
    resets_seen = [e["data"] for e in map(json.loads, lines) if e["event"] == "RESET"]
    assert resets_seen == [{"guest": False, "reason": "host-qmp-system-reset"}]
