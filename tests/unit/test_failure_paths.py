"""The failure paths, without root or QEMU: exit codes, a bisect's 125 and 128, a library's
surprise, a prerequisite that is missing, and the report collected across xdist workers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from httpboot_harness import cli
from httpboot_harness.cases import DEFAULT_MATRIX, Case, NotFound
from httpboot_harness.config import Settings
from httpboot_harness.errors import InfrastructureError, PrerequisiteError
from httpboot_harness.evidence import Judgement
from httpboot_harness.runner import CaseResult, harness_error_result, meets_expectation
from httpboot_harness.tls import TlsMaterial

BOOTED = Judgement("booted", None, "ok")


def result(case: Case, judgement: Judgement = BOOTED, error: str | None = None) -> CaseResult:
    return CaseResult(case, judgement, "tcg", Path("/tmp/x"), error=error)


def test_exit_code_is_0_1_or_125_by_the_worst_case() -> None:
    good, other = DEFAULT_MATRIX[0], DEFAULT_MATRIX[1]
    assert cli.exit_code([result(good), result(other)]) == 0
    failed = Judgement("failed", "download", "no evidence")
    assert cli.exit_code([result(good), result(other, failed)]) == 1
    errored = harness_error_result(other, InfrastructureError("dnsmasq died"), Path("/tmp"))
    assert cli.exit_code([result(good, failed), errored]) == 125
    assert errored.judgement.verdict == "error"
    assert errored.error_kind == "infrastructure"


def test_a_missing_prerequisite_is_its_own_kind_of_error() -> None:
    missing = PrerequisiteError("QEMU is not installed", "apt-get install qemu-system-x86")
    errored = harness_error_result(DEFAULT_MATRIX[0], missing, Path("/tmp"))
    assert errored.error_kind == "prerequisite"
    assert "fix: apt-get install qemu-system-x86" in (errored.error or "")
    assert cli.exit_code([errored]) == 125


def test_a_verdict_meets_expectation_only_with_its_phase_and_cause() -> None:
    case = Case("ipv4", "http", faults=(NotFound(),))
    right = Judgement("refused", "download", "s", cause="HTTP 404: the server answered ...")
    assert meets_expectation(case, right)
    assert not meets_expectation(case, Judgement("refused", "dns", "s", cause="HTTP 404"))
    assert not meets_expectation(case, Judgement("refused", "download", "s", cause="HTTP 500"))
    assert not meets_expectation(case, Judgement("failed", "download", "s", cause="HTTP 404"))
    assert not meets_expectation(case, BOOTED)


def test_a_control_takes_any_firmware_verdict_but_not_the_harness_error() -> None:
    from httpboot_harness.cases import Expectation

    control = Case("ipv4", "https", expect=Expectation(recorded=True))
    assert control.expected == "recorded"
    assert meets_expectation(control, BOOTED)
    assert meets_expectation(control, Judgement("refused", "tls", "s", cause="TLS alert"))
    assert not meets_expectation(control, Judgement("error", None, "s"))


def test_bisect_run_answers_128_to_a_typo_so_the_bisection_stops(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["bisect-run", "ipv5-http"]) == 128
    assert "'ipv5-http' selects no case" in capsys.readouterr().err


def test_bad_settings_are_2_for_matrix_and_128_for_bisect(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["matrix", "--timeout", "soon"]) == 2
    assert cli.main(["bisect-run", "ipv4-http", "--timeout", "-1"]) == 128
    err = capsys.readouterr().err
    assert "timeout must be a number of seconds, not 'soon'" in err
    assert "timeout must be positive" in err


def test_a_library_surprise_is_125_in_one_line_never_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def explode(*_args: object, **_kwargs: object) -> list[CaseResult]:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    monkeypatch.setattr(cli, "run_cases", explode)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cli.main(["matrix", "ipv4-http", "--artifacts", str(tmp_path)]) == 125
    err = capsys.readouterr().err
    assert "the harness failed (ConnectionRefusedError" in err
    assert "Traceback" not in err


def test_tls_material_that_cannot_be_made_is_an_error_row_per_case(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_tls(*_args: object) -> TlsMaterial:
        raise PrerequisiteError("virt-firmware is not installed", "pip install virt-firmware")

    monkeypatch.setattr(cli, "make_tls_material", no_tls)
    results = cli.run_cases(list(DEFAULT_MATRIX[:2]), Settings(), tmp_path)
    assert [r.judgement.verdict for r in results] == ["error", "error"]
    assert cli.exit_code(results) == 125


def test_the_report_gathers_every_case_from_xdist_workers(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        """
        import json
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_row(request, n):
            row = {"id": f"case-{n}", "verdict": "booted", "timings": {}}
            request.node.user_properties.append(("httpboot_result", json.dumps(row)))
        """
    )
    report = tmp_path / "report.json"
    outcome = pytester.runpytest("-n", "2", "-p", "xdist", f"--httpboot-report={report}")
    outcome.assert_outcomes(passed=4)
    ids = [row["id"] for row in json.loads(report.read_text())["cases"]]
    assert ids == ["case-0", "case-1", "case-2", "case-3"]


def test_a_bisect_step_names_the_firmware_it_judged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    label = "edk2 2026.08 (ovmf-generic 2026.08+ds-2)"

    def booted(cases: list[Case], *_args: object, **_kwargs: object) -> list[CaseResult]:
        return [
            CaseResult(case, BOOTED, "tcg", tmp_path, details={"firmware_version": label})
            for case in cases
        ]

    monkeypatch.setattr(cli, "run_cases", booted)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cli.main(["bisect-run", "ipv4-http", "--artifacts", str(tmp_path)]) == 0
    assert f"\nfirmware: {label}\n" in capsys.readouterr().out
