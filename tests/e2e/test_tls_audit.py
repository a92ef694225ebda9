"""HTTPS boot conformance on real OVMF: each TLS condition the firmware must refuse at ``tls``,
and two controls whose negotiation is recorded.

On the default firmware (Debian 12's OVMF) each condition is its own test. Where this build is
known to accept what it should refuse, the test is a strict xfail naming the upstream reference
(keyed on the build's edk2 release), so a build that starts refusing turns it into a failure
someone reads. Debian 13's OVMF
runs the whole ``tls-audit`` command, which must find every condition as expected.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from httpboot_harness.cases import Case
from httpboot_harness.package_cache import fetch_package
from httpboot_harness.runner import CaseResult
from httpboot_harness.tls_audit import Handshake, read_handshake
from httpboot_harness.tls_conditions import (
    TLS_AUDIT_CASES,
    TLS_CONDITIONS,
    TlsCondition,
    condition_of,
    firmware_release,
)

OLD_VERSIONS = ("TLS 1.0", "TLS 1.1")


def served_as_the_condition_says(condition: TlsCondition, handshake: Handshake) -> str | None:
    """Why the capture shows the server offered the condition; None when it did not."""
    if condition.name == "tls1.0-1.1":
        return f"ServerHello {handshake.version}" if handshake.version in OLD_VERSIONS else None
    if condition.name == "tls1.3-only":
        if handshake.version == "TLS 1.3" or "protocol_version from the server" in handshake.alerts:
            return f"ServerHello {handshake.version} / alerts {handshake.alerts}"
        return None
    if condition.name == "ecdsa" and "handshake_failure from the server" in handshake.alerts:
        return "the server found no suite for its ECDSA key among the client's"
    # A certificate condition: the server sent its hello and certificate.
    return f"ServerHello {handshake.version}" if handshake.version else None


@pytest.mark.httpboot
@pytest.mark.tls_audit
@pytest.mark.parametrize("case", TLS_AUDIT_CASES, ids=str)
def test_the_firmware_meets_each_tls_condition(
    case: Case, httpboot_run: Callable[[Case], CaseResult], request: pytest.FixtureRequest
) -> None:
    condition = condition_of(case)
    assert condition is not None
    result = httpboot_run(case)
    assert result.error is None, result.error
    handshake = read_handshake(result.artifacts / "tcpdump" / "capture.pcap")
    request.node.user_properties.append(("tls_negotiated", handshake.negotiated))
    served = served_as_the_condition_says(condition, handshake)
    assert served is not None, f"the server did not offer {condition.name}: {handshake}"
    judgement = result.judgement
    if condition.control:
        # No expectation: what the firmware did is recorded, and must be a firmware verdict.
        assert (judgement.verdict, judgement.phase) in (("booted", None), ("refused", "tls")), (
            judgement.summary
        )
        if judgement.verdict == "refused":
            assert handshake.alerts or judgement.cause, judgement.summary
        return
    weakness = condition.weakness(firmware_release(Path(result.details["firmware"])))
    if weakness is not None:
        request.applymarker(
            pytest.mark.xfail(strict=True, reason=f"{weakness.reference}: {weakness.reason}")
        )
    expected = case.expectation
    assert (judgement.verdict, judgement.phase) == ("refused", "tls"), judgement.summary
    assert expected.cause_matches(judgement.cause), judgement.summary
    assert "tls" not in judgement.proven
    assert result.timeline, "a refusal comes with its timeline"


@pytest.mark.httpboot
@pytest.mark.tls_audit
@pytest.mark.timeout(1800)  # ten boots, two at a time, on a busy machine
def test_tls_audit_command_on_debian13_ovmf_finds_every_condition_as_expected(
    tmp_path: Path,
) -> None:
    ovmf = fetch_package("ovmf", "trixie")
    (code,) = ovmf.find("OVMF_CODE_4M.fd")
    (template,) = ovmf.find("OVMF_VARS_4M.fd")
    report = tmp_path / "audit.json"
    done = subprocess.run(
        [sys.executable, "-m", "httpboot_harness", "tls-audit", "--jobs", "2",
         "--ovmf-code", str(code), "--ovmf-vars", str(template),
         "--artifacts", str(tmp_path), "--json", str(report)],
        capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert f"(edk2 {firmware_release(code)})" in done.stdout
    rows = {row["id"]: row for row in json.loads(report.read_text())["cases"]}
    assert set(rows) == {case.id for case in TLS_AUDIT_CASES}
    table = done.stdout[done.stdout.index("TLS audit of") :]
    for condition in TLS_CONDITIONS:
        row = rows[f"ipv4-https-tls-{condition.name}"]
        audit = row["tls_audit"]
        assert audit["observed"] == (
            row["verdict"] if not row["phase"] else f"{row['verdict']} at {row['phase']}"
        )
        assert row["firmware"] == str(code)
        line = next(t for t in table.splitlines() if t.startswith(f"{condition.name} "))
        assert audit["assessment"] in line, line
        if not condition.control:
            assert audit["assessment"] == "as expected" or audit["assessment"].startswith(
                "known weakness"
            ), line
