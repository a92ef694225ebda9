"""Rootless labs, seen from outside: no root anywhere, no named namespace, nothing left behind.

As root (CI's ``make test``) the boot runs as the unprivileged user that ``make rootless-setup``
prepares (``runuser``); run by a user, it runs as that user. While the guest boots, the test
finds QEMU from the host's side and checks every process in its network namespace.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from httpboot_harness.network import TAP, Lab, new_tag
from httpboot_harness.userns import enter_prefix, inner_uid, namespace_members
from httpboot_harness.waiting import Deadline

REPO = Path(__file__).resolve().parents[2]
USER = os.environ.get("HTTPBOOT_ROOTLESS_USER", "httpboot-ci")
SETUP_FIX = "fix: sudo make rootless-setup (creates the user, sets /dev/net/tun to 0666)"


def _runs_as_user(python: str) -> bool:
    probe = ["runuser", "-u", USER, "--", python, "-c", "import httpboot_harness"]
    done = subprocess.run(probe, capture_output=True, timeout=60, check=False, cwd="/")
    return done.returncode == 0


def _harness_as_user(folder: Path) -> tuple[list[str], int]:
    """The command that runs the harness as an unprivileged user, and that user's uid."""
    if os.geteuid() != 0:
        return [sys.executable, "-m", "httpboot_harness"], os.getuid()
    try:
        uid = pwd.getpwnam(USER).pw_uid
    except KeyError:
        pytest.fail(f"no user {USER} for the rootless run; {SETUP_FIX}")
    os.chown(folder, uid, -1)
    copy = Path(os.environ.get("ROOTLESS_CHECKOUT", "/var/tmp/httpboot-rootless-checkout"))
    for venv in (Path(sys.prefix), REPO / ".venv-rootless", copy / ".venv-rootless"):
        python = str(venv / "bin" / "python")
        if Path(python).exists() and _runs_as_user(python):
            env = ["env", f"TMPDIR={folder}", f"HOME={folder}", "PYTHONDONTWRITEBYTECODE=1"]
            return ["runuser", "-u", USER, "--", *env, python, "-m", "httpboot_harness"], uid
    pytest.fail(f"{USER} cannot run this checkout's Python; {SETUP_FIX}")


@pytest.fixture
def user_folder() -> Iterator[Path]:
    """A folder the unprivileged user may write (pytest's tmp_path is root's own, 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="hbh-rootless-test-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _qemu_of(folder: Path) -> psutil.Process | None:
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "qemu-system-x86_64" and any(str(folder) in a for a in cmdline):
            return proc
    return None


def _named_namespaces() -> set[int]:
    """Inodes of the namespaces under /run/netns (root mode's labs, anyone's)."""
    inodes = set()
    for entry in Path("/run/netns").glob("*") if Path("/run/netns").is_dir() else []:
        try:
            inodes.add(entry.stat().st_ino)
        except OSError:
            continue
    return inodes


def test_a_rootless_boot_runs_nothing_as_root_and_leaves_nothing(user_folder: Path) -> None:
    artifacts = user_folder / "artifacts"
    command, uid = _harness_as_user(user_folder)
    argv = [*command, "run", "ipv4-http", "--lab-mode", "rootless", "--artifacts", str(artifacts)]
    output = user_folder / "harness.out"
    with output.open("wb") as out:
        harness = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=user_folder
        )
    try:
        deadline = Deadline(300)
        qemu = _qemu_of(artifacts)
        while qemu is None and harness.poll() is None and not deadline.expired():
            time.sleep(0.05)
            qemu = _qemu_of(artifacts)
        assert qemu is not None, f"QEMU never ran; harness said:\n{output.read_text()}"
        lab_net = os.readlink(f"/proc/{qemu.pid}/ns/net")
        lab_user = os.readlink(f"/proc/{qemu.pid}/ns/user")
        members = [psutil.Process(pid) for pid in namespace_members(lab_net)]
        seen = {p.name(): p.uids().real for p in members}
        assert lab_user != os.readlink("/proc/self/ns/user"), "QEMU is in the host's user ns"
        assert os.stat(f"/proc/{qemu.pid}/ns/net").st_ino not in _named_namespaces()
        assert {"qemu-system-x86_64", "dnsmasq", "lighttpd", "tcpdump"} <= set(seen), seen
        assert set(seen.values()) == {uid}, f"not all run as uid {uid}: {seen}"
        assert uid != 0
        harness.wait(timeout=deadline.remaining())
    finally:
        if harness.poll() is None:  # SIGTERM reaches the harness behind runuser: it tears down
            os.killpg(harness.pid, signal.SIGTERM)
            harness.wait(timeout=120)
    assert harness.returncode == 0, output.read_text()
    verdict = json.loads((artifacts / "ipv4-http" / "verdict.json").read_text())
    assert verdict["verdict"] == "booted", verdict
    assert namespace_members(lab_net) == [], "processes outlived the rootless lab"
    assert (artifacts / "ipv4-http" / "tcpdump" / "capture.pcap").stat().st_uid == uid


def test_a_rootless_lab_gives_programs_its_capabilities_and_not_root() -> None:
    """The lab itself, no guest: tap0 addressed inside; a program entered through the holder
    runs as the user's own uid with exactly the lab's capabilities; the removal ends it all."""
    with Lab(new_tag(), mode="rootless") as lab:
        inside = enter_prefix(lab.name)
        links = subprocess.run([*inside, "ip", "-br", "addr", "show", TAP], capture_output=True,
                               text=True, timeout=30, check=True).stdout  # fmt: skip
        assert "192.168.111.1/24" in links, links
        status = subprocess.run([*inside, "cat", "/proc/self/status"], capture_output=True,
                                text=True, timeout=30, check=True).stdout  # fmt: skip
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        assert fields["Uid"].split()[0] == str(inner_uid())
        # CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13)
        assert int(fields["CapEff"], 16) == (1 << 10) | (1 << 12) | (1 << 13)
        holder = lab._holder
        assert holder is not None
        lab_net = holder.network_namespace()
        assert os.stat(f"/proc/{holder.pid}/ns/net").st_ino not in _named_namespaces()
    assert not psutil.pid_exists(holder.pid) or psutil.Process(holder.pid).status() == "zombie"
    assert namespace_members(lab_net) == []


def test_doctor_says_rootless_and_checks_what_it_needs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "httpboot_harness", "doctor", "--lab-mode", "rootless"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {
        "lab mode": "rootless: asked for",
        "/dev/net/tun": "open to this user",
        "user namespaces": "user.max_user_namespaces = ",
        "network namespaces": "created a namespace with tap0 in a user namespace",
    }
    for name, detail in expected.items():
        row = re.compile(rf"^ok\s+{re.escape(name)}\s+{re.escape(detail)}", re.MULTILINE)
        assert row.search(done.stdout), (name, done.stdout)
