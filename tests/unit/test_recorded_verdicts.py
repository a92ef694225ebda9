"""Every recorded run, judged from everything it recorded, gets the verdict of its expected.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpboot_harness.evidence import judge

from .recorded_runs import CAPTURE, expected_of, load, recorded_names

NAMES = recorded_names()


def test_the_recorded_runs_are_found() -> None:
    assert len(NAMES) >= 14
    assert {"ipv4-http-capture", "ipv6-http-capture"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_run_gets_its_recorded_verdict_phase_and_cause(recorded: Path, name: str) -> None:
    expected = expected_of(recorded, name)
    judgement = judge(load(recorded, name))
    assert (judgement.verdict, judgement.phase) == (expected["verdict"], expected["phase"]), (
        judgement.summary
    )
    if expected["verdict"] == "booted":
        assert judgement.cause is None
        assert "cause" not in expected
    else:
        assert expected["cause"] in (judgement.cause or ""), judgement.cause
        assert judgement.cause is not None
        assert judgement.cause in judgement.summary
    if "proven" in expected:
        assert list(judgement.proven) == expected["proven"]


@pytest.mark.parametrize("name", NAMES)
def test_a_recorded_entry_was_reached_only_if_the_firmware_started_that_boot(
    recorded: Path, name: str
) -> None:
    """reached_boot_entry is recorded, not assumed: the console must show the boot starting."""
    console = (recorded / name / "console.txt").read_text()
    started = ">>Start HTTP Boot over IPv" in console or ">>Start PXE over IPv" in console
    assert expected_of(recorded, name)["reached_boot_entry"] is started


@pytest.mark.parametrize("name", NAMES)
def test_a_recorded_capture_is_judged_with_the_run(recorded: Path, name: str) -> None:
    """The runs with a capture are judged with it: their network events reach the judge."""
    ev = load(recorded, name)
    has_capture = (recorded / name / CAPTURE).exists()
    assert (ev.network is not None) is has_capture
    if has_capture:
        assert ev.network
        assert "capture_origin" in expected_of(recorded, name)
