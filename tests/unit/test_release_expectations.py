"""Expectations that follow upstream edk2: the release read from the firmware that ran picks
the one that holds, with its upstream reference in the report; a release that cannot be read
is held to any of them, and the report says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpboot_harness.cases import TLS_NO_CA, Case, case_by_id
from httpboot_harness.evidence import Judgement
from httpboot_harness.report import format_table
from httpboot_harness.runner import CaseResult

UNTRUSTED: Case = case_by_id("ipv4-https-untrusted")
NOT_CONNECTED = Judgement(
    "refused", "tls", "refused", cause="the firmware did not even connect: no CA certificates"
)
HANDSHAKE = Judgement(
    "refused", "tls", "refused", cause="the firmware gave up during the TLS handshake after ..."
)


def row_on(release: str | None, judgement: Judgement) -> CaseResult:
    details = {"firmware_identity": {"edk2": release}} if release else {}
    return CaseResult(UNTRUSTED, judgement, "tcg", Path("/tmp/x"), details=details)


@pytest.mark.parametrize(
    ("release", "judgement", "passed"),
    [
        ("2022.11", NOT_CONNECTED, True),
        ("2022.11", HANDSHAKE, False),  # an old build that connects changed: say so
        ("2025.02", HANDSHAKE, True),
        ("2026.08", NOT_CONNECTED, False),
        (None, NOT_CONNECTED, True),
        (None, HANDSHAKE, True),
    ],
)
def test_the_untrusted_refusal_is_judged_by_the_release_that_ran(
    release: str | None, judgement: Judgement, passed: bool
) -> None:
    assert row_on(release, judgement).passed is passed


def test_the_report_names_the_change_and_its_upstream_reference() -> None:
    row = row_on("2026.08", HANDSHAKE).to_report()
    assert row["expected_release"] == TLS_NO_CA.to_report()
    assert "43ab6622a8" in row["expected_release"]["reference"]
    assert row["expected_cause"] == TLS_NO_CA.after.cause
    assert row_on("2022.11", NOT_CONNECTED).to_report()["expected_release"] is None
    assert row_on(None, HANDSHAKE).to_report()["expected_release"]["since"] == "unknown"


def test_a_case_whose_expectation_never_changed_has_no_release_note() -> None:
    case = case_by_id("ipv4-http-not-found")
    result = CaseResult(case, NOT_CONNECTED, "tcg", Path("/tmp/x"))
    assert result.to_report()["expected_release"] is None


def test_the_table_names_the_release_an_expectation_followed() -> None:
    table = format_table([row_on("2026.08", HANDSHAKE).to_report()])
    assert "ipv4-https-untrusted: expected of edk2 2024.02 and later" in table
    assert "tianocore/edk2@43ab6622a8" in table
