"""The lab's real parts without a firmware: namespace, daemons, proof image, and the cleanup.

These need root and the Debian packages (``make setup``), as the end-to-end tests do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from pyroute2 import netns

from httpboot_harness.network import Lab, new_tag
from httpboot_harness.payload import build_proof_image
from httpboot_harness.process import TAG_VARIABLE
from httpboot_harness.services.dhcpd6 import Dhcpd6
from httpboot_harness.services.dnsmasq import Dnsmasq
from httpboot_harness.services.lighttpd import Lighttpd
from httpboot_harness.services.radvd import Radvd
from httpboot_harness.sweep import sweep
from httpboot_harness.waiting import Deadline

URL = "http://www.httpboot.local/x/bootx64.efi"


def tagged_processes(tag: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TAG_VARIABLE) == tag:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def addresses_of_tap0(namespace: str) -> set[str]:
    shown = subprocess.run(
        ["ip", "-n", namespace, "-j", "addr", "show", "dev", "tap0"],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout  # fmt: skip
    return {info["local"] for link in json.loads(shown) for info in link["addr_info"]}


def test_lab_has_tap0_with_the_seeds_addresses_and_is_removed() -> None:
    tag = new_tag()
    with Lab(tag) as lab:
        assert lab.name in netns.listnetns()
        assert addresses_of_tap0(lab.name) == {"192.168.111.1", "2001:db8:f00f:cafe::1", "fe80::1"}
    assert tag not in netns.listnetns()


def test_labs_are_made_and_removed_from_many_threads_at_once() -> None:
    """matrix --jobs and pytest-xdist run labs side by side; this once deadlocked on a fork."""

    def cycle(_: int) -> str:
        with Lab(new_tag()) as lab:
            return lab.name

    with ThreadPoolExecutor(max_workers=4) as pool:
        names = list(pool.map(cycle, range(12)))
    assert len(set(names)) == 12
    assert not set(names) & set(netns.listnetns())


def test_every_daemon_becomes_ready_and_stops_without_leftovers(tmp_path: Path) -> None:
    tag = new_tag()
    (tmp_path / "www").mkdir()
    services = [Dnsmasq(URL), Dhcpd6(URL), Radvd(), Lighttpd(tmp_path / "www")]
    with Lab(tag) as lab:
        started = []
        try:
            for service in services:
                started.append(
                    service.start(
                        netns=lab.name,
                        workdir=tmp_path / service.name,
                        tag=tag,
                        deadline=Deadline(20),
                    )
                )
            assert all(p.death_notice() is None for p in started)
            # radvd forks a helper, so there may be more processes than services
            assert len(tagged_processes(tag)) >= len(services)
        finally:
            for process in started:
                process.stop()
    assert tagged_processes(tag) == []


def test_a_daemon_that_dies_fails_fast_with_its_log(tmp_path: Path) -> None:
    """A broken config makes lighttpd exit: the wait reports that at once, not at the deadline."""
    from httpboot_harness.errors import ServiceError

    class BrokenLighttpd(Lighttpd):
        def render(self, workdir: Path) -> dict[str, str]:
            return {"lighttpd.conf": "server.port = not-a-port\n"}

    with Lab(new_tag()) as lab:
        started = time.monotonic()
        with pytest.raises(ServiceError, match="lighttpd exited with code"):
            BrokenLighttpd(tmp_path).start(
                netns=lab.name, workdir=tmp_path / "l", tag=lab.name, deadline=Deadline(30)
            )
        assert time.monotonic() - started < 10


def test_proof_image_is_an_efi_program_holding_the_nonce(tmp_path: Path) -> None:
    image = build_proof_image(
        tmp_path / "bootx64.efi", "ipv4-http", script=tmp_path / "s.cfg", nonce="abc123"
    )
    data = image.path.read_bytes()
    assert data[:2] == b"MZ"
    assert b"abc123" in data
    assert image.proof_line == "HTTPBOOT-PROOF ipv4-http abc123"


def test_what_a_killed_run_left_behind_is_swept(tmp_path: Path) -> None:
    """A child process creates a lab and a daemon, then dies by SIGKILL; the sweep removes both."""
    script = f"""
import sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from httpboot_harness.network import Lab, new_tag
from httpboot_harness.services.radvd import Radvd
from httpboot_harness.waiting import Deadline
lab = Lab(new_tag()); lab.create()
Radvd().start(netns=lab.name, workdir=Path({str(tmp_path)!r}), tag=lab.name, deadline=Deadline(20))
print(lab.name, flush=True)
time.sleep(600)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    name = child.stdout.readline().strip()
    assert name in netns.listnetns()
    assert tagged_processes(name)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()

    assert name in sweep(announce=False).namespaces
    assert name not in netns.listnetns()
    assert tagged_processes(name) == []
