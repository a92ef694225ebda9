"""The command-line tool through its real entry point, as nightly CI and a bisect use it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyroute2 import netns

REPO = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "httpboot_harness"]
NO_IPV6 = ["--qemu-arg", "-fw_cfg", "--qemu-arg", "name=opt/org.tianocore/IPv6Support,string=no"]


def harness(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HARNESS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def namespaces_of(pid: int) -> list[str]:
    return [n for n in netns.listnetns() if n.startswith(f"hbh-{pid}-")]


def test_doctor_explains_the_machine_and_says_a_boot_can_run() -> None:
    done = harness("doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    for check in ("root", "network namespaces", "qemu", "OVMF", "accelerator", "dnsmasq",
                  "dhcpd", "radvd", "lighttpd TLS", "grub-mkimage"):  # fmt: skip
        assert any(line.startswith("ok") and check in line for line in done.stdout.splitlines()), (
            check
        )
    assert "60-edk2-x86_64.json" in done.stdout or "known distribution path" in done.stdout


def test_doctor_names_a_wrong_firmware_path_and_fails() -> None:
    done = harness("doctor", "--ovmf-code", "/nonexistent/OVMF_CODE.fd")
    assert done.returncode == 1
    assert "/nonexistent/OVMF_CODE.fd does not exist" in done.stdout


def test_matrix_with_two_jobs_runs_every_default_case(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = harness("matrix", "--jobs", "2", "--artifacts", str(tmp_path), "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    cases = {c["id"]: c for c in json.loads(report.read_text())["cases"]}
    assert set(cases) == {
        "ipv4-http", "ipv4-https", "ipv6-http", "ipv6-https", "ipv4-https-untrusted",
    }  # fmt: skip
    assert all(c["met_expectation"] for c in cases.values())
    assert cases["ipv4-https-untrusted"]["verdict"] == "refused"
    for case_id in cases:
        assert (tmp_path / case_id / "verdict.json").is_file()
        assert (tmp_path / case_id / "console.raw").stat().st_size > 0


def test_matrix_selects_by_marker_expression(tmp_path: Path) -> None:
    done = harness("matrix", "core and ipv6 and not https", "--artifacts", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and p.name != "tls") == [
        "ipv6-http"
    ]


def test_bisect_run_is_0_for_a_working_firmware(tmp_path: Path) -> None:
    done = harness("bisect-run", "ipv4-http", "--artifacts", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_bisect_run_is_1_when_the_firmware_fails_a_case(tmp_path: Path) -> None:
    done = harness("bisect-run", "ipv6-http", *NO_IPV6, "--artifacts", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = json.loads((tmp_path / "ipv6-http" / "verdict.json").read_text())
    assert (verdict["verdict"], verdict["phase"]) == ("failed", "boot-entry")


def test_bisect_run_is_125_when_the_firmware_file_is_missing() -> None:
    done = harness("bisect-run", "ipv4-http", "--ovmf-code", "/nonexistent/OVMF_CODE.fd")
    assert done.returncode == 125, done.stdout + done.stderr
    assert "does not exist" in done.stderr
    # Nothing could begin, so nothing is kept: a bisect skipping commit after commit leaves
    # no folder per step.
    assert "artifacts: removed, no case could begin" in done.stdout


def test_bisect_run_stops_the_bisection_on_a_typo() -> None:
    done = harness("bisect-run", "ipv5-http")
    assert done.returncode == 128
    assert "selects no case" in done.stderr


def test_the_bisect_example_skips_a_commit_that_does_not_build(tmp_path: Path) -> None:
    script = REPO / "examples" / "bisect-ovmf.sh"
    env = dict(os.environ, OVMF_BUILD_COMMAND="exit 2", OVMF_BUILD_LOG=str(tmp_path / "b.log"))
    done = subprocess.run(
        [str(script), "ipv4-http"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 125
    assert "the build failed" in done.stderr


def test_serve_prints_a_qemu_command_that_boots_from_it(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [*HARNESS, "serve", "--artifacts", str(tmp_path / "serve")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        announced: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("QEMU: ") for line in announced):
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "serve never printed the QEMU command"
            announced.append(server.stdout.readline())
        proof = next(line for line in announced if "the image prints:" in line)
        proof_line = proof.split("the image prints: ", 1)[1].split(",", 1)[0]
        command = next(line for line in announced if line.startswith("QEMU: "))[6:].strip()

        client = subprocess.run(
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )
        output = client.stdout.decode("cp437")
        assert client.returncode == 0, client.stderr
        assert proof_line in output
        assert "Start HTTP Boot over IPv4" in output
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    assert server.returncode == 130
    assert namespaces_of(server.pid) == []


def test_pytest_n_2_runs_the_matrix_in_parallel(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_case(httpboot_case, httpboot_run):
            result = httpboot_run(httpboot_case)
            assert result.passed, result.judgement.summary
        """
    )
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "xdist", "-m", "core", f"--httpboot-report={report}"
    )  # fmt: skip
    result.assert_outcomes(passed=5)
    rows = json.loads(report.read_text())["cases"]
    assert sorted(r["id"] for r in rows) == sorted(
        ["ipv4-http", "ipv4-https", "ipv6-http", "ipv6-https", "ipv4-https-untrusted"]
    )
