"""A user's own tree (--boot-tree, --boot-path, --expect), built in the test from the same Debian
packages as the chain: booted on the expect line, and a GRUB without http judged from what it
printed (failed, with its error quoted; never booted, never the harness's error)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from httpboot_harness.cases import Case, Dhcp
from httpboot_harness.chain import SIGNED_GRUB, ChainSpec, _package_file, build_chain
from httpboot_harness.config import Settings
from httpboot_harness.payload import new_nonce
from httpboot_harness.runner import run_case

BOOT_PATH = "sle/EFI/BOOT/bootx64.efi"


def seed_tree(root: Path, nonce: str) -> Path:
    """The seed's /sle/ tree, as a user would copy it, at ``root``."""
    spec = ChainSpec("usertree", nonce, "http://192.168.111.1/sle")
    build_chain(root / BOOT_PATH, root.parent / "build", spec)
    return root


@pytest.mark.httpboot
def test_a_user_tree_boots_on_its_expect_line(
    httpboot_settings: Settings, httpboot_artifacts: Path, tmp_path: Path
) -> None:
    nonce = new_nonce()
    tree = seed_tree(tmp_path / "tree", nonce)
    settings = dataclasses.replace(
        httpboot_settings, boot_tree=tree, boot_path=BOOT_PATH,
        expect=rf"HTTPBOOT-PROOF usertree {nonce} secureboot=0 ",
    )  # fmt: skip
    result = run_case(Case("ipv4", "http", Dhcp(host="literal")), settings, httpboot_artifacts)
    assert result.error is None, result.error
    assert result.case.id == "ipv4-http-literal-tree"
    assert result.judgement.verdict == "booted", result.judgement.summary
    proven = result.judgement.proven
    assert f"GET /{BOOT_PATH} 200" in proven["download"]
    assert proven["loader"] == "console: 'Welcome to GRUB!'"
    assert "Linux version 6.1" in proven["kernel"]
    assert f"usertree {nonce}" in proven["initrd"]
    assert "GET /sle/boot/x86_64/loader/initrd 200" in proven["initrd"]
    assert "poweroff" not in proven  # the harness stopped the guest on the expect line


@pytest.mark.httpboot
def test_a_grub_without_http_fails_with_its_error_quoted(
    httpboot_settings: Settings, httpboot_artifacts: Path, tmp_path: Path
) -> None:
    tree = seed_tree(tmp_path / "tree", new_nonce())
    # Debian's signed network GRUB has no http module (field notes): it stops at its prompt.
    shutil.copyfile(_package_file(*SIGNED_GRUB), tree / "sle/EFI/BOOT/grubx64.efi")
    settings = dataclasses.replace(
        httpboot_settings, boot_tree=tree, boot_path=BOOT_PATH, expect="HTTPBOOT-PROOF usertree"
    )
    case = Case("ipv4", "http", Dhcp(host="literal"))
    result = run_case(case, settings, httpboot_artifacts / "grub-without-http")
    assert result.error is None, result.error
    judgement = result.judgement
    assert judgement.verdict == "failed", judgement.summary
    assert judgement.phase == "kernel", judgement.summary
    assert judgement.cause is not None
    assert "grub>" in judgement.cause
    assert result.timings["total"] < 60, "the prompt is judged when it appears"
