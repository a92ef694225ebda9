"""Rootless labs without a lab: which mode is chosen and why, doctor's rows, the way in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from httpboot_harness import cli, network, userns
from httpboot_harness.config import Settings
from httpboot_harness.doctor import tun_check, user_namespaces_check
from httpboot_harness.errors import PrerequisiteError, UsageError


@pytest.mark.parametrize(
    ("setting", "euid", "mode", "because"),
    [
        ("auto", 0, "root", "running as root"),
        ("auto", 1000, "rootless", "not root (uid 1000)"),
        ("root", 1000, "root", "asked for"),
        ("rootless", 0, "rootless", "asked for"),
    ],
)
def test_the_mode_follows_the_setting_then_the_user(
    setting: str, euid: int, mode: str, because: str
) -> None:
    chosen, why = userns.choose_mode(setting, euid)
    assert chosen == mode
    assert because in why


def test_lab_mode_is_a_setting_with_three_values() -> None:
    assert Settings().lab_mode == "auto"
    assert Settings.merge(env={"HTTPBOOT_LAB_MODE": "rootless"}).lab_mode == "rootless"
    with pytest.raises(UsageError, match="lab-mode must be one of auto, root, rootless"):
        Settings.merge(cli={"lab_mode": "sudo"})


def test_programs_enter_a_registered_lab_through_its_holder_else_by_name() -> None:
    assert userns.enter_prefix("hbh-1-aaaaaa") == ["ip", "netns", "exec", "hbh-1-aaaaaa"]
    userns.register("hbh-1-bbbbbb", 4242)
    try:
        prefix = userns.enter_prefix("hbh-1-bbbbbb")
        assert prefix == [sys.executable, "-m", "httpboot_harness.userns", "4242", "--"]
    finally:
        userns.forget("hbh-1-bbbbbb")
    assert userns.enter_prefix("hbh-1-bbbbbb")[:3] == ["ip", "netns", "exec"]


def test_the_holder_maps_the_user_to_a_uid_that_is_not_root() -> None:
    argv = userns.holder_argv()
    assert argv[:3] == ["unshare", "--user", "--net"]
    assert f"--map-user={userns.inner_uid()}" in argv
    assert userns.inner_uid() != 0
    assert argv[-1] == "cat"


def test_entering_says_how_to_call_it_and_why_it_cannot() -> None:
    assert userns.main(["12", "ls"]) == 2
    gone = subprocess.run(
        [sys.executable, "-m", "httpboot_harness.userns", "999999999", "--", "true"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert gone.returncode == 125
    assert "cannot enter the lab" in gone.stderr
    assert "/proc/999999999/ns/user" in gone.stderr


def test_doctor_names_the_sysctl_that_forbids_user_namespaces(tmp_path: Path) -> None:
    (tmp_path / "user").mkdir()
    (tmp_path / "kernel").mkdir()
    (tmp_path / "user" / "max_user_namespaces").write_text("15000\n")
    assert user_namespaces_check(tmp_path).ok
    (tmp_path / "kernel" / "unprivileged_userns_clone").write_text("0\n")
    check = user_namespaces_check(tmp_path)
    assert not check.ok
    assert check.detail == "kernel.unprivileged_userns_clone = 0"
    assert "sysctl -w kernel.unprivileged_userns_clone=1" in check.fix
    (tmp_path / "kernel" / "unprivileged_userns_clone").write_text("1\n")
    (tmp_path / "user" / "max_user_namespaces").write_text("0\n")
    assert "user.max_user_namespaces=15000" in user_namespaces_check(tmp_path).fix


def test_doctor_gives_the_tun_fix_only_to_a_user_who_cannot_open_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = tmp_path / "tun"
    assert tun_check("rootless", device).fix == "modprobe tun"
    device.write_text("")
    device.chmod(0o600)
    assert tun_check("root", device).ok
    monkeypatch.setattr(os, "access", lambda *_args: False)
    check = tun_check("rootless", device)
    assert not check.ok
    assert "mode 0600" in check.detail
    assert check.fix == f"sudo chmod 0666 {device} (Debian's udev default)"


def test_root_mode_asked_for_by_a_user_is_125_with_both_fixes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["run", "ipv4-http", "--lab-mode", "root"]) == 125
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "sudo httpboot-harness" in err
    assert "--lab-mode rootless" in err


def test_a_refused_user_namespace_is_a_prerequisite_with_its_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refuse = ["sh", "-c", "echo 'unshare: unshare failed: Operation not permitted' >&2; exit 1"]
    monkeypatch.setattr(userns, "holder_argv", lambda: refuse)  # a kernel that refuses
    monkeypatch.setattr(os, "access", lambda *_args: True)
    lab = network.Lab(network.new_tag(), mode="rootless")
    with pytest.raises(PrerequisiteError) as refused:
        lab.create()
    assert "unshare exited with code 1: unshare: unshare failed: Operation not permitted" in str(
        refused.value
    )
    assert "user.max_user_namespaces" in refused.value.fix
    assert userns.enter_prefix(lab.name)[:3] == ["ip", "netns", "exec"]  # never registered
