"""The TLS audit's reading of recorded captures, its assessments, table and exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpboot_harness.evidence import Judgement
from httpboot_harness.runner import CaseResult
from httpboot_harness.tls_audit import (
    AuditRow,
    Handshake,
    alert_name,
    assess,
    audit_exit_code,
    audit_row,
    format_audit,
    read_handshake,
    report_rows,
)
from httpboot_harness.tls_conditions import TLS_AUDIT_CASES, TLS_CONDITIONS

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded" / "tls-audit"
CASES = {c.id.removeprefix("ipv4-https-tls-"): c for c in TLS_AUDIT_CASES}
CONDITIONS = {c.name: c for c in TLS_CONDITIONS}
REFUSED = Judgement("refused", "tls", "the firmware refused at tls", cause="gave up during the "
                    "TLS handshake after the server's hello")  # fmt: skip
BOOTED = Judgement("booted", None, "the firmware downloaded the image and ran it")


def result(name: str, judgement: Judgement, error: str | None = None) -> CaseResult:
    return CaseResult(
        CASES[name], judgement, "tcg", Path("/nowhere") / name, error=error,
        details={"firmware": "/nowhere/OVMF_CODE_4M.fd"},
    )  # fmt: skip


def test_debian12_negotiated_tls_1_1_with_a_server_that_speaks_only_1_0_and_1_1() -> None:
    handshake = read_handshake(RECORDED / "debian12-tls1.0-1.1.pcap")
    assert handshake.version == "TLS 1.1"
    assert handshake.suite == "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"
    assert handshake.negotiated == "TLS 1.1 TLS_DHE_RSA_WITH_AES_256_CBC_SHA"
    assert handshake.client_versions == ("TLS 1.2",)
    assert handshake.client_suites == 13
    assert handshake.alerts == ()


def test_the_controls_show_the_servers_alerts_and_no_server_hello() -> None:
    only13 = read_handshake(RECORDED / "debian12-tls1.3-only.pcap")
    assert (only13.version, only13.alerts) == (None, ("protocol_version from the server",))
    assert only13.negotiated == "-"
    ecdsa = read_handshake(RECORDED / "debian12-ecdsa.pcap")
    assert ecdsa.alerts == ("handshake_failure from the server",)
    assert ecdsa.offered() == "client offered TLS 1.2, 13 suites"


def test_a_refused_certificate_shows_the_server_hello_but_no_alert() -> None:
    wrong_ca = read_handshake(RECORDED / "debian12-wrong-ca.pcap")
    assert wrong_ca.negotiated == "TLS 1.2 TLS_RSA_WITH_AES_128_GCM_SHA256"
    assert wrong_ca.alerts == ()
    # A booted case's capture ends with encrypted alerts (close_notify): they are not read.
    assert read_handshake(RECORDED / "debian12-expired.pcap").alerts == ()


def test_a_missing_capture_reads_as_no_handshake(tmp_path: Path) -> None:
    assert read_handshake(tmp_path / "none.pcap") == Handshake()
    assert Handshake().offered() == "no ClientHello"


def test_alert_names_are_rfc_names() -> None:
    assert alert_name(70) == "protocol_version"
    assert alert_name(48) == "unknown_ca"
    assert alert_name(250) == "alert 250"


@pytest.mark.parametrize(
    ("name", "release", "judgement", "error", "assessment"),
    [
        ("wrong-ca", "2022.11", REFUSED, None, "as expected"),
        ("wrong-ca", "2022.11", BOOTED, None, "DIFFERS"),
        ("expired", "2022.11", BOOTED, None, "known weakness (tianocore/edk2#10286)"),
        ("expired", "2025.08", BOOTED, None, "DIFFERS"),
        ("expired", None, BOOTED, None, "DIFFERS"),
        ("expired", "2022.11", REFUSED, None, "as expected (known weakness not seen)"),
        ("tls1.0-1.1", "2022.11", BOOTED, None, "known weakness (RFC 8996 (TLS 1.0 and 1.1 "
         "deprecated))"),
        ("tls1.0-1.1", "2025.02", BOOTED, None, "DIFFERS"),
        ("rsa-2048", "2025.02", BOOTED, None, "known weakness (tianocore/edk2#11534)"),
        ("ecdsa", "2022.11", REFUSED, None, "recorded"),
        ("tls1.3-only", "2022.11", BOOTED, None, "recorded"),
        ("self-signed", "2022.11", Judgement("error", None, "x"), "QEMU died", "cannot judge"),
    ],
)  # fmt: skip
def test_assessment(
    name: str, release: str | None, judgement: Judgement, error: str | None, assessment: str
) -> None:
    assert assess(CONDITIONS[name], result(name, judgement, error), release) == assessment


def test_a_refusal_at_another_phase_differs() -> None:
    at_dns = Judgement("refused", "dns", "NXDOMAIN", cause="NXDOMAIN")
    assert assess(CONDITIONS["wrong-name"], result("wrong-name", at_dns), "2022.11") == "DIFFERS"


def test_the_row_names_the_alerts_and_the_cause() -> None:
    handshake = Handshake(("TLS 1.2",), 13, None, None, ("protocol_version from the server",))
    row = audit_row(result("tls1.3-only", REFUSED), handshake)
    assert row == AuditRow(
        "tls1.3-only", "control: a server that speaks only TLS 1.3", "recorded", "refused at tls",
        "-", "recorded", "protocol_version from the server; gave up during the TLS handshake "
        "after the server's hello",
    )  # fmt: skip
    booted = audit_row(result("sha1", BOOTED), Handshake(("TLS 1.2",), 12, "TLS 1.2", "X"))
    assert (booted.expected, booted.observed, booted.negotiated) == (
        "refused at tls", "booted", "TLS 1.2 X",
    )  # fmt: skip
    assert booted.cause == "booted: client offered TLS 1.2, 12 suites"


def test_the_table_has_one_row_per_condition_and_the_cause_last() -> None:
    rows = [
        AuditRow("wrong-ca", "t", "refused at tls", "refused at tls", "TLS 1.2 A", "as expected",
                 "gave up"),
        AuditRow("expired", "t", "refused at tls", "booted", "TLS 1.2 A",
                 "known weakness (tianocore/edk2#10286)", "booted: client offered TLS 1.2"),
    ]  # fmt: skip
    table = format_audit(rows, "OVMF_CODE_4M.fd (edk2 2022.11)").splitlines()
    assert table[0] == "TLS audit of OVMF_CODE_4M.fd (edk2 2022.11)"
    assert table[1].split() == [
        "condition", "expected", "observed", "negotiated", "assessment", "cause",
    ]  # fmt: skip
    assert set(table[2]) == {"-", " "}
    assert table[3].startswith("wrong-ca ")
    assert table[3].endswith("as expected                            gave up")
    assert table[4].startswith("expired ")
    assert table[4].endswith("booted: client offered TLS 1.2")
    # Columns line up: each row's cause starts where the header's does.
    start = table[1].index("cause")
    assert table[3][start:] == "gave up"
    assert table[4][start:] == "booted: client offered TLS 1.2"


def test_exit_codes() -> None:
    def row(assessment: str) -> AuditRow:
        return AuditRow("c", "t", "e", "o", "-", assessment, "x")

    assert audit_exit_code([row("as expected"), row("known weakness (x)"), row("recorded")]) == 0
    assert audit_exit_code([row("as expected"), row("DIFFERS")]) == 1
    assert audit_exit_code([row("DIFFERS"), row("cannot judge")]) == 125


def test_the_json_rows_carry_the_audit_row() -> None:
    results = [result("wrong-ca", REFUSED)]
    rows = report_rows(results, [audit_row(results[0], Handshake())])
    assert rows[0]["id"] == "ipv4-https-tls-wrong-ca"
    assert rows[0]["tls_audit"]["assessment"] == "as expected"
    assert rows[0]["tls_audit"]["condition"] == "wrong-ca"


def test_the_command_takes_the_firmware_jobs_and_report() -> None:
    from httpboot_harness.cli import build_parser

    args = build_parser().parse_args(
        ["tls-audit", "--ovmf-code", "/c.fd", "--ovmf-vars", "/v.fd", "--jobs", "2", "--json", "a"]
    )
    assert (args.command, args.jobs, args.ovmf_code, args.report) == ("tls-audit", 2, "/c.fd", "a")
