"""The boot chain (shim -> GRUB -> kernel -> proof initrd) on a second firmware build: Debian 13's
OVMF (edk2 2025.02) gives the verdicts each chain case expects, Secure Boot cases included.

Its plain build defines no SecureBoot variable at all (Debian 12's sets it to 0): the initrd's
proof must take that as Secure Boot off, while the Secure Boot cases still require 1. Those run
Debian 13's own Secure Boot build and its template with Microsoft's keys, named through the
settings ``ovmf-secboot-code``/``ovmf-secboot-vars``: each row's firmware path shows that the
setting was honoured, not this machine's discovered build. The package is unpacked into the
project's cache at test time, with a private apt state; nothing is installed on the host."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import CHAIN_CASES, SECURE_BOOT_CASES, Case, Chain
from httpboot_harness.config import Settings
from httpboot_harness.package_cache import fetch_package
from httpboot_harness.runner import run_case
from httpboot_harness.tls import TlsMaterial

CASES = (*CHAIN_CASES, *(c for c in SECURE_BOOT_CASES if isinstance(c.payload, Chain)))


@dataclasses.dataclass(frozen=True)
class Debian13:
    """The settings that point every case at Debian 13's OVMF, and the code each profile runs."""

    settings: Settings
    plain_code: Path
    secure_code: Path


@pytest.fixture(scope="module")
def debian13(httpboot_settings: Settings) -> Debian13:
    ovmf = fetch_package("ovmf", "trixie")
    (code,) = ovmf.find("OVMF_CODE_4M.fd")
    (template,) = ovmf.find("OVMF_VARS_4M.fd")
    (secure_code,) = ovmf.find("OVMF_CODE_4M.secboot.fd")
    (secure_template,) = ovmf.find("OVMF_VARS_4M.ms.fd")
    settings = dataclasses.replace(
        httpboot_settings,
        ovmf_code=code,
        ovmf_vars=template,
        ovmf_secboot_code=secure_code,
        ovmf_secboot_vars=secure_template,
    )
    return Debian13(settings, code, secure_code)


def test_the_selection_holds_every_chain_case_of_both_profiles() -> None:
    """Guard against a matrix edit that silently drops a profile from this file."""
    assert len(CASES) == len(CHAIN_CASES) + 2
    assert {c.firmware.secure_boot for c in CASES} == {False, True}


@pytest.mark.httpboot
@pytest.mark.parametrize("case", CASES, ids=str)
def test_debian13_ovmf_gives_each_chain_case_its_expected_verdict(
    case: Case,
    debian13: Debian13,
    httpboot_artifacts: Path,
    httpboot_tls: TlsMaterial,
) -> None:
    tls = httpboot_tls if case.scheme == "https" else None
    result = run_case(case, debian13.settings, httpboot_artifacts / "debian13-chain", tls=tls)
    assert result.error is None, result.error
    ran = debian13.secure_code if case.firmware.secure_boot else debian13.plain_code
    assert result.details["firmware"] == str(ran)
    assert result.passed, result.judgement.summary
    if result.judgement.verdict == "booted":
        state = "1 (Secure Boot on)" if case.firmware.secure_boot else "absent (no SecureBoot"
        assert f"with SecureBoot={state}" in result.judgement.proven["initrd"]
