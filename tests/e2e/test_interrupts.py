"""Nothing is left behind when a boot is interrupted: Ctrl-C and SIGTERM in the middle of a case."""

from __future__ import annotations

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
