"""A second firmware build: Debian 13's OVMF (edk2 2025.02, a UTF-8 terminal) gives the same
verdicts for the default matrix and the seed's scenarios. Its package is unpacked into the
project's cache at test time, with a private apt state; nothing is installed on the host."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import DEFAULT_MATRIX, SEED_SCENARIOS, Case
from httpboot_harness.config import Settings
from httpboot_harness.package_cache import fetch_package
from httpboot_harness.runner import run_case
from httpboot_harness.tls import TlsMaterial

CASES = (*DEFAULT_MATRIX, *SEED_SCENARIOS)


@pytest.fixture(scope="module")
def debian13_settings(httpboot_settings: Settings) -> Settings:
    ovmf = fetch_package("ovmf", "trixie")
    (code,) = ovmf.find("OVMF_CODE_4M.fd")
    (template,) = ovmf.find("OVMF_VARS_4M.fd")
    return dataclasses.replace(httpboot_settings, ovmf_code=code, ovmf_vars=template)


@pytest.mark.httpboot
@pytest.mark.parametrize("case", CASES, ids=str)
def test_debian13_ovmf_gives_the_expected_verdict(
    case: Case,
    debian13_settings: Settings,
    httpboot_artifacts: Path,
    httpboot_tls: TlsMaterial,
) -> None:
    tls = httpboot_tls if case.scheme == "https" else None
    result = run_case(case, debian13_settings, httpboot_artifacts / "debian13", tls=tls)
    assert result.error is None, result.error
    assert "trixie" in result.details["firmware"]
    assert result.passed, result.judgement.summary
