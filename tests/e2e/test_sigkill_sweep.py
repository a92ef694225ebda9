"""A harness killed with SIGKILL mid-boot leaves its world running; ``httpboot-harness sweep``, or
simply the next run, removes all of it: namespace, daemons, QEMU, relay, QEMU's socket folder,
apache2's readable copy and the lab record. Through the real command, with a private TMPDIR."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from httpboot_harness.sweep import leftovers_of

from .private_temp import HARNESS, env_with_temp, harness, temp

__all__ = ["temp"]  # the fixture, used by name


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie is its new parent's to reap, in its time)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def killed_mid_boot(temp: Path, artifacts: Path) -> int:
    """Start ``run ipv4-http`` (apache2, so a readable copy exists), wait until the firmware is
    printing, SIGKILL the harness alone; returns its pid."""
    child = subprocess.Popen(
        [*HARNESS, "run", "ipv4-http", "--http-server", "apache2", "--artifacts", str(artifacts)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env_with_temp(temp),
    )
    console = artifacts / "ipv4-http" / "console.raw"
    deadline = time.monotonic() + 180
    try:
        while not (console.exists() and console.stat().st_size > 200):
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the firmware never printed"
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()  # a no-op once SIGKILLed; ends it if an assertion came first
        child.communicate(timeout=30)
    return child.pid


@pytest.mark.exclusive
@pytest.mark.parametrize("cleaner", ["sweep", "next-run"])
def test_what_a_sigkilled_run_left_is_removed(cleaner: str, temp: Path, tmp_path: Path) -> None:
    owner = killed_mid_boot(temp, tmp_path / "killed")
    left = leftovers_of(owner, temp)
    # The kill really left a world behind (else this test could not fail).
    assert any(item.startswith("namespace ") for item in left), left
    assert any("qemu" in item for item in left if item.startswith("process ")), left
    assert any("dnsmasq" in item for item in left), left
    assert any("-sock-" in item for item in left if item.startswith("folder ")), left
    assert any("-www-" in item for item in left if item.startswith("folder ")), left
    assert any(item.startswith("record ") for item in left), left
    orphans = [int(item.split()[1]) for item in left if item.startswith("process ")]

    if cleaner == "sweep":
        done = harness(temp, "sweep")
        assert done.code == 0, done.stderr
        assert f"removed namespace hbh-{owner}-" in done.stdout
        assert "Traceback" not in done.stderr
    else:
        done = harness(temp, "run", "ipv4-http", "--artifacts", str(tmp_path / "next"), timeout=600)
        assert done.code == 0, done.stdout + done.stderr
        assert "removed what an earlier, killed run left" in done.stderr
        assert f"namespace hbh-{owner}-" in done.stderr
        assert leftovers_of(done.pid, temp) == []

    assert leftovers_of(owner, temp) == []
    assert [pid for pid in orphans if running(pid)] == []
    assert list(temp.iterdir()) == []
