"""Nothing is left behind when a boot is interrupted: Ctrl-C and SIGTERM in the middle of a case."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from pyroute2 import netns

from httpboot_harness.process import TAG_VARIABLE


def processes_of_run(owner: int) -> list[psutil.Process]:
    """Processes tagged by the harness run whose process id is ``owner``."""
    prefix = f"hbh-{owner}-"
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TAG_VARIABLE, "").startswith(prefix):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def qemu_running(owner: int) -> bool:
    return any("qemu" in p.name() for p in processes_of_run(owner))


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["ctrl-c", "sigterm"],
)
def test_interrupted_boot_leaves_nothing_behind(
    tmp_path: Path, signum: signal.Signals, exit_code: int
) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "httpboot_harness",
            "run",
            "ipv4-http",
            "--artifacts",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not qemu_running(child.pid):
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "QEMU never started"
        time.sleep(0.1)

    child.send_signal(signum)
    _, stderr = child.communicate(timeout=60)

    assert child.returncode == exit_code, stderr
    assert processes_of_run(child.pid) == []
    assert [n for n in netns.listnetns() if n.startswith(f"hbh-{child.pid}-")] == []


@pytest.mark.parametrize("command", ["run", "bisect-run"])
def test_qemu_killed_mid_boot_is_the_harness_error_never_a_firmware_verdict(
    tmp_path: Path, command: str
) -> None:
    """Someone else's SIGKILL of QEMU says nothing about the firmware: error, exit 125."""
    child = subprocess.Popen(
        [sys.executable, "-m", "httpboot_harness", command, "ipv4-http", "--json",
         str(tmp_path / "report.json"), "--artifacts", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not (qemus := [p for p in processes_of_run(child.pid) if "qemu" in p.name()]):
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "QEMU never started"
        time.sleep(0.1)
    # Mid-boot: the firmware has drawn something (its console transcript is growing).
    console = tmp_path / "ipv4-http" / "console.raw"
    while not (console.exists() and console.stat().st_size > 200):
        assert time.monotonic() < deadline, "the firmware never printed"
        time.sleep(0.1)
    qemus[0].kill()
    _, stderr = child.communicate(timeout=120)

    assert child.returncode == 125, stderr
    row = json.loads((tmp_path / "report.json").read_text())["cases"][0]
    assert row["verdict"] == "error", row["summary"]
    assert "QEMU ended without the guest asking" in row["error"]
    assert processes_of_run(child.pid) == []
