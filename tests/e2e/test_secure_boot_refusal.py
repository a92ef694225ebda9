"""Secure Boot OVMF (Microsoft keys enrolled) refuses the unsigned proof image: it downloads it,
then goes back to its Boot Manager without a word. The verdict must name the image phase within
a minute of QEMU's start, not wait for the case's deadline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import case_by_id
from httpboot_harness.config import Settings
from httpboot_harness.runner import run_case

OVMF = Path("/usr/share/OVMF")
SECURE_MACHINE = (
    "-machine", "smm=on",
    "-global", "driver=cfi.pflash01,property=secure,value=on",
)  # fmt: skip


@pytest.mark.httpboot
def test_unsigned_image_under_secure_boot_fails_at_image_promptly(
    httpboot_settings: Settings, httpboot_artifacts: Path
) -> None:
    settings = dataclasses.replace(
        httpboot_settings,
        ovmf_code=OVMF / "OVMF_CODE_4M.secboot.fd",
        ovmf_vars=OVMF / "OVMF_VARS_4M.ms.fd",
        qemu_args=(*httpboot_settings.qemu_args, *SECURE_MACHINE),
    )
    result = run_case(case_by_id("ipv4-http"), settings, httpboot_artifacts / "secureboot")
    assert result.error is None, result.error
    judgement = result.judgement
    assert (judgement.verdict, judgement.phase) == ("failed", "image"), judgement.summary
    assert "GET /ipv4-http/bootx64.efi 200" in judgement.proven["download"]
    assert "went back to its menu" in (judgement.cause or "")
    assert result.timings["total"] - result.timings["lab_setup"] < 60, result.timings
