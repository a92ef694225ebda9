from __future__ import annotations

import json
from pathlib import Path

import pytest

from httpboot_harness import cli
from httpboot_harness.cases import default_matrix
from httpboot_harness.report import format_table, write_report

ROW = {
    "id": "ipv6-https",
    "verdict": "booted",
    "phase": None,
    "accel": "tcg",
    "timings": {"total": 19.9, "firmware": 18.6},
    "artifacts": "/tmp/a/ipv6-https",
    "expected": "booted",
    "met_expectation": True,
}


def test_report_has_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    write_report(path, [ROW])
    document = json.loads(path.read_text())
    case = document["cases"][0]
    for key in ("id", "verdict", "phase", "accel", "timings", "artifacts"):
        assert key in case
    assert set(case["timings"]) >= {"total", "firmware"}


def test_table_has_one_line_per_case_and_marks_failures() -> None:
    failed = dict(ROW, id="ipv4-http", verdict="failed", phase="dhcp", met_expectation=False)
    lines = format_table([ROW, failed]).splitlines()
    assert lines[0].split()[:4] == ["case", "arch", "expected", "verdict"]
    assert "18.6" in lines[2]
    arm = dict(ROW, id="aarch64-ipv6-https", arch="aarch64")
    assert format_table([arm]).splitlines()[2].split()[:2] == ["aarch64-ipv6-https", "aarch64"]
    assert lines[3].split()[-1] == "FAIL"
    assert "dhcp" in lines[3]


SID = "edk2 2026.08 (ovmf-generic 2026.08+ds-2)"
BOOKWORM = "edk2 2022.11 (ovmf 2022.11-6+deb12u2)"


def test_one_firmware_is_named_once_under_the_table() -> None:
    rows = [dict(ROW, firmware_version=SID), dict(ROW, id="ipv4-http", firmware_version=SID)]
    lines = format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["case", "arch", "expected"]
    assert lines[-1] == f"firmware: {SID}"
    assert len(lines) == 5


def test_several_firmware_get_a_column_and_no_line_under_the_table() -> None:
    rows = [
        dict(ROW, firmware_version=SID),
        dict(ROW, id="ipv4-http", firmware_version=BOOKWORM),
        dict(ROW, id="ipv4-tftp", verdict="error"),  # ended before the firmware was chosen
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["case", "arch", "firmware"]
    assert SID in lines[2]
    assert BOOKWORM in lines[3]
    assert lines[4].split()[2] == "-"
    assert not any(line.startswith("firmware:") for line in lines)


def test_rows_without_a_firmware_version_say_nothing_of_it() -> None:
    lines = format_table([ROW]).splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:3] == ["case", "arch", "expected"]


def test_unknown_case_is_a_usage_error_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "ipv5-http"]) == cli.EXIT_USAGE
    assert "unknown case id 'ipv5-http'" in capsys.readouterr().err


def test_bad_accel_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "ipv4-http", "--accel", "hvf"])
    assert exc.value.code == 2


def test_server_options_and_seed_case_ids_reach_the_settings() -> None:
    args = cli.build_parser().parse_args(
        ["matrix", "pxe-ipv6", "ipv4-http-iso", "--http-server", "apache2", "--dhcp-server", "isc"]
    )
    settings = cli._settings(args)
    assert (settings.http_server, settings.dhcp_server) == ("apache2", "isc")
    assert [c.id for c in cli.select_cases(args.select)] == ["pxe-ipv6", "ipv4-http-iso"]


def test_arch_option_chooses_the_default_matrix_of_that_architecture() -> None:
    args = cli.build_parser().parse_args(["matrix", "--arch", "aarch64"])
    settings = cli._settings(args)
    assert settings.arch == "aarch64"
    ids = [c.id for c in default_matrix(settings.arch)]
    assert ids[0] == "aarch64-ipv4-http"
    assert all(i.startswith("aarch64-") for i in ids)
    assert [c.arch for c in cli.select_cases(["aarch64 and https"])] == ["aarch64"] * 3
