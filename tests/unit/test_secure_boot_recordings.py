"""What Secure Boot OVMF (Debian 12 and 13, Microsoft keys enrolled) does with the unsigned
proof image: recorded real runs, judged as the harness judges them today."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpboot_harness.cases import case_by_id
from httpboot_harness.evidence import judge

from .recorded_runs import load


@pytest.mark.parametrize("name", ["secureboot-unsigned", "secureboot-unsigned-trixie"])
def test_from_the_boot_manager_the_refusal_is_only_press_any_key(recorded: Path, name: str) -> None:
    # Chosen in the Boot Manager, a refused image prints no reason: the Boot Manager says
    # "Press any key to continue..." right after the download and draws itself again.
    console = (recorded / name / "console.txt").read_text()
    after = console[console.index("Downloading...100%") :]
    assert after.startswith("Downloading...100%Press any key to continue...")
    assert "Access Denied" not in console
    assert "Boot Manager Menu" in after
    judgement = judge(load(recorded, name))
    assert (judgement.verdict, judgement.phase) == ("failed", "image")
    assert "GET" in judgement.proven["download"]
    assert "went back to its menu" in (judgement.cause or "")


def test_from_boot_next_the_refusal_is_access_denied(recorded: Path) -> None:
    judgement = judge(load(recorded, "secureboot-unsigned-bootnext"))
    assert (judgement.verdict, judgement.phase) == ("refused", "image")
    assert 'failed to load Boot0099 "netboot bootx64.efi"' in judgement.summary
    assert "Access Denied" in judgement.summary


@pytest.mark.parametrize("name", ["secureboot-unsigned", "secureboot-unsigned-trixie"])
def test_judged_as_a_secure_boot_case_the_return_to_the_menu_is_blamed_on_trust(
    recorded: Path, name: str
) -> None:
    """The firmware gives no reason; with Secure Boot on, the cause says what is most likely."""
    ev = load(recorded, name, case_by_id("ipv4-http-secureboot-unsigned"))
    judgement = judge(ev)
    assert (judgement.verdict, judgement.phase) == ("failed", "image")
    assert judgement.cause == (
        "Secure Boot: the firmware downloaded the image and went back to its menu without "
        "running it (an image it does not trust)"
    )
