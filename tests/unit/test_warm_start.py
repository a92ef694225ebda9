"""Warm start: which cases may start from a snapshot, and what a snapshot is keyed on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from httpboot_harness import warm_start
from httpboot_harness.cases import Case, Preset, SecureBoot, case_by_id
from httpboot_harness.config import Settings
from httpboot_harness.errors import MachineError, UsageError
from httpboot_harness.machine import MachineSpec
from httpboot_harness.waiting import Deadline
from httpboot_harness.warm_start import (
    Snapshot,
    StartChoice,
    WarmStarts,
    cold_reason,
    snapshot_key,
    vars_edit_reason,
)


def _spec(tmp_path: Path, **changes: object) -> MachineSpec:
    code = tmp_path / "CODE.fd"
    if not code.exists():
        code.write_bytes(b"code" * 1024)
    vars_copy = tmp_path / "vars.fd"
    if not vars_copy.exists():
        vars_copy.write_bytes(bytes(4096))
    spec = MachineSpec(
        qemu="qemu-system-x86_64",
        accel="tcg",
        firmware_code=code,
        vars_copy=vars_copy,
        socket_dir=tmp_path / "sockets",
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def test_the_key_ignores_where_the_case_keeps_its_files(tmp_path: Path) -> None:
    first = _spec(tmp_path)
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "vars.fd").write_bytes(first.vars_copy.read_bytes())
    second = dataclasses.replace(
        first, vars_copy=elsewhere / "vars.fd", socket_dir=elsewhere / "sockets"
    )
    assert snapshot_key(first) == snapshot_key(second)


@pytest.mark.parametrize(
    "change",
    [
        {"memory_mb": 2048},
        {"extra_args": ("-machine", "smm=on")},
        {"boot_menu_ms": 0},
        {"mac": "52:54:00:00:00:01"},
    ],
)
def test_the_key_changes_with_what_qemu_would_refuse_or_the_guest_sees(
    tmp_path: Path, change: dict[str, object]
) -> None:
    assert snapshot_key(_spec(tmp_path)) != snapshot_key(_spec(tmp_path, **change))


def test_the_key_holds_the_contents_of_the_code_and_the_fw_cfg_files(tmp_path: Path) -> None:
    """QEMU accepts another code file of the same size, or other fw_cfg contents, silently:
    the key must tell them apart by content, not by name."""
    ca = tmp_path / "ca.esl"
    ca.write_bytes(b"first CA")
    spec = _spec(tmp_path, fw_cfg_files=(("etc/edk2/https/cacerts", ca),))
    before = snapshot_key(spec)
    ca.write_bytes(b"other CA")
    assert snapshot_key(spec) != before
    assert snapshot_key(_spec(tmp_path)) not in (before, snapshot_key(spec))
    spec.firmware_code.write_bytes(b"CODE" * 1024)
    assert snapshot_key(spec) != before


def test_a_vars_copy_written_before_power_on_starts_cold(tmp_path: Path) -> None:
    template = tmp_path / "template.fd"
    template.write_bytes(bytes(4096))
    copy = tmp_path / "copy.fd"
    copy.write_bytes(bytes(4096))
    assert vars_edit_reason(copy, template) is None
    copy.write_bytes(bytes(4095) + b"\x01")
    assert vars_edit_reason(copy, template) == "the case writes its vars copy before power-on"


def test_secure_boot_and_aarch64_start_cold_and_say_why() -> None:
    assert cold_reason(case_by_id("ipv4-http")) is None
    assert cold_reason(Case("ipv4", "https")) is None
    secure = cold_reason(Case("ipv4", "http", firmware=SecureBoot()))
    assert secure is not None
    assert "Secure Boot" in secure
    aarch64 = cold_reason(case_by_id("aarch64-ipv4-http"))
    assert aarch64 is not None
    assert "aarch64" in aarch64
    # A preset writes BootNext into the vars copy: the vars check sends it cold.
    assert cold_reason(Case("ipv4", "http", Preset())) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("yes", True), ("0", False), ("off", False), (True, True)],
)
def test_warm_start_setting_reads_true_and_false(raw: object, expected: bool) -> None:
    assert Settings.merge(cli={"warm_start": raw}).warm_start is expected


def test_warm_start_is_off_by_default_and_refuses_nonsense() -> None:
    assert Settings.merge().warm_start is False
    assert Settings.merge(env={"HTTPBOOT_WARM_START": "1"}).warm_start is True
    with pytest.raises(UsageError, match="warm-start must be true or false"):
        Settings.merge(cli={"warm_start": "sometimes"})


def _choose_twice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, saver: object
) -> list[StartChoice]:
    calls: list[str] = []

    def counted(spec: MachineSpec, folder: Path, key: str, deadline: Deadline) -> Snapshot:
        calls.append(key)
        return saver(key)  # type: ignore[operator,no-any-return]

    monkeypatch.setattr(warm_start, "save_at_boot_manager", counted)
    cache = WarmStarts()
    spec = _spec(tmp_path)
    template = tmp_path / "template.fd"
    template.write_bytes(spec.vars_copy.read_bytes())
    case = case_by_id("ipv4-http")
    try:
        choices = [cache.choose(case, spec, template, Deadline(10)) for _ in range(2)]
    finally:
        cache.close()
    assert len(calls) == 1, "a snapshot is made (or tried) once per firmware key"
    return choices


def test_one_snapshot_serves_every_case_of_its_firmware(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made = Snapshot("k", tmp_path / "state.bin", tmp_path / "vars.fd", tmp_path / "raw", 1.0)
    choices = _choose_twice(monkeypatch, tmp_path, lambda _key: made)
    assert [c.mode for c in choices] == ["warm", "warm"]
    assert all(c.snapshot is made and c.reason is None for c in choices)


def test_a_snapshot_that_cannot_be_made_sends_its_cases_cold_saying_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(_key: str) -> Snapshot:
        raise MachineError("QEMU could not save the guest's state")

    choices = _choose_twice(monkeypatch, tmp_path, broken)
    assert [c.mode for c in choices] == ["cold", "cold"]
    for choice in choices:
        assert choice.reason == (
            "the snapshot could not be made: QEMU could not save the guest's state"
        )
