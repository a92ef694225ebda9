"""doctor on a machine with packages missing, shown through a PATH of the test's own making.

No root: only the tool checks run (the host checks need a namespace), and the tools are tiny
scripts in a temporary folder, so the test does not depend on what this machine has installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from httpboot_harness.config import Settings
from httpboot_harness.doctor import (
    Check,
    boot_can_run,
    format_checks,
    path_lookup,
    tool_checks,
)

TOOLS = (
    "ip",
    "qemu-system-x86_64",
    "dnsmasq",
    "dhcpd",
    "radvd",
    "lighttpd",
    "apache2",
    "tcpdump",
    "grub-mkimage",
)
SETTINGS = Settings(accel="tcg")


def bin_dir(tmp_path: Path, missing: set[str]) -> Path:
    """A folder holding a script for each tool except ``missing``; qemu answers --version."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in set(TOOLS) - missing:
        script = folder / name
        script.write_text("#!/bin/sh\necho 'QEMU emulator version 7.2.0 (fake)'\n")
        script.chmod(0o755)
    return folder


def rows(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_every_tool_found_gives_ok_rows(tmp_path: Path) -> None:
    checks = rows(tool_checks(SETTINGS, path_lookup(str(bin_dir(tmp_path, set())))))
    for name in ("ip (iproute2)", "qemu", "dnsmasq", "dhcpd", "radvd", "lighttpd", "tcpdump"):
        assert checks[name].ok, checks[name]
    assert "QEMU emulator version 7.2.0 (fake)" in checks["qemu"].detail


def test_missing_dnsmasq_and_qemu_each_get_a_row_with_the_fix(tmp_path: Path) -> None:
    folder = bin_dir(tmp_path, {"dnsmasq", "qemu-system-x86_64"})
    checks = tool_checks(SETTINGS, path_lookup(str(folder)))
    by_name = rows(checks)
    assert not by_name["dnsmasq"].ok
    assert by_name["dnsmasq"].fix == "apt-get install dnsmasq-base (or make setup)"
    assert not by_name["qemu"].ok
    assert by_name["qemu"].fix.startswith("apt-get install qemu-system-x86")
    assert by_name["dhcpd"].ok
    assert "accelerator" not in by_name  # nothing to probe without QEMU
    assert not boot_can_run(checks)
    report = format_checks(checks).splitlines()
    dnsmasq_line = next(line for line in report if " dnsmasq " in line)
    assert dnsmasq_line.startswith("missing")
    assert dnsmasq_line.endswith("-> fix: apt-get install dnsmasq-base (or make setup)")


def test_the_sbin_fallback_is_only_the_default(tmp_path: Path) -> None:
    """An injected PATH is the whole truth: dnsmasq in /usr/sbin must not be found by it."""
    lookup = path_lookup(str(bin_dir(tmp_path, {"dnsmasq"})))
    assert lookup("dnsmasq") is None


@pytest.mark.parametrize(
    ("http_server", "binary", "fix"),
    [
        ("lighttpd", "lighttpd", "apt-get install lighttpd lighttpd-mod-openssl (or make setup)"),
        ("apache2", "apache2", "apt-get install apache2-bin media-types (or make setup)"),
    ],
)
def test_the_chosen_web_server_is_the_one_checked(
    tmp_path: Path, http_server: str, binary: str, fix: str
) -> None:
    settings = Settings(accel="tcg", http_server=http_server)  # type: ignore[arg-type]
    checks = tool_checks(settings, path_lookup(str(bin_dir(tmp_path, {binary}))))
    assert rows(checks)[binary].fix == fix
    assert not boot_can_run(checks)


def test_a_missing_packet_capture_stops_a_boot(tmp_path: Path) -> None:
    """Every case captures tap0, so tcpdump is as required as the daemons."""
    checks = tool_checks(SETTINGS, path_lookup(str(bin_dir(tmp_path, {"tcpdump"}))))
    assert rows(checks)["tcpdump"].fix == "apt-get install tcpdump (or make setup)"
    assert not boot_can_run(checks)
