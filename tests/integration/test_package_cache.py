"""Debian 13's OVMF fetched for real into a fresh cache, the host's apt and dpkg untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from httpboot_harness import package_cache
from httpboot_harness.errors import PrerequisiteError
from httpboot_harness.firmware import check_volume

HOST_APT_FILES = (
    Path("/var/lib/apt/lists"),
    Path("/var/cache/apt"),
    Path("/var/lib/dpkg/status"),
)


def fingerprint() -> dict[Path, float]:
    return {path: path.stat().st_mtime for path in HOST_APT_FILES if path.exists()}


def test_trixie_ovmf_is_fetched_unpacked_and_then_served_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = fingerprint()
    try:
        got = package_cache.fetch_package("ovmf", "trixie", root=tmp_path)
    except PrerequisiteError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        pytest.skip(str(exc))
    assert got.root == tmp_path / "debian" / "trixie-amd64" / f"ovmf-{got.version}"
    assert got.version.startswith("2025.")
    for name in ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", "OVMF_CODE_4M.secboot.fd"):
        (path,) = got.find(name)
        check_volume(path, name)
    assert got.find("OVMF_VARS_4M.ms.fd")
    assert fingerprint() == before

    def no_network(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("apt ran again although the package is cached")

    monkeypatch.setattr(package_cache, "_run", no_network)
    assert package_cache.fetch_package("ovmf", "trixie", root=tmp_path) == got
