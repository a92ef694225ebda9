"""Every firmware build Debian ships beside this host's own (Debian 12's, which the rest of the
suite runs): Debian 13's (edk2 2025.02) and unstable's (edk2 2026.08), OVMF and AAVMF.

Which cases run where (README, "Firmware builds in make test"):
- on each x86_64 build: the default matrix, the seed's scenarios, the chain and the Secure Boot
  cases (each build's own Secure Boot code and Microsoft-keyed template, named through the
  settings ``ovmf-secboot-code``/``ovmf-secboot-vars``);
- on each AAVMF: the aarch64 default matrix;
- on the newest x86_64 build only: the faults, whose expectations carry the edk2 releases they
  hold for (``cases.ReleaseExpectation``).

The packages are unpacked into the project's cache at test time, with a private apt state;
nothing is installed on the host. Each row must name the build that ran, read from its image.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness.cases import (
    AARCH64_MATRIX,
    CHAIN_CASES,
    DEFAULT_MATRIX,
    FAULT_CASES,
    SECURE_BOOT_CASES,
    SEED_SCENARIOS,
    Case,
)
from httpboot_harness.config import Settings
from httpboot_harness.package_cache import CachedPackage, fetch_package
from httpboot_harness.runner import run_case
from httpboot_harness.tls import TlsMaterial


@dataclasses.dataclass(frozen=True)
class Build:
    """A Debian suite's firmware: the x86_64 package and the arm64 one."""

    name: str
    suite: str
    ovmf_package: str

    def __str__(self) -> str:
        return self.name


DEBIAN13 = Build("debian13", "trixie", "ovmf")
UNSTABLE = Build("unstable", "sid", "ovmf-generic")
"""Debian unstable's ``ovmf`` is a metapackage: the files are in ``ovmf-generic``."""
BUILDS = (DEBIAN13, UNSTABLE)
NEWEST = UNSTABLE

X86_CASES = (*DEFAULT_MATRIX, *SEED_SCENARIOS, *CHAIN_CASES, *SECURE_BOOT_CASES)
RUNS = [
    *((build, case) for build in BUILDS for case in X86_CASES),
    *((NEWEST, case) for case in FAULT_CASES),
    *((build, case) for build in BUILDS for case in AARCH64_MATRIX),
]


def _one(package: CachedPackage, name: str) -> Path:
    (path,) = package.find(name)
    return path


def build_settings(base: Settings, build: Build, case: Case) -> tuple[Settings, CachedPackage]:
    """The settings that point ``case`` at ``build``, and the package its firmware comes from."""
    if case.arch == "aarch64":
        aavmf = fetch_package("qemu-efi-aarch64", build.suite, "arm64")
        settings = dataclasses.replace(
            base,
            arch="aarch64",
            ovmf_code=_one(aavmf, "AAVMF_CODE.fd"),
            ovmf_vars=_one(aavmf, "AAVMF_VARS.fd"),
        )
        return settings, aavmf
    ovmf = fetch_package(build.ovmf_package, build.suite)
    settings = dataclasses.replace(
        base,
        ovmf_code=_one(ovmf, "OVMF_CODE_4M.fd"),
        ovmf_vars=_one(ovmf, "OVMF_VARS_4M.fd"),
        ovmf_secboot_code=_one(ovmf, "OVMF_CODE_4M.secboot.fd"),
        ovmf_secboot_vars=_one(ovmf, "OVMF_VARS_4M.ms.fd"),
    )
    return settings, ovmf


def test_every_build_runs_every_built_in_x86_case_and_the_newest_the_faults() -> None:
    """Guard against a matrix edit that silently drops a build or a kind of case here."""
    for build in BUILDS:
        ran = {case.id for b, case in RUNS if b == build}
        assert {case.id for case in X86_CASES + AARCH64_MATRIX} <= ran
    assert {case.id for case in FAULT_CASES} <= {case.id for b, case in RUNS if b == NEWEST}


@pytest.mark.httpboot
@pytest.mark.parametrize(("build", "case"), RUNS, ids=str)
def test_each_build_gives_each_case_its_expected_verdict(
    build: Build,
    case: Case,
    httpboot_settings: Settings,
    httpboot_artifacts: Path,
    httpboot_tls: TlsMaterial,
) -> None:
    settings, package = build_settings(httpboot_settings, build, case)
    tls = httpboot_tls if case.scheme == "https" else None
    result = run_case(case, settings, httpboot_artifacts / build.name, tls=tls)
    assert result.error is None, result.error
    ran = settings.ovmf_secboot_code if case.firmware.secure_boot else settings.ovmf_code
    assert result.details["firmware"] == str(ran)
    identity = result.details["firmware_identity"]
    assert identity["package_version"] == package.version
    assert identity["edk2"] == package.version[:7]  # "2026.08+ds-2" is edk2 2026.08
    assert result.passed, result.judgement.summary
