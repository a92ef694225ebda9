"""Nothing is left behind when a boot is interrupted: Ctrl-C and SIGTERM in the middle of a case,
in any state (QEMU starting, two menu walks at once in ``matrix --jobs 2``), within 10 s."""

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
from httpboot_harness.sweep import leftovers_of

STOP_BOUND = 10.0
"""Seconds from the signal to the command's exit, in any state (the README's promise)."""


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

    sent = time.monotonic()
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=60)

    assert child.returncode == exit_code, stderr
    assert time.monotonic() - sent < STOP_BOUND
    assert processes_of_run(child.pid) == []
    assert [n for n in netns.listnetns() if n.startswith(f"hbh-{child.pid}-")] == []
    assert leftovers_of(child.pid) == []


WALKING = b"HTTP Boot Configuration"
"""On the console once a typed-URI case's menu walk has reached the page it types into."""


def _walking(artifacts: Path, case_ids: list[str]) -> bool:
    """True when every case's console shows its walk at the page where it types the URI."""
    for case_id in case_ids:
        raw = artifacts / case_id / "console.raw"
        try:
            if WALKING not in raw.read_bytes():
                return False
        except OSError:
            return False
    return True


@pytest.mark.parametrize(
    ("command", "signum", "exit_code"),
    [
        (["matrix", "ipv4-http-uri", "ipv6-http-uri", "--jobs", "2"], signal.SIGINT, 130),
        (["matrix", "ipv4-http-uri", "ipv6-http-uri", "--jobs", "2"], signal.SIGTERM, 143),
        (["run", "ipv4-http-uri"], signal.SIGTERM, 143),
    ],
    ids=["jobs-2-ctrl-c", "jobs-2-sigterm", "run-sigterm"],
)
def test_stop_in_the_middle_of_menu_walks_is_prompt_and_leaves_nothing(
    tmp_path: Path, command: list[str], signum: signal.Signals, exit_code: int
) -> None:
    """The walks run in worker threads with --jobs 2, where no KeyboardInterrupt reaches them:
    the stop request does, so the exit comes within 10 s, not when the walks end (22-161 s)."""
    cases = [word for word in command[1:] if word.endswith("-uri")]
    child = subprocess.Popen(
        [sys.executable, "-m", "httpboot_harness", *command, "--artifacts", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    # At 14 s at the earliest (the moment the report measured), once every walk is under way.
    while not (time.monotonic() - started >= 14 and _walking(tmp_path, cases)):
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() - started < 180, "the menu walks never reached the URI page"
        time.sleep(0.1)

    sent = time.monotonic()
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=120)
    took = time.monotonic() - sent

    assert child.returncode == exit_code, stderr
    assert took < STOP_BOUND, f"the exit took {took:.1f} s after {signum.name}"
    assert f"interrupted ({signum.name})" in stderr
    assert leftovers_of(child.pid) == []
    for case_id in cases:  # a stop is no verdict: nothing was judged
        assert not (tmp_path / case_id / "verdict.json").exists()


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
