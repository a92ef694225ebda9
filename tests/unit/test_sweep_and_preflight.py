"""Who owns a leftover, what a sweep may remove, and the checks of bad input (pure logic and
small files; the real kill and the real command are in tests/e2e)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from httpboot_harness import labstate
from httpboot_harness.arch import SPECS
from httpboot_harness.errors import UsageError
from httpboot_harness.firmware import check_pair
from httpboot_harness.labstate import owner_gone, owner_pid
from httpboot_harness.preflight import check_artifacts_folder, rejected_qemu_arg
from httpboot_harness.process import TAG_VARIABLE
from httpboot_harness.sweep import _relay_tag, stale_folders, sweep

T0 = 1_000_000.0


def started_at(table: dict[int, float]) -> labstate.StartTime:
    return table.get


def finished_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    ("name", "pid"),
    [("hbh-123-ab12cd", 123), ("hbh-77-sock-x1y2", 77), ("hbh-5-ab-www-q", 5),
     ("hbh-kvm-probe-x", None), ("hbh-warm-x", None), ("hbh-q_mq19jx", None), ("other", None)],
)  # fmt: skip
def test_only_names_that_carry_a_pid_have_an_owner(name: str, pid: int | None) -> None:
    assert owner_pid(name) == pid


def test_a_live_owner_keeps_its_things() -> None:
    table = {123: T0}
    assert not owner_gone("hbh-123-ab", T0 + 5, started=started_at(table))
    assert not owner_gone("hbh-123-ab", owner_started=T0 + 0.5, started=started_at(table))


def test_an_owner_that_is_gone_leaves_things_to_sweep() -> None:
    assert owner_gone("hbh-123-ab", T0, started=started_at({}))


def test_a_reused_owner_pid_does_not_protect_what_the_old_owner_made() -> None:
    """The pid now belongs to a process started after the folder was made, or not at the
    time the record says: the owner is gone."""
    table = {123: T0 + 60}
    assert owner_gone("hbh-123-ab", T0, started=started_at(table))
    assert owner_gone("hbh-123-ab", owner_started=T0, started=started_at(table))


def test_a_name_without_an_owner_is_never_swept() -> None:
    assert not owner_gone("hbh-kvm-probe-x", T0, started=started_at({}))
    assert not owner_gone("something-else", T0, started=started_at({}))


def test_a_relay_is_owned_through_its_socket_folder() -> None:
    argv = ["python", "-m", "httpboot_harness.serial_relay", "/tmp/hbh-42-sock-x/serial",
            "/art/console.raw"]  # fmt: skip
    assert _relay_tag(argv) == "hbh-42-sock-x"
    assert _relay_tag(["python", "-m", "httpboot_harness.serial_relay"]) is None
    assert _relay_tag(["dnsmasq", "-k"]) is None


def test_stale_folders_are_the_dead_owners_only(tmp_path: Path) -> None:
    dead = finished_pid()
    for name in (f"hbh-{dead}-sock-a", f"hbh-{dead}-abc-www-b", f"hbh-{os.getpid()}-sock-c",
                 "hbh-kvm-probe-d", "hbh-e5f6g7h8"):  # fmt: skip
        (tmp_path / name).mkdir()
    (tmp_path / f"hbh-{dead}-file").write_text("")  # a file is not one of our folders

    found = sorted(p.name for p in stale_folders(tmp_path))

    assert found == [f"hbh-{dead}-abc-www-b", f"hbh-{dead}-sock-a"]


def test_a_lab_record_is_written_read_and_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    record = labstate.claim("hbh-1-aa", namespace="hbh-1-aa")
    record = record.with_path(tmp_path / "extra").with_holder(os.getpid())

    (read,) = labstate.records()

    assert read == record
    assert read.owner_pid == os.getpid()
    assert read.holder_pid == os.getpid()
    assert not read.owner_gone()
    read.release()
    assert list(labstate.records()) == []
    assert not labstate.state_root().exists()  # the last one out leaves no empty folder


def test_qemu_refusing_the_users_argument_is_named_with_its_value() -> None:
    output = "qemu-system-x86_64: -device nope: 'nope' is not a valid device model name\n"
    problem = rejected_qemu_arg(["-device", "nope"], output)
    assert problem is not None
    assert str(problem).startswith("QEMU rejects --qemu-arg -device nope: 'nope' is not a valid")
    assert "fix:" in str(problem)


def test_qemu_refusing_an_unknown_option_is_named() -> None:
    problem = rejected_qemu_arg(["-bogus"], "qemu-system-aarch64: -bogus: invalid option\n")
    assert problem is not None
    assert "--qemu-arg -bogus: invalid option" in str(problem)


def test_qemu_failing_on_the_harness_own_options_is_not_the_users_fault() -> None:
    output = "qemu-system-x86_64: -netdev tap,id=n0: could not open /dev/net/tun\n"
    assert rejected_qemu_arg(["-device", "virtio-rng-pci"], output) is None
    assert rejected_qemu_arg([], "qemu-system-x86_64: -bogus: invalid option") is None


@pytest.mark.parametrize(
    ("code", "vars_size", "ok"),
    [(3653632, 540672, True), (1966080, 131072, True), (3653632, 131072, False),
     (1966080, 540672, False)],
)  # fmt: skip
def test_an_x86_code_and_vars_pair_fills_one_flash(
    tmp_path: Path, code: int, vars_size: int, ok: bool
) -> None:
    (tmp_path / "code.fd").write_bytes(bytes(code))
    (tmp_path / "vars.fd").write_bytes(bytes(vars_size))
    pair = (tmp_path / "code.fd", tmp_path / "vars.fd", SPECS["x86_64"])
    if ok:
        check_pair(*pair)
    else:
        with pytest.raises(UsageError, match="does not belong to the code file"):
            check_pair(*pair)
    check_pair(tmp_path / "code.fd", tmp_path / "vars.fd", SPECS["aarch64"])  # no such rule


def test_an_artifacts_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=r"cannot be written.*fix: pass --artifacts"):
        check_artifacts_folder(tmp_path / "file")


def test_an_artifacts_folder_without_room_is_refused_and_not_left_made(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="KiB free, a case needs about"):
        check_artifacts_folder(tmp_path / "new" / "deeper", min_free=1 << 62)
    assert list(tmp_path.iterdir()) == []


def test_a_writable_artifacts_folder_with_room_passes_and_is_kept(tmp_path: Path) -> None:
    check_artifacts_folder(tmp_path / "made", min_free=1)
    assert [p.name for p in tmp_path.iterdir()] == ["made"]
    assert list((tmp_path / "made").iterdir()) == []  # the probe is gone


def test_a_sweep_ends_a_dead_runs_processes_holder_and_folders_and_spares_a_live_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = finished_pid()

    def sleeper(tag: str | None) -> subprocess.Popen[bytes]:
        env = {**os.environ, TAG_VARIABLE: tag} if tag else dict(os.environ)
        return subprocess.Popen(["sleep", "60"], env=env)

    orphan = sleeper(f"hbh-{dead}-aa")
    holder = sleeper(None)
    mine = sleeper(f"hbh-{os.getpid()}-bb")
    (tmp_path / f"hbh-{dead}-sock-x").mkdir()
    (tmp_path / f"hbh-{os.getpid()}-sock-y").mkdir()
    record = labstate.LabRecord(f"hbh-{dead}-cc", None, dead, T0).with_holder(holder.pid)
    try:
        swept = sweep(announce=False)

        assert orphan.wait(timeout=5) == -9
        assert holder.wait(timeout=5) == -9
        assert mine.poll() is None
        assert f"{orphan.pid} sleep (hbh-{dead}-aa)" in swept.processes
        assert f"{holder.pid} sleep (holder of hbh-{dead}-cc)" in swept.processes
        assert str(tmp_path / f"hbh-{dead}-sock-x") in swept.folders
        assert swept.records == [record.tag]
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"hbh-{os.getpid()}-sock-y"]
    finally:
        for child in (orphan, holder, mine):
            child.kill()
            child.wait()
