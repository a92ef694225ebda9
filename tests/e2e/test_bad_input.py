"""Bad input through the real command: one line naming the problem and the fix, exit 2, no
traceback, and nothing left behind (no namespace, process, temporary folder or lab record).

Each command runs with a private TMPDIR, so whatever it leaves in the temporary folder is its own.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from httpboot_harness.sweep import leftovers_of

from .private_temp import Finished, harness, temp

__all__ = ["temp"]  # the fixture, used by name

OVMF = Path("/usr/share/OVMF")


@contextlib.contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A 64 KiB tmpfs at ``where`` (root can write into any folder chmod says is read-only)."""
    where.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(["size=64k", *options]), "tmpfs", str(where)],
        check=True,
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)
        where.rmdir()


def fill(folder: Path) -> None:
    """Write until the file system says it is full."""
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as out:
        while True:
            out.write(b"\0" * 4096)
            out.flush()


def garbage_firmware(temp: Path, work: Path) -> list[str]:
    (work / "garbage.fd").write_bytes(bytes(range(256)) * 8192)
    return ["run", "ipv4-http", "--ovmf-code", str(work / "garbage.fd")]


def vars_of_another_build(temp: Path, work: Path) -> list[str]:
    return ["run", "ipv4-http", "--ovmf-code", str(OVMF / "OVMF_CODE_4M.fd"),
            "--ovmf-vars", str(OVMF / "OVMF_VARS.fd")]  # fmt: skip


def certificate_not_pem(temp: Path, work: Path) -> list[str]:
    (work / "server.crt").write_text("this is not a certificate\n")
    return ["packcert", str(work / "server.crt"), str(work / "ssl.img")]


def tree_without_boot_path(temp: Path, work: Path) -> list[str]:
    (work / "tree" / "EFI" / "BOOT").mkdir(parents=True)
    (work / "tree" / "EFI" / "BOOT" / "grub.cfg").write_text("")
    return ["run", "ipv4-http", "--boot-tree", str(work / "tree"),
            "--boot-path", "EFI/BOOT/BOOTX64.EFI", "--expect", "Welcome"]  # fmt: skip


def qemu_rejects_an_argument(temp: Path, work: Path) -> list[str]:
    return ["run", "ipv4-http", "--qemu-arg", "-device", "--qemu-arg", "no-such-device"]


CASES: dict[str, tuple[Callable[[Path, Path], list[str]], tuple[str, ...]]] = {
    "garbage-firmware": (garbage_firmware, ("not a UEFI firmware volume", "fix: pass")),
    "vars-wrong-size": (vars_of_another_build, ("does not belong to the code", "fix: pass")),
    "certificate-not-pem": (certificate_not_pem, ("is not a PEM certificate", "fix: pass")),
    "tree-without-boot-path": (tree_without_boot_path, ("is not a file in", "fix: pass")),
    "qemu-rejects-argument": (
        qemu_rejects_an_argument,
        ("QEMU rejects --qemu-arg -device no-such-device", "fix: correct or drop"),
    ),
}


def assert_one_clear_line(done: Finished, *fragments: str) -> None:
    assert done.code == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def assert_nothing_left(done: Finished, temp: Path) -> None:
    assert leftovers_of(done.pid, temp) == []
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    name: str, temp: Path, tmp_path: Path
) -> None:
    make_argv, fragments = CASES[name]
    done = harness(temp, *make_argv(temp, tmp_path))

    assert_one_clear_line(done, *fragments)
    assert_nothing_left(done, temp)
    assert not (tmp_path / "ssl.img").exists()


@pytest.mark.parametrize("state", ["read-only", "full"])
def test_an_artifacts_folder_that_cannot_take_files_is_one_line_exit_2(
    state: str, temp: Path, tmp_path: Path
) -> None:
    options = ("ro",) if state == "read-only" else ()
    with tmpfs(tmp_path / "artifacts", *options) as folder:
        if state == "full":
            fill(folder)
        before = sorted(p.name for p in folder.iterdir())
        done = harness(temp, "run", "ipv4-http", "--artifacts", str(folder))
        after = sorted(p.name for p in folder.iterdir())

    word = "read-only file system" if state == "read-only" else "is full"
    assert_one_clear_line(done, word, "fix: pass --artifacts")
    assert_nothing_left(done, temp)
    assert after == before
